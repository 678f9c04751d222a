"""Admin API for reports: thin views over ``orders.reports``, as JSON or CSV.

Every report takes ``from`` and ``to`` (UTC calendar days, both included; default the
last 28 days, at most 366) and answers JSON, or CSV with ``?format=csv`` or
``Accept: text/csv``. Operators only: another staff token is told 404.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request
from marshmallow import fields, validate

from catalog.schemas import MoneySchema, StrictSchema
from catalog.services import load_rate_table, today_utc
from orders import reports
from shop.admin.web import operator_only_on
from shop.core.api_base import Blueprint, shaped_json

admin_reports_blp = Blueprint(
    "admin_reports",
    __name__,
    url_prefix="/api/v1/admin/reports",
    description="Operators: sales, duties, fulfilment and stock reports",
)

NO_STORE = {"Cache-Control": "no-store"}
CSV_MIMETYPE = "text/csv"


# ------------------------------------------------------------------ parameters


class ReportQuerySchema(StrictSchema):
    start = fields.Date(
        data_key="from", metadata={"description": "first day (UTC), included; default 28 days ago"}
    )
    end = fields.Date(data_key="to", metadata={"description": "last day (UTC), included; today"})
    format = fields.String(
        validate=validate.OneOf(("json", "csv")),
        metadata={"description": "csv for a download (or send `Accept: text/csv`)"},
    )


class MoneyReportQuerySchema(ReportQuerySchema):
    currency = fields.String(
        validate=validate.Regexp(r"^[A-Za-z]{3}$", error="An ISO 4217 code such as CNY."),
        metadata={"description": "ISO 4217; default CNY. Converted at today's rates"},
    )


class SalesQuerySchema(MoneyReportQuerySchema):
    by = fields.String(
        load_default="day",
        validate=validate.OneOf(reports.SALES_GROUPINGS),
        metadata={"description": "day, category, origin, destination or node"},
    )


class SkusQuerySchema(MoneyReportQuerySchema):
    kind = fields.String(
        load_default="top",
        validate=validate.OneOf(reports.SKU_LISTS),
        metadata={"description": "top: most units sold; slow: in stock, fewest sold"},
    )
    limit = fields.Integer(load_default=10, validate=validate.Range(1, 100))


class StockCoverQuerySchema(ReportQuerySchema):
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(1, 200),
        metadata={"description": "how many SKU-at-node pairs that run out first"},
    )


# ------------------------------------------------------------------ responses


class ReportRateSchema(ma.Schema):
    base = fields.String(required=True)
    quote = fields.String(required=True)
    rate = fields.String(required=True)
    effective_on = fields.String(required=True)
    source = fields.String(required=True)


class ReportSchema(ma.Schema):
    report = fields.String(required=True)
    start = fields.Date(required=True, data_key="from")
    end = fields.Date(required=True, data_key="to")
    days = fields.Integer(required=True)
    columns = fields.List(fields.String(), required=True, metadata={"description": "CSV order"})
    money_columns = fields.List(fields.String(), required=True)


class MoneyReportSchema(ReportSchema):
    currency = fields.String(required=True)
    rates_on = fields.String(required=True, metadata={"description": "the rates' day"})
    rates = fields.List(
        fields.Nested(ReportRateSchema),
        required=True,
        metadata={"description": "every exchange rate the conversion used"},
    )


def _decimal(description: str) -> fields.Decimal:
    return fields.Decimal(as_string=True, allow_none=True, metadata={"description": description})


def _money(description: str) -> fields.Nested:
    return fields.Nested(MoneySchema, required=True, metadata={"description": description})


class SalesRowSchema(ma.Schema):
    key = fields.String(required=True, metadata={"description": "day, slug, country or node"})
    label = fields.String(required=True)
    orders = fields.Integer(required=True)
    units = fields.Integer(required=True, metadata={"description": "sold (refunds keep them)"})
    goods_gross = _money("goods of the orders placed")
    goods_refunded = _money("the goods' share of the refunds made")
    goods = _money("net: goods_gross less goods_refunded")


class SalesTotalsSchema(ma.Schema):
    orders = fields.Integer(required=True)
    units = fields.Integer(required=True)
    goods_gross = _money("goods of the orders placed")
    goods_refunded = _money("the goods' share of the refunds made")
    goods = _money("net: goods_gross less goods_refunded")
    grand_total_gross = _money("the orders' grand totals: goods, shipping and duties")
    grand_total_refunded = _money("the refunds made (of sold orders, not failed)")
    grand_total = _money("net: what was paid less what was refunded")


class SalesReportSchema(MoneyReportSchema):
    by = fields.String(required=True)
    rows = fields.List(fields.Nested(SalesRowSchema), required=True)
    totals = fields.Nested(SalesTotalsSchema, required=True)


class DutiesRowSchema(ma.Schema):
    regime = fields.String(required=True, metadata={"description": "CN-CBEC, EAEU-…, unknown"})
    label = fields.String(required=True)
    orders = fields.Integer(required=True)
    unknown_orders = fields.Integer(required=True)
    duties_gross = _money("duties of the orders placed")
    duties_refunded = _money("the duties' share of the refunds made")
    duties = _money("net: duties_gross less duties_refunded")
    goods_gross = _money("goods of the orders placed")
    goods_refunded = _money("the goods' share of the refunds made")
    goods = _money("net: goods_gross less goods_refunded")


class DutiesTotalsSchema(ma.Schema):
    orders = fields.Integer(required=True)
    unknown_orders = fields.Integer(required=True)
    duties_gross = _money("duties of the orders placed")
    duties_refunded = _money("the duties' share of the refunds made")
    duties = _money("net: duties_gross less duties_refunded")
    goods_gross = _money("goods of the orders placed")
    goods_refunded = _money("the goods' share of the refunds made")
    goods = _money("net: goods_gross less goods_refunded")


class DutiesReportSchema(MoneyReportSchema):
    rows = fields.List(fields.Nested(DutiesRowSchema), required=True)
    totals = fields.Nested(DutiesTotalsSchema, required=True)


class StateRowSchema(ma.Schema):
    status = fields.String(required=True)
    label = fields.String(required=True)
    orders = fields.Integer(required=True)
    grand_total = fields.Nested(MoneySchema, required=True)


class StateTotalsSchema(ma.Schema):
    orders = fields.Integer(required=True)
    grand_total = fields.Nested(MoneySchema, required=True)


class OrdersByStateReportSchema(MoneyReportSchema):
    rows = fields.List(fields.Nested(StateRowSchema), required=True)
    totals = fields.Nested(StateTotalsSchema, required=True)


class FulfilmentRowSchema(ma.Schema):
    node = fields.String(required=True)
    label = fields.String(required=True)
    shipments = fields.Integer(required=True)
    average_hours = _decimal("payment to leaving the node, mean")
    longest_hours = _decimal("payment to leaving the node, longest")


class FulfilmentTotalsSchema(ma.Schema):
    shipments = fields.Integer(required=True)
    average_hours = _decimal("all nodes")
    longest_hours = _decimal("all nodes")


class FulfilmentReportSchema(ReportSchema):
    rows = fields.List(fields.Nested(FulfilmentRowSchema), required=True)
    totals = fields.Nested(FulfilmentTotalsSchema, required=True)


class NodeCoverSchema(ma.Schema):
    node = fields.String(required=True)
    label = fields.String(required=True)
    skus = fields.Integer(required=True)
    on_hand = fields.Integer(required=True)
    reserved = fields.Integer(required=True)
    units_sold = fields.Integer(required=True)
    daily_units = _decimal("units sold per day over the range")
    days_of_cover = _decimal("on hand / daily units; null when nothing sold")


class SkuCoverSchema(ma.Schema):
    node = fields.String(required=True)
    sku = fields.String(required=True)
    product = fields.String(required=True)
    on_hand = fields.Integer(required=True)
    reserved = fields.Integer(required=True)
    units_sold = fields.Integer(required=True)
    daily_units = _decimal("units sold per day over the range")
    days_of_cover = _decimal("on hand / daily units")


class CoverTotalsSchema(ma.Schema):
    on_hand = fields.Integer(required=True)
    reserved = fields.Integer(required=True)
    units_sold = fields.Integer(required=True)
    days_of_cover = _decimal("all nodes")


class StockCoverReportSchema(ReportSchema):
    rows = fields.List(fields.Nested(NodeCoverSchema), required=True)
    running_out = fields.List(
        fields.Nested(SkuCoverSchema),
        required=True,
        metadata={"description": "SKU-at-node pairs with the fewest days of cover"},
    )
    totals = fields.Nested(CoverTotalsSchema, required=True)


class SkuRowSchema(ma.Schema):
    rank = fields.Integer(required=True)
    sku = fields.String(required=True)
    product = fields.String(required=True)
    units = fields.Integer(required=True)
    orders = fields.Integer(required=True)
    goods = fields.Nested(MoneySchema, required=True)
    on_hand = fields.Integer(required=True)
    days_of_cover = _decimal("on hand, all nodes / daily units; null when nothing sold")


class SkusReportSchema(MoneyReportSchema):
    kind = fields.String(required=True)
    limit = fields.Integer(required=True)
    rows = fields.List(fields.Nested(SkuRowSchema), required=True)


# ------------------------------------------------------------------ plumbing


_operator_only = operator_only_on(admin_reports_blp)


def report_view(view):
    """An operator's report: the guard, and the 422 and CSV answers every report has."""
    view = admin_reports_blp.alt_response(422, description="`from`/`to` or another parameter")(view)
    view = admin_reports_blp.alt_response(
        200,
        description="The report's rows as CSV (`?format=csv` or `Accept: text/csv`)",
        content_type=CSV_MIMETYPE,
        schema={"type": "string"},
        example="key,label,orders,units,goods_CNY\r\n2026-11-02,2026-11-02,3,7,1234.50\r\n",
        success=True,
    )(view)
    return _operator_only(view)


def _period(args: dict[str, Any]) -> reports.ReportRange:
    return reports.report_range(args.get("start"), args.get("end"), today_utc())


def _money_args(args: dict[str, Any]) -> dict[str, Any]:
    today = today_utc()
    return {
        "currency": args.get("currency") or reports.DEFAULT_CURRENCY,
        "rates": load_rate_table(today),
        "rates_on": today,
    }


def _wants_csv(args: dict[str, Any]) -> bool:
    if "format" in args:
        return args["format"] == "csv"
    best = request.accept_mimetypes.best_match(["application/json", CSV_MIMETYPE])
    return best == CSV_MIMETYPE


def _answer(report: dict[str, Any], args: dict[str, Any], name: str):
    """JSON, or the rows as a CSV download named after the report and its range."""
    if not _wants_csv(args):
        return shaped_json(report, NO_STORE)
    # The byte-order mark makes spreadsheets read Cyrillic and Chinese names as UTF-8.
    body = "\ufeff" + reports.to_csv(report)
    response = current_app.response_class(body, mimetype=CSV_MIMETYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{name}_{report["from"]}_{report["to"]}.csv"'
    )
    response.headers.update(NO_STORE)
    response.vary.add("Accept")
    return response


# ------------------------------------------------------------------ views


@admin_reports_blp.route("/sales")
@report_view
@admin_reports_blp.arguments(SalesQuerySchema, location="query")
@admin_reports_blp.response(200, SalesReportSchema)
def sales(args, operator):
    """Goods sold in the range: orders, units and value per day (every day of the
    range, zeros included), category, origin country, destination country or node.

    Sold = paid (paid, fulfilling, shipped…, partially or fully refunded), by the day
    the order was placed; goods only (no shipping, no duties). Net of refunds: each
    refund (but a failed one, or a cancelled order's) counts on the day it was made,
    its goods' share in `goods_refunded`; `goods` = `goods_gross` - `goods_refunded`.
    The totals' `grand_total` (goods, shipping and duties, less every refund) is what
    was paid less what was refunded. Each order currency is summed in SQL and converted
    at today's rates, listed in `rates`.
    """
    report = reports.sales_report(_period(args), by=args["by"], **_money_args(args))
    return _answer(report, args, f"sales-by-{args['by']}")


@admin_reports_blp.route("/duties")
@report_view
@admin_reports_blp.arguments(MoneyReportQuerySchema, location="query")
@admin_reports_blp.response(200, DutiesReportSchema)
def duties(args, operator):
    """Duties and import taxes collected with sold orders, by customs regime: China
    CBEC, EAEU before and from 2026-07-01, and unknown (no rules for the destination,
    or an order no rule could estimate: `unknown_orders`). Net of refunds, counted on
    the day each was made: `duties` = `duties_gross` - `duties_refunded` (the
    duties' share of each refund), and the same for `goods`."""
    return _answer(reports.duties_report(_period(args), **_money_args(args)), args, "duties")


@admin_reports_blp.route("/orders-by-state")
@report_view
@admin_reports_blp.arguments(MoneyReportQuerySchema, location="query")
@admin_reports_blp.response(200, OrdersByStateReportSchema)
def orders_by_state(args, operator):
    """Orders placed in the range by their status now (every status, zeros included),
    with their grand totals."""
    report = reports.orders_by_state_report(_period(args), **_money_args(args))
    return _answer(report, args, "orders-by-state")


@admin_reports_blp.route("/fulfilment-time")
@report_view
@admin_reports_blp.arguments(ReportQuerySchema, location="query")
@admin_reports_blp.response(200, FulfilmentReportSchema)
def fulfilment_time(args, operator):
    """Per node, the parcels that left in the range and the hours from the order's
    payment to the parcel leaving the node (mean and longest)."""
    return _answer(reports.fulfilment_time_report(_period(args)), args, "fulfilment-time")


@admin_reports_blp.route("/stock-cover")
@report_view
@admin_reports_blp.arguments(StockCoverQuerySchema, location="query")
@admin_reports_blp.response(200, StockCoverReportSchema)
def stock_cover(args, operator):
    """Stock on hand per node and its days of cover: on hand divided by the units sold
    per day over the range (null when nothing sold); `running_out` lists the SKUs at
    nodes that run out first. The CSV has the per-node rows."""
    report = reports.stock_cover_report(_period(args), limit=args["limit"])
    return _answer(report, args, "stock-cover")


@admin_reports_blp.route("/skus")
@report_view
@admin_reports_blp.arguments(SkusQuerySchema, location="query")
@admin_reports_blp.response(200, SkusReportSchema)
def skus(args, operator):
    """Top SKUs (most units sold in the range) or slow movers (active SKUs with stock
    on hand that sold the fewest units, none first; the most stock first)."""
    report = reports.skus_report(
        _period(args), kind=args["kind"], limit=args["limit"], **_money_args(args)
    )
    return _answer(report, args, f"skus-{args['kind']}")
