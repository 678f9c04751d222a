"""What makes one SKU row acceptable, as a merchant sends it: a pure policy.

The same rules serve ``POST /merchant/skus`` and every row of a bulk upload
(up to 10,000 rows, JSON or CSV), so they are plain Python over plain data:
no database, no Flask, no marshmallow, and fast (about 15 µs for a valid row).
The caller loads what the rules need from the database once per request into
a ``SkuRuleContext``.

A row may be anything a client can send: JSON with wrong types anywhere, or a
CSV row where every value is a string. ``check_sku_row`` never raises on bad
input; it reports every problem of the row at once (a merchant fixing a
10,000-row sheet must not discover errors one per upload), each under the
dotted path of its field, in marshmallow's message style so that the API
can merge them with schema errors. Warnings never block a row: they tell the
merchant what a Chinese customs broker would ask about.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from catalog.cbec import CbecRules
from catalog.money import Money, is_currency_code, minor_unit_exponent
from shop.core.i18n import country_codes

LANGUAGES = ("en", "ru", "zh")
SKU_FIELDS = frozenset(
    {
        "sku",
        "product_code",
        "category",
        "name",
        "description",
        "label",
        "origin_country",
        "hs_code",
        "weight_g",
        "shelf_life_days",
        "length_mm",
        "width_mm",
        "height_mm",
        "price",
        "stock",
        "active",
    }
)
PRICE_FIELDS = frozenset({"amount", "currency"})
_LANGUAGE_SET = frozenset(LANGUAGES)
_LANGUAGE_PATHS = {
    path: tuple(f"{path}.{lang}" for lang in LANGUAGES) for path in ("name", "description", "label")
}

MAX_CODE_LENGTH = 64
MAX_NAME_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 5000
MAX_LABEL_LENGTH = 120
MAX_PRICE = Decimal(10) ** 12
MAX_WEIGHT_G = 1_000_000  # one tonne: anything heavier is not a retail parcel
# 3 m: longer is freight, not a parcel. Millimetres, because small goods (a 10 mm
# chocolate bar) lose their shape in whole centimetres; carriers get centimetres.
MAX_DIMENSION_MM = 3_000
DIMENSIONS = ("length_mm", "width_mm", "height_mm")
MAX_SHELF_LIFE_DAYS = 36_500  # 100 years; 0 means the goods do not expire
MAX_STOCK = 10_000_000
RESERVED_HS_CHAPTER = 77  # kept by the WCO for future use; no goods are classified there

MISSING = "Missing data for required field."
UNKNOWN_FIELD = "Unknown field."
NOT_A_STRING = "Must be a string."
NOT_A_WHOLE_NUMBER = "Must be a whole number."
CONTROL_CHARACTERS = "Must not contain control characters."
LOCALIZED_SHAPE = "Must be an object with keys en, ru, zh."

# A code is used in URLs (/merchant/skus/<sku>) and on pick lists, so it
# starts with a letter or digit: "." or ".." would be read as a path step.
_CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)
_AMOUNT_PATTERN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_WHOLE_NUMBER_PATTERN = re.compile(r"[+-]?\d+(?:\.0*)?", re.ASCII)
# Control characters (C0, DEL, C1) and lone surrogates: PostgreSQL refuses NUL
# and the database driver cannot encode a surrogate. Only descriptions may
# keep line breaks and tabs.
_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTILINE_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_AMOUNT_TEXT_LIMIT = 64
_WHOLE_NUMBER_TEXT_LIMIT = 24
_PATH_KEY_LIMIT = 100

TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})


@dataclass(frozen=True)
class SkuRuleContext:
    """What the rules need from the database, loaded once per request."""

    categories: Mapping[str, frozenset[str]]  # slug -> usual 2-digit HS chapters
    node_codes: frozenset[str]
    cbec: CbecRules


@dataclass(frozen=True)
class CleanSku:
    """A row that passed: normalized, typed, ready to upsert."""

    sku: str
    product_code: str
    category: str
    name: dict[str, str | None]
    description: dict[str, str | None]
    label: dict[str, str | None]
    origin_country: str
    hs_code: str
    weight_g: int
    shelf_life_days: int
    price: Money
    stock: dict[str, int] | None  # None: the row does not mention stock, leave it as it is
    active: bool | None  # None: not given
    # Outer size of one unit as packed (length, width, height in mm); None: not given,
    # the node's boxes size the parcel. All three or none.
    dimensions_mm: tuple[int, int, int] | None = None


@dataclass
class RowVerdict:
    sku: CleanSku | None
    errors: dict[str, list[str]]
    warnings: dict[str, list[str]]

    @property
    def ok(self) -> bool:
        return not self.errors


def _is_mapping(value: Any) -> bool:
    # The ABC check costs more than the rest of a small field; JSON gives dicts.
    return type(value) is dict or isinstance(value, Mapping)


@cache
def _minor_unit(currency: str) -> tuple[int, Decimal]:
    exponent = minor_unit_exponent(currency)
    return exponent, Decimal(1).scaleb(-exponent)


def _note(messages: dict[str, list[str]], path: str, message: str) -> None:
    found = messages.get(path)
    if found is None:
        messages[path] = [message]
    else:
        found.append(message)


def _path_key(key: Any) -> str:
    """A key as it may appear in an error path, bounded so a hostile key stays short."""
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= _PATH_KEY_LIMIT else text[:_PATH_KEY_LIMIT] + "…"


def _is_blank(value: Any) -> bool:
    """Absent, null and an empty CSV cell all mean "not given"."""
    return value is None or (isinstance(value, str) and not value.strip())


def _check_code(value: Any, path: str, errors: dict[str, list[str]]) -> str | None:
    """SKU and product codes: trimmed, upper-cased, so ``ru-alenka-100`` and
    ``RU-ALENKA-100`` are the same SKU on upsert."""
    if _is_blank(value):
        _note(errors, path, MISSING)
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)  # an article number an ERP exported as a JSON number
    if not isinstance(value, str):
        _note(errors, path, NOT_A_STRING)
        return None
    code = value.strip()
    if len(code) > MAX_CODE_LENGTH:
        _note(errors, path, f"Must be 1 to {MAX_CODE_LENGTH} characters.")
        return None
    # Checked before upper-casing: "ı".upper() is "I", "ß".upper() is "SS".
    if not _CODE_PATTERN.fullmatch(code):
        _note(
            errors,
            path,
            "Use only letters A-Z, digits, hyphen, underscore and dot, "
            "starting with a letter or digit.",
        )
        return None
    return code.upper()


def _check_text(
    value: Any, path: str, max_length: int, multiline: bool, errors: dict[str, list[str]]
) -> str | None:
    """Trimmed text, or None when blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        _note(errors, path, NOT_A_STRING)
        return None
    text = value.strip()
    if not text:
        return None
    if not text.isprintable():  # fast path: nearly every row is printable
        if multiline and "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        forbidden = _MULTILINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN
        if forbidden.search(text):
            _note(errors, path, CONTROL_CHARACTERS)
            return None
    if len(text) > max_length:
        _note(errors, path, f"Must be at most {max_length} characters.")
        return None
    return text


def _check_localized(
    value: Any, path: str, max_length: int, multiline: bool, errors: dict[str, list[str]]
) -> dict[str, str | None] | None:
    """``{"en", "ru", "zh"}`` text; None when the object itself is unusable."""
    if value is None:
        return {"en": None, "ru": None, "zh": None}
    if not _is_mapping(value):
        _note(errors, path, LOCALIZED_SHAPE)
        return None
    if not _LANGUAGE_SET.issuperset(value):
        for key in value:
            if key not in _LANGUAGE_SET:
                _note(errors, f"{path}.{_path_key(key)}", UNKNOWN_FIELD)
    en_path, ru_path, zh_path = _LANGUAGE_PATHS[path]
    return {
        "en": _check_text(value.get("en"), en_path, max_length, multiline, errors),
        "ru": _check_text(value.get("ru"), ru_path, max_length, multiline, errors),
        "zh": _check_text(value.get("zh"), zh_path, max_length, multiline, errors),
    }


def _check_name(
    value: Any, errors: dict[str, list[str]], warnings: dict[str, list[str]]
) -> dict[str, str | None] | None:
    if _is_blank(value):
        _note(errors, "name", MISSING)
        return None
    name = _check_localized(value, "name", MAX_NAME_LENGTH, False, errors)
    if name is None:
        return None
    if name["en"] is None and "name.en" not in errors:
        _note(errors, "name.en", MISSING)
    if name["ru"] is None and name["zh"] is None:
        if "name.ru" not in errors and "name.zh" not in errors:
            _note(errors, "name", "Give the name in Russian or Chinese as well as in English.")
    elif name["zh"] is None and "name.zh" not in errors:
        _note(warnings, "name.zh", "Missing: Chinese shoppers will see the English name.")
    elif name["ru"] is None and "name.ru" not in errors:
        _note(warnings, "name.ru", "Missing: Russian-speaking shoppers will see the English name.")
    return name


def _check_whole_number(
    value: Any,
    path: str,
    minimum: int,
    maximum: int,
    errors: dict[str, list[str]],
    *,
    unit: str = "",
) -> int | None:
    """An int, or the text of one (CSV); ``400.0`` passes too, because
    spreadsheets and pandas write whole numbers that way."""
    if _is_blank(value):
        _note(errors, path, MISSING)
        return None
    if isinstance(value, bool):
        _note(errors, path, NOT_A_WHOLE_NUMBER)
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            _note(errors, path, NOT_A_WHOLE_NUMBER)
            return None
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _WHOLE_NUMBER_PATTERN.fullmatch(text):
            _note(errors, path, NOT_A_WHOLE_NUMBER)
            return None
        if len(text) > _WHOLE_NUMBER_TEXT_LIMIT:  # int() of thousands of digits is slow
            _note(errors, path, f"Must be at most {maximum}{unit}.")
            return None
        number = int(text.partition(".")[0])
    else:
        _note(errors, path, NOT_A_WHOLE_NUMBER)
        return None
    if number < minimum:
        _note(
            errors,
            path,
            "Must be greater than 0." if minimum == 1 else f"Must be {minimum} or more.",
        )
        return None
    if number > maximum:
        _note(errors, path, f"Must be at most {maximum}{unit}.")
        return None
    return number


def _check_amount(value: Any, errors: dict[str, list[str]]) -> Decimal | None:
    """A positive, finite decimal, never built from a float's binary value."""
    path = "price.amount"
    if _is_blank(value):
        _note(errors, path, MISSING)
        return None
    if isinstance(value, bool):
        _note(errors, path, "Must be a number.")
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            _note(errors, path, "Must be a finite number.")
            return None
        value = str(value)  # 18.5 -> "18.5", the number the sender wrote
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > _AMOUNT_TEXT_LIMIT or not _AMOUNT_PATTERN.fullmatch(text):
            hint = (
                "use a dot for decimals and no thousands separators, e.g. 1234.50"
                if "," in text
                else "e.g. 18.50"
            )
            _note(errors, path, f"Not a valid amount; {hint}.")
            return None
        try:
            amount = Decimal(text)
        except (InvalidOperation, ValueError, OverflowError):
            # Only an exponent beyond what Decimal holds gets here (1e99999999999999999999).
            _note(errors, path, f"Must be greater than 0 and at most {MAX_PRICE}.")
            return None
    else:
        _note(errors, path, "Must be a number.")
        return None
    if not amount.is_finite():
        _note(errors, path, "Must be a finite number.")
        return None
    if amount <= 0:
        _note(errors, path, "Must be greater than 0.")
        return None
    if amount > MAX_PRICE:
        _note(errors, path, f"Must be at most {MAX_PRICE}.")
        return None
    return amount


def _check_currency(value: Any, errors: dict[str, list[str]]) -> str | None:
    if _is_blank(value):
        _note(errors, "price.currency", MISSING)
        return None
    if not isinstance(value, str):
        _note(errors, "price.currency", NOT_A_STRING)
        return None
    currency = value.strip().upper()
    if not is_currency_code(currency):
        _note(errors, "price.currency", "Not an ISO 4217 currency code.")
        return None
    return currency


def _check_price(value: Any, errors: dict[str, list[str]]) -> Money | None:
    if _is_blank(value):
        _note(errors, "price", MISSING)
        return None
    if not _is_mapping(value):
        _note(errors, "price", "Must be an object with amount and currency.")
        return None
    if not PRICE_FIELDS.issuperset(value):
        for key in value:
            if key not in PRICE_FIELDS:
                _note(errors, f"price.{_path_key(key)}", UNKNOWN_FIELD)
    amount = _check_amount(value.get("amount"), errors)
    currency = _check_currency(value.get("currency"), errors)
    if amount is None or currency is None:
        return None
    exponent, minor_unit = _minor_unit(currency)
    quantized = amount.quantize(minor_unit)
    if quantized != amount:
        if exponent == 0:
            message = f"{currency} has no minor unit: give a whole amount."
        else:
            message = f"Must have at most {exponent} decimal places for {currency}."
        _note(errors, "price.amount", message)
        return None
    return Money(quantized, currency)


def _check_hs_code(value: Any, errors: dict[str, list[str]]) -> str | None:
    """Digits only; dots and spaces are how people write codes (``1806.32``)."""
    if _is_blank(value):
        _note(errors, "hs_code", MISSING)
        return None
    if not isinstance(value, str):
        # A JSON number loses leading zeros: honey 040900 would read as 40900.
        _note(errors, "hs_code", 'Must be a string, e.g. "0409.00": a number loses leading zeros.')
        return None
    digits = value.replace(".", "").replace(" ", "")
    if not (digits.isascii() and digits.isdigit()):
        _note(errors, "hs_code", "Use only digits, dots and spaces, e.g. 1806.32.")
        return None
    if not 6 <= len(digits) <= 10:
        hint = "; a spreadsheet may have dropped a leading zero" if len(digits) < 6 else ""
        _note(errors, "hs_code", f"Must have 6 to 10 digits, e.g. 1806.32{hint}.")
        return None
    chapter = int(digits[:2])
    if chapter == RESERVED_HS_CHAPTER:
        _note(errors, "hs_code", "HS chapter 77 is reserved; no goods are classified there.")
        return None
    if not 1 <= chapter <= 97:
        _note(errors, "hs_code", "HS chapter (the first two digits) must be 01 to 97.")
        return None
    return digits


def _check_stock(
    value: Any, node_codes: frozenset[str], errors: dict[str, list[str]]
) -> dict[str, int] | None:
    """Per-node quantities; a string is the CSV form ``RU-WH:400;CN-SFH:120``."""
    if _is_blank(value):
        return None
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(value, str):
        pairs = []
        for part in value.split(";"):
            if not part.strip():
                continue
            code, colon, quantity = part.partition(":")
            if not colon:
                _note(
                    errors,
                    "stock",
                    "Write stock as NODE:QUANTITY pairs separated by semicolons, "
                    "e.g. RU-WH:400;CN-SFH:120.",
                )
                return None
            pairs.append((code, quantity))
    elif _is_mapping(value):
        pairs = value.items()
    else:
        _note(errors, "stock", "Must be an object of node code to quantity.")
        return None
    stock: dict[str, int] = {}
    for key, quantity in pairs:
        path = f"stock.{_path_key(key)}"
        code = key.strip().upper() if isinstance(key, str) else None
        if code not in node_codes:
            _note(
                errors,
                path,
                f"Unknown fulfilment node; use one of: {', '.join(sorted(node_codes))}.",
            )
            continue
        if code in stock:
            _note(errors, path, "Given more than once.")
            continue
        checked = _check_whole_number(quantity, path, 0, MAX_STOCK, errors)
        if checked is not None:
            stock[code] = checked
    return stock


def _check_active(value: Any, errors: dict[str, list[str]]) -> bool | None:
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    _note(errors, "active", "Must be true or false.")
    return None


def _check_category(
    value: Any, categories: Mapping[str, frozenset[str]], errors: dict[str, list[str]]
) -> str | None:
    if _is_blank(value):
        _note(errors, "category", MISSING)
        return None
    slug = value.strip().lower() if isinstance(value, str) else None
    if slug not in categories:
        _note(errors, "category", f"Must be one of: {', '.join(sorted(categories))}.")
        return None
    return slug


def _check_country(value: Any, errors: dict[str, list[str]]) -> str | None:
    if _is_blank(value):
        _note(errors, "origin_country", MISSING)
        return None
    country = value.strip().upper() if isinstance(value, str) else None
    if country not in country_codes():
        _note(errors, "origin_country", "Not an ISO 3166-1 alpha-2 country code.")
        return None
    return country


def _check_dimensions(get: Any, errors: dict[str, list[str]]) -> tuple[int, int, int] | None:
    """Length, width and height in whole millimetres, all three or none (a box with two
    sides cannot be packed)."""
    given = [name for name in DIMENSIONS if not _is_blank(get(name))]
    if not given:
        return None
    if len(given) < len(DIMENSIONS):
        for name in DIMENSIONS:
            if name not in given:
                _note(errors, name, f"Give {', '.join(DIMENSIONS)} together, or none of them.")
    sizes = [
        _check_whole_number(get(name), name, 1, MAX_DIMENSION_MM, errors, unit=" mm (3 m)")
        for name in given
    ]
    if len(given) < len(DIMENSIONS) or None in sizes:
        return None
    length, width, height = sizes
    return (length, width, height)


def check_sku_row(row: Mapping[str, Any], context: SkuRuleContext) -> RowVerdict:
    """Every error and warning of one SKU row, and the clean SKU when there is no error.

    Never raises on bad input. Unknown fields are errors rather than ignored:
    a client must not set ``merchant_id`` or ``approved`` by adding a key
    (mass assignment, OWASP API3).
    """
    errors: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    if not _is_mapping(row):
        return RowVerdict(None, {"_schema": ["Must be an object."]}, warnings)
    if not SKU_FIELDS.issuperset(row):
        for key in row:
            if key not in SKU_FIELDS:
                _note(errors, _path_key(key), UNKNOWN_FIELD)

    get = row.get
    sku = _check_code(get("sku"), "sku", errors)
    product_code = _check_code(get("product_code"), "product_code", errors)
    category = _check_category(get("category"), context.categories, errors)
    name = _check_name(get("name"), errors, warnings)
    description = _check_localized(
        get("description"), "description", MAX_DESCRIPTION_LENGTH, True, errors
    )
    label = _check_localized(get("label"), "label", MAX_LABEL_LENGTH, False, errors)
    origin_country = _check_country(get("origin_country"), errors)
    hs_code = _check_hs_code(get("hs_code"), errors)
    weight_g = _check_whole_number(
        get("weight_g"), "weight_g", 1, MAX_WEIGHT_G, errors, unit=" g (1 t)"
    )
    shelf_life_days = _check_whole_number(
        get("shelf_life_days"), "shelf_life_days", 0, MAX_SHELF_LIFE_DAYS, errors, unit=" days"
    )
    dimensions_mm = _check_dimensions(get, errors)
    price = _check_price(get("price"), errors)
    stock = _check_stock(get("stock"), context.node_codes, errors)
    active = _check_active(get("active"), errors)

    if hs_code is not None:
        if category is not None:
            usual = context.categories[category]
            chapter = hs_code[:2]
            if usual and chapter not in usual:
                _note(
                    warnings,
                    "hs_code",
                    f"Chapter {chapter} is unusual for {category} "
                    f"(usual: {', '.join(sorted(usual))}); check the code.",
                )
        for message in context.cbec.warnings_for(hs_code):
            _note(warnings, "hs_code", message)

    if errors:
        return RowVerdict(None, errors, warnings)
    clean = CleanSku(
        sku=sku,
        product_code=product_code,
        category=category,
        name=name,
        description=description,
        label=label,
        origin_country=origin_country,
        hs_code=hs_code,
        weight_g=weight_g,
        shelf_life_days=shelf_life_days,
        price=price,
        stock=stock,
        active=active,
        dimensions_mm=dimensions_mm,
    )
    return RowVerdict(clean, errors, warnings)
