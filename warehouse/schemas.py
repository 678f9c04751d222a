"""Marshmallow schemas of the staff API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from catalog.schemas import MoneySchema, StrictSchema, Text


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
