"""The money reports: sales grouped as asked, and the duties and taxes collected."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, distinct, func, literal, select, text
from sqlalchemy.sql.elements import ColumnElement

from catalog.models import Category, Product, Sku
from catalog.money import RateTable
from orders.models import Order, OrderLine
from orders.reports.definitions import (
    DEAD_SHIPMENT_STATUSES,
    REGIME_LABELS,
    SALES_GROUPINGS,
    ReportRange,
    from_minor_units,
    split_pro_rata,
    to_minor_units,
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
from orders.reports.refunds import CountedRefund, counted_refunds, in_period
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
    orders, units and value per group, and the totals; net of refunds.

    A sale counts on the day its order was placed, a refund on the day it was made
    (``refunds``), so a closed period's figures stay as they were. ``goods_gross`` is
    what sold, ``goods_refunded`` the goods' share of the refunds, ``goods`` the
    difference; units stay sold (a refund of money takes no units back)."""
    begin_report()
    if by not in SALES_GROUPINGS:
        raise ValidationFailed(errors={"by": [f"One of {', '.join(SALES_GROUPINGS)}."]})
    converter = converter_for(rates, currency, rates_on)
    value = func.sum(OrderLine.quantity * OrderLine.unit_price_amount)
    units = func.sum(OrderLine.quantity)
    if by == "node":  # a parcel's units at the price its order line was sold for
        value = func.sum(ShipmentLine.quantity * OrderLine.unit_price_amount)
        units = func.sum(ShipmentLine.quantity)
    key = _sales_key(by)
    # A day or a destination is the order's own, and a node's orders are its parcels':
    # those are counted on orders (or parcels) alone, so that the lines need no
    # count(DISTINCT), which sorts every line of the range (a year's lines: the most
    # expensive step of these reports).
    order_level = by in ("day", "destination")
    counted_apart = order_level or by == "node"
    statement = _goods_of_sold_lines(
        by,
        key.label("key"),
        Order.currency.label("currency"),
        (literal(0) if counted_apart else func.count(distinct(Order.id))).label("orders"),
        units.label("units"),
        value.label("amount"),
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
    gross = convert_sums(converter, ((group_of(r), r.currency, r.amount) for r in rows))
    refunds = counted_refunds(period)
    refunded = convert_sums(converter, _goods_refunded_by_group(by, key, refunds))
    net = {group: gross.get(group, Decimal(0)) - refunded.get(group, Decimal(0))
           for group in set(gross) | set(refunded)}  # fmt: skip
    labels = _labels(by, set(counted) | set(refunded), lang)
    if by == "day":
        groups = period.each_day()
    else:
        groups = sorted(set(counted) | set(refunded),
                        key=lambda group: (-net.get(group, 0), str(group)))  # fmt: skip
    report_rows = [
        {
            "key": group.isoformat() if by == "day" else group,
            "label": labels.get(group, group.isoformat() if by == "day" else str(group)),
            "orders": counted[group][0] if group in counted else 0,
            "units": counted[group][1] if group in counted else 0,
            "goods_gross": converter.money(gross.get(group, Decimal(0))),
            "goods_refunded": converter.money(refunded.get(group, Decimal(0))),
            "goods": converter.money(net.get(group, Decimal(0))),
        }
        for group in groups
    ]
    # Units and value add up across groups; an order may sit in several groups (its
    # lines' categories), so the orders are counted once, on the orders alone.
    if order_level:
        sold_orders = sum(orders for orders, _ in counted.values())
    else:
        sold_orders = db.session.scalar(select(func.count(Order.id)).where(sold_in(period)))
    # The grand totals are the orders' own (goods, shipping and duties): what sold, less
    # every refund of a sale made in the range, is the money the shop kept.
    grand_gross = convert_sums(converter, (
        (None, r.currency, r.amount) for r in db.session.execute(
            select(Order.currency.label("currency"), func.sum(Order.grand_total).label("amount"))
            .where(sold_in(period)).group_by(Order.currency))
    )).get(None, Decimal(0))  # fmt: skip
    grand_refunded = convert_sums(converter, (
        (None, r.currency, from_minor_units(r.given_back, r.currency)) for r in in_period(refunds)
    )).get(None, Decimal(0))  # fmt: skip
    goods_gross = sum(gross.values(), Decimal(0))
    goods_refunded = sum(refunded.values(), Decimal(0))
    columns = ["key", "label", "orders", "units", "goods_gross", "goods_refunded", "goods"]
    report = envelope(
        "sales",
        period,
        by=by,
        columns=columns,
        money_columns=["goods_gross", "goods_refunded", "goods"],
        rows=report_rows,
        totals={
            "orders": sold_orders,
            "units": sum(units for _, units in counted.values()),
            "goods_gross": converter.money(goods_gross),
            "goods_refunded": converter.money(goods_refunded),
            "goods": converter.money(goods_gross - goods_refunded),
            "grand_total_gross": converter.money(grand_gross),
            "grand_total_refunded": converter.money(grand_refunded),
            "grand_total": converter.money(grand_gross - grand_refunded),
        },
    )
    return finish(report, converter)


def _sales_key(by: str) -> ColumnElement:
    return {
        "day": lambda: day_of(Order.created_at, dialect()),
        "category": lambda: Category.slug,
        "origin": lambda: OrderLine.origin_country,
        "destination": lambda: Order.destination_country,
        "node": lambda: Node.code,
    }[by]()


def _goods_of_sold_lines(by: str, *columns: Any) -> Select:
    """``columns`` over the order lines (a node's: its live parcels' lines) joined to
    what ``by`` groups them by."""
    statement = select(*columns)
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
    return statement


# Goods of an order that no group holds (a node's grouping leaves out goods in parcels
# no longer live): their share of a refund is in no row.
_UNGROUPED = object()


def _goods_refunded_by_group(
    by: str, key: ColumnElement, refunds: list[CountedRefund]
) -> list[tuple[Any, str, Decimal]]:
    """``(group, currency, amount)`` of the goods given back by the range's refunds.

    A day is the refund's, a destination the order's; an order's category, origin or
    node goods share each refund pro rata to their value in the order, in minor units,
    every refund of the order in turn, so its refunds in full give back each group's
    value exactly."""
    if by == "day":
        return [(r.day, r.currency, from_minor_units(r.parts["goods"], r.currency))
                for r in in_period(refunds)]  # fmt: skip
    if by == "destination":
        return [(r.destination, r.currency, from_minor_units(r.parts["goods"], r.currency))
                for r in in_period(refunds)]  # fmt: skip
    if not refunds:
        return []
    order_ids = sorted({r.order_id for r in refunds})
    goods_of: dict[int, dict[Any, int]] = defaultdict(dict)
    currency_of = {r.order_id: r.currency for r in refunds}
    for row in db.session.execute(
        _goods_of_sold_lines(
            by, Order.id.label("order_id"), key.label("key"),
            func.sum((ShipmentLine.quantity if by == "node" else OrderLine.quantity)
                     * OrderLine.unit_price_amount).label("amount"),
        ).where(Order.id.in_(order_ids)).group_by(Order.id, key)
    ):  # fmt: skip
        goods_of[row.order_id][row.key] = to_minor_units(row.amount, currency_of[row.order_id])
    goods_total = dict(db.session.execute(
        select(Order.id, Order.goods_total).where(Order.id.in_(order_ids))
    ).all())  # fmt: skip
    for order_id, groups in goods_of.items():
        charged = to_minor_units(goods_total[order_id], currency_of[order_id])
        groups[_UNGROUPED] = max(charged - sum(groups.values()), 0)
    shares: list[tuple[Any, str, Decimal]] = []
    already: dict[int, dict[Any, int]] = defaultdict(dict)
    for refund in refunds:  # each order's in the order they were made
        parts = split_pro_rata(refund.parts["goods"], goods_of[refund.order_id],
                               already[refund.order_id])  # fmt: skip
        for group, units in parts.items():
            already[refund.order_id][group] = already[refund.order_id].get(group, 0) + units
            if refund.in_period and group is not _UNGROUPED:
                shares.append((group, refund.currency, from_minor_units(units, refund.currency)))
    return shares


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
    regime of each order's assessment (CN CBEC, EAEU old or new, unknown); net of the
    duties' and the goods' shares of the refunds made in the range (``refunds``)."""
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
    refunds = list(in_period(counted_refunds(period)))
    duties_refunded = convert_sums(converter, (
        (r.regime, r.currency, from_minor_units(r.parts["duties"], r.currency)) for r in refunds
    ))  # fmt: skip
    goods_refunded = convert_sums(converter, (
        (r.regime, r.currency, from_minor_units(r.parts["goods"], r.currency)) for r in refunds
    ))  # fmt: skip
    zero = Decimal(0)
    report_rows = []
    regimes = set(counted) | set(duties_refunded) | set(goods_refunded)
    for name in sorted(regimes, key=lambda r: (r == "unknown", r)):
        orders, estimated = counted.get(name, (0, 0))
        report_rows.append(
            {
                "regime": name,
                "label": REGIME_LABELS.get(name, name),
                "orders": orders,
                # Orders whose duties no rule could estimate: nothing was collected for them.
                "unknown_orders": orders - estimated,
                "duties_gross": converter.money(duties.get(name, zero)),
                "duties_refunded": converter.money(duties_refunded.get(name, zero)),
                "duties": converter.money(duties.get(name, zero) - duties_refunded.get(name, zero)),
                "goods_gross": converter.money(goods.get(name, zero)),
                "goods_refunded": converter.money(goods_refunded.get(name, zero)),
                "goods": converter.money(goods.get(name, zero) - goods_refunded.get(name, zero)),
            }
        )
    money_columns = ["duties_gross", "duties_refunded", "duties",
                     "goods_gross", "goods_refunded", "goods"]  # fmt: skip

    def total(sums: dict[str, Decimal]) -> Decimal:
        return sum(sums.values(), zero)

    report = envelope(
        "duties",
        period,
        columns=["regime", "label", "orders", "unknown_orders", *money_columns],
        money_columns=money_columns,
        rows=report_rows,
        totals={
            "orders": sum(r["orders"] for r in report_rows),
            "unknown_orders": sum(r["unknown_orders"] for r in report_rows),
            "duties_gross": converter.money(total(duties)),
            "duties_refunded": converter.money(total(duties_refunded)),
            "duties": converter.money(total(duties) - total(duties_refunded)),
            "goods_gross": converter.money(total(goods)),
            "goods_refunded": converter.money(total(goods_refunded)),
            "goods": converter.money(total(goods) - total(goods_refunded)),
        },
    )
    return finish(report, converter)
