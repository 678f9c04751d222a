"""Marshmallow schemas of the admin API."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate

from catalog.money import Money
from catalog.schemas import MoneySchema, StrictSchema, Text
from shop.admin.services.transaction import MAX_PER_PAGE
from shop.core.errors import DomainError
from warehouse.lane_legs import LegInput
from warehouse.schemas import LaneSchema


class PageQuerySchema(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class PageSchema(ma.Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class TokenSchema(ma.Schema):
    id = fields.Integer(required=True)
    prefix = fields.String(required=True, metadata={"description": "first characters only"})
    label = fields.String(required=True)
    created_at = fields.String(required=True)
    last_used_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)


class NewTokenSchema(StrictSchema):
    label = Text(load_default="", validate=validate.Length(max=80))


class IssuedTokenSchema(TokenSchema):
    token = fields.String(
        required=True, metadata={"description": "the token itself, shown only in this answer"}
    )


# ------------------------------------------------------------------ merchants


class MerchantSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    country = fields.String(required=True)
    currency = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "active | suspended"})
    is_demo = fields.Boolean(required=True)
    created_at = fields.String(required=True)
    products = fields.Integer(metadata={"description": "products listed (any state)"})
    active_tokens = fields.Integer()


class MerchantDetailSchema(MerchantSchema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


class MerchantPageSchema(PageSchema):
    items = fields.List(fields.Nested(MerchantSchema), required=True)


class MerchantQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(["active", "suspended"]))
    q = Text(validate=validate.Length(max=200), metadata={"description": "part of the name"})


class MerchantCreateSchema(StrictSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    country = Text(required=True, metadata={"example": "RU"})
    currency = Text(metadata={"description": "ISO 4217; default: the country's currency"})
    issue_token = fields.Boolean(load_default=True)


class MerchantCreatedSchema(MerchantSchema):
    token = fields.String(
        allow_none=True, metadata={"description": "the first API token, shown only here"}
    )


class SuspendSchema(StrictSchema):
    reason = Text(load_default="", validate=validate.Length(max=500))


# ------------------------------------------------------------------ staff


class StaffSchema(ma.Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    node = fields.String(allow_none=True)
    role = fields.String(required=True, metadata={"description": "picker | operator"})
    is_active = fields.Boolean(required=True)
    is_demo = fields.Boolean(required=True)
    created_at = fields.String(required=True)
    active_tokens = fields.Integer()


class StaffDetailSchema(StaffSchema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


class StaffPageSchema(PageSchema):
    items = fields.List(fields.Nested(StaffSchema), required=True)


class StaffQuerySchema(PageQuerySchema):
    node = Text(validate=validate.Length(max=16))
    role = fields.String(validate=validate.OneOf(["picker", "operator"]))
    active = fields.Boolean()


class StaffCreateSchema(StrictSchema):
    email = Text(required=True, validate=validate.Length(max=254))
    node = Text(allow_none=True, metadata={"description": "node code; operators may have none"})
    role = fields.String(load_default="picker", validate=validate.OneOf(["picker", "operator"]))
    issue_token = fields.Boolean(load_default=False, metadata={"description": "an API token too"})


class StaffCreatedSchema(StaffSchema):
    password = fields.String(required=True, metadata={"description": "shown only here"})
    token = fields.String(allow_none=True, metadata={"description": "shown only here"})


class StaffChangeSchema(StrictSchema):
    node = Text(allow_none=True, metadata={"description": "node code, or null (operators)"})
    role = fields.String(validate=validate.OneOf(["picker", "operator"]))
    is_active = fields.Boolean(
        metadata={"description": "false disables: sessions end and tokens are revoked"}
    )


class PasswordResetSchema(StaffSchema):
    password = fields.String(required=True, metadata={"description": "shown only here"})


# ------------------------------------------------------------------ nodes, bins, lanes


class LocalizedNameSchema(ma.Schema):
    en = fields.String()
    ru = fields.String()
    zh = fields.String()


class NodeLaneSummarySchema(ma.Schema):
    code = fields.String(required=True)
    countries = fields.List(fields.String(), required=True)
    cutoff_time = fields.String(required=True)
    timezone = fields.String(required=True)
    active = fields.Boolean(required=True)


class AdminNodeSchema(ma.Schema):
    code = fields.String(required=True)
    kind = fields.String(required=True)
    country = fields.String(required=True)
    city = fields.String(required=True)
    name = fields.Nested(LocalizedNameSchema, required=True)
    priority = fields.Integer(required=True, metadata={"description": "lower is preferred"})
    is_active = fields.Boolean(required=True)
    staff = fields.Integer()
    lanes = fields.List(fields.Nested(NodeLaneSummarySchema))


class AdminNodeDetailSchema(AdminNodeSchema):
    lanes = fields.List(fields.Nested(LaneSchema), required=True)


class AdminNodeListSchema(ma.Schema):
    items = fields.List(fields.Nested(AdminNodeSchema), required=True)
    total = fields.Integer(required=True)


class NodeChangeSchema(StrictSchema):
    priority = fields.Integer(validate=validate.Range(min=0, max=10_000))
    is_active = fields.Boolean()
    city = Text(validate=validate.Length(min=1, max=80))
    name_en = Text(validate=validate.Length(min=1, max=120))
    name_ru = Text(validate=validate.Length(min=1, max=120))
    name_zh = Text(validate=validate.Length(min=1, max=120))


class BinSkuSchema(ma.Schema):
    sku = fields.String(required=True)
    units = fields.Integer(required=True)


class BinContentsSchema(ma.Schema):
    bin = fields.String(required=True)
    skus = fields.List(fields.Nested(BinSkuSchema), required=True)


class NodeBinsSchema(ma.Schema):
    node = fields.String(required=True)
    bins = fields.List(fields.Nested(BinContentsSchema), required=True)
    unbinned = fields.List(
        fields.Nested(BinSkuSchema),
        required=True,
        metadata={"description": "units on hand in no bin yet"},
    )


class BinMoveSchema(StrictSchema):
    sku = Text(required=True, validate=validate.Length(min=1, max=64))
    to_bin = Text(required=True, validate=validate.Length(min=1, max=20))
    from_bin = Text(
        allow_none=True, metadata={"description": "empty or null: units on hand in no bin"}
    )
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))


class BinEndSchema(ma.Schema):
    bin = fields.String(allow_none=True)
    units = fields.Integer(required=True)


class BinMovedSchema(ma.Schema):
    sku = fields.String(required=True)
    quantity = fields.Integer(required=True)
    to = fields.Nested(BinEndSchema, required=True)
    from_ = fields.Nested(BinEndSchema, required=True, data_key="from", attribute="from")


class AdminLaneListSchema(ma.Schema):
    items = fields.List(fields.Nested(LaneSchema), required=True)
    total = fields.Integer(required=True)


class LaneQuerySchema(StrictSchema):
    node = Text(validate=validate.Length(max=16))


class LegInputSchema(StrictSchema):
    carrier = Text(required=True, validate=validate.Length(min=1, max=40))
    service = Text(required=True, validate=validate.Length(min=1, max=80))
    transit_days_min = fields.Integer(required=True, validate=validate.Range(min=0, max=365))
    transit_days_max = fields.Integer(required=True, validate=validate.Range(min=0, max=365))
    cost_base = fields.Decimal(required=True, as_string=True, places=None)
    cost_per_kg = fields.Decimal(required=True, as_string=True, places=None)
    cost_currency = Text(required=True, validate=validate.Length(equal=3))
    crossing = Text(allow_none=True, validate=validate.Length(max=80))
    customs_mode = fields.String(allow_none=True, validate=validate.OneOf(["9610", "1210"]))

    @ma.post_load
    def _as_leg(self, data, **kwargs) -> LegInput:
        return LegInput(**data)


class LaneChangeSchema(StrictSchema):
    cutoff_time = Text(metadata={"example": "16:00", "description": "HH:MM, lane's local time"})
    timezone = Text(metadata={"example": "Asia/Vladivostok"})
    active = fields.Boolean()
    countries = fields.List(Text(), validate=validate.Length(min=1))
    regions = fields.List(Text())
    refuses_categories = fields.List(Text())
    refuses_hs_prefixes = fields.List(Text())
    requires_cbec_positive_list = fields.Boolean()
    max_parcel_weight_g = fields.Integer(validate=validate.Range(min=1))
    max_parcel_value = fields.Nested(MoneySchema)
    legs = fields.List(
        fields.Nested(LegInputSchema),
        validate=validate.Length(min=1, max=10),
        metadata={"description": "replaces every leg, in order"},
    )

    @ma.post_load
    def _as_money(self, data, **kwargs):
        value = data.get("max_parcel_value")
        if value is not None:
            try:
                data["max_parcel_value"] = Money.parse(value["amount"], value["currency"])
            except (ValueError, DomainError) as error:
                raise ma.ValidationError(
                    "An amount and an ISO 4217 currency.", "max_parcel_value"
                ) from error
        return data


# ------------------------------------------------------------------ customs policies


class PolicyPeriodSchema(ma.Schema):
    countries = fields.List(fields.String(), required=True)
    effective_from = fields.String(required=True)
    effective_to = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"description": "past | in_force | scheduled"})


class PolicySchema(ma.Schema):
    id = fields.String(required=True)
    policy = fields.String(required=True)
    version = fields.String(required=True, metadata={"description": "id@effective_from"})
    kind = fields.String(required=True, metadata={"description": "cn_cbec | eaeu"})
    origin = fields.String(required=True, metadata={"description": "file | database"})
    file = fields.String(metadata={"description": "for shipped rule sets"})
    row_id = fields.Integer(allow_none=True)
    created_at = fields.String()
    created_by = fields.String()
    countries = fields.List(fields.String(), required=True)
    effective_from = fields.String(required=True)
    effective_to = fields.String(
        allow_none=True, metadata={"description": "as stated; see `applies` for computed ends"}
    )
    applies = fields.List(
        fields.Nested(PolicyPeriodSchema),
        required=True,
        metadata={"description": "where and when it applies, later rule sets laid over it"},
    )
    status = fields.String(
        required=True, metadata={"description": "past | in_force | scheduled | superseded"}
    )
    requires_customs_identity = fields.Boolean(required=True)
    source = fields.String(required=True)
    notes = fields.List(fields.String(), required=True)
    figures = fields.Dict(required=True)


class PolicyListSchema(ma.Schema):
    items = fields.List(fields.Nested(PolicySchema), required=True)
    today = fields.String(required=True)


class PolicyQuerySchema(StrictSchema):
    country = Text(validate=validate.Length(equal=2))


class PolicyCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["cn_cbec", "eaeu"]))
    rule_set = fields.Dict(
        required=True,
        metadata={
            "description": "one rule set exactly as in orders/customs/rules/*.json, with a "
            "new effective_from and no effective_to"
        },
    )


class PolicyAddedSchema(ma.Schema):
    row_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    id = fields.String(required=True)
    version = fields.String(required=True)
    countries = fields.List(fields.String(), required=True)
    effective_from = fields.String(required=True)
    figures = fields.Dict(required=True)


# ------------------------------------------------------------------ audit


class AuditEntrySchema(ma.Schema):
    id = fields.Integer(required=True)
    at = fields.String(required=True)
    staff_id = fields.Integer(allow_none=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    target_type = fields.String(required=True)
    target_id = fields.String(required=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True)


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


class AuditQuerySchema(PageQuerySchema):
    action = Text(validate=validate.Length(max=80), metadata={"example": "merchant.suspend"})
    target_type = Text(validate=validate.Length(max=40), metadata={"example": "merchant"})
    target_id = Text(validate=validate.Length(max=80))
    since = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "ISO 8601 (UTC)"})
    until = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "ISO 8601 (UTC), exclusive"}
    )
