"""The money reports: sales grouped as asked, and the duties and taxes collected."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, distinct, func, literal, select, text

from catalog.models import Category, Product, Sku
from catalog.money import RateTable
from orders.models import Order, OrderLine
from orders.reports.definitions import (
    DEAD_SHIPMENT_STATUSES,
    REGIME_LABELS,
    SALES_GROUPINGS,
    ReportRange,
)
from orders.reports.queries import (
    as_date,
    begin_report,
    convert_sums,
    converter_for,
    day_of,
    dialect,
    envelope,
    finish,
    sold_in,
)
from shop.core.errors import ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_name
from warehouse.models import Node, Shipment, ShipmentLine


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
    begin_report()
    if by not in SALES_GROUPINGS:
        raise ValidationFailed(errors={"by": [f"One of {', '.join(SALES_GROUPINGS)}."]})
    converter = converter_for(rates, currency, rates_on)
    value = func.sum(OrderLine.quantity * OrderLine.unit_price_amount)
    units = func.sum(OrderLine.quantity)
    if by == "node":  # a parcel's units at the price its order line was sold for
        value = func.sum(ShipmentLine.quantity * OrderLine.unit_price_amount)
        units = func.sum(ShipmentLine.quantity)
    key = {
        "day": lambda: day_of(Order.created_at, dialect()),
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
        if dialect() == "postgresql":
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
    rows = db.session.execute(statement.where(sold_in(period)).group_by(key, Order.currency)).all()

    def group_of(row) -> Any:
        return as_date(row.key) if by == "day" else row.key

    counted: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counted[group_of(row)][0] += row.orders  # an order has one currency: no double count
        counted[group_of(row)][1] += int(row.units or 0)
    if order_level:
        orders_per_group = (
            select(key.label("key"), func.count(Order.id).label("orders"))
            .where(sold_in(period))
            .group_by(key)
        )
    elif by == "node":
        orders_per_group = (
            select(key.label("key"), func.count(distinct(Shipment.order_id)).label("orders"))
            .select_from(Order)
            .join(Shipment, Shipment.order_id == Order.id)
            .join(Node, Node.id == Shipment.node_id)
            .where(sold_in(period), Shipment.status.notin_(DEAD_SHIPMENT_STATUSES))
            .group_by(key)
        )
    if counted_apart:
        for row in db.session.execute(orders_per_group):
            counted[group_of(row)][0] = row.orders
    amounts = convert_sums(converter, ((group_of(r), r.currency, r.amount) for r in rows))
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
        sold_orders = db.session.scalar(select(func.count(Order.id)).where(sold_in(period)))
    report = envelope(
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
    return finish(report, converter)


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
    begin_report()
    converter = converter_for(rates, currency, rates_on)
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
        .where(sold_in(period))
        .group_by(regime, Order.currency)
    ).all()
    counted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counted[row.regime][0] += row.orders
        counted[row.regime][1] += row.estimated
    duties = convert_sums(converter, ((r.regime, r.currency, r.amount) for r in rows))
    goods = convert_sums(converter, ((r.regime, r.currency, r.goods) for r in rows))
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
    report = envelope(
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
    return finish(report, converter)
