"""How orders stand and how fast the nodes ship."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, func, select

from catalog.money import RateTable
from orders.lifecycle import ORDER_STATUSES
from orders.models import Order, OrderEvent
from orders.reports.definitions import ReportRange
from orders.reports.queries import (
    begin_report,
    convert_sums,
    converter_for,
    dialect,
    envelope,
    finish,
    in_range,
    seconds_between,
)
from shop.core.extensions import db
from warehouse.models import Node, Shipment


def orders_by_state_report(
    period: ReportRange, *, currency: str, rates: RateTable, rates_on: date
) -> dict[str, Any]:
    """Every order placed in the range by its status now, with its grand total."""
    begin_report()
    converter = converter_for(rates, currency, rates_on)
    rows = db.session.execute(
        select(
            Order.status.label("status"),
            Order.currency.label("currency"),
            func.count(Order.id).label("orders"),
            func.sum(Order.grand_total).label("amount"),
        )
        .where(in_range(Order.created_at, period))
        .group_by(Order.status, Order.currency)
    ).all()
    counted: dict[str, int] = defaultdict(int)
    for row in rows:
        counted[row.status] += row.orders
    amounts = convert_sums(converter, ((r.status, r.currency, r.amount) for r in rows))
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
    report = envelope(
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
    return finish(report, converter)


def fulfilment_time_report(period: ReportRange) -> dict[str, Any]:
    """Per node, parcels that left in the range and the hours from the order's payment
    to the parcel leaving: average and longest."""
    begin_report()
    # One row per parcel with its wait, then the aggregates: an expression with the
    # payment's time inside count(), avg() and max() would look it up three times.
    parcels = (
        select(
            Shipment.node_id.label("node_id"),
            seconds_between(Shipment.shipped_at, func.min(OrderEvent.created_at), dialect()).label(
                "waited"
            ),
        )
        .select_from(Shipment)
        .outerjoin(
            OrderEvent,
            and_(OrderEvent.order_id == Shipment.order_id, OrderEvent.to_status == "paid"),
        )
        .where(in_range(Shipment.shipped_at, period))
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
    report = envelope(
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
    return finish(report, None)


def _hours(seconds: Any) -> Decimal | None:
    if seconds is None:
        return None
    hours = Decimal(str(seconds)) / Decimal(3600)
    return hours.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
