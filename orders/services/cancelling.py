"""Cancelling an order: stock back, unshipped parcels cancelled, what was paid refunded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from orders import lifecycle
from orders.services.changes import (
    LIVE_PAYMENT,
    cancel_payments,
    live_payments,
    record_history,
    refund_all,
    set_shipments,
)
from orders.services.reading import Viewer, find_order, get_order
from shop.core import background
from shop.core.auth import Forbidden
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse.fulfilment import close_finished_pick_lists
from warehouse.models import Shipment
from warehouse.services import release_order_stock


@retry_on_conflict()
def cancel_order(number: str, viewer: Viewer, reason: str) -> dict[str, Any]:
    """Cancel: stock back, unshipped parcels cancelled, and what was paid refunded in full
    (the refund is written here and sent to the provider after commit)."""
    reason = (reason or "").strip() or f"cancelled by the {viewer.who}"
    order = find_order(number, viewer, for_update=True)
    if viewer.staff is not None and not viewer.staff.is_operator:
        # A picker may cancel only what is all theirs: parcels of other nodes are not.
        elsewhere = db.session.scalar(
            select(Shipment.id).where(
                Shipment.order_id == order.id,
                Shipment.node_id != viewer.staff.node_id,
                Shipment.status.not_in(("cancelled", "rerouted")),
            )
        )
        if elsewhere is not None:
            raise Forbidden("Part of this order ships from another node: an operator cancels it.")
    lifecycle.cancel_transition(order.status, viewer.who)
    release_order_stock(order.id, reason="release", actor=viewer.actor, new_state="released")
    booked = db.session.scalars(
        select(Shipment.id).where(
            Shipment.order_id == order.id, Shipment.status == "booking_requested"
        )
    ).all()
    pick_lists = db.session.scalars(
        select(Shipment.pick_list_id).where(
            Shipment.order_id == order.id, Shipment.pick_list_id.is_not(None)
        )
    ).all()
    set_shipments(
        order.id,
        ("awaiting_payment", "ready_to_pick", "picking", "packed", "booking_requested"),
        "cancelled",
    )
    for shipment_id in booked:
        # The carrier may already hold the parcel's booking: withdraw it there too.
        background.enqueue("carriers.cancel_booking", key=f"cancel-booking:{shipment_id}",
                           shipment_id=shipment_id)  # fmt: skip
    record_history(order, "cancelled", viewer.actor, reason)
    order.reservation_expires_at = None
    _close_pick_lists(pick_lists)
    refunds = refund_all(order, reason)
    live = live_payments(order.id)
    if order.payment_status in LIVE_PAYMENT:
        order.payment_status = "canceled"
    # The work owed to the outside goes into the outbox with the cancel itself.
    for refund in refunds:
        background.enqueue("orders.send_refund", key=f"refund:{refund.id}", refund_id=refund.id)
    cancel_payments(live)
    db.session.commit()
    return get_order(number, viewer)


def _close_pick_lists(pick_list_ids) -> None:
    """Pick lists whose every parcel is now cancelled or gone are done."""
    if pick_list_ids:
        db.session.flush()
        close_finished_pick_lists(sorted(set(pick_list_ids)))
