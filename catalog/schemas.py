"""Marshmallow schemas of the catalog API: query parameters in, documents out."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import fields, validate

from catalog.money import is_currency_code
from catalog.services import SORTS
from shop.core.i18n import SUPPORTED_LANGUAGES, country_codes, normalize_language_tag


def _known_language(value: str) -> None:
    if normalize_language_tag(value) is None:
        raise ma.ValidationError(
            f"Unsupported language; use one of {', '.join(SUPPORTED_LANGUAGES)}."
        )


def _iso_currency(value: str) -> None:
    if not is_currency_code(value.upper()):
        raise ma.ValidationError("Not an ISO 4217 currency code.")


MAX_PRICE_FILTER = 10**12


def _price_bound(value) -> None:
    # A function, not validate.Range: apispec would print Range's bounds on a
    # Decimal field as strings, which is not valid OpenAPI. The upper bound
    # keeps absurd exponents (1e999999) away from the database.
    if value < 0:
        raise ma.ValidationError("Must be 0 or more.")
    if value > MAX_PRICE_FILTER:
        raise ma.ValidationError(f"Must be at most {MAX_PRICE_FILTER}.")


class Text(fields.String):
    """A string with no control characters: PostgreSQL refuses NUL in text,
    and no catalog value contains a control character."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise ma.ValidationError("Must not contain control characters.")
        return text


def _iso_country(value: str) -> None:
    if value.upper() not in country_codes():
        raise ma.ValidationError("Not an ISO 3166-1 alpha-2 country code.")


class StrictSchema(ma.Schema):
    """Unknown parameters are reported, not silently ignored (a typo in a filter
    would otherwise return the unfiltered catalog)."""

    class Meta:
        unknown = ma.RAISE


class LocaleQuerySchema(StrictSchema):
    lang = Text(
        validate=_known_language,
        metadata={
            "description": "en, ru or zh (region tags such as zh-CN accepted); "
            "without it, Accept-Language decides, then en"
        },
    )
    currency = Text(
        validate=_iso_currency,
        metadata={
            "description": "ISO 4217 code to price in; default follows the language "
            "(zh CNY, ru RUB, en USD)"
        },
    )


class ProductListQuerySchema(LocaleQuerySchema):
    category = Text(
        validate=validate.Length(min=1, max=40), metadata={"description": "category slug"}
    )
    country = Text(
        validate=_iso_country, metadata={"description": "origin country, ISO 3166-1 alpha-2"}
    )
    q = Text(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "words matched in zh, ru and en names and descriptions"},
    )
    min_price = fields.Decimal(
        validate=_price_bound,
        metadata={
            "description": "in the asked currency",
            "minimum": 0,
            "maximum": MAX_PRICE_FILTER,
        },
    )
    max_price = fields.Decimal(
        validate=_price_bound,
        metadata={
            "description": "in the asked currency",
            "minimum": 0,
            "maximum": MAX_PRICE_FILTER,
        },
    )
    in_stock = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=24, validate=validate.Range(min=1, max=100))
    sort = Text(load_default="name", validate=validate.OneOf(SORTS))

    @ma.validates_schema
    def _price_range_in_order(self, data, **kwargs):
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ma.ValidationError("min_price is above max_price.", field_name="min_price")


class ProductDetailQuerySchema(LocaleQuerySchema):
    destination = Text(
        validate=_iso_country,
        metadata={"description": "only report availability for this destination country"},
    )


class MoneySchema(ma.Schema):
    amount = fields.String(
        required=True, metadata={"example": "18.50", "description": "decimal string"}
    )
    currency = fields.String(required=True, metadata={"example": "CNY"})


class LocalizedTextSchema(ma.Schema):
    en = fields.String(allow_none=True)
    ru = fields.String(allow_none=True)
    zh = fields.String(allow_none=True)


class CategorySchema(ma.Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    names = fields.Nested(LocalizedTextSchema)
    product_count = fields.Integer(required=True)


class CategoryListSchema(ma.Schema):
    items = fields.List(fields.Nested(CategorySchema), required=True)
    total = fields.Integer(required=True)
    lang = fields.String(required=True)


class CategoryRefSchema(ma.Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)


class CountrySchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class MerchantRefSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    country = fields.String()


class ProductSummarySchema(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    category = fields.Nested(CategoryRefSchema, required=True)
    origin_country = fields.Nested(CountrySchema, required=True)
    merchant = fields.Nested(MerchantRefSchema, required=True)
    price = fields.Nested(
        MoneySchema, allow_none=True, metadata={"description": "lowest SKU price"}
    )
    in_stock = fields.Boolean(required=True)


class ProductPageSchema(ma.Schema):
    items = fields.List(fields.Nested(ProductSummarySchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    lang = fields.String(required=True)
    currency = fields.String(required=True)


class DaysRangeSchema(ma.Schema):
    min = fields.Integer(required=True)
    max = fields.Integer(required=True)


class DateWindowSchema(ma.Schema):
    from_ = fields.String(required=True, data_key="from")
    by = fields.String(required=True)


class DestinationSchema(ma.Schema):
    """Can it be delivered to this country, and how (planned by the routing engine)."""

    country = fields.String(required=True)
    deliverable = fields.Boolean(required=True)
    nodes = fields.List(
        fields.String(), required=True, metadata={"description": "nodes able to ship it there"}
    )
    node = fields.String(metadata={"description": "the node the plan picks"})
    lane = fields.String()
    transit_days = fields.Nested(DaysRangeSchema)
    delivery = fields.Nested(DateWindowSchema, metadata={"description": "if ordered now"})
    shipping = fields.Nested(MoneySchema)
    reason = fields.String(metadata={"description": "why not: a problem code"})


class ProductDestinationSchema(ma.Schema):
    country = fields.String(required=True)
    deliverable = fields.Boolean(required=True)
    nodes = fields.List(fields.String(), required=True)


class SkuSchema(ma.Schema):
    sku = fields.String(required=True)
    label = fields.String(allow_none=True)
    price = fields.Nested(MoneySchema, required=True)
    merchant_price = fields.Nested(MoneySchema, required=True)
    weight_g = fields.Integer(required=True)
    shelf_life_days = fields.Integer(required=True)
    available = fields.Integer(required=True)
    in_stock = fields.Boolean(required=True)
    availability = fields.List(fields.Nested(DestinationSchema), required=True)


class ExchangeRateSchema(ma.Schema):
    base = fields.String(required=True)
    quote = fields.String(required=True)
    rate = fields.String(required=True)
    effective_on = fields.String(required=True)
    source = fields.String(required=True)


class ProductDetailSchema(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    names = fields.Nested(LocalizedTextSchema)
    category = fields.Nested(CategoryRefSchema, required=True)
    origin_country = fields.Nested(CountrySchema, required=True)
    hs_code = fields.String(required=True)
    merchant = fields.Nested(MerchantRefSchema, required=True)
    price = fields.Nested(MoneySchema, required=True)
    in_stock = fields.Boolean(required=True)
    skus = fields.List(fields.Nested(SkuSchema), required=True)
    availability = fields.List(fields.Nested(ProductDestinationSchema), required=True)
    exchange_rates = fields.List(fields.Nested(ExchangeRateSchema), required=True)
    lang = fields.String(required=True)
    currency = fields.String(required=True)


# ------------------------------------------------------------ merchant API
# The request bodies below document what catalog.sku_rules validates; the
# views hand the raw JSON to that validator (one set of rules and messages for
# single SKUs, JSON bulk and CSV bulk).


class PriceInSchema(ma.Schema):
    amount = fields.String(required=True, metadata={"example": "18.50"})
    currency = fields.String(required=True, metadata={"example": "CNY"})


class SkuInSchema(ma.Schema):
    sku = fields.String(required=True, metadata={"example": "RU-ALENKA-100"})
    product_code = fields.String(required=True, metadata={"example": "ALENKA"})
    category = fields.String(required=True, metadata={"example": "confectionery"})
    name = fields.Nested(LocalizedTextSchema, required=True)
    description = fields.Nested(LocalizedTextSchema)
    label = fields.Nested(LocalizedTextSchema, metadata={"description": "pack size, per SKU"})
    origin_country = fields.String(required=True, metadata={"example": "RU"})
    hs_code = fields.String(required=True, metadata={"example": "180632"})
    weight_g = fields.Integer(required=True, metadata={"example": 100})
    shelf_life_days = fields.Integer(required=True, metadata={"example": 365})
    length_mm = fields.Integer(
        metadata={"description": "one unit's outer size as packed, whole mm (1 to 3000); "
                  "give length, width and height together or none", "example": 170},
    )  # fmt: skip
    width_mm = fields.Integer(metadata={"example": 80})
    height_mm = fields.Integer(metadata={"example": 10})
    price = fields.Nested(PriceInSchema, required=True)
    stock = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "on hand per node code; nodes not named keep their count",
                  "example": {"RU-WH": 400, "CN-SFH": 120}},
    )  # fmt: skip
    active = fields.Boolean()


class SkuPatchSchema(SkuInSchema):
    """A JSON merge patch (RFC 7396): only the fields to change; null removes."""

    class Meta:
        partial = True


class MerchantSkuSchema(SkuInSchema):
    product_id = fields.Integer(required=True)
    reserved = fields.Dict(keys=fields.String(), values=fields.Integer())
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    warnings = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()),
        metadata={"description": "cross-border notes (not errors) per field"},
    )  # fmt: skip


class MerchantSkuPageSchema(ma.Schema):
    items = fields.List(fields.Nested(MerchantSkuSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class MerchantSkuQuerySchema(StrictSchema):
    category = Text(validate=validate.Length(min=1, max=40))
    product_code = Text(validate=validate.Length(min=1, max=64))
    updated_since = fields.AwareDateTime(
        default_timezone=dt.UTC, metadata={"description": "ISO 8601; naive means UTC"}
    )
    active = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class BulkQuerySchema(StrictSchema):
    dry_run = fields.Boolean(load_default=False)
    on_error = Text(
        load_default="reject_all",
        validate=validate.OneOf(["reject_all", "skip_failed"]),
        metadata={"description": "reject_all: nothing is written if a row fails (422); "
                  "skip_failed: good rows are written (207)"},
    )  # fmt: skip


class RowProblemSchema(ma.Schema):
    row = fields.Integer(
        required=True, metadata={"description": "CSV line (header = 1) or list position"}
    )
    sku = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    warnings = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class UpsertCountsSchema(ma.Schema):
    rows = fields.Integer(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    with_warnings = fields.Integer(required=True)


class UpsertReportSchema(ma.Schema):
    status = fields.String(
        required=True, metadata={"description": "written, validated or rejected"}
    )
    dry_run = fields.Boolean(required=True)
    on_error = fields.String(required=True)
    counts = fields.Nested(UpsertCountsSchema, required=True)
    errors = fields.List(fields.Nested(RowProblemSchema), required=True)
    warnings = fields.List(fields.Nested(RowProblemSchema), required=True)
