"""GET /api/v1/merchant/orders: the merchant's view of its orders.

The view belongs to orders (the catalog may not import them) but is part of the
merchant API, whose blueprint the catalog declares: it is added to that blueprint,
so its URL, tag and endpoint (``merchant.MerchantOrders``) are the merchant API's.
``shop.app`` imports this module before it registers the blueprint.
"""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from catalog.api import merchant_blp, merchant_only
from catalog.schemas import MoneySchema, StrictSchema, Text
from orders import merchant_orders
from orders.models import STATUSES as ORDER_STATUSES
from shop.core.api_base import shaped_json


class MerchantOrderQuerySchema(StrictSchema):
    status = Text(validate=validate.OneOf(ORDER_STATUSES))
    created_since = fields.AwareDateTime(default_timezone=dt.UTC)
    created_until = fields.AwareDateTime(default_timezone=dt.UTC)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class MerchantOrderLineSchema(ma.Schema):
    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_price = fields.Nested(MoneySchema, required=True)


class MerchantOrderSchema(ma.Schema):
    number = fields.String(required=True)
    status = fields.String(required=True)
    destination_country = fields.String(required=True)
    created_at = fields.String(required=True)
    lines = fields.List(fields.Nested(MerchantOrderLineSchema), required=True)


class MerchantOrderPageSchema(ma.Schema):
    items = fields.List(fields.Nested(MerchantOrderSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


@merchant_blp.route("/orders")
class MerchantOrders(MethodView):
    @merchant_only
    @merchant_blp.arguments(MerchantOrderQuerySchema, location="query")
    @merchant_blp.response(200, MerchantOrderPageSchema)
    def get(self, args, merchant):
        """Orders that contain the merchant's SKUs, with the merchant's lines only."""
        return shaped_json(merchant_orders.list_merchant_orders(merchant, **args))
