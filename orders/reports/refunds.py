"""Refunds as the money reports count them: on the day each was made, split between the
goods, shipping and duties its order charged.

Refunds are few next to orders (a report's range holds a handful per hundred orders),
so they are read as rows and split in Python, where the split can be exact: in whole
minor units of the order's currency, each piece pro rata to what the order charged
(``definitions.split_pro_rata``), so that an order refunded in pieces gives back, in
total, exactly what it charged for each part.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import and_, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from orders.models import Order, Refund
from orders.reports.definitions import (
    CHARGED_PARTS,
    SOLD_STATUSES,
    UNCOUNTED_REFUND_STATUSES,
    ReportRange,
    split_pro_rata,
    to_minor_units,
)
from orders.reports.queries import in_range
from shop.core.extensions import db


@dataclass(frozen=True)
class CountedRefund:
    """One refund of a sold order, split into what it gave back of each charged part
    (``CHARGED_PARTS``, minor units of ``currency``). ``in_period``: made in the report's
    range (earlier refunds of the same orders are read only to know what is left)."""

    refund_id: int
    order_id: int
    day: date
    in_period: bool
    currency: str
    destination: str
    regime: str
    parts: dict[str, int]

    @property
    def given_back(self) -> int:
        """What the refund gave back of the sale (an overpayment's refund is not in it)."""
        return sum(self.parts.values())


def counted_refund() -> ColumnElement:
    """A refund the reports count: not failed, of an order that sold (a cancelled
    order never sold, so the money it gave back is no refund of a sale)."""
    return and_(Refund.status.notin_(UNCOUNTED_REFUND_STATUSES), Order.status.in_(SOLD_STATUSES))


def counted_refunds(period: ReportRange) -> list[CountedRefund]:
    """The counted refunds made in ``period``, and the earlier ones of the same orders,
    each order's in the order they were made, split."""
    _, after = period.bounds()
    orders_refunded_in_period = (
        select(Refund.order_id)
        .join(Order, Order.id == Refund.order_id)
        .where(counted_refund(), in_range(Refund.created_at, period))
    )
    regime = func.coalesce(Order.duties["policy"].as_string(), literal("unknown"))
    rows = db.session.execute(
        select(
            Refund.id, Refund.order_id, Refund.amount, Refund.created_at, Order.currency,
            Order.destination_country, regime.label("regime"), Order.goods_total,
            Order.shipping_total, Order.duties_total, Order.grand_total, Order.paid_amount,
        )
        .join(Order, Order.id == Refund.order_id)
        .where(counted_refund(), Refund.order_id.in_(orders_refunded_in_period),
               Refund.created_at < after)
        .order_by(Refund.order_id, Refund.created_at, Refund.id)
    ).all()  # fmt: skip
    first, _ = period.bounds()
    counted: list[CountedRefund] = []
    order_id = None
    for row in rows:
        if row.order_id != order_id:
            order_id = row.order_id
            charged, overpaid_left = _charged(row)
            already = dict.fromkeys(CHARGED_PARTS, 0)
        amount = to_minor_units(row.amount, row.currency)
        # Money paid beyond the order's total (a second payment for an order already
        # paid) was never a sale: its refund comes first and takes nothing off the sale.
        overpayment = min(amount, overpaid_left)
        overpaid_left -= overpayment
        parts = split_pro_rata(amount - overpayment, charged, already)
        for part, units in parts.items():
            already[part] += units
        made = _utc(row.created_at)
        counted.append(
            CountedRefund(
                refund_id=row.id, order_id=row.order_id, day=made.date(),
                in_period=made >= first, currency=row.currency,
                destination=row.destination_country, regime=row.regime, parts=parts,
            )
        )  # fmt: skip
    return counted


def in_period(refunds: list[CountedRefund]) -> Iterator[CountedRefund]:
    return (refund for refund in refunds if refund.in_period)


def _charged(row) -> tuple[dict[str, int], int]:
    """What the order charged for each part, and what was paid beyond its total."""
    currency = row.currency
    charged = {
        "goods": to_minor_units(row.goods_total, currency),
        "shipping": to_minor_units(row.shipping_total, currency),
        "duties": to_minor_units(row.duties_total or Decimal(0), currency),  # unknown: none
    }
    grand = to_minor_units(row.grand_total, currency)
    # Anything else the total holds (an older order's rounding, a surcharge) is given
    # back in its share too, so that a full refund gives back the grand total.
    charged["other"] = max(grand - sum(charged.values()), 0)
    overpaid = max(to_minor_units(row.paid_amount or Decimal(0), currency) - grand, 0)
    return charged, overpaid


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they are stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
