"""Admin API for customs order records: what a customs broker submits to China's
cross-border clearance for the orders shipped on a day (CEB311-style XML, or JSON).

Operators only (``admin_api_operator``); every export is written to the audit log,
which names the orders and never an ID number.
"""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from flask import current_app, request
from marshmallow import fields, validate

from catalog.schemas import StrictSchema
from orders.customs import order_records
from shop.admin.web import operator_only_on
from shop.core.api_base import Blueprint, shaped_json

admin_customs_blp = Blueprint(
    "admin_customs",
    __name__,
    url_prefix="/api/v1/admin/customs",
    description="Operators: customs order records for brokers",
)

XML_MIMETYPE = "application/xml"
NO_STORE = {"Cache-Control": "no-store"}


# ------------------------------------------------------------------ schemas


class CustomsOrdersQuerySchema(StrictSchema):
    day = fields.Date(
        data_key="date",
        metadata={"description": "one China day (Asia/Shanghai), YYYY-MM-DD"},
    )
    first_day = fields.Date(
        data_key="from", metadata={"description": "first China day, included (instead of date)"}
    )
    last_day = fields.Date(
        data_key="to", metadata={"description": "last China day, included; default: from"}
    )
    format = fields.String(
        validate=validate.OneOf(["json", "xml"]),
        metadata={"description": "json or xml (CEB311-style); default: by Accept, else json"},
    )

    @ma.validates_schema
    def _one_window(self, data, **kwargs):
        day, first, last = data.get("day"), data.get("first_day"), data.get("last_day")
        if day is not None and (first is not None or last is not None):
            raise ma.ValidationError("Send either date or from/to, not both.", field_name="date")
        if day is None and first is None:
            if last is not None:
                raise ma.ValidationError("to needs from.", field_name="from")
            raise ma.ValidationError("Which China day: date=YYYY-MM-DD.", field_name="date")
        if first is not None and last is not None:
            if last < first:
                raise ma.ValidationError("to is before from.", field_name="to")
            if (last - first).days >= order_records.MAX_WINDOW_DAYS:
                raise ma.ValidationError(
                    f"At most {order_records.MAX_WINDOW_DAYS} days at once.", field_name="to"
                )


class CustomsRecordMoneySchema(ma.Schema):
    amount = fields.String(required=True)
    currency = fields.String(required=True)


class CustomsRecordRateSchema(ma.Schema):
    base = fields.String(required=True)
    quote = fields.String(required=True)
    rate = fields.String(required=True)
    effective_on = fields.String(required=True)
    source = fields.String(required=True)


class CustomsConversionSchema(ma.Schema):
    from_ = fields.String(required=True, data_key="from")
    to = fields.String(required=True)
    factor = fields.String(required=True)
    rates = fields.List(fields.Nested(CustomsRecordRateSchema), required=True)
    order_grand_total = fields.Nested(CustomsRecordMoneySchema, required=True)
    order_grand_total_in_cny = fields.String(required=True)
    rounding_difference = fields.String(required=True)
    method = fields.String(required=True)


class CustomsBuyerSchema(ma.Schema):
    reg_no = fields.String(required=True, metadata={"description": "buyerRegNo (the email)"})
    name = fields.String(required=True, metadata={"description": "the real name (订购人)"})
    telephone = fields.String(required=True)
    id_type = fields.String(required=True, metadata={"description": "1 = PRC resident ID card"})
    id_number = fields.String(
        required=True,
        metadata={"description": "in full when id_number_available, else masked"},
    )
    id_number_masked = fields.String(required=True)


class CustomsPaymentInfoSchema(ma.Schema):
    name = fields.String(allow_none=True)
    transaction_id = fields.String(allow_none=True)


class CustomsConsigneeSchema(ma.Schema):
    name = fields.String(required=True)
    telephone = fields.String(required=True)
    address = fields.String(required=True)


class CustomsRecordShipmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    node = fields.String(required=True)
    customs_mode = fields.String(required=True, metadata={"description": "9610 or 1210"})
    lane = fields.String(allow_none=True)
    status = fields.String(required=True)
    shipped_at = fields.String(allow_none=True)
    carrier = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)


class CustomsGoodsLineSchema(ma.Schema):
    gnum = fields.Integer(required=True)
    item_no = fields.String(required=True, metadata={"description": "the SKU"})
    item_name = fields.String(required=True, metadata={"description": "Chinese name"})
    gmodel = fields.String(required=True)
    item_describe = fields.String(required=True)
    hs_code = fields.String(required=True)
    unit = fields.String(required=True, metadata={"description": "customs unit code, 011 = 件"})
    quantity = fields.Integer(required=True)
    price = fields.String(required=True, metadata={"description": "CNY"})
    total_price = fields.String(required=True, metadata={"description": "CNY"})
    origin_country = fields.String(required=True, metadata={"description": "ISO 3166 alpha-2"})
    country = fields.String(required=True, metadata={"description": "customs code, 344 = RU"})


class CustomsOrderRecordSchema(ma.Schema):
    order_no = fields.String(required=True)
    order_status = fields.String(required=True)
    first_shipped_at = fields.String(required=True)
    order_type = fields.String(required=True, metadata={"description": "I (import)"})
    currency = fields.String(required=True, metadata={"description": "always CNY"})
    customs_currency = fields.String(required=True, metadata={"description": "142 = CNY"})
    goods_value = fields.String(required=True)
    freight = fields.String(required=True)
    insurance = fields.String(required=True)
    discount = fields.String(required=True)
    tax_total = fields.String(required=True)
    tax_status = fields.String(required=True, metadata={"description": "assessed | not_assessed"})
    actual_paid = fields.String(
        required=True, metadata={"description": "goods + freight + insurance + tax - discount"}
    )
    buyer = fields.Nested(CustomsBuyerSchema, required=True)
    id_number_available = fields.Boolean(required=True)
    payment = fields.Nested(CustomsPaymentInfoSchema, required=True)
    consignee = fields.Nested(CustomsConsigneeSchema, required=True)
    customs_modes = fields.List(fields.String(), required=True)
    nodes = fields.List(fields.String(), required=True)
    shipments = fields.List(fields.Nested(CustomsRecordShipmentSchema), required=True)
    goods = fields.List(fields.Nested(CustomsGoodsLineSchema), required=True)
    conversion = fields.Nested(
        CustomsConversionSchema,
        allow_none=True,
        metadata={"description": "null for orders in CNY; else the order's own rates used"},
    )
    warnings = fields.List(fields.String(), required=True)


class CustomsHeldBackSchema(ma.Schema):
    order_no = fields.String(required=True)
    reasons = fields.List(fields.String(), required=True)


class CustomsWindowSchema(ma.Schema):
    from_ = fields.String(required=True, data_key="from")
    to = fields.String(required=True)
    timezone = fields.String(required=True)
    by = fields.String(required=True)


class CustomsPartiesSchema(ma.Schema):
    platform_code = fields.String(required=True)
    platform_name = fields.String(required=True)
    enterprise_code = fields.String(required=True)
    enterprise_name = fields.String(required=True)


class CustomsExportTotalsSchema(ma.Schema):
    orders = fields.Integer(required=True)
    actual_paid = fields.String(required=True)
    currency = fields.String(required=True)


class CustomsExportSchema(ma.Schema):
    format = fields.String(required=True)
    message_type = fields.String(required=True)
    window = fields.Nested(CustomsWindowSchema, required=True)
    generated_at = fields.String(required=True)
    parties = fields.Nested(CustomsPartiesSchema, required=True)
    missing_settings = fields.List(
        fields.String(), required=True, metadata={"description": "unset customs code settings"}
    )
    codes_version = fields.String(required=True)
    records = fields.List(fields.Nested(CustomsOrderRecordSchema), required=True)
    problems = fields.List(
        fields.Nested(CustomsHeldBackSchema),
        required=True,
        metadata={"description": "orders held back: their figures do not reconcile"},
    )
    totals = fields.Nested(CustomsExportTotalsSchema, required=True)


# ------------------------------------------------------------------ plumbing


operator_only = operator_only_on(admin_customs_blp)


def window_from(args: dict) -> order_records.ExportWindow:
    day: date | None = args.get("day")
    if day is not None:
        return order_records.ExportWindow(day, day)
    first = args["first_day"]
    return order_records.ExportWindow(first, args.get("last_day") or first)


def wants_xml(args: dict) -> bool:
    if "format" in args:
        return args["format"] == "xml"
    best = request.accept_mimetypes.best_match(["application/json", XML_MIMETYPE, "text/xml"])
    return best in (XML_MIMETYPE, "text/xml")


def xml_download(export: order_records.CustomsExport):
    response = current_app.response_class(export.xml, mimetype=XML_MIMETYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ceb311-orders-{export.window.first_day.isoformat()}'
        f'_{export.window.last_day.isoformat()}.xml"'
    )
    # Held-back orders are not in the message: say which, so nobody thinks it complete.
    held_back = [problem.order_no for problem in export.problems]
    response.headers["X-Customs-Held-Back"] = ",".join(held_back)
    response.headers.update(NO_STORE)
    response.vary.add("Accept")
    return response


# ------------------------------------------------------------------ views


@admin_customs_blp.route("/orders")
@operator_only
@admin_customs_blp.arguments(CustomsOrdersQuerySchema, location="query")
@admin_customs_blp.response(200, CustomsExportSchema)
@admin_customs_blp.alt_response(
    200,
    description="The records as one CEB311-style message (`?format=xml` or "
    "`Accept: application/xml`); orders held back are named in `X-Customs-Held-Back`",
    content_type=XML_MIMETYPE,
    schema={"type": "string"},
    success=True,
)
@admin_customs_blp.alt_response(
    409, description="XML asked for while the customs codes are not configured"
)
def customs_orders(args, operator):
    """Customs order records of the orders to mainland China whose first parcel left
    on the China day `date` (or the days `from`–`to`, at most 31).

    Each record: order number, platform and seller codes, goods (HS code, Chinese
    name, unit, quantity, unit price, total, origin), freight, insurance, tax,
    discount, actual paid, the buyer's real name and **full ID number**, payment,
    recipient and address, all in CNY (orders in another currency are converted at
    the order's own rates, and `conversion` says how), with the corridor (9610/1210)
    and node of each parcel. An order whose figures do not reconcile is listed in
    `problems` and left out. Orders placed before full ID numbers were kept carry the
    masked number and `id_number_available: false`.

    Every export is audited (`customs.export`: the orders, never the ID numbers).
    """
    output = "xml" if wants_xml(args) else "json"
    export = order_records.export_order_records(operator, window_from(args), output)
    if output == "xml":
        return xml_download(export)
    response = shaped_json(export.as_json(), NO_STORE)
    response.vary.add("Accept")
    return response
