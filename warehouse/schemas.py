"""Marshmallow schemas of the staff API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from catalog.schemas import MoneySchema, StrictSchema, Text, _known_language
from warehouse.shipment_states import SHIPMENT_STATUSES

# An unknown ?lang= is the caller's mistake, a 422, as on the catalog.
LANG_DESCRIPTION = "en, ru or zh; without it, Accept-Language decides, then en"


class DaysSchema(ma.Schema):
    min = fields.Integer(required=True)
    max = fields.Integer(required=True)


class LegCostSchema(ma.Schema):
    base = fields.Nested(MoneySchema, required=True)
    per_kg = fields.Nested(MoneySchema, required=True)


class LegSchema(ma.Schema):
    position = fields.Integer(required=True)
    carrier = fields.String(required=True)
    service = fields.String(required=True)
    transit_days = fields.Nested(DaysSchema, required=True)
    cost = fields.Nested(LegCostSchema, required=True)
    crossing = fields.String(allow_none=True)
    customs_mode = fields.String(allow_none=True, metadata={"description": "9610 or 1210"})


class RefusesSchema(ma.Schema):
    categories = fields.List(fields.String(), required=True)
    hs_prefixes = fields.List(fields.String(), required=True)
    outside_cbec_positive_list = fields.Boolean(required=True)
    max_parcel_value = fields.Nested(MoneySchema, allow_none=True)
    max_parcel_weight_g = fields.Integer(allow_none=True)


class LaneSchema(ma.Schema):
    code = fields.String(required=True)
    node = fields.String(required=True)
    countries = fields.List(fields.String(), required=True)
    regions = fields.List(fields.String(), required=True)
    cutoff_time = fields.String(required=True)
    timezone = fields.String(required=True)
    transit_days = fields.Nested(DaysSchema, required=True)
    refuses = fields.Nested(RefusesSchema, required=True)
    active = fields.Boolean(required=True)
    legs = fields.List(fields.Nested(LegSchema), required=True)


class LaneListSchema(ma.Schema):
    items = fields.List(fields.Nested(LaneSchema), required=True)
    total = fields.Integer(required=True)


class LaneQuerySchema(StrictSchema):
    node = Text(metadata={"description": "only this node's lanes (operators)"})


class RerouteSchema(StrictSchema):
    reason = Text(required=True, validate=ma.validate.Length(min=1, max=500))


class RerouteResultSchema(ma.Schema):
    rerouted = fields.Integer(required=True, metadata={"description": "the old shipment's id"})
    from_node = fields.String(required=True)
    reason = fields.String(required=True)
    shipments = fields.List(fields.Dict(), required=True, metadata={"description": "new shipments"})
    explanation = fields.Dict(required=True, metadata={"description": "the engine's reasons"})


# ------------------------------------------------------------------ the node's work

SHIPMENT_STATES = SHIPMENT_STATUSES


class NodeSchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    country = fields.String(required=True)
    shipments = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                            metadata={"description": "shipments per state"})  # fmt: skip
    open_pick_lists = fields.List(fields.Dict(), required=True)


class NodeListSchema(ma.Schema):
    items = fields.List(fields.Nested(NodeSchema), required=True)


class NodesQuerySchema(StrictSchema):
    lang = Text(validate=_known_language, metadata={"description": LANG_DESCRIPTION})


class StockLinesSchema(StrictSchema):
    lines = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": 'receipts: [{"sku", "quantity", "bin"}]; adjustments: '
                  '[{"sku", "bin", "counted"}]. Every line is checked; one bad line '
                  "refuses all (422 naming lines.N.field)."},
    )  # fmt: skip
    reference = Text(metadata={"description": "delivery note, supplier invoice…"})
    reason = Text(metadata={"description": "adjustments: why the count differs"})


class BinSchema(ma.Schema):
    bin = fields.String(required=True)
    on_hand = fields.Integer(required=True)


class BinStockSchema(ma.Schema):
    sku = fields.String(required=True)
    on_hand = fields.Integer(required=True)
    reserved = fields.Integer(required=True)
    available = fields.Integer(required=True)
    bins = fields.List(fields.Nested(BinSchema), required=True)


class NodeStockSchema(ma.Schema):
    node = fields.String(required=True)
    items = fields.List(fields.Nested(BinStockSchema), required=True)


class PickListCreateSchema(StrictSchema):
    max_shipments = fields.Integer(validate=validate.Range(min=1, max=1000))
    carrier = Text(metadata={"description": "only shipments whose lane's first carrier is this"})
    cutoff_before = Text(
        validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"),
        metadata={"description": "only lanes whose cut-off is at or before HH:MM"},
    )


class PickListQuerySchema(StrictSchema):
    lang = Text(validate=_known_language, metadata={"description": LANG_DESCRIPTION})


class PickListLineSchema(ma.Schema):
    position = fields.Integer(required=True)
    bin = fields.String(
        allow_none=True, required=True, metadata={"description": "null: units in no bin yet"}
    )
    sku = fields.String(required=True)
    sku_barcode = fields.String(required=True)
    name = fields.String(required=True)
    quantity = fields.Integer(required=True)
    shipments = fields.List(fields.Dict(), required=True)


class ParcelNumberSchema(ma.Schema):
    number = fields.Integer(required=True)
    of = fields.Integer(required=True)


class PickListShipmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    barcode = fields.String(required=True)
    order_number = fields.String()
    parcel = fields.Nested(
        ParcelNumberSchema,
        allow_none=True,
        metadata={"description": "which of its order's parcels from this node this one is"},
    )


class PickListSchema(ma.Schema):
    id = fields.Integer(required=True)
    barcode = fields.String(required=True)
    node = fields.String(required=True)
    node_name = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.String(required=True)
    created_by = fields.String(required=True)
    filters = fields.Dict()
    shipment_count = fields.Integer(required=True)
    unit_count = fields.Integer(required=True)
    lang = fields.String()
    lines = fields.List(fields.Nested(PickListLineSchema), required=True)
    shipments = fields.List(fields.Nested(PickListShipmentSchema), required=True)


class DimensionsSchema(StrictSchema):
    length = fields.Integer(required=True, validate=validate.Range(min=1, max=5000))
    width = fields.Integer(required=True, validate=validate.Range(min=1, max=5000))
    height = fields.Integer(required=True, validate=validate.Range(min=1, max=5000))


class PackSchema(StrictSchema):
    weight_g = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000))
    dimensions_mm = fields.Nested(DimensionsSchema)
    scanned = fields.List(Text(validate=validate.Length(min=1, max=64)),
                          validate=validate.Length(max=10_000),
                          metadata={"description": "SKU codes scanned, one per unit"})  # fmt: skip


class ShipSchema(StrictSchema):
    carrier = Text(
        required=True,
        metadata={
            "example": "manual",
            "description": "manual, or a carrier booked through its API (cdek)",
        },
    )
    service = Text(
        validate=validate.Length(max=40),
        metadata={"description": "the carrier's service or tariff code"},
    )
    tracking_number = Text(validate=validate.Length(min=1, max=80))
    carrier_name = Text(
        validate=validate.Length(max=40),
        metadata={"description": "manual: who carries it (e.g. China Post)"},
    )


class ShipmentSummarySchema(ma.Schema):
    id = fields.Integer(required=True)
    order = fields.String(required=True)
    node = fields.String(required=True)
    lane = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(SHIPMENT_STATES))
    pick_list_id = fields.Integer(allow_none=True)
    weight_g = fields.Integer()
    packed_weight_g = fields.Integer(allow_none=True)
    carrier = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)
    booking_state = fields.String(
        allow_none=True,
        metadata={
            "description": "booking through a carrier's API: requested, sending, pending, "
            "registered or failed"
        },
    )
    last_error = fields.String(
        allow_none=True, metadata={"description": "why the carrier refused the booking, for staff"}
    )
    deliver_by = fields.String(allow_none=True)
    packed_at = fields.String(allow_none=True)
    shipped_at = fields.String(allow_none=True)


class ShipmentPageSchema(ma.Schema):
    items = fields.List(fields.Nested(ShipmentSummarySchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class ShipmentQuerySchema(StrictSchema):
    node = Text()
    status = Text(validate=validate.OneOf(SHIPMENT_STATES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class SlipQuerySchema(StrictSchema):
    lang = Text(validate=_known_language, metadata={"description": LANG_DESCRIPTION})


class JobSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    state = fields.String(required=True)
    attempts = fields.Integer(required=True)
    max_attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    kwargs = fields.Dict()
    key = fields.String(allow_none=True)
    locked_by = fields.String(allow_none=True)
    locked_until = fields.String(allow_none=True)


class JobPageSchema(ma.Schema):
    items = fields.List(fields.Nested(JobSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class JobQuerySchema(StrictSchema):
    state = Text(validate=validate.OneOf(("pending", "running", "done", "dead")))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CarrierWebhookAckSchema(ma.Schema):
    received = fields.Boolean(required=True)
    outcome = fields.String(required=True)
