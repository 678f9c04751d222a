"""The rules one SKU row must pass, whether it came as JSON or as a CSV line."""

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from catalog.cbec import CbecRules, load_cbec_rules
from catalog.money import Money
from catalog.sku_rules import CleanSku, SkuRuleContext, check_sku_row

ROOT = Path(__file__).resolve().parents[2]


class _Delete:
    """Marks a field to drop from the row. Its repr is fixed, so the test ids are the
    same in every process (pytest-xdist workers must collect identical ids)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


def read_seed(path: str) -> dict:
    return json.loads((ROOT / path).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def context() -> SkuRuleContext:
    categories = read_seed("catalog/seed/categories.json")["categories"]
    nodes = read_seed("warehouse/seed/nodes.json")["nodes"]
    return SkuRuleContext(
        categories={c["slug"]: frozenset(c["hs_chapters"]) for c in categories},
        node_codes=frozenset(n["code"] for n in nodes),
        cbec=load_cbec_rules(),
    )


ALENKA = {
    "sku": "RU-ALENKA-100",
    "product_code": "ALENKA",
    "category": "confectionery",
    "name": {
        "en": "Alenka milk chocolate 100 g",
        "ru": "Шоколад Алёнка 100 г",
        "zh": "爱莲巧牛奶巧克力 100克",
    },
    "description": {
        "en": "The classic Russian milk chocolate.",
        "ru": "Классический молочный шоколад.",
        "zh": "经典俄罗斯牛奶巧克力。",
    },
    "origin_country": "RU",
    "hs_code": "180632",
    "weight_g": 100,
    "shelf_life_days": 365,
    "price": {"amount": "18.50", "currency": "CNY"},
    "stock": {"RU-WH": 400, "CN-SFH": 120},
}

# The same row as a CSV parser hands it over: every value a string.
ALENKA_FROM_CSV = {
    "sku": "RU-ALENKA-100",
    "product_code": "ALENKA",
    "category": "confectionery",
    "name": {"en": "Alenka milk chocolate 100 g", "ru": "Шоколад Алёнка 100 г", "zh": ""},
    "description": {"en": "", "ru": "", "zh": ""},
    "label": {"en": "100 g bar", "ru": "", "zh": ""},
    "origin_country": "ru",
    "hs_code": "1806.32",
    "weight_g": "100",
    "shelf_life_days": "365",
    "price": {"amount": "18.50", "currency": "cny"},
    "stock": "RU-WH:400;CN-SFH:120",
    "active": "true",
}


def alenka(**changes) -> dict:
    """The valid row with changes by dotted path (``price__amount`` for price.amount)."""
    row = copy.deepcopy(ALENKA)
    for dotted, value in changes.items():
        set_path(row, dotted.replace("__", "."), value)
    return row


def set_path(row: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    target = row
    for part in parents:
        target = target[part]
    if value is DELETE:
        target.pop(last, None)
    else:
        target[last] = value


def short_id(value) -> str:
    """Test ids stay readable when a case holds a 5,000-character string."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def verdict_for(row, context):
    verdict = check_sku_row(row, context)
    assert (verdict.sku is None) == bool(verdict.errors)
    return verdict


# --- rows that pass --------------------------------------------------------------------------


def test_a_complete_row_becomes_a_clean_sku(context):
    verdict = verdict_for(alenka(), context)

    assert verdict.errors == {}
    assert verdict.warnings == {}
    assert verdict.sku == CleanSku(
        sku="RU-ALENKA-100",
        product_code="ALENKA",
        category="confectionery",
        name=ALENKA["name"],
        description=ALENKA["description"],
        label={"en": None, "ru": None, "zh": None},
        origin_country="RU",
        hs_code="180632",
        weight_g=100,
        shelf_life_days=365,
        price=Money(Decimal("18.50"), "CNY"),
        stock={"RU-WH": 400, "CN-SFH": 120},
        active=None,
    )


def test_a_csv_row_of_strings_gives_the_same_typed_sku(context):
    verdict = verdict_for(ALENKA_FROM_CSV, context)

    assert verdict.errors == {}
    sku = verdict.sku
    assert sku.origin_country == "RU"
    assert sku.hs_code == "180632"
    assert (sku.weight_g, sku.shelf_life_days) == (100, 365)
    assert sku.price == Money(Decimal("18.50"), "CNY")
    assert sku.stock == {"RU-WH": 400, "CN-SFH": 120}
    assert sku.active is True
    assert sku.name["zh"] is None
    assert sku.description == {"en": None, "ru": None, "zh": None}
    assert sku.label == {"en": "100 g bar", "ru": None, "zh": None}


def test_every_sku_of_the_demo_catalog_passes(context):
    pavilion = read_seed("catalog/seed/pavilion.json")
    refused = {}
    for product in pavilion["products"]:
        for sku in product["skus"]:
            row = {
                "product_code": product["code"],
                "category": product["category"],
                "name": product["name"],
                "description": product["description"],
                "origin_country": product["origin_country"],
                "hs_code": product["hs_code"],
                **sku,
            }
            verdict = check_sku_row(row, context)
            if verdict.errors:
                refused[sku["sku"]] = verdict.errors
    assert refused == {}


@pytest.mark.parametrize(
    ("changes", "attribute", "expected"),
    [
        ({"sku": "  ru-alenka-100 "}, "sku", "RU-ALENKA-100"),
        ({"sku": "RU_ALENKA.100"}, "sku", "RU_ALENKA.100"),
        ({"sku": 4607001771234}, "sku", "4607001771234"),
        ({"sku": "A" * 64}, "sku", "A" * 64),
        ({"product_code": "alenka"}, "product_code", "ALENKA"),
        ({"category": " Confectionery "}, "category", "confectionery"),
        ({"origin_country": "kz"}, "origin_country", "KZ"),
        ({"hs_code": "1806.32"}, "hs_code", "180632"),
        ({"hs_code": "1806 32 000 0"}, "hs_code", "1806320000"),
        ({"hs_code": "18063210"}, "hs_code", "18063210"),
        ({"weight_g": "110"}, "weight_g", 110),
        ({"weight_g": " 110 "}, "weight_g", 110),
        ({"weight_g": 110.0}, "weight_g", 110),
        ({"weight_g": "110.0"}, "weight_g", 110),
        ({"weight_g": 1_000_000}, "weight_g", 1_000_000),
        ({"shelf_life_days": 0}, "shelf_life_days", 0),
        ({"shelf_life_days": "36500"}, "shelf_life_days", 36_500),
        ({"active": True}, "active", True),
        ({"active": "false"}, "active", False),
        ({"active": "TRUE"}, "active", True),
        ({"active": "1"}, "active", True),
        ({"active": "0"}, "active", False),
        ({"active": 0}, "active", False),
        ({"active": None}, "active", None),
        ({"active": ""}, "active", None),
        ({"stock": None}, "stock", None),
        ({"stock": ""}, "stock", None),
        ({"stock": {}}, "stock", {}),
        ({"stock": {"ru-wh": "7"}}, "stock", {"RU-WH": 7}),
        ({"stock": {"RU-WH": 0}}, "stock", {"RU-WH": 0}),
        ({"stock": "RU-WH:400; CN-URC:5;"}, "stock", {"RU-WH": 400, "CN-URC": 5}),
        ({"stock": {"CN-URC": 10_000_000}}, "stock", {"CN-URC": 10_000_000}),
        ({"description": None}, "description", {"en": None, "ru": None, "zh": None}),
        ({"description": DELETE}, "description", {"en": None, "ru": None, "zh": None}),
        (
            {"description": {"en": "Line one\r\n\tLine two"}},
            "description",
            {"en": "Line one\n\tLine two", "ru": None, "zh": None},
        ),
        ({"label": {"zh": " 100克装 "}}, "label", {"en": None, "ru": None, "zh": "100克装"}),
        ({"name__en": "  Alenka  "}, "name", {**ALENKA["name"], "en": "Alenka"}),
        ({"name__zh": "巧克力\u3000牛奶"}, "name", {**ALENKA["name"], "zh": "巧克力\u3000牛奶"}),
    ],
    ids=short_id,
)
def test_accepted_values_are_normalized(context, changes, attribute, expected):
    verdict = verdict_for(alenka(**changes), context)

    assert verdict.errors == {}
    assert getattr(verdict.sku, attribute) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("18.50", "CNY", Money(Decimal("18.50"), "CNY")),
        (18.5, "CNY", Money(Decimal("18.50"), "CNY")),
        (18.1, "CNY", Money(Decimal("18.10"), "CNY")),
        (125, "RUB", Money(Decimal("125.00"), "RUB")),
        ("125", "rub", Money(Decimal("125.00"), "RUB")),
        (" 18.5 ", " usd ", Money(Decimal("18.50"), "USD")),
        ("18.500", "CNY", Money(Decimal("18.50"), "CNY")),
        ("1e3", "CNY", Money(Decimal("1000.00"), "CNY")),
        ("1E+3", "KZT", Money(Decimal("1000.00"), "KZT")),
        (".5", "CNY", Money(Decimal("0.50"), "CNY")),
        ("1500", "JPY", Money(Decimal("1500"), "JPY")),
        ("1.005", "KWD", Money(Decimal("1.005"), "KWD")),
        (Decimal("18.5"), "CNY", Money(Decimal("18.50"), "CNY")),
        ("1000000000000", "UZS", Money(Decimal("1000000000000.00"), "UZS")),
    ],
    ids=short_id,
)
def test_price_is_an_exact_decimal_in_the_currency_minor_unit(context, amount, currency, expected):
    verdict = verdict_for(alenka(price={"amount": amount, "currency": currency}), context)

    assert verdict.errors == {}
    assert verdict.sku.price == expected
    assert verdict.sku.price.amount.as_tuple() == expected.amount.as_tuple()


# --- rows that do not ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        # sku and product_code
        ({"sku": DELETE}, "sku", "Missing data for required field."),
        ({"sku": None}, "sku", "Missing data for required field."),
        ({"sku": "   "}, "sku", "Missing data for required field."),
        ({"sku": "A" * 65}, "sku", "Must be 1 to 64 characters."),
        ({"sku": "RU ALENKA"}, "sku", "Use only letters A-Z"),
        ({"sku": "RU/ALENKA"}, "sku", "Use only letters A-Z"),
        ({"sku": ".."}, "sku", "starting with a letter or digit"),
        ({"sku": "-ALENKA"}, "sku", "starting with a letter or digit"),
        ({"sku": "АЛЁНКА"}, "sku", "Use only letters A-Z"),
        ({"sku": "straße"}, "sku", "Use only letters A-Z"),
        ({"sku": ["RU-ALENKA-100"]}, "sku", "Must be a string."),
        ({"sku": True}, "sku", "Must be a string."),
        ({"sku": -5}, "sku", "Must be a string."),
        ({"product_code": DELETE}, "product_code", "Missing data for required field."),
        ({"product_code": "ALEN KA"}, "product_code", "Use only letters A-Z"),
        ({"product_code": {"code": "ALENKA"}}, "product_code", "Must be a string."),
        # category
        ({"category": DELETE}, "category", "Missing data for required field."),
        ({"category": "chocolate"}, "category", "Must be one of: beauty, beverages,"),
        ({"category": 3}, "category", "Must be one of:"),
        # name, description, label
        ({"name": DELETE}, "name", "Missing data for required field."),
        ({"name": "Alenka"}, "name", "Must be an object with keys en, ru, zh."),
        ({"name": ["Alenka"]}, "name", "Must be an object with keys en, ru, zh."),
        ({"name__en": DELETE}, "name.en", "Missing data for required field."),
        ({"name__en": ""}, "name.en", "Missing data for required field."),
        ({"name__en": "x" * 301}, "name.en", "Must be at most 300 characters."),
        ({"name__en": 42}, "name.en", "Must be a string."),
        ({"name__en": "Alenka\x00"}, "name.en", "Must not contain control characters."),
        ({"name__ru": "Алёнка\nшоколад"}, "name.ru", "Must not contain control characters."),
        ({"name__zh": "巧克力\ud800"}, "name.zh", "Must not contain control characters."),
        ({"name__zh": "巧克\x85力"}, "name.zh", "Must not contain control characters."),
        (
            {"name": {"en": "Alenka"}},
            "name",
            "Give the name in Russian or Chinese as well as in English.",
        ),
        ({"description": "nice"}, "description", "Must be an object with keys en, ru, zh."),
        ({"description__en": "x" * 5001}, "description.en", "Must be at most 5000 characters."),
        ({"description__ru": "a\x1bb"}, "description.ru", "Must not contain control characters."),
        ({"description__zh": ["a"]}, "description.zh", "Must be a string."),
        ({"label": {"en": "x" * 121}}, "label.en", "Must be at most 120 characters."),
        ({"label": {"en": "100 g\tbar"}}, "label.en", "Must not contain control characters."),
        ({"label": [1, 2]}, "label", "Must be an object with keys en, ru, zh."),
        # origin_country
        ({"origin_country": DELETE}, "origin_country", "Missing data for required field."),
        ({"origin_country": "RUS"}, "origin_country", "Not an ISO 3166-1 alpha-2 country code."),
        ({"origin_country": "XX"}, "origin_country", "Not an ISO 3166-1 alpha-2 country code."),
        ({"origin_country": 643}, "origin_country", "Not an ISO 3166-1 alpha-2 country code."),
        # hs_code
        ({"hs_code": DELETE}, "hs_code", "Missing data for required field."),
        ({"hs_code": 180632}, "hs_code", "a number loses leading zeros"),
        ({"hs_code": 1806.32}, "hs_code", "a number loses leading zeros"),
        ({"hs_code": "1806-32"}, "hs_code", "Use only digits, dots and spaces"),
        ({"hs_code": "１８０６３２"}, "hs_code", "Use only digits, dots and spaces"),
        ({"hs_code": "1806"}, "hs_code", "Must have 6 to 10 digits"),
        ({"hs_code": "40900"}, "hs_code", "a spreadsheet may have dropped a leading zero"),
        ({"hs_code": "18063200001"}, "hs_code", "Must have 6 to 10 digits"),
        ({"hs_code": "770100"}, "hs_code", "HS chapter 77 is reserved"),
        ({"hs_code": "000000"}, "hs_code", "must be 01 to 97"),
        ({"hs_code": "980100"}, "hs_code", "must be 01 to 97"),
        # weight_g and shelf_life_days
        ({"weight_g": DELETE}, "weight_g", "Missing data for required field."),
        ({"weight_g": 0}, "weight_g", "Must be greater than 0."),
        ({"weight_g": "-5"}, "weight_g", "Must be greater than 0."),
        ({"weight_g": 1_000_001}, "weight_g", "Must be at most 1000000 g (1 t)."),
        ({"weight_g": "9" * 5000}, "weight_g", "Must be at most 1000000 g (1 t)."),
        ({"weight_g": 10.5}, "weight_g", "Must be a whole number."),
        ({"weight_g": "10.5"}, "weight_g", "Must be a whole number."),
        ({"weight_g": "1e3"}, "weight_g", "Must be a whole number."),
        ({"weight_g": "100 g"}, "weight_g", "Must be a whole number."),
        ({"weight_g": "１００"}, "weight_g", "Must be a whole number."),
        ({"weight_g": True}, "weight_g", "Must be a whole number."),
        ({"weight_g": float("nan")}, "weight_g", "Must be a whole number."),
        ({"weight_g": [100]}, "weight_g", "Must be a whole number."),
        ({"shelf_life_days": -1}, "shelf_life_days", "Must be 0 or more."),
        ({"shelf_life_days": 36_501}, "shelf_life_days", "Must be at most 36500 days."),
        ({"shelf_life_days": None}, "shelf_life_days", "Missing data for required field."),
        # price
        ({"price": DELETE}, "price", "Missing data for required field."),
        ({"price": "18.50 CNY"}, "price", "Must be an object with amount and currency."),
        ({"price": [18.5, "CNY"]}, "price", "Must be an object with amount and currency."),
        ({"price__amount": DELETE}, "price.amount", "Missing data for required field."),
        ({"price__amount": "0"}, "price.amount", "Must be greater than 0."),
        ({"price__amount": "-1"}, "price.amount", "Must be greater than 0."),
        ({"price__amount": "1000000000000.01"}, "price.amount", "Must be at most"),
        ({"price__amount": "1e13"}, "price.amount", "Must be at most"),
        ({"price__amount": "1e999999999999999999999"}, "price.amount", "at most"),
        ({"price__amount": "18,50"}, "price.amount", "use a dot for decimals"),
        ({"price__amount": "1_000"}, "price.amount", "Not a valid amount"),
        ({"price__amount": "NaN"}, "price.amount", "Not a valid amount"),
        ({"price__amount": "Infinity"}, "price.amount", "Not a valid amount"),
        ({"price__amount": float("inf")}, "price.amount", "Must be a finite number."),
        ({"price__amount": "１８"}, "price.amount", "Not a valid amount"),
        ({"price__amount": True}, "price.amount", "Must be a number."),
        ({"price__amount": {"value": 1}}, "price.amount", "Must be a number."),
        ({"price__currency": DELETE}, "price.currency", "Missing data for required field."),
        ({"price__currency": "YUAN"}, "price.currency", "Not an ISO 4217 currency code."),
        ({"price__currency": 156}, "price.currency", "Must be a string."),
        # stock
        ({"stock": {"MOSCOW": 5}}, "stock.MOSCOW", "Unknown fulfilment node; use one of: CN-SFH"),
        ({"stock": {"RU-WH": -1}}, "stock.RU-WH", "Must be 0 or more."),
        ({"stock": {"RU-WH": 10_000_001}}, "stock.RU-WH", "Must be at most 10000000."),
        ({"stock": {"RU-WH": 1.5}}, "stock.RU-WH", "Must be a whole number."),
        ({"stock": {"RU-WH": None}}, "stock.RU-WH", "Missing data for required field."),
        ({"stock": {"RU-WH": 1, "ru-wh": 2}}, "stock.ru-wh", "Given more than once."),
        ({"stock": [["RU-WH", 400]]}, "stock", "Must be an object of node code to quantity."),
        ({"stock": 400}, "stock", "Must be an object of node code to quantity."),
        ({"stock": "RU-WH=400"}, "stock", "Write stock as NODE:QUANTITY pairs"),
        ({"stock": "RU-WH:lots"}, "stock.RU-WH", "Must be a whole number."),
        # active
        ({"active": "yes"}, "active", "Must be true or false."),
        ({"active": 2}, "active", "Must be true or false."),
        ({"active": [True]}, "active", "Must be true or false."),
    ],
    ids=short_id,
)
def test_invalid_values_are_refused_under_their_field_path(context, changes, path, message):
    verdict = verdict_for(alenka(**changes), context)

    assert verdict.sku is None
    assert path in verdict.errors, verdict.errors
    assert any(message in reason for reason in verdict.errors[path]), verdict.errors[path]
    assert set(verdict.errors) == {path}, "one bad value must not cause errors elsewhere"


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("18.505", "CNY"), (18.505, "CNY"), ("1.5", "JPY"), ("1.0005", "KWD"), (0.1 + 0.2, "USD")],
    ids=short_id,
)
def test_amount_with_more_decimals_than_the_currency_is_refused(context, amount, currency):
    verdict = verdict_for(alenka(price={"amount": amount, "currency": currency}), context)

    assert verdict.sku is None
    [message] = verdict.errors["price.amount"]
    assert currency in message


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("merchant_id", "merchant_id"),
        ("reserved", "reserved"),
        ("approved", "approved"),
        ("name.fr", "name__fr"),
        ("description.de", "description__de"),
        ("price.tax_included", "price__tax_included"),
    ],
)
def test_unknown_fields_are_refused_not_ignored(context, path, key):
    verdict = verdict_for(alenka(**{key: "anything"}), context)

    assert verdict.errors == {path: ["Unknown field."]}


def test_unknown_label_language_is_refused(context):
    verdict = verdict_for(alenka(label={"en": "100 g", "kk": "100 г"}), context)

    assert verdict.errors == {"label.kk": ["Unknown field."]}


def test_several_errors_in_one_row_are_reported_together(context):
    row = alenka(
        sku="bad sku",
        category="toys",
        name__en=None,
        hs_code="77",
        weight_g=-1,
        price={"amount": "-1", "currency": "XYZ", "discount": "5"},
        stock={"MARS": 1, "RU-WH": "many"},
        approved=True,
    )

    verdict = verdict_for(row, context)

    assert set(verdict.errors) == {
        "sku",
        "category",
        "name.en",
        "hs_code",
        "weight_g",
        "price.amount",
        "price.currency",
        "price.discount",
        "stock.MARS",
        "stock.RU-WH",
        "approved",
    }


@pytest.mark.parametrize(
    "row",
    [
        None,
        [],
        "RU-ALENKA-100",
        42,
        {},
        dict.fromkeys(ALENKA),
        {key: [] for key in ALENKA},
        {key: {"nested": [{"junk": None}]} for key in ALENKA},
        dict.fromkeys(ALENKA, True),
        {key: float("nan") for key in ALENKA},
        {**ALENKA, "name": {"en": {"x": 1}, "ru": [], "zh": 3.5}},
        {**ALENKA, "stock": {"RU-WH": {"a": 1}, 5: 5, None: None}},
        {**ALENKA, "price": {"amount": [], "currency": {}}},
        {("tuple", "key"): 1, 7: "x"},
    ],
    ids=short_id,
)
def test_any_input_gives_a_verdict_never_an_exception(context, row):
    verdict = verdict_for(row, context)

    assert verdict.sku is None
    assert verdict.errors
    assert all(
        isinstance(path, str) and messages and all(isinstance(m, str) for m in messages)
        for path, messages in verdict.errors.items()
    )


def test_a_row_that_is_not_an_object_is_one_error(context):
    assert verdict_for([ALENKA], context).errors == {"_schema": ["Must be an object."]}


def test_a_hostile_key_is_shortened_in_the_error_path(context):
    verdict = verdict_for(alenka(**{"x" * 10_000: 1}), context)

    [path] = verdict.errors
    assert len(path) < 200


# --- warnings: the row passes, the merchant is told -----------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"name__zh": DELETE}, "name.zh", "Chinese shoppers will see the English name"),
        ({"name__zh": " "}, "name.zh", "Chinese shoppers will see the English name"),
        ({"name__ru": DELETE}, "name.ru", "Russian-speaking shoppers will see the English name"),
        ({"hs_code": "330499"}, "hs_code", "Chapter 33 is unusual for confectionery"),
        (
            {"category": "beverages", "hs_code": "2208.60"},
            "hs_code",
            "HS 2208: Consumption tax applies when imported into China",
        ),
        (
            {"category": "beauty", "hs_code": "3304.99"},
            "hs_code",
            "High-end cosmetics carry a 15% consumption tax",
        ),
        (
            {"category": "meat-sausage", "hs_code": "0201.30"},
            "hs_code",
            "HS 0201 (fresh or chilled beef) is likely outside China's cross-border",
        ),
        (
            {"category": "crafts", "hs_code": "930400"},
            "hs_code",
            "HS 93 (arms and ammunition) is likely outside",
        ),
        (
            {"category": "seafood", "hs_code": "0306.14"},
            "hs_code",
            "only through bonded import (1210), not direct purchase (9610)",
        ),
        (
            {"category": "grain-oil", "hs_code": "1006.30"},
            "hs_code",
            "limits long-grain rice to 20 kg per person per year",
        ),
    ],
    ids=short_id,
)
def test_warnings_do_not_block_the_row(context, changes, path, message):
    verdict = verdict_for(alenka(**changes), context)

    assert verdict.errors == {}
    assert verdict.sku is not None
    assert any(message in warning for warning in verdict.warnings.get(path, [])), verdict.warnings


def test_spirits_in_an_unusual_category_get_both_warnings(context):
    verdict = verdict_for(alenka(hs_code="220860"), context)

    assert len(verdict.warnings["hs_code"]) == 2


def test_usual_goods_get_no_cross_border_warning(context):
    for hs_code in ("180632", "170490", "180690"):
        assert verdict_for(alenka(hs_code=hs_code), context).warnings == {}


def test_no_chapter_warning_for_an_unknown_category(context):
    verdict = verdict_for(alenka(category="toys", hs_code="220860"), context)

    assert not any("unusual" in w for w in verdict.warnings["hs_code"])


# --- the CBEC data file ----------------------------------------------------------------------


def test_cbec_rules_are_dated_data_that_say_they_are_a_heuristic():
    rules = load_cbec_rules()

    assert rules.effective_on == date(2022, 3, 1)
    assert "heuristic" in rules.source
    assert "verify" in rules.source
    assert "2208" in rules.consumption_tax_headings


@pytest.mark.parametrize(
    ("hs_code", "outside", "bonded_only"),
    [
        ("010121", True, False),
        ("02013000", True, False),
        ("021020", False, False),
        ("030214", True, False),
        ("030614", False, True),
        ("180632", False, False),
        ("240220", True, False),
    ],
)
def test_corridors_can_ask_whether_china_would_clear_a_code(hs_code, outside, bonded_only):
    rules = load_cbec_rules()

    assert rules.is_likely_outside_positive_list(hs_code) is outside
    assert rules.is_bonded_only(hs_code) is bonded_only


def test_cbec_prefixes_must_be_hs_digits():
    with pytest.raises(ValueError, match="22x8"):
        CbecRules(
            effective_on=date(2022, 3, 1),
            source="test",
            likely_outside_headings={},
            consumption_tax_headings={"22x8": "typo"},
        )


def test_a_new_edition_is_new_data_not_new_code(context):
    stricter = CbecRules(
        effective_on=date(2030, 1, 1),
        source="a later edition",
        likely_outside_headings={"1806": "chocolate"},
    )
    later = SkuRuleContext(context.categories, context.node_codes, stricter)

    verdict = verdict_for(alenka(), later)

    assert "HS 1806 (chocolate) is likely outside" in verdict.warnings["hs_code"][0]


def test_dimensions_are_whole_millimetres_given_together_or_not_at_all(context):
    given = check_sku_row({**ALENKA, "length_mm": "170", "width_mm": 80, "height_mm": 10.0},
                          context)  # fmt: skip
    assert given.ok
    assert given.sku.dimensions_mm == (170, 80, 10)
    assert check_sku_row(ALENKA, context).sku.dimensions_mm is None

    partial = check_sku_row({**ALENKA, "height_mm": 10}, context)
    assert set(partial.errors) == {"length_mm", "width_mm"}
    out_of_range = check_sku_row(
        {**ALENKA, "length_mm": 0, "width_mm": "8.5", "height_mm": 3001}, context
    )
    assert set(out_of_range.errors) == {"length_mm", "width_mm", "height_mm"}
    assert out_of_range.errors["width_mm"] == ["Must be a whole number."]
