"""Withdrawing a carrier booking nobody needs (the order was cancelled while its parcel
was being booked, or a run booked for a request that was replaced).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from shop.core import background
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse.carriers import base as carriers
from warehouse.models import Shipment
from warehouse.shipping.adapters import (
    api_carriers,
    carrier,
    outside_transaction,
    shipment_number,
    write_shipment,
)

log = logging.getLogger(__name__)


@background.task("carriers.cancel_booking")
def cancel_booking(
    shipment_id: int, reference: str | None = None, carrier_name: str | None = None
) -> str:
    """Withdraw a booking nobody needs: the order was cancelled while its parcel was
    being booked (``reference`` unknown: the shipment's, or the one the carrier holds
    under our number), or a run booked for a request that was replaced (``reference``
    and ``carrier_name`` given)."""
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None:
        db.session.rollback()
        return "nothing to do"
    if reference is not None:
        if shipment.carrier_reference == reference and shipment.status != "cancelled":
            db.session.rollback()
            return "in use"  # a newer request took this booking over
        adapter = carrier(carrier_name or shipment.carrier)
        cancelled = shipment.status == "cancelled"
        outside_transaction(adapter.cancel, carriers.Booking(adapter.name, reference, "pending"))
        if cancelled:
            write_shipment(shipment_id, booking_state="cancelled")
        log.info("shipment %d: withdrew booking %s", shipment_id, reference)
        return "cancelled"
    if shipment.status != "cancelled" or shipment.carrier not in api_carriers():
        db.session.rollback()
        return "nothing to do"
    adapter = carrier(shipment.carrier)
    if shipment.carrier_reference:
        booking = carriers.Booking(adapter.name, shipment.carrier_reference, "registered",
                                   shipment.tracking_number)  # fmt: skip
    elif shipment.booking_state in ("requested", "failed", "cancelled", None):
        db.session.rollback()
        return "nothing booked"
    else:
        if _booking_job_running(shipment):
            # It may be sending the booking right now: ask once its answer is in.
            raise background.TransientError("a booking may be on its way; looking later")
        number = shipment_number(shipment.order_number, shipment_id)
        booking = outside_transaction(adapter.find_booking, number)
        if booking is None or booking.state == "invalid" or not booking.reference:
            write_shipment(shipment_id, booking_state="cancelled")
            return "nothing booked"
    outside_transaction(adapter.cancel, booking)
    write_shipment(shipment_id, booking_state="cancelled", carrier_reference=booking.reference)
    return "cancelled"


def _booking_job_running(shipment: Shipment) -> bool:
    """Whether a run of the job booking the shipment's last attempt holds its lease."""
    if not shipment.booking_attempt:
        return False
    return (
        db.session.scalar(
            select(background.Job.id).where(
                background.Job.key == f"book-shipment:{shipment.id}:{shipment.booking_attempt}",
                background.Job.state == "running",
                background.Job.locked_until > utcnow(),
            )
        )
        is not None
    )
