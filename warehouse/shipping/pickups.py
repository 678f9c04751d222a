"""Courier pickups: a parcel booked on a tariff whose courier collects at the node (CDEK's
дверь sender tariffs) needs the courier invited (``POST /v2/intakes``). The booking job
asks for it in the transaction that marks the parcel shipped (the outbox); this job
books it, with no transaction open while the carrier is called.

``Shipment.pickup_state``: requested -> sending -> pending | registered, or failed
with the carrier's reasons in ``last_error`` (staff then call the courier by hand or
run the job again from the jobs list).

CDEK finds no intake by our number, so a pickup whose answer was lost is sent
again; CDEK refuses a second courier to one address on one day, which this records
as failed with CDEK's reason: check CDEK's account before calling a courier by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update as sql_update

from shop.core import background
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse.carriers import base as carriers
from warehouse.carriers.pickups import PickupRequest, pickup_date
from warehouse.models import Shipment
from warehouse.services.handovers import node_handover
from warehouse.shipping.adapters import carrier, outside_transaction, shipment_number

log = logging.getLogger(__name__)

OPEN_PICKUP_STATES = ("requested", "sending")


def request_pickup(shipment: Shipment) -> bool:
    """Inside the caller's transaction: when the node's courier collects for this
    shipment's carrier, mark the pickup requested and enqueue its job. Whether it did."""
    handover = node_handover(shipment.node_id, shipment.carrier) if shipment.carrier else None
    if handover is None or not handover.courier_collects:
        return False
    shipment.pickup_state = "requested"
    background.enqueue("carriers.book_pickup", key=f"pickup:{shipment.id}",
                       shipment_id=shipment.id)  # fmt: skip
    return True


def _write(shipment_id: int, *conditions, **values) -> bool:
    written = db.session.execute(
        sql_update(Shipment).where(Shipment.id == shipment_id, *conditions)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    db.session.commit()
    return bool(written)


def _pickup_gave_up(kwargs: dict[str, Any], error: str) -> None:
    shipment_id = int(kwargs["shipment_id"])
    db.session.execute(
        sql_update(Shipment)
        .where(Shipment.id == shipment_id, Shipment.pickup_state.in_(OPEN_PICKUP_STATES))
        .values(pickup_state="failed", last_error=f"courier pickup failed: {error}"[:500])
        .execution_options(synchronize_session=False)
    )
    log.warning("shipment %s: courier pickup given up: %s", shipment_id, error)


@background.task("carriers.book_pickup", on_dead=_pickup_gave_up)
def book_pickup(shipment_id: int) -> str:
    """Invite the carrier's courier for a shipped parcel, once."""
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None or shipment.pickup_state not in OPEN_PICKUP_STATES:
        db.session.rollback()
        return "nothing to do"
    if not shipment.carrier_reference:
        raise background.PermanentError("the parcel has no carrier booking to collect")
    handover = node_handover(shipment.node_id, shipment.carrier)
    if handover is None or not handover.courier_collects:
        _write(shipment_id, pickup_state=None)
        return "the node no longer has a courier collect"
    adapter = carrier(shipment.carrier)
    request = PickupRequest(
        reference=shipment.carrier_reference,
        shipment_number=shipment_number(shipment.order_number, shipment.id),
        on=pickup_date(utcnow(), handover),
        window_from=handover.window_from,
        window_to=handover.window_to,
        weight_g=shipment.packed_weight_g or shipment.weight_g,
        description=f"Order {shipment.order_number}",
        comment=" ".join(part for part in (handover.contact_name, handover.contact_phone) if part),
    )
    if not _write(shipment_id, Shipment.pickup_state.in_(OPEN_PICKUP_STATES),
                  pickup_state="sending"):  # fmt: skip
        return "nothing to do"
    try:
        pickup = outside_transaction(adapter.book_pickup, request)
    except carriers.NoPickup:
        _write(shipment_id, pickup_state=None)
        return "the carrier books no pickups"
    except carriers.CarrierRejected as refused:
        return _failed(shipment_id, refused.errors or (str(refused),))
    if pickup.state == "invalid":
        return _failed(shipment_id, pickup.errors)
    _write(shipment_id, pickup_state=pickup.state, pickup_reference=pickup.reference,
           pickup_on=request.on)  # fmt: skip
    log.info("shipment %d: courier pickup %s on %s", shipment_id, pickup.reference, request.on)
    return f"pickup {pickup.state} on {request.on.isoformat()}"


def _failed(shipment_id: int, errors) -> str:
    reasons = "; ".join(errors)[:480] or "refused by the carrier"
    _write(shipment_id, pickup_state="failed", last_error=f"courier pickup: {reasons}")
    log.warning("shipment %d: courier pickup refused: %s", shipment_id, reasons)
    return f"refused: {reasons}"
