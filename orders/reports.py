"""Reports for operators: what sold, what customs took, how fast nodes ship, what stock
lasts. Each report is one or a few SQL aggregates (GROUP BY in the database, never
every order loaded into Python) over a date range, returned as plain JSON-ready dicts.

Definitions a manager can rely on:

- The range is of calendar days in UTC, both ends included, on the day an order was
  placed (``orders.created_at``); the fulfilment report uses the day a parcel left.
- An order *sold* once its money came in: ``PAID_STATUSES`` and ``partially_refunded``.
  Cancelled, expired, refunded and unpaid orders are not sales (see "orders by state").
- Sales are goods only (quantity x unit price of each line, in the order's currency),
  without shipping or duties; duties have their own report.
- Money is summed per currency in SQL and converted to the asked currency in Python
  with one rate table (today's, unless the caller passes another), at full precision,
  rounded once per figure shown; the rates used are listed with every report. Orders
  keep the rates they were priced with; a report compares periods at one set of rates.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Date, and_, cast, distinct, func, literal, select, text
from sqlalchemy.sql.elements import ColumnElement

from catalog.models import Category, Product, Sku
from catalog.money import ExchangeRateQuote, Money, RateTable, UnknownCurrency, is_currency_code
from orders.lifecycle import ORDER_STATUSES, PAID_STATUSES
from orders.models import Order, OrderEvent, OrderLine
from shop.core.errors import ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_name
from warehouse.models import Node, Shipment, ShipmentLine, StockLevel

SOLD_STATUSES = (*PAID_STATUSES, "partially_refunded")
# Parcels that no longer carry the goods: a re-routed parcel was replaced by another.
DEAD_SHIPMENT_STATUSES = ("cancelled", "rerouted")
SALES_GROUPINGS = ("day", "category", "origin", "destination", "node")
SKU_LISTS = ("top", "slow")
DEFAULT_DAYS = 28
MAX_DAYS = 366
DEFAULT_CURRENCY = "CNY"  # the pavilion keeps its books in Qingdao

# The rule sets an order's duty assessment names (``duties.policy``); none is "unknown".
REGIME_LABELS = {
    "CN-CBEC": "China CBEC (cross-border retail imports)",
    "EAEU-2024-04": "EAEU, until 2026-06-30 (15% over EUR 200)",
    "EAEU-2026-07": "EAEU, from 2026-07-01 (e-commerce goods: 5% + VAT)",
    "unknown": "No rules for the destination (collected on delivery, if at all)",
}


# ------------------------------------------------------------------ pure parts


@dataclass(frozen=True)
class ReportRange:
    """Calendar days in UTC, ``start`` and ``end`` both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) as aware UTC datetimes, for an indexed
        range filter on a timestamp column."""
        first = datetime.combine(self.start, time.min, tzinfo=UTC)
        return first, first + timedelta(days=self.days)

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def as_json(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "days": self.days}


def report_range(start: date | None, end: date | None, today: date) -> ReportRange:
    """The asked range, or the last ``DEFAULT_DAYS`` days up to ``today``; a 422 naming
    the field when it is backwards, too long or in the future."""
    end = end or (today if start is None else min(today, start + timedelta(DEFAULT_DAYS - 1)))
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            "The range ends before it starts.",
            errors={"from": [f"Must be on or before `to` ({end.isoformat()})."]},
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"A report covers at most {MAX_DAYS} days.",
            errors={"to": [f"At most {MAX_DAYS} days after `from`, both included."]},
        )
    return ReportRange(start, end)


def days_of_cover(on_hand: int, units_sold: int, days: int) -> Decimal | None:
    """How many days ``on_hand`` lasts at the range's average daily sales, to 0.1 day;
    None when nothing sold (no rate to divide by: not "forever", not zero)."""
    if units_sold <= 0 or days <= 0:
        return None
    cover = Decimal(on_hand) * Decimal(days) / Decimal(units_sold)
    return cover.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def daily_average(units: int, days: int) -> Decimal:
    return (Decimal(units) / Decimal(days)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Converter:
    """Turns per-currency sums into one currency and remembers each rate it used."""

    table: RateTable
    target: str
    rates_on: date | None = None  # the day the table is in force, said with the report
    used: dict[tuple[str, str, date, str], ExchangeRateQuote] = field(default_factory=dict)

    def amount(self, amount: Decimal, currency: str) -> Decimal:
        conversion = self.table.conversion(currency, self.target)
        for quote in conversion.quotes:
            self.used[(quote.base, quote.quote, quote.effective_on, quote.source)] = quote
        return conversion.apply(Decimal(amount))

    def sums(self, rows: Iterable[tuple[Any, str, Decimal | None]]) -> dict[Any, Decimal]:
        """``(key, currency, amount)`` rows -> ``{key: amount in target}``, unrounded."""
        totals: dict[Any, Decimal] = defaultdict(Decimal)
        for key, currency, amount in rows:
            if amount is not None:
                totals[key] += self.amount(Decimal(amount), currency)
        return dict(totals)

    def money(self, amount: Decimal) -> dict[str, str]:
        return Money(Decimal(amount), self.target).as_json()

    def rates_json(self) -> list[dict[str, str]]:
        return [self.used[key].as_json() for key in sorted(self.used)]


def check_currency(currency: str, table: RateTable) -> str:
    currency = (currency or DEFAULT_CURRENCY).upper()
    if not is_currency_code(currency):
        raise ValidationFailed(
            errors={"currency": [f"{currency} is not an ISO 4217 currency code."]}
        )
    if currency != DEFAULT_CURRENCY and currency not in table.currencies():
        raise ValidationFailed(errors={"currency": [f"No exchange rate reaches {currency}."]})
    return currency


def to_csv(report: Mapping[str, Any]) -> str:
    """The report's rows as CSV: one column per ``columns`` entry, money as its amount
    with the currency in the header (``goods_CNY``), empty for None.

    Text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first)
    is quoted with a leading apostrophe: SKU and product names come from merchants.
    """
    columns: list[str] = list(report["columns"])
    currency = report.get("currency")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [f"{c}_{currency}" if c in report.get("money_columns", ()) else c for c in columns]
    )
    for row in report["rows"]:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping) and "amount" in value:
        return str(value["amount"])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


# ------------------------------------------------------------------ SQL helpers


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def day_of(column: ColumnElement, dialect: str) -> ColumnElement:
    """The UTC calendar day of a timestamp column."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    # SQLite keeps timestamps as UTC text: date() reads its first ten characters.
    return func.date(column)


def seconds_between(later: ColumnElement, earlier: ColumnElement, dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _in_range(column: ColumnElement, period: ReportRange) -> ColumnElement:
    first, after = period.bounds()
    return and_(column >= first, column < after)


def _sold_in(period: ReportRange) -> ColumnElement:
    return and_(_in_range(Order.created_at, period), Order.status.in_(SOLD_STATUSES))


# A year of order lines is a few hundred thousand rows to sort and hash: with the
# default 4 MB PostgreSQL spills them to disk. The setting lasts for the report's own
# transaction only (SET LOCAL), which _finish ends.
REPORT_WORK_MEM = "64MB"


def _begin() -> None:
    if _dialect() == "postgresql":
        db.session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


def _envelope(name: str, period: ReportRange, **extra: Any) -> dict[str, Any]:
    return {"report": name, **period.as_json(), **extra}


def _finish(report: dict[str, Any], converter: Converter | None) -> dict[str, Any]:
    if converter is not None:
        report["currency"] = converter.target
        report["rates_on"] = converter.rates_on.isoformat() if converter.rates_on else None
        report["rates"] = converter.rates_json()
    db.session.rollback()  # reads only: end the transaction, hold no snapshot
    return report


def _converter(table: RateTable, currency: str, rates_on: date) -> Converter:
    return Converter(table, check_currency(currency, table), rates_on)


def _convert(converter: Converter, sums: Iterable[tuple[Any, str, Decimal | None]]):
    """``converter.sums``; an order currency no rate reaches is the asked currency's 422."""
    try:
        return converter.sums(sums)
    except UnknownCurrency as exc:
        raise ValidationFailed(errors={"currency": [str(exc)]}) from exc


# ------------------------------------------------------------------ reports


def sales_report(
    period: ReportRange,
    *,
    by: str,
    currency: str,
    rates: RateTable,
    rates_on: date,
    lang: str = "en",
) -> dict[str, Any]:
    """Goods sold, by day, category, origin country, destination country or node:
    orders, units and value per group, and the totals."""
    _begin()
    if by not in SALES_GROUPINGS:
        raise ValidationFailed(errors={"by": [f"One of {', '.join(SALES_GROUPINGS)}."]})
    converter = _converter(rates, currency, rates_on)
    value = func.sum(OrderLine.quantity * OrderLine.unit_price_amount)
    units = func.sum(OrderLine.quantity)
    if by == "node":  # a parcel's units at the price its order line was sold for
        value = func.sum(ShipmentLine.quantity * OrderLine.unit_price_amount)
        units = func.sum(ShipmentLine.quantity)
    key = {
        "day": lambda: day_of(Order.created_at, _dialect()),
        "category": lambda: Category.slug,
        "origin": lambda: OrderLine.origin_country,
        "destination": lambda: Order.destination_country,
        "node": lambda: Node.code,
    }[by]()
    # A day or a destination is the order's own, and a node's orders are its parcels':
    # those are counted on orders (or parcels) alone, so that the lines need no
    # count(DISTINCT), which sorts every line of the range (a year's lines: the most
    # expensive step of these reports).
    order_level = by in ("day", "destination")
    counted_apart = order_level or by == "node"
    statement = select(
        key.label("key"),
        Order.currency.label("currency"),
        (literal(0) if counted_apart else func.count(distinct(Order.id))).label("orders"),
        units.label("units"),
        value.label("amount"),
    )
    if by == "node":
        # PostgreSQL guesses the (order, SKU) join between parcel lines and order lines
        # as a few thousand rows (it multiplies the two columns' selectivities), then
        # probes the orders index once per line: 0.54 s for a year of 100,000 orders.
        # Joined in the order written, orders first, it hashes throughout: 0.32 s.
        if _dialect() == "postgresql":
            db.session.execute(text("SET LOCAL join_collapse_limit = 1"))
        statement = (
            statement.select_from(Order)
            .join(Shipment, Shipment.order_id == Order.id)
            .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
            .join(OrderLine, and_(OrderLine.order_id == Shipment.order_id,
                                  OrderLine.sku_id == ShipmentLine.sku_id))
            .join(Node, Node.id == Shipment.node_id)
            .where(Shipment.status.notin_(DEAD_SHIPMENT_STATUSES))
        )  # fmt: skip
    else:
        statement = statement.select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
    if by == "category":
        statement = (
            statement.join(Sku, Sku.id == OrderLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Category, Category.id == Product.category_id)
        )
    rows = db.session.execute(statement.where(_sold_in(period)).group_by(key, Order.currency)).all()

    def group_of(row) -> Any:
        return _as_date(row.key) if by == "day" else row.key

    counted: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counted[group_of(row)][0] += row.orders  # an order has one currency: no double count
        counted[group_of(row)][1] += int(row.units or 0)
    if order_level:
        orders_per_group = (
            select(key.label("key"), func.count(Order.id).label("orders"))
            .where(_sold_in(period))
            .group_by(key)
        )
    elif by == "node":
        orders_per_group = (
            select(key.label("key"), func.count(distinct(Shipment.order_id)).label("orders"))
            .select_from(Order)
            .join(Shipment, Shipment.order_id == Order.id)
            .join(Node, Node.id == Shipment.node_id)
            .where(_sold_in(period), Shipment.status.notin_(DEAD_SHIPMENT_STATUSES))
            .group_by(key)
        )
    if counted_apart:
        for row in db.session.execute(orders_per_group):
            counted[group_of(row)][0] = row.orders
    amounts = _convert(converter, ((group_of(r), r.currency, r.amount) for r in rows))
    labels = _labels(by, set(counted), lang)
    if by == "day":
        groups = period.each_day()
    else:
        groups = sorted(counted, key=lambda group: (-amounts.get(group, 0), str(group)))
    report_rows = [
        {
            "key": group.isoformat() if by == "day" else group,
            "label": labels.get(group, group.isoformat() if by == "day" else str(group)),
            "orders": counted[group][0] if group in counted else 0,
            "units": counted[group][1] if group in counted else 0,
            "goods": converter.money(amounts.get(group, Decimal(0))),
        }
        for group in groups
    ]
    # Units and value add up across groups; an order may sit in several groups (its
    # lines' categories), so the orders are counted once, on the orders alone.
    if order_level:
        sold_orders = sum(orders for orders, _ in counted.values())
    else:
        sold_orders = db.session.scalar(select(func.count(Order.id)).where(_sold_in(period)))
    report = _envelope(
        "sales",
        period,
        by=by,
        columns=["key", "label", "orders", "units", "goods"],
        money_columns=["goods"],
        rows=report_rows,
        totals={
            "orders": sold_orders,
            "units": sum(units for _, units in counted.values()),
            "goods": converter.money(sum(amounts.values(), Decimal(0))),
        },
    )
    return _finish(report, converter)


def _labels(by: str, keys: set[Any], lang: str) -> dict[Any, str]:
    if by == "category" and keys:
        categories = db.session.scalars(select(Category).where(Category.slug.in_(keys)))
        return {c.slug: c.localized("name", lang) for c in categories}
    if by == "node" and keys:
        nodes = db.session.scalars(select(Node).where(Node.code.in_(keys)))
        return {n.code: n.localized("name", lang) for n in nodes}
    if by in ("origin", "destination"):
        return {code: country_name(code, lang) if code else "unknown" for code in keys}
    return {}


def duties_report(
    period: ReportRange, *, currency: str, rates: RateTable, rates_on: date
) -> dict[str, Any]:
    """Duties and import taxes the shop collected with sold orders, by the customs
    regime of each order's assessment (CN CBEC, EAEU old or new, unknown)."""
    _begin()
    converter = _converter(rates, currency, rates_on)
    regime = func.coalesce(Order.duties["policy"].as_string(), literal("unknown"))
    rows = db.session.execute(
        select(
            regime.label("regime"),
            Order.currency.label("currency"),
            func.count(Order.id).label("orders"),
            func.count(Order.duties_total).label("estimated"),
            func.sum(Order.duties_total).label("amount"),
            func.sum(Order.goods_total).label("goods"),
        )
        .where(_sold_in(period))
        .group_by(regime, Order.currency)
    ).all()
    counted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counted[row.regime][0] += row.orders
        counted[row.regime][1] += row.estimated
    duties = _convert(converter, ((r.regime, r.currency, r.amount) for r in rows))
    goods = _convert(converter, ((r.regime, r.currency, r.goods) for r in rows))
    report_rows = []
    for name in sorted(counted, key=lambda r: (r == "unknown", r)):
        orders, estimated = counted[name]
        report_rows.append(
            {
                "regime": name,
                "label": REGIME_LABELS.get(name, name),
                "orders": orders,
                # Orders whose duties no rule could estimate: nothing was collected for them.
                "unknown_orders": orders - estimated,
                "duties": converter.money(duties.get(name, Decimal(0))),
                "goods": converter.money(goods.get(name, Decimal(0))),
            }
        )
    report = _envelope(
        "duties",
        period,
        columns=["regime", "label", "orders", "unknown_orders", "duties", "goods"],
        money_columns=["duties", "goods"],
        rows=report_rows,
        totals={
            "orders": sum(r["orders"] for r in report_rows),
            "unknown_orders": sum(r["unknown_orders"] for r in report_rows),
            "duties": converter.money(sum(duties.values(), Decimal(0))),
            "goods": converter.money(sum(goods.values(), Decimal(0))),
        },
    )
    return _finish(report, converter)


def orders_by_state_report(
    period: ReportRange, *, currency: str, rates: RateTable, rates_on: date
) -> dict[str, Any]:
    """Every order placed in the range by its status now, with its grand total."""
    _begin()
    converter = _converter(rates, currency, rates_on)
    rows = db.session.execute(
        select(
            Order.status.label("status"),
            Order.currency.label("currency"),
            func.count(Order.id).label("orders"),
            func.sum(Order.grand_total).label("amount"),
        )
        .where(_in_range(Order.created_at, period))
        .group_by(Order.status, Order.currency)
    ).all()
    counted: dict[str, int] = defaultdict(int)
    for row in rows:
        counted[row.status] += row.orders
    amounts = _convert(converter, ((r.status, r.currency, r.amount) for r in rows))
    statuses = [*ORDER_STATUSES, *sorted(set(counted) - set(ORDER_STATUSES))]
    report_rows = [
        {
            "status": status,
            "label": status.replace("_", " "),
            "orders": counted.get(status, 0),
            "grand_total": converter.money(amounts.get(status, Decimal(0))),
        }
        for status in statuses
    ]
    report = _envelope(
        "orders-by-state",
        period,
        columns=["status", "label", "orders", "grand_total"],
        money_columns=["grand_total"],
        rows=report_rows,
        totals={
            "orders": sum(counted.values()),
            "grand_total": converter.money(sum(amounts.values(), Decimal(0))),
        },
    )
    return _finish(report, converter)


def fulfilment_time_report(period: ReportRange) -> dict[str, Any]:
    """Per node, parcels that left in the range and the hours from the order's payment
    to the parcel leaving: average and longest."""
    _begin()
    # One row per parcel with its wait, then the aggregates: an expression with the
    # payment's time inside count(), avg() and max() would look it up three times.
    parcels = (
        select(
            Shipment.node_id.label("node_id"),
            seconds_between(Shipment.shipped_at, func.min(OrderEvent.created_at), _dialect()).label(
                "waited"
            ),
        )
        .select_from(Shipment)
        .outerjoin(
            OrderEvent,
            and_(OrderEvent.order_id == Shipment.order_id, OrderEvent.to_status == "paid"),
        )
        .where(_in_range(Shipment.shipped_at, period))
        .group_by(Shipment.id, Shipment.node_id, Shipment.shipped_at)
        .subquery("parcels")
    )
    rows = db.session.execute(
        select(
            Node.code.label("node"),
            func.count().label("shipments"),
            func.count(parcels.c.waited).label("timed"),
            func.avg(parcels.c.waited).label("average"),
            func.max(parcels.c.waited).label("longest"),
        )
        .select_from(parcels)
        .join(Node, Node.id == parcels.c.node_id)
        .group_by(Node.code)
    ).all()
    found = {row.node: row for row in rows}
    nodes = db.session.execute(select(Node.code, Node.name_en).order_by(Node.code)).all()
    report_rows = []
    for code, name in nodes:
        row = found.get(code)
        report_rows.append(
            {
                "node": code,
                "label": name,
                "shipments": row.shipments if row else 0,
                "average_hours": _hours(row.average) if row else None,
                "longest_hours": _hours(row.longest) if row else None,
            }
        )
    all_timed = sum(row.timed for row in rows)
    weighted = sum(Decimal(str(row.average)) * row.timed for row in rows if row.timed)
    report = _envelope(
        "fulfilment-time",
        period,
        columns=["node", "label", "shipments", "average_hours", "longest_hours"],
        money_columns=[],
        rows=report_rows,
        totals={
            "shipments": sum(row.shipments for row in rows),
            "average_hours": _hours(weighted / all_timed) if all_timed else None,
            "longest_hours": max((_hours(r.longest) for r in rows if r.timed), default=None),
        },
    )
    return _finish(report, None)


def _hours(seconds: Any) -> Decimal | None:
    if seconds is None:
        return None
    hours = Decimal(str(seconds)) / Decimal(3600)
    return hours.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _sold_units_at_nodes(period: ReportRange):
    """Units each node's live parcels carry for sold orders of the range, per SKU."""
    return (
        select(
            Shipment.node_id.label("node_id"),
            ShipmentLine.sku_id.label("sku_id"),
            func.sum(ShipmentLine.quantity).label("units"),
        )
        .select_from(ShipmentLine)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .join(Order, Order.id == Shipment.order_id)
        .where(_sold_in(period), Shipment.status.notin_(DEAD_SHIPMENT_STATUSES))
        .group_by(Shipment.node_id, ShipmentLine.sku_id)
        .subquery("sold")
    )


def stock_cover_report(period: ReportRange, *, limit: int = 20) -> dict[str, Any]:
    """Stock on hand per node and how many days it lasts at the range's sales rate; and
    the ``limit`` SKU-at-node pairs that run out first."""
    _begin()
    sold = _sold_units_at_nodes(period)
    # One row per stock level (SKUs x nodes: catalog-sized, not order-sized) with the
    # units its node sold: the per-node sums and the shortest covers are both read from
    # it, so the range's parcels are aggregated once.
    levels = db.session.execute(
        select(
            Node.code.label("node"),
            Node.name_en.label("label"),
            Sku.code.label("sku"),
            Product.name_en.label("product"),
            StockLevel.on_hand,
            StockLevel.reserved,
            func.coalesce(sold.c.units, 0).label("units_sold"),
        )
        .select_from(Node)
        .outerjoin(StockLevel, StockLevel.node_id == Node.id)
        .outerjoin(
            sold, and_(sold.c.node_id == StockLevel.node_id, sold.c.sku_id == StockLevel.sku_id)
        )
        .outerjoin(Sku, Sku.id == StockLevel.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .order_by(Node.code, Sku.code)
    ).all()
    days = period.days
    per_node: dict[str, dict[str, Any]] = {}
    pairs = []
    for level in levels:
        node = per_node.setdefault(
            level.node,
            {"node": level.node, "label": level.label, "skus": 0, "on_hand": 0,
             "reserved": 0, "units_sold": 0},
        )  # fmt: skip
        if level.sku is None:
            continue  # a node that holds nothing
        units = int(level.units_sold)
        node["skus"] += 1
        node["on_hand"] += level.on_hand
        node["reserved"] += level.reserved
        node["units_sold"] += units
        if units > 0:
            pairs.append(
                {
                    "node": level.node,
                    "sku": level.sku,
                    "product": level.product,
                    "on_hand": level.on_hand,
                    "reserved": level.reserved,
                    "units_sold": units,
                    "daily_units": daily_average(units, days),
                    "days_of_cover": days_of_cover(level.on_hand, units, days),
                }
            )
    rows = [
        {
            **node,
            "daily_units": daily_average(node["units_sold"], days),
            "days_of_cover": days_of_cover(node["on_hand"], node["units_sold"], days),
        }
        for node in per_node.values()
    ]
    # Exact order (on hand / units, as fractions), then node and SKU: as the CSV says.
    pairs.sort(key=lambda p: (Fraction(p["on_hand"], p["units_sold"]), p["node"], p["sku"]))
    running_out = pairs[:limit]
    report = _envelope(
        "stock-cover",
        period,
        columns=["node", "label", "skus", "on_hand", "reserved", "units_sold", "daily_units",
                 "days_of_cover"],
        money_columns=[],
        rows=rows,
        running_out=running_out,
        totals={
            "on_hand": sum(r["on_hand"] for r in rows),
            "reserved": sum(r["reserved"] for r in rows),
            "units_sold": sum(r["units_sold"] for r in rows),
            "days_of_cover": days_of_cover(
                sum(r["on_hand"] for r in rows), sum(r["units_sold"] for r in rows), days
            ),
        },
    )  # fmt: skip
    return _finish(report, None)


def skus_report(
    period: ReportRange,
    *,
    kind: str,
    limit: int,
    currency: str,
    rates: RateTable,
    rates_on: date,
) -> dict[str, Any]:
    """``top``: the SKUs that sold the most units in the range. ``slow``: active SKUs
    with stock on hand that sold the fewest (none first), the most stock first."""
    _begin()
    if kind not in SKU_LISTS:
        raise ValidationFailed(errors={"kind": ["One of top, slow."]})
    converter = _converter(rates, currency, rates_on)
    sold = (
        select(
            OrderLine.sku_id.label("sku_id"),
            func.sum(OrderLine.quantity).label("units"),
            # Checkout merges repeated SKUs into one line: a SKU's lines are its orders.
            func.count(OrderLine.id).label("orders"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(_sold_in(period))
        .group_by(OrderLine.sku_id)
        .subquery("sold")
    )
    stock = (
        select(
            StockLevel.sku_id.label("sku_id"),
            func.sum(StockLevel.on_hand).label("on_hand"),
        )
        .group_by(StockLevel.sku_id)
        .subquery("stock")
    )
    units = func.coalesce(sold.c.units, 0)
    on_hand = func.coalesce(stock.c.on_hand, 0)
    statement = (
        select(
            Sku.id,
            Sku.code.label("sku"),
            Product.name_en.label("product"),
            units.label("units"),
            func.coalesce(sold.c.orders, 0).label("orders"),
            on_hand.label("on_hand"),
        )
        .select_from(Sku)
        .join(Product, Product.id == Sku.product_id)
        .outerjoin(stock, stock.c.sku_id == Sku.id)
    )
    if kind == "top":
        statement = statement.join(sold, sold.c.sku_id == Sku.id).order_by(units.desc(), Sku.code)
    else:
        statement = (
            statement.outerjoin(sold, sold.c.sku_id == Sku.id)
            .where(Sku.is_active, Sku.deleted_at.is_(None), Product.is_active, on_hand > 0)
            .order_by(units, on_hand.desc(), Sku.code)
        )
    found = db.session.execute(statement.limit(limit)).all()
    revenue: dict[int, Decimal] = {}
    if found:
        revenue_rows = db.session.execute(
            select(
                OrderLine.sku_id.label("sku_id"),
                Order.currency.label("currency"),
                func.sum(OrderLine.quantity * OrderLine.unit_price_amount).label("amount"),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .where(_sold_in(period), OrderLine.sku_id.in_([row.id for row in found]))
            .group_by(OrderLine.sku_id, Order.currency)
        ).all()
        revenue = _convert(converter, ((r.sku_id, r.currency, r.amount) for r in revenue_rows))
    days = period.days
    rows = [
        {
            "rank": position,
            "sku": row.sku,
            "product": row.product,
            "units": int(row.units),
            "orders": int(row.orders),
            "goods": converter.money(revenue.get(row.id, Decimal(0))),
            "on_hand": int(row.on_hand),
            "days_of_cover": days_of_cover(int(row.on_hand), int(row.units), days),
        }
        for position, row in enumerate(found, 1)
    ]
    report = _envelope(
        "skus",
        period,
        kind=kind,
        limit=limit,
        columns=["rank", "sku", "product", "units", "orders", "goods", "on_hand",
                 "days_of_cover"],
        money_columns=["goods"],
        rows=rows,
    )  # fmt: skip
    return _finish(report, converter)
