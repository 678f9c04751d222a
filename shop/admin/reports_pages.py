"""Admin page for reports: one page with a date range and a currency, each report as
an SVG chart (drawn here, no JavaScript), its table, and a CSV download of its rows.

The figures come from ``orders.reports``, the same functions as the admin API, so
page, API and CSV always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, url_for
from markupsafe import Markup

from catalog.services import load_rate_table, today_utc
from orders import reports
from shop.admin.charts import Datum, bar_chart, line_chart
from shop.admin.web import protect_admin_blueprint
from shop.core.errors import ValidationFailed

reports_pages_bp = Blueprint("admin_reports_pages", __name__, url_prefix="/admin/reports")
protect_admin_blueprint(reports_pages_bp)

# Report names in the download URL -> the CSV file's name stem.
DOWNLOADS = (
    "sales-by-day", "sales-by-category", "sales-by-origin", "sales-by-destination",
    "sales-by-node", "duties", "orders-by-state", "fulfilment-time", "stock-cover",
    "skus-top", "skus-slow",
)  # fmt: skip
COLUMN_LABELS = {
    "key": "Day", "label": "Name", "orders": "Orders", "units": "Units",
    "goods_gross": "Goods sold", "goods_refunded": "Goods refunded", "goods": "Goods, net",
    "regime": "Regime", "unknown_orders": "Duties unknown",
    "duties_gross": "Duties collected", "duties_refunded": "Duties refunded",
    "duties": "Duties, net",
    "status": "Status", "grand_total": "Grand total", "node": "Node",
    "shipments": "Parcels shipped", "average_hours": "Average, hours",
    "longest_hours": "Longest, hours", "skus": "SKUs", "on_hand": "On hand",
    "reserved": "Reserved", "units_sold": "Units sold", "daily_units": "Per day",
    "days_of_cover": "Days of cover", "rank": "#", "sku": "SKU", "product": "Product",
}  # fmt: skip
TOP_SKUS = 10


@dataclass
class Section:
    """One report on the page: its chart, its table and where its CSV is."""

    anchor: str
    title: str
    explanation: str
    chart: Markup
    headers: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    download: str
    extra_tables: list[dict[str, Any]] = field(default_factory=list)


def _parse_day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise ValidationFailed(errors={name: ["Use YYYY-MM-DD."]}) from error


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict) and "amount" in value:
        return value["amount"]
    return str(value)


def _table(report: dict[str, Any], columns: list[str], rows: list[dict[str, Any]]):
    currency = report.get("currency")
    headers = [
        f"{COLUMN_LABELS.get(c, c)} ({currency})" if c in report["money_columns"] else
        COLUMN_LABELS.get(c, c)
        for c in columns
    ]  # fmt: skip
    numeric = [c not in ("key", "label", "regime", "status", "node", "sku", "product")
               for c in columns]  # fmt: skip
    return headers, numeric, [[_cell(row.get(c)) for c in columns] for row in rows]


def _number(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, dict):
        return Decimal(value["amount"])
    return Decimal(value)


def _bars(rows: list[dict[str, Any]], label_key: str, value_key: str, suffix: str = ""):
    return [
        Datum(str(row[label_key]), _number(row[value_key]), _cell(row[value_key]) + suffix)
        for row in rows
    ]


def _section(anchor, title, explanation, chart, report, columns=None, rows=None, *, query,
             **extra):  # fmt: skip
    columns = columns or [c for c in report["columns"] if c != "key" or anchor == "sales-day"]
    headers, numeric, cells = _table(report, columns, report["rows"] if rows is None else rows)
    # charts.py escapes every piece of text it draws: its SVG is markup as it stands.
    svg = Markup(chart)  # noqa: S704
    return Section(anchor, title, explanation, svg, headers, numeric, cells,
                   url_for(".download", name=anchor_to_download(anchor), **query),
                   **extra)  # fmt: skip


def anchor_to_download(anchor: str) -> str:
    return anchor.replace("sales-", "sales-by-") if anchor.startswith("sales-") else anchor


def _describe(rows: list[dict[str, Any]], label_key: str, value_key: str, unit: str) -> str:
    if not rows:
        return "Nothing in this range."
    parts = [f"{row[label_key]}: {_cell(row[value_key])}" for row in rows[:12]]
    more = f"; and {len(rows) - 12} more" if len(rows) > 12 else ""
    return f"{unit}. " + "; ".join(parts) + more + "."


@dataclass
class Rates:
    """The rates the page's conversions used (every money report uses the same table)."""

    on: str
    quotes: list[dict[str, str]] = field(default_factory=list)

    def add(self, report: dict[str, Any]) -> None:
        for quote in report.get("rates", []):
            if quote not in self.quotes:
                self.quotes.append(quote)


def build_sections(period: reports.ReportRange, currency: str) -> tuple[list[Section], Rates]:
    today = today_utc()
    rates = Rates(today.isoformat())
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), "currency": currency}
    money = {"currency": currency, "rates": load_rate_table(today), "rates_on": today}
    sections: list[Section] = []

    by_day = reports.sales_report(period, by="day", **money)
    rates.add(by_day)
    sections.append(
        _section(
            "sales-day", "Sales by day",
            f"Goods of paid orders by the day they were placed, less the goods' share of "
            f"the refunds by the day they were made, in {currency}. Total "
            f"{by_day['totals']['goods']['amount']} {currency} net "
            f"({by_day['totals']['goods_gross']['amount']} sold, "
            f"{by_day['totals']['goods_refunded']['amount']} refunded), "
            f"{by_day['totals']['orders']} orders, {by_day['totals']['units']} units. "
            f"All paid, less all refunded (goods, shipping and duties): "
            f"{by_day['totals']['grand_total']['amount']} {currency}.",
            line_chart(name="sales-day", title=f"Sales by day, {currency}",
                       description=_describe(by_day["rows"], "key", "goods",
                                             f"Goods sold per day, net of refunds, {currency}"),
                       points=_bars(by_day["rows"], "key", "goods"),
                       x_axis_label="Day (UTC)", y_axis_label=f"Goods, {currency}"),
            by_day, columns=["key", "orders", "units", "goods_gross", "goods_refunded", "goods"],
            query=query,
        )
    )  # fmt: skip
    for by, title in (("category", "Sales by category"), ("origin", "Sales by origin country"),
                      ("destination", "Sales by destination country"),
                      ("node", "Sales by node")):  # fmt: skip
        report = reports.sales_report(period, by=by, **money)
        rates.add(report)
        sections.append(
            _section(
                f"sales-{by}", title,
                f"Goods of paid orders less the goods' share of refunds, in {currency}, "
                "largest first.",
                bar_chart(name=f"sales-{by}", title=f"{title}, {currency}",
                          description=_describe(report["rows"], "label", "goods",
                                                f"Goods sold, net of refunds, {currency}"),
                          bars=_bars(report["rows"], "label", "goods"),
                          value_axis_label=f"Goods, {currency}"),
                report, query=query,
            )
        )  # fmt: skip

    duties = reports.duties_report(period, **money)
    rates.add(duties)
    sections.append(
        _section(
            "duties", "Duties and taxes collected, by regime",
            "Collected with paid orders, less the duties' share of the refunds made in the "
            "range. \"Duties unknown\" counts orders no rule could estimate: nothing was "
            "collected for them.",
            bar_chart(name="duties", title=f"Duties and taxes by regime, {currency}",
                      description=_describe(duties["rows"], "regime", "duties",
                                            f"Duties collected, net of refunds, {currency}"),
                      bars=_bars(duties["rows"], "regime", "duties"),
                      value_axis_label=f"Duties and taxes, {currency}"),
            duties, query=query,
        )
    )  # fmt: skip

    states = reports.orders_by_state_report(period, **money)
    rates.add(states)
    sections.append(
        _section(
            "orders-by-state", "Orders by state",
            "Every order placed in the range, by its status now.",
            bar_chart(name="orders-by-state", title="Orders by state",
                      description=_describe(states["rows"], "label", "orders", "Orders"),
                      bars=_bars(states["rows"], "label", "orders"),
                      value_axis_label="Orders"),
            states, columns=["label", "orders", "grand_total"], query=query,
        )
    )  # fmt: skip

    timing = reports.fulfilment_time_report(period)
    sections.append(
        _section(
            "fulfilment-time", "Time from payment to shipping, per node",
            "Parcels that left a node in the range; hours from the order's payment.",
            bar_chart(name="fulfilment-time", title="Average hours from payment to shipping",
                      description=_describe(timing["rows"], "node", "average_hours",
                                            "Average hours per node"),
                      bars=_bars(timing["rows"], "node", "average_hours", " h"),
                      value_axis_label="Hours"),
            timing, query=query,
        )
    )  # fmt: skip

    cover = reports.stock_cover_report(period)
    running_out = _table(
        cover, ["node", "sku", "product", "on_hand", "units_sold", "daily_units",
                "days_of_cover"], cover["running_out"]
    )  # fmt: skip
    sections.append(
        _section(
            "stock-cover", "Stock on hand and days of cover",
            "Days of cover = on hand / units sold per day over the range (– when nothing "
            "sold).",
            bar_chart(name="stock-cover", title="Days of cover per node",
                      description=_describe(cover["rows"], "node", "days_of_cover",
                                            "Days of cover per node"),
                      bars=_bars(cover["rows"], "node", "days_of_cover"),
                      value_axis_label="Days of cover"),
            cover, query=query,
            extra_tables=[{"title": "Running out first", "headers": running_out[0],
                           "numeric": running_out[1], "rows": running_out[2]}],
        )
    )  # fmt: skip

    for kind, title, explanation in (
        ("top", "Top SKUs", "Most units sold in the range."),
        ("slow", "Slow-moving SKUs", "Active SKUs with stock that sold the fewest units."),
    ):
        report = reports.skus_report(period, kind=kind, limit=TOP_SKUS, **money)
        rates.add(report)
        sections.append(
            _section(
                f"skus-{kind}", title, explanation,
                bar_chart(name=f"skus-{kind}", title=f"{title}: units sold",
                          description=_describe(report["rows"], "sku", "units", "Units sold"),
                          bars=_bars(report["rows"], "sku", "units"),
                          value_axis_label="Units sold"),
                report, query=query,
            )
        )  # fmt: skip
    rates.quotes.sort(key=lambda q: (q["base"], q["quote"]))
    return sections, rates


def _currencies() -> list[str]:
    return sorted(load_rate_table(today_utc()).currencies() | {reports.DEFAULT_CURRENCY})


@reports_pages_bp.get("/")
def index():
    """The reports for the asked range (default the last 28 days) and currency."""
    form = {name: request.args.get(name, "").strip() for name in ("from", "to", "currency")}
    try:
        period = reports.report_range(
            _parse_day(form["from"], "from"), _parse_day(form["to"], "to"), today_utc()
        )
        currency = reports.check_currency(form["currency"], load_rate_table(today_utc()))
        sections, rates = build_sections(period, currency)
    except ValidationFailed as error:
        page = render_template("admin/reports.html", form=form, errors=error.errors or {},
                               sections=[], currencies=_currencies(), period=None,
                               rates=None)  # fmt: skip
        return page, 422
    form = {"from": period.start.isoformat(), "to": period.end.isoformat(), "currency": currency}
    return render_template("admin/reports.html", form=form, errors={}, sections=sections,
                           currencies=_currencies(), period=period, rates=rates)  # fmt: skip


@reports_pages_bp.get("/<string(maxlength=40):name>.csv")
def download(name: str):
    """One report's rows as CSV, for the page's range and currency."""
    if name not in DOWNLOADS:
        abort(404)
    today = today_utc()
    try:
        period = reports.report_range(
            _parse_day(request.args.get("from", ""), "from"),
            _parse_day(request.args.get("to", ""), "to"),
            today,
        )
        money = {"currency": request.args.get("currency", ""), "rates": load_rate_table(today),
                 "rates_on": today}  # fmt: skip
        if name.startswith("sales-by-"):
            report = reports.sales_report(period, by=name.removeprefix("sales-by-"), **money)
        elif name.startswith("skus-"):
            kind = name.removeprefix("skus-")
            report = reports.skus_report(period, kind=kind, limit=100, **money)
        elif name == "duties":
            report = reports.duties_report(period, **money)
        elif name == "orders-by-state":
            report = reports.orders_by_state_report(period, **money)
        elif name == "fulfilment-time":
            report = reports.fulfilment_time_report(period)
        else:
            report = reports.stock_cover_report(period)
    except ValidationFailed:
        abort(422)
    response = current_app.response_class("\ufeff" + reports.to_csv(report), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{name}_{period.start.isoformat()}_{period.end.isoformat()}.csv"'
    )
    return response
