"""What must hold after any fault: one checker every fault scenario calls at its end.

``invariant_violations(app)`` reads the database (and, given ``live_bookings``, the
carrier's side) and names each broken rule; ``assert_invariants(app)`` fails the test
with all of them at once, so a scenario shows the whole damage, not the first symptom.

The rules:

- stock: every level equals the sums of its ledger rows; ``0 <= reserved <= on_hand``;
  what is reserved equals the units that shipment lines hold (``held``) at that node;
- money: every paid order has exactly one succeeded payment it keeps (others are being
  refunded in full), the succeeded payments add up to ``paid_amount``, and what it keeps
  covers the grand total; an unpaid order keeps no money (an order waiting for payment
  has no succeeded payment, an expired or cancelled one gives back all it took);
- orders: none without lines or shipments, no shipment without lines, and an order that
  still needs its goods holds them (``held``, or ``consumed`` once shipped);
- carriers: no two shipments share a carrier reference, and, given ``live_bookings``
  (shipment number -> live bookings at the carrier), no shipment is booked twice and
  every shipment booked through a carrier has its one booking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import func, select

from orders.lifecycle import PAID_STATUSES, UNSHIPPED_STATUSES
from orders.models import Order, OrderLine, Payment, Refund
from shop.core.extensions import db
from warehouse.models import Shipment, ShipmentLine, StockLevel
from warehouse.services import ledger_mismatches
from warehouse.shipping import shipment_number

LiveBookings = Callable[[str], int]
DONE_SHIPMENTS = ("cancelled", "rerouted")


def fake_cdek_bookings(fake_cdek) -> LiveBookings:
    """``live_bookings`` for tests/fake_cdek.py: orders CDEK holds under our number."""
    return lambda number: sum(
        not order.deleted for order in fake_cdek.orders_by_number.get(number, [])
    )


def assert_invariants(app, *, live_bookings: LiveBookings | None = None) -> None:
    problems = invariant_violations(app, live_bookings=live_bookings)
    assert not problems, "invariants broken:\n  " + "\n  ".join(problems)


def invariant_violations(app, *, live_bookings: LiveBookings | None = None) -> list[str]:
    with app.app_context():
        try:
            return [
                *_stock_problems(),
                *_money_problems(),
                *_order_shape_problems(),
                *_booking_problems(live_bookings),
            ]
        finally:
            db.session.remove()


def _stock_problems() -> list[str]:
    problems = [f"stock level differs from its ledger: {row}" for row in ledger_mismatches()]
    held = defaultdict(int)
    for sku_id, node_id, units in db.session.execute(
        select(ShipmentLine.sku_id, Shipment.node_id, func.sum(ShipmentLine.quantity))
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(ShipmentLine.reservation == "held")
        .group_by(ShipmentLine.sku_id, Shipment.node_id)
    ):
        held[(sku_id, node_id)] = int(units)
    levels = db.session.execute(
        select(StockLevel.sku_id, StockLevel.node_id, StockLevel.on_hand, StockLevel.reserved)
    ).all()
    for sku_id, node_id, on_hand, reserved in levels:
        where = f"sku {sku_id} at node {node_id}"
        if not 0 <= reserved <= on_hand:
            problems.append(f"{where}: reserved {reserved} outside 0..on hand {on_hand}")
        holding = held.pop((sku_id, node_id), 0)
        if reserved != holding:
            problems.append(f"{where}: reserved {reserved} but shipment lines hold {holding}")
    problems += [f"sku {s} at node {n}: {u} units held with no stock level" for (s, n), u in
                 held.items()]  # fmt: skip
    return problems


def _money_problems() -> list[str]:
    refunded = defaultdict(Decimal)
    for payment_id, amount in db.session.execute(
        select(Refund.payment_id, func.sum(Refund.amount))
        .where(Refund.status != "failed")
        .group_by(Refund.payment_id)
    ):
        refunded[payment_id] = Decimal(amount)
    succeeded = defaultdict(list)
    for payment in db.session.scalars(select(Payment).where(Payment.status == "succeeded")):
        succeeded[payment.order_id].append(payment)
    problems = []
    for order in db.session.scalars(select(Order).order_by(Order.id)):
        payments = succeeded.get(order.id, [])
        took = sum((Decimal(p.amount) for p in payments), Decimal(0))
        kept = [p for p in payments if refunded[p.id] < Decimal(p.amount)]
        kept_amount = sum((Decimal(p.amount) - refunded[p.id] for p in kept), Decimal(0))
        name = f"order {order.number} ({order.status})"
        if order.status in PAID_STATUSES:
            if len(kept) != 1:
                problems.append(f"{name} keeps {len(kept)} succeeded payments, not one")
            if took != Decimal(order.paid_amount):
                problems.append(f"{name}: paid_amount {order.paid_amount}, payments took {took}")
            if kept_amount < Decimal(order.grand_total):
                problems.append(f"{name} keeps {kept_amount} of {order.grand_total}")
        elif order.status == "pending_payment" and payments:
            problems.append(f"{name} has {len(payments)} succeeded payments but is not paid")
        elif order.status in ("expired", "cancelled") and kept_amount:
            problems.append(f"{name} keeps {kept_amount} it should give back")
    return problems


def _order_shape_problems() -> list[str]:
    with_lines = set(db.session.scalars(select(OrderLine.order_id).distinct()))
    shipments_of = defaultdict(list)
    for shipment in db.session.scalars(select(Shipment)):
        shipments_of[shipment.order_id].append(shipment)
    lines_of = defaultdict(list)
    for line in db.session.scalars(select(ShipmentLine)):
        lines_of[line.shipment_id].append(line)
    problems = []
    for order_id, number, status in db.session.execute(
        select(Order.id, Order.number, Order.status).order_by(Order.id)
    ):
        name = f"order {number} ({status})"
        if order_id not in with_lines:
            problems.append(f"{name} has no lines")
        shipments = shipments_of.get(order_id, [])
        if not shipments:
            problems.append(f"{name} has no shipments")
        for shipment in shipments:
            lines = lines_of.get(shipment.id, [])
            if not lines:
                problems.append(f"{name}: shipment {shipment.id} has no lines")
            if status in UNSHIPPED_STATUSES and shipment.status not in DONE_SHIPMENTS:
                wanted = ("held",) if status == "pending_payment" else ("held", "consumed")
                loose = [line.id for line in lines if line.reservation not in wanted]
                if loose:
                    problems.append(f"{name}: shipment {shipment.id} lines {loose} hold no stock")
    return problems


def _booking_problems(live_bookings: LiveBookings | None) -> list[str]:
    problems = [
        f"carrier reference {reference} is on {count} shipments"
        for reference, count in db.session.execute(
            select(Shipment.carrier_reference, func.count(Shipment.id))
            .where(Shipment.carrier_reference.is_not(None))
            .group_by(Shipment.carrier_reference)
            .having(func.count(Shipment.id) > 1)
        )
    ]
    if live_bookings is None:
        return problems
    for shipment_id, order_number, status, reference in db.session.execute(
        select(Shipment.id, Order.number, Shipment.status, Shipment.carrier_reference)
        .join(Order, Order.id == Shipment.order_id)
        .order_by(Shipment.id)
    ):
        number = shipment_number(order_number, shipment_id)
        live = live_bookings(number)
        if live > 1:
            problems.append(f"shipment {number} ({status}) is booked {live} times")
        elif reference and status not in DONE_SHIPMENTS and live != 1:
            problems.append(f"shipment {number} ({status}) has no live booking at the carrier")
    return problems
