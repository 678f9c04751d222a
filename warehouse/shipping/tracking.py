"""Labels and tracking: the label fetched once, the parcel's events re-read from the
carrier (a periodic poll, and on each webhook, whose body is only a hint).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.core import background
from shop.core import events as domain_events
from shop.core.auth import StaffPrincipal
from shop.core.clock import as_utc
from shop.core.errors import NotFound
from shop.core.extensions import db
from warehouse import fulfilment, shipment_states
from warehouse.carriers import base as carriers
from warehouse.events import ShipmentsChanged
from warehouse.models import Shipment, ShipmentLabel, TrackingEvent
from warehouse.shipping.adapters import (
    carrier,
    enabled_carriers,
    outside_transaction,
    shipment_number,
    write_shipment,
)

log = logging.getLogger(__name__)

TRACKED_STATUSES = ("shipped", "in_transit")
WEBHOOK_OUTCOME = "received"  # whatever the notice named: no oracle for strangers
# Carrier events as shipment states (``accepted`` means the parcel is with them).
EVENT_TO_STATUS = {"in_transit": "in_transit", "delivered": "delivered", "returned": "returned"}


@background.task("carriers.fetch_label")
def fetch_label(shipment_id: int) -> str:
    shipment = db.session.get(Shipment, shipment_id)
    if (
        shipment is None
        or not shipment.carrier_reference
        or shipment.status not in TRACKED_STATUSES
    ):
        db.session.rollback()
        return "nothing to do"
    if db.session.scalar(select(ShipmentLabel.id).where(ShipmentLabel.shipment_id == shipment_id)):
        db.session.rollback()
        return "already stored"
    adapter = carrier(shipment.carrier)
    booking = carriers.Booking(adapter.name, shipment.carrier_reference, "registered",
                               shipment.tracking_number)  # fmt: skip
    try:
        pdf = outside_transaction(adapter.label, booking, print_reference=shipment.label_reference)
    except carriers.LabelNotReady as waiting:
        # Keep the carrier's print job, so the retry asks about it instead of a new one.
        write_shipment(shipment_id, label_reference=waiting.print_reference)
        raise background.TransientError("the label is not ready yet") from waiting
    except carriers.NoLabel:
        db.session.rollback()
        return "this carrier prints no label"
    db.session.add(ShipmentLabel(shipment_id=shipment_id, carrier=adapter.name, pdf=pdf))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent run stored it first
        return "already stored"
    return "stored"


@background.task("carriers.refresh_tracking")
def refresh_tracking(shipment_id: int) -> int:
    """Read the parcel's events from the carrier; store new ones; move the shipment (and
    its order) to what the carrier says. Returns how many events were new."""
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None or not shipment.carrier_reference:
        db.session.rollback()
        return 0
    adapter = carrier(shipment.carrier)
    booking = carriers.Booking(adapter.name, shipment.carrier_reference, "registered",
                               shipment.tracking_number)  # fmt: skip
    events = outside_transaction(adapter.track, booking)
    known = {
        (code, as_utc(at))
        for code, at in db.session.execute(
            select(TrackingEvent.code, TrackingEvent.at).where(
                TrackingEvent.shipment_id == shipment_id
            )
        )
    }
    new = []
    for event in events:
        # Stored under the code as the column keeps it; a carrier may repeat an event.
        seen = (event.code[:60], as_utc(event.at))
        if seen not in known:
            known.add(seen)
            new.append(event)
    db.session.add_all(
        TrackingEvent(shipment_id=shipment_id, code=e.code[:60], status=e.status, at=e.at,
                      location=(e.location or "")[:120] or None,
                      description=(e.description or "")[:300])
        for e in new
    )  # fmt: skip
    try:
        shipment = db.session.get(Shipment, shipment_id, with_for_update=True)
    except IntegrityError:
        # A concurrent run stored these events first: read again (its move may be older).
        db.session.rollback()
        raise background.TransientError("tracking stored by a concurrent run") from None
    latest = max(events, key=lambda e: e.at, default=None)
    target = EVENT_TO_STATUS.get(latest.status) if latest else None
    if target and target != shipment.status:
        try:
            shipment_states.shipment_transition(shipment.status, target)
        except shipment_states.IllegalTransition:
            log.info("shipment %d: carrier says %s while %s; kept", shipment_id, target,
                     shipment.status)  # fmt: skip
        else:
            shipment.status = target
            db.session.flush()
            domain_events.publish(
                ShipmentsChanged((shipment_id,), f"carrier {adapter.name}",
                                 f"carrier: {latest.code}")
            )  # fmt: skip
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise background.TransientError("tracking stored by a concurrent run") from None
    return len(new)


@background.periodic("carriers.poll_tracking", every_seconds=600)
@background.task("carriers.poll_tracking")
def poll_tracking() -> int:
    """The periodic sweep over parcels on their way (webhooks can be lost)."""
    ids = db.session.scalars(
        select(Shipment.id).where(
            Shipment.status.in_(TRACKED_STATUSES), Shipment.carrier_reference.is_not(None)
        )
    ).all()
    for shipment_id in ids:
        background.enqueue("carriers.refresh_tracking", join_waiting=True, shipment_id=shipment_id)
    db.session.commit()
    return len(ids)


# ------------------------------------------------------------------ webhooks and labels


def carrier_webhook(carrier_name: str, headers, body: bytes) -> str:
    """A carrier says something changed. The body is only a hint (unsigned): find the
    shipment it names and re-read the parcel from the carrier in a job.

    Anyone can post here, so the answer is the same whatever the body names (no way to
    probe which parcels exist), and a shipment number must match ours exactly.

    Which notices are dropped is decided by what the carrier confirmed, never by when
    a notice came: a notice whose event (status code and time) we already read from
    the carrier is a repeat; a notice that finds a re-read of its parcel waiting to
    start joins it (that read comes after the notice). Any other notice gets a re-read
    of its own, so a forged or early notice can never hold back a genuine one: at
    worst it costs one read of the carrier, and at most one waits per parcel.
    """
    if carrier_name not in enabled_carriers():
        raise NotFound(f"No carrier {carrier_name}.")
    hint = carrier(carrier_name).parse_webhook(headers, body)
    shipment_id = _webhook_shipment(carrier_name, hint) if hint is not None else None
    if shipment_id is None or _already_confirmed(shipment_id, hint):
        db.session.rollback()
        return WEBHOOK_OUTCOME
    background.enqueue("carriers.refresh_tracking", join_waiting=True, shipment_id=shipment_id)
    db.session.commit()
    return WEBHOOK_OUTCOME


def _already_confirmed(shipment_id: int, hint: carriers.WebhookHint) -> bool:
    """Whether the event ``hint`` claims is one the carrier already told us (stored by
    a re-read): CDEK repeats a notice it thinks was not received."""
    if not hint.status_code or hint.status_at is None:
        return False
    claimed = as_utc(hint.status_at)
    return any(
        as_utc(at) == claimed
        for at in db.session.scalars(
            select(TrackingEvent.at).where(
                TrackingEvent.shipment_id == shipment_id, TrackingEvent.code == hint.status_code
            )
        )
    )


def _webhook_shipment(carrier_name: str, hint: carriers.WebhookHint) -> int | None:
    """The shipment with a carrier booking that ``hint`` names, or ``None``."""
    booked = (Shipment.carrier == carrier_name, Shipment.carrier_reference.is_not(None))
    conditions = []
    if hint.reference:
        conditions.append(Shipment.carrier_reference == hint.reference)
    if hint.tracking_number:
        conditions.append(Shipment.tracking_number == hint.tracking_number)
    for condition in conditions:
        shipment_id = db.session.scalar(select(Shipment.id).where(condition, *booked).limit(1))
        if shipment_id is not None:
            return shipment_id
    number = hint.shipment_number or ""
    candidate = number.rsplit("-", 1)[-1]
    if (
        "-" not in number
        or not (candidate.isascii() and candidate.isdigit())
        or len(candidate) > 18
    ):
        return None
    found = db.session.execute(
        select(Shipment.id, Shipment.order_number).where(Shipment.id == int(candidate), *booked)
    ).one_or_none()
    if found is None or shipment_number(found.order_number, found.id) != number:
        return None
    return found.id


def label_pdf(staff: StaffPrincipal, shipment_id: int) -> bytes:
    shipment = fulfilment.shipment_for(staff, shipment_id)
    pdf = db.session.scalar(
        select(ShipmentLabel.pdf).where(ShipmentLabel.shipment_id == shipment.id)
    )
    db.session.rollback()
    if pdf is None:
        raise NotFound(f"Shipment {shipment_id} has no carrier label (yet).")
    return pdf


def tracking_events(shipment_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The parcels' events for the order page, oldest first."""
    events: dict[int, list[dict[str, Any]]] = {}
    for event in db.session.scalars(
        select(TrackingEvent)
        .where(TrackingEvent.shipment_id.in_(shipment_ids))
        .order_by(TrackingEvent.at, TrackingEvent.id)
    ):
        events.setdefault(event.shipment_id, []).append(
            {"code": event.code, "status": event.status, "at": as_utc(event.at).isoformat(),
             "location": event.location, "description": event.description}
        )  # fmt: skip
    return events
