"""What stock lasts, and which SKUs sell best and worst."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, func, select

from catalog.models import Product, Sku
from catalog.money import RateTable
from orders.models import Order, OrderLine
from orders.reports.definitions import (
    DEAD_SHIPMENT_STATUSES,
    SKU_LISTS,
    ReportRange,
    daily_average,
    days_of_cover,
)
from orders.reports.queries import (
    begin_report,
    convert_sums,
    converter_for,
    envelope,
    finish,
    sold_in,
)
from shop.core.errors import ValidationFailed
from shop.core.extensions import db
from warehouse.models import Node, Shipment, ShipmentLine, StockLevel


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
        .where(sold_in(period), Shipment.status.notin_(DEAD_SHIPMENT_STATUSES))
        .group_by(Shipment.node_id, ShipmentLine.sku_id)
        .subquery("sold")
    )


def stock_cover_report(period: ReportRange, *, limit: int = 20) -> dict[str, Any]:
    """Stock on hand per node and how many days it lasts at the range's sales rate; and
    the ``limit`` SKU-at-node pairs that run out first."""
    begin_report()
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
    report = envelope(
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
    return finish(report, None)


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
    begin_report()
    if kind not in SKU_LISTS:
        raise ValidationFailed(errors={"kind": ["One of top, slow."]})
    converter = converter_for(rates, currency, rates_on)
    sold = (
        select(
            OrderLine.sku_id.label("sku_id"),
            func.sum(OrderLine.quantity).label("units"),
            # Checkout merges repeated SKUs into one line: a SKU's lines are its orders.
            func.count(OrderLine.id).label("orders"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(sold_in(period))
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
            .where(sold_in(period), OrderLine.sku_id.in_([row.id for row in found]))
            .group_by(OrderLine.sku_id, Order.currency)
        ).all()
        revenue = convert_sums(converter, ((r.sku_id, r.currency, r.amount) for r in revenue_rows))
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
    report = envelope(
        "skus",
        period,
        kind=kind,
        limit=limit,
        columns=["rank", "sku", "product", "units", "orders", "goods", "on_hand",
                 "days_of_cover"],
        money_columns=["goods"],
        rows=rows,
    )  # fmt: skip
    return finish(report, converter)
