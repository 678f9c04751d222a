"""Marshmallow schemas of the cart, order and payment endpoints.

Request schemas refuse unknown fields (a mistyped ``customs_identity`` must
not be dropped silently); response schemas document the shapes in DESIGN.md
and tests load every response with them.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from catalog.schemas import MoneySchema, StrictSchema, Text, _iso_country, _known_language
from orders.lifecycle import ORDER_STATUSES
from orders.payments.base import DEVICES
from orders.pricing import MAX_LINES, MAX_QUANTITY
from warehouse.carriers import DELIVERY_METHODS
from warehouse.schemas import ParcelNumberSchema
from warehouse.shipment_states import SHIPMENT_STATUSES

SKU_CODE = validate.Length(min=1, max=64)


class LineInSchema(StrictSchema):
    sku = Text(required=True, validate=SKU_CODE)
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY)
    )


class AddressSchema(StrictSchema):
    country = Text(required=True, validate=_iso_country, metadata={"example": "CN"})
    region = Text(validate=validate.Length(max=120), metadata={
        "description": "Free text or an ISO 3166-2 code; lanes limited to regions "
                       "(e.g. the Russian Far East) read it"})  # fmt: skip
    city = Text(required=True, validate=validate.Length(min=1, max=120))
    postal_code = Text(validate=validate.Length(max=20))
    line1 = Text(required=True, validate=validate.Length(min=1, max=300))
    line2 = Text(validate=validate.Length(max=300))
    recipient = Text(required=True, validate=validate.Length(min=1, max=120))
    phone = Text(required=True, validate=validate.Length(min=3, max=40))


class CustomsIdentitySchema(StrictSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    id_number = Text(
        required=True,
        validate=validate.Length(min=1, max=32),
        load_only=True,
        metadata={"description": "PRC resident ID (18 characters); stored only masked and "
                                 "as a keyed hash"},
    )  # fmt: skip


class PaymentChoiceSchema(StrictSchema):
    adapter = Text(required=True, metadata={
        "example": "manual",
        "description": "one of the cart quote's `payment_methods` for the destination "
                       "(422 `payment_method_not_offered` otherwise)"})  # fmt: skip
    device = Text(validate=validate.OneOf(DEVICES), metadata={
        "description": "where the shopper pays: desktop (a QR code to scan, a payment page) "
                       "or mobile (the provider's mobile page); default desktop"})  # fmt: skip


class DeliveryChoiceSchema(StrictSchema):
    method = Text(
        required=True,
        validate=validate.OneOf(DELIVERY_METHODS),
        metadata={"description": "door: to the address; pickup: at the carrier's pickup "
                                 "point `point`"},
    )  # fmt: skip
    point = Text(validate=validate.Length(min=1, max=40), metadata={
        "description": "a code from GET /api/v1/delivery-points for the address's city",
        "example": "KZN12"})  # fmt: skip

    @ma.validates_schema
    def point_for_pickup(self, data, **kwargs):
        if data.get("method") == "pickup" and not data.get("point"):
            raise ma.ValidationError("Choose a pickup point.", field_name="point")
        if data.get("method") == "door" and data.get("point"):
            raise ma.ValidationError("A door delivery has no pickup point.", field_name="point")


class OrderInSchema(StrictSchema):
    lines = fields.List(fields.Nested(LineInSchema), validate=validate.Length(min=1, max=MAX_LINES))
    cart_id = Text(
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "check out this cart (send its token as X-Cart-Token) instead of lines"
        },
    )
    currency = Text(required=True, validate=validate.Length(equal=3), metadata={"example": "CNY"})
    email = fields.Email(required=True, validate=validate.Length(max=254))
    shipping_address = fields.Nested(AddressSchema, required=True)
    customs_identity = fields.Nested(
        CustomsIdentitySchema,
        metadata={"description": "required for mainland China (CBEC real-name rule)"},
    )
    payment = fields.Nested(PaymentChoiceSchema, required=True)
    delivery = fields.Nested(DeliveryChoiceSchema, metadata={
        "description": "door (the default) or a pickup point of the carrier"})  # fmt: skip

    @ma.validates_schema
    def lines_or_cart(self, data, **kwargs):
        if bool(data.get("lines")) == bool(data.get("cart_id")):
            raise ma.ValidationError("Send either lines or cart_id.", field_name="lines")


class TotalsSchema(ma.Schema):
    goods = fields.Nested(MoneySchema, required=True)
    shipping = fields.Nested(MoneySchema, required=True)
    duties = fields.Nested(
        MoneySchema,
        allow_none=True,
        metadata={
            "description": "null when no customs policy covers the destination (see duties_status)"
        },
    )
    duties_status = fields.String(required=True, metadata={"description": "estimated | unknown"})
    grand_total = fields.Nested(MoneySchema, required=True)


class DeliveryWindowSchema(ma.Schema):
    from_ = fields.String(data_key="from", allow_none=True)
    by = fields.String(allow_none=True)


class ShipmentLineOutSchema(ma.Schema):
    sku = fields.String(required=True)
    quantity = fields.Integer(required=True)
    reservation = fields.String()


class TrackingSchema(ma.Schema):
    carrier = fields.String(allow_none=True)
    number = fields.String(allow_none=True)


class PickupPointRefSchema(ma.Schema):
    code = fields.String(required=True, metadata={"example": "KZN12"})
    address = fields.String(allow_none=True)


class ShipmentDeliveryChoiceSchema(ma.Schema):
    method = fields.String(required=True, validate=validate.OneOf(DELIVERY_METHODS))
    carrier = fields.String(allow_none=True)
    service = fields.String(allow_none=True, metadata={
        "description": "the carrier's service quoted at checkout and booked (a CDEK tariff "
                       "code); null when the lane's own table priced the parcel"})  # fmt: skip
    point = fields.Nested(PickupPointRefSchema, allow_none=True)


class ShipmentOutSchema(ma.Schema):
    id = fields.Integer(required=True)
    node = fields.String(required=True)
    lane = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(SHIPMENT_STATUSES))
    lines = fields.List(fields.Nested(ShipmentLineOutSchema), required=True)
    shipping = fields.Nested(MoneySchema, required=True)
    duties = fields.Nested(MoneySchema, allow_none=True)
    customs_mode = fields.String(allow_none=True, metadata={"description": "9610 or 1210"})
    weight_g = fields.Integer()
    parcel = fields.Nested(
        ParcelNumberSchema,
        allow_none=True,
        metadata={
            "description": "which of the parcels this order's goods leave this node in "
            "(a node sends several when the goods are over a parcel limit, e.g. 30 kg); "
            "null for a re-routed shipment"
        },
    )
    delivery = fields.Nested(DeliveryWindowSchema, required=True)
    delivery_choice = fields.Nested(ShipmentDeliveryChoiceSchema)
    tracking = fields.Nested(TrackingSchema, allow_none=True)
    events = fields.List(
        fields.Dict(),
        metadata={
            "description": "the carrier's tracking events, oldest first: code, status, at, "
            "location, description"
        },
    )


class PaymentOutSchema(ma.Schema):
    adapter = fields.String(required=True)
    status = fields.String(required=True)
    next_action = fields.Dict(
        allow_none=True,
        metadata={
            "description": "what the client does next: Stripe client secret, bank details, retry"
        },
    )
    paid = fields.Nested(MoneySchema, required=True)
    refunded = fields.Nested(MoneySchema, required=True)
    amount = fields.Nested(
        MoneySchema,
        metadata={
            "description": "the latest payment's amount, in the currency the provider is paid in"
        },
    )
    order_amount = fields.Nested(
        MoneySchema,
        metadata={
            "description": "when the payment was converted to the provider's currency: the "
            "order's total it stands for"
        },
    )
    rate = fields.Dict(metadata={
        "description": "when converted: from, to, rate (1 `from` in `to`, 4 decimals) and "
                       "rates_of, the date of the order's stored rates it used"})  # fmt: skip


class OrderLineOutSchema(ma.Schema):
    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_price = fields.Nested(MoneySchema, required=True)
    total = fields.Nested(MoneySchema, required=True)
    hs_code = fields.String()
    origin_country = fields.String()


class DutiesOutSchema(ma.Schema):
    status = fields.String(required=True)
    notice = fields.String(allow_none=True)
    policy = fields.String(allow_none=True)
    policy_version = fields.String(allow_none=True)
    assessment = fields.Dict(
        metadata={"description": "every figure used: policy, rates, per-parcel and per-line values"}
    )


class OrderOutSchema(ma.Schema):
    number = fields.String(required=True, metadata={"example": "SCO-7KQ2-M9XD"})
    status = fields.String(required=True, validate=validate.OneOf(ORDER_STATUSES))
    token = fields.String(metadata={"description": "the shopper's secret; only in the 201"})
    created_at = fields.String(required=True)
    currency = fields.String(required=True)
    email = fields.String()
    shipping_address = fields.Dict()
    customs_identity = fields.Dict(
        allow_none=True, metadata={"description": "name and the masked ID number"}
    )
    lines = fields.List(fields.Nested(OrderLineOutSchema), required=True)
    totals = fields.Nested(TotalsSchema, required=True)
    duties = fields.Nested(DutiesOutSchema, required=True)
    exchange_rates = fields.List(fields.Dict())
    shipments = fields.List(fields.Nested(ShipmentOutSchema), required=True)
    payment = fields.Nested(PaymentOutSchema, required=True)
    reservation_expires_at = fields.String(allow_none=True)
    routing = fields.List(fields.Dict(), metadata={
        "description": "staff only: the checkout plan and every re-route, with the engine's "
                       "explanation"})  # fmt: skip
    history = fields.List(fields.Dict(), metadata={"description": "staff only"})


class OrderTokenQuerySchema(StrictSchema):
    token = Text(metadata={"description": "the order token (or send X-Order-Token)"})
    lang = Text(validate=_known_language)


class CancelSchema(StrictSchema):
    reason = Text(validate=validate.Length(max=500))


class MarkPaidSchema(StrictSchema):
    amount = Text(metadata={"description": "decimal string in the order currency; default "
                                           "the grand total"})  # fmt: skip
    reference = Text(validate=validate.Length(max=120))


class WebhookAckSchema(ma.Schema):
    received = fields.Boolean(required=True)
    outcome = fields.String(required=True)


# ------------------------------------------------------------------ carts


class CartInSchema(StrictSchema):
    currency = Text(validate=validate.Length(equal=3))
    lines = fields.List(fields.Nested(LineInSchema), validate=validate.Length(max=MAX_LINES))


class CartLinePatchSchema(StrictSchema):
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=MAX_QUANTITY)
    )


class CartQuerySchema(StrictSchema):
    destination = Text(
        validate=_iso_country, metadata={"description": "country to quote shipping and duties for"}
    )
    region = Text(validate=validate.Length(max=120))
    postal_code = Text(validate=validate.Length(max=20))
    city = Text(validate=validate.Length(max=120), metadata={
        "description": "the city: carriers price it, and pickup points are found in it"},
    )  # fmt: skip
    delivery = Text(validate=validate.OneOf(DELIVERY_METHODS), metadata={
        "description": "door (the default) or pickup (with `point`)"})  # fmt: skip
    point = Text(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "the pickup point's code, for delivery=pickup"},
    )
    currency = Text(validate=validate.Length(equal=3))
    lang = Text(validate=_known_language)


class DeliveryPointsQuerySchema(StrictSchema):
    country = Text(required=True, validate=_iso_country, metadata={"example": "RU"})
    city = Text(required=True, validate=validate.Length(min=1, max=120),
                metadata={"example": "Казань"})  # fmt: skip
    postal_code = Text(validate=validate.Length(max=20))
    region = Text(validate=validate.Length(max=120))


class DeliveryPointOutSchema(ma.Schema):
    carrier = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "send it as delivery.point"})
    name = fields.String(required=True)
    city = fields.String()
    address = fields.String()
    kind = fields.String(metadata={"description": "office | locker"})
    work_time = fields.String()
    postal_code = fields.String(allow_none=True)


class DeliveryPointsOutSchema(ma.Schema):
    country = fields.String(required=True)
    city = fields.String(required=True)
    points = fields.List(fields.Nested(DeliveryPointOutSchema), required=True)


class CartLineOutSchema(ma.Schema):
    id = fields.Integer(required=True)
    sku = fields.String(required=True)
    name = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Nested(MoneySchema)
    total = fields.Nested(MoneySchema)
    available = fields.Boolean(required=True)
    problem = fields.String()


class CartGoodsSchema(ma.Schema):
    goods = fields.Nested(MoneySchema, required=True)


class CartOutSchema(ma.Schema):
    id = fields.String(required=True)
    token = fields.String(metadata={"description": "only when the cart is made: send it as "
                                                   "X-Cart-Token"})  # fmt: skip
    currency = fields.String(required=True)
    updated_at = fields.String(required=True)
    lines = fields.List(fields.Nested(CartLineOutSchema), required=True)
    totals = fields.Nested(CartGoodsSchema, required=True)
    destination = fields.Dict()
    quote = fields.Dict(
        allow_none=True,
        metadata={
            "description": "with ?destination=: deliverable, shipments (node, shipping, delivery "
            "window), totals with duties, the payment_methods offered there (adapter, label "
            "key, currency, and amount and rate when converted to the provider's currency), "
            "or the problem that stops delivery"
        },
    )
