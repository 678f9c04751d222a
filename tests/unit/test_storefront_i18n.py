"""The storefront's text is translated, and prices read as each locale writes them.

Every message the storefront's templates and modules ask for (extracted with
Babel, as ``pybabel extract`` would) must have a Russian and a Chinese
translation in some ``.po`` file, keeping the message's ``{fields}``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po

from catalog.money import Money
from shop.storefront.context import format_money
from shop.storefront.translations import forget_translations, po_files, translations_for

SHOP = Path(__file__).resolve().parents[2] / "shop"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
FIELD = re.compile(r"\{(\w*)\}")


def storefront_messages() -> dict[str | tuple[str, str], str]:
    """Each message id (a plural as a pair) with where it was first seen."""
    found: dict[str | tuple[str, str], str] = {}
    sources = [
        ("jinja2.ext:babel_extract", path)
        for path in sorted((SHOP / "templates" / "storefront").glob("*.html"))
    ] + [("python", path) for path in sorted((SHOP / "storefront").glob("*.py"))]
    for method, path in sources:
        with path.open("rb") as source:
            for lineno, message, _comments, _context in extract(method, source, KEYWORDS):
                if isinstance(message, tuple):
                    message = message[:2]
                found.setdefault(message, f"{path.relative_to(SHOP)}:{lineno}")
    return found


def translated(lang: str) -> dict[str | tuple[str, str], list[str]]:
    """Every message of ``lang``'s .po files (fuzzy ones do not count) and its forms."""
    messages: dict[str | tuple[str, str], list[str]] = {}
    for path in po_files(lang):
        with path.open("rb") as source:
            catalog = read_po(source, locale=lang)
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            key = tuple(message.id) if message.pluralizable else message.id
            forms = list(message.string) if message.pluralizable else [message.string]
            messages[key] = forms
    return messages


def test_the_extraction_sees_the_storefront():
    messages = storefront_messages()
    assert "Add to cart" in messages
    assert ("{n} product", "{n} products") in messages
    assert len(messages) > 50


@pytest.mark.parametrize("lang", ["ru", "zh"])
def test_every_storefront_message_is_translated(lang):
    have = translated(lang)
    missing = [f"{where}: {message!r}" for message, where in storefront_messages().items()
               if not all(form.strip() for form in have.get(message, [""]))]  # fmt: skip
    assert not missing, f"{len(missing)} messages without a {lang} translation:\n" + "\n".join(
        missing
    )


@pytest.mark.parametrize("lang", ["ru", "zh"])
def test_translations_keep_the_messages_fields(lang):
    wrong = []
    for message, forms in translated(lang).items():
        ids = message if isinstance(message, tuple) else (message,)
        expected = set(FIELD.findall(" ".join(ids)))
        for form in forms:
            if form and set(FIELD.findall(form)) - expected:
                wrong.append((message, form))
            if form and not isinstance(message, tuple) and set(FIELD.findall(form)) != expected:
                wrong.append((message, form))
    assert not wrong, wrong


def test_russian_plurals_take_three_forms():
    forget_translations()
    russian = translations_for("ru")
    days = [russian.ngettext("{n} day", "{n} days", n).format(n=n) for n in (1, 3, 5, 11, 21)]
    assert days == ["1 день", "3 дня", "5 дней", "11 дней", "21 день"]
    assert translations_for("zh").gettext("Add to cart") == "加入购物车"
    assert translations_for("en").gettext("Add to cart") == "Add to cart"


@pytest.mark.parametrize(
    ("money", "lang", "shown"),
    [
        ({"amount": "18.5", "currency": "CNY"}, "zh", "¥18.50"),
        ({"amount": "1234.5", "currency": "RUB"}, "ru", "1\u00a0234,50\u00a0₽"),
        ({"amount": "1234.5", "currency": "USD"}, "en", "$1,234.50"),
        (Money(Decimal("1234.5"), "CNY"), "en", "CN¥1,234.50"),
        (Money(Decimal("99"), "RUB"), "en", "RUB\u00a099.00"),
        (Money(Decimal("2500"), "KZT"), "ru", "2\u00a0500,00\u00a0KZT"),
        (None, "en", "—"),
    ],
)
def test_prices_are_formatted_as_the_shoppers_locale_writes_them(money, lang, shown):
    assert format_money(money, lang) == shown


def test_russian_parcel_counts_agree_with_the_number():
    forget_translations()
    russian = translations_for("ru")
    singular = "Your order travels in {n} parcel from different warehouses."
    plural = "Your order travels in {n} parcels from different warehouses."
    said = [russian.ngettext(singular, plural, n).format(n=n) for n in (2, 5, 21)]
    assert said == [
        "Заказ придёт 2 посылками с разных складов.",
        "Заказ придёт 5 посылками с разных складов.",
        "Заказ придёт 21 посылкой с разных складов.",
    ]


@pytest.mark.parametrize("lang", ["ru", "zh"])
def test_every_status_and_node_a_shopper_sees_has_a_label_in_their_language(lang):
    """The order page's status names come from dictionaries, not gettext calls, so the
    extraction above does not see them: each status the lifecycle knows has a label,
    and each label is translated (no "partially_shipped" on a Chinese page)."""
    from orders import lifecycle
    from shop.storefront import order_wording
    from warehouse import shipment_states

    assert set(lifecycle.ORDER_STATUSES) <= set(order_wording.ORDER_STATUS_LABELS)
    assert set(shipment_states.SHIPMENT_STATUSES) <= set(order_wording.SHIPMENT_STATUS_LABELS)
    have = translated(lang)
    labels = [
        *order_wording.ORDER_STATUS_LABELS.values(),
        *order_wording.SHIPMENT_STATUS_LABELS.values(),
        *order_wording.PAYMENT_STATUS_LABELS.values(),
        *order_wording.PAYMENT_METHOD_LABELS.values(),
        *order_wording.NODE_NAMES.values(),
    ]
    missing = [label for label in labels if not have.get(label, [""])[0].strip()]
    assert not missing, missing


def test_the_order_total_is_not_called_a_subtotal_in_chinese():
    forget_translations()
    chinese = translations_for("zh")
    assert chinese.gettext("Order total") == "订单总额"
    assert "小计" not in chinese.gettext("Order total")
