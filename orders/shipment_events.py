"""How orders follow their parcels: handlers of the warehouse's shipment events.

The warehouse announces what happened to a shipment (``warehouse.events``);
here the order moves to the status its parcels imply, with a history row, and
the shopper is told when a parcel leaves. Handlers run in the warehouse's
transaction (``shop.core.events``), so an order never disagrees with its
parcels after a commit. ``connect`` wires them, and orders' answers to the
warehouse's questions, once at app start (``shop.app._connect_packages``).
"""

from __future__ import annotations

from sqlalchemy import event as orm_event
from sqlalchemy import select, update

from orders import lifecycle
from orders.models import Order, OrderEvent
from orders.parcel_port import OrdersForParcels
from shop.core import background
from shop.core import events as domain_events
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse import parcel_orders
from warehouse.events import ShipmentsChanged, ShipmentShipped
from warehouse.models import Shipment


def follow_shipments(event: ShipmentsChanged) -> None:
    """Move the orders of these shipments to the status their shipments now imply
    (paid -> fulfilling -> partially_shipped -> shipped), with a history row each."""
    order_ids = select(Shipment.order_id).where(Shipment.id.in_(event.shipment_ids)).distinct()
    statuses: dict[int, list[str]] = {}
    for order_id, status in db.session.execute(
        select(Shipment.order_id, Shipment.status).where(Shipment.order_id.in_(order_ids))
    ):
        statuses.setdefault(order_id, []).append(status)
    moved: dict[tuple[str, str], list[int]] = {}
    for order in db.session.execute(
        select(Order.id, Order.status).where(Order.id.in_(list(statuses)))
    ):
        target = lifecycle.status_from_shipments(order.status, statuses[order.id])
        if target != order.status:
            lifecycle.order_transition(order.status, target)
            moved.setdefault((order.status, target), []).append(order.id)
    for (before, after), ids in moved.items():
        # Conditional on the status read above: a concurrent change wins, not this one.
        db.session.execute(
            update(Order).where(Order.id.in_(ids), Order.status == before)
            .values(status=after, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        db.session.add_all(
            OrderEvent(order_id=order_id, kind="status", from_status=before, to_status=after,
                       actor=event.actor, reason=event.reason)
            for order_id in ids
        )  # fmt: skip


def tell_shopper_shipped(event: ShipmentShipped) -> None:
    """The e-mail goes out after commit (the outbox): one per parcel that left."""
    number = event.order_number
    background.enqueue("orders.notify", key=f"notify:{number}:shipped:{event.shipment_id}",
                       number=number, event="shipped")  # fmt: skip


def _copy_order_number(_mapper, connection, shipment: Shipment) -> None:
    """A shipment carries its order's number (checkout and re-routes set it); one added
    without it (a fixture, a script) gets it here, before its row is written."""
    if shipment.order_number is None and shipment.order_id is not None:
        shipment.order_number = connection.scalar(
            select(Order.number).where(Order.id == shipment.order_id)
        )


def connect() -> None:
    """Subscribe orders to the warehouse's shipment events and answer its questions
    about orders. Safe to call again (an app built twice in one process)."""
    domain_events.subscribe(ShipmentsChanged, follow_shipments)
    domain_events.subscribe(ShipmentShipped, tell_shopper_shipped)
    parcel_orders.serve(OrdersForParcels())
    if not orm_event.contains(Shipment, "before_insert", _copy_order_number):
        orm_event.listen(Shipment, "before_insert", _copy_order_number)
