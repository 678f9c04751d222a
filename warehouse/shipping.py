"""Shipping through carriers' APIs: booking, labels and tracking, as background jobs.

Staff ask for a booking and get an answer at once (202): the shipment becomes
``booking_requested`` and a job is written in the same transaction (the
outbox). The job talks to the carrier, outside any transaction and outside
the staff member's request, and is safe to run again:

- before sending a booking whose answer may have been lost (state
  ``sending``), it asks the carrier for a booking under our shipment number,
  so a retry never registers a parcel twice;
- the carrier's asynchronous registration is polled (the job retries with
  backoff while the carrier is still processing);
- a refusal (invalid address, weight…) puts the shipment back to ``packed``
  with the carrier's reasons, so staff can fix it or choose another carrier.

Tracking is re-read from the carrier (a periodic poll, and on each webhook,
whose body is only a hint: CDEK does not sign them).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from time import monotonic
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from catalog.models import Product, Sku
from catalog.money import Money
from shop.core import background
from shop.core import events as domain_events
from shop.core.auth import StaffPrincipal
from shop.core.clock import as_utc, utcnow
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import fulfilment, routing, shipment_states
from warehouse.carriers import base as carriers
from warehouse.carriers.registry import load_carrier
from warehouse.events import ShipmentsChanged
from warehouse.models import Node, Shipment, ShipmentLabel, ShipmentLine, TrackingEvent
from warehouse.parcel_orders import parcel_orders
from warehouse.services import routing_world

log = logging.getLogger(__name__)

CARRIER_SETTINGS = (
    "CDEK_API_BASE",
    "CDEK_CLIENT_ID",
    "CDEK_CLIENT_SECRET",
    "CDEK_TIMEOUT_SECONDS",
    "CDEK_TARIFF_CODE",
    "CDEK_SENDER_LOCATIONS",
    "CDEK_SENDER",
    "CDEK_CURRENCY",
    "CDEK_QUOTE_TARIFFS",
    "CDEK_PRINT_FORMAT",
    "CDEK_RETRIES",
    "CDEK_RETRY_BACKOFF_SECONDS",
    "CDEK_TOKEN_MARGIN_SECONDS",
)
BOOKED_BY_API_STATES = ("requested", "sending", "pending")
# A run may claim the sending from these; "sending" only once its run went silent.
CLAIMABLE_STATES = ("requested", "pending", "failed")
# An earlier request in one of these may have left a booking at the carrier.
MAYBE_AT_CARRIER_STATES = ("sending", "pending", "failed")
DEFAULT_CARRIER_TIMEOUT_SECONDS = 20.0
MIN_SENDING_GRACE_SECONDS = 2.0
TRACKED_STATUSES = ("shipped", "in_transit")
WEBHOOK_OUTCOME = "received"  # whatever the notice named: no oracle for strangers
# Carrier events as shipment states (``accepted`` means the parcel is with them).
EVENT_TO_STATUS = {"in_transit": "in_transit", "delivered": "delivered", "returned": "returned"}


def enabled_carriers() -> tuple[str, ...]:
    return tuple(current_app.config["CARRIERS"])


def carrier(name: str) -> carriers.CarrierAdapter:
    # Unset settings are left out, so the adapter's own defaults apply.
    settings = {k: current_app.config[k] for k in CARRIER_SETTINGS
                if current_app.config.get(k) is not None}  # fmt: skip
    # One adapter per process and settings: it keeps its HTTP session and OAuth token.
    cache = current_app.extensions.setdefault("pavilion.carriers", {})
    key = (name, repr(sorted(settings.items())), enabled_carriers())
    if key not in cache:
        cache[key] = load_carrier(name, settings, enabled_carriers())
    return cache[key]


def shipment_number(order_number: str, shipment_id: int) -> str:
    """Ours, unique, what the carrier files the parcel under (CDEK: ``number``)."""
    return f"{order_number}-{shipment_id}"


# ------------------------------------------------------------------ asking for a booking


@retry_on_conflict()
def request_booking(
    staff: StaffPrincipal, shipment_id: int, carrier_name: str, service: str | None = None
) -> dict[str, Any]:
    """packed -> booking_requested, and the booking job, in one transaction.

    Each request is a new ``booking_attempt``: a job of an earlier request that is
    still running can no longer write to the shipment. When an earlier attempt may
    have reached the carrier (it was sending, pending, or failed without a clear
    answer), the new job asks the carrier for a booking under our number first.
    """
    if carrier_name not in enabled_carriers():
        raise ValidationFailed(
            errors={"carrier": [f"One of: {', '.join(enabled_carriers())}."]},
        )
    shipment = fulfilment.shipment_for(staff, shipment_id, for_update=True)
    shipment_states.shipment_transition(shipment.status, "booking_requested")
    outcome_maybe_at_carrier = shipment.booking_state in MAYBE_AT_CARRIER_STATES
    attempt = uuid.uuid4().hex
    shipment.status = "booking_requested"
    shipment.carrier = carrier_name
    shipment.booking_attempt = attempt
    shipment.carrier_reference = None
    shipment.last_error = ""
    if outcome_maybe_at_carrier:
        # "sending", and nobody is: the job looks up by our number before it books.
        shipment.booking_state = "sending"
        shipment.updated_at = _nobody_sending_since(carrier(carrier_name))
    else:
        shipment.booking_state = "requested"
    background.enqueue(
        "carriers.book_shipment",
        key=f"book-shipment:{shipment.id}:{attempt}",  # one job per request
        shipment_id=shipment.id,
        attempt=attempt,
        service=service,
    )
    db.session.commit()
    log.info("shipment %d: booking with %s requested by %s", shipment.id, carrier_name,
             staff.actor)  # fmt: skip
    return fulfilment.summary_of(shipment)


def _booking_request(shipment: Shipment, service: str | None) -> carriers.BookingRequest:
    order = parcel_orders().order_of_parcel(shipment.order_id)
    node = db.session.get(Node, shipment.node_id)
    address = order.shipping_address or {}
    prices = {sku_id: Money(price, order.currency) for sku_id, price in order.unit_prices.items()}
    items = tuple(
        carriers.ParcelItem(
            sku=sku.code, name=product.name_en, quantity=line.quantity,
            unit_value=prices.get(sku.id, Money(Decimal(0), order.currency)),
            weight_g=sku.weight_g,
            hs_code=product.hs_code, origin_country=product.origin_country,
        )
        for line, sku, product in db.session.execute(
            select(ShipmentLine, Sku, Product)
            .join(Sku, Sku.id == ShipmentLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(ShipmentLine.shipment_id == shipment.id)
            .order_by(ShipmentLine.id)
        )
    )  # fmt: skip
    dimensions = shipment.dimensions_mm or {}
    declared = sum((item.unit_value.amount * item.quantity for item in items), Decimal(0))
    return carriers.BookingRequest(
        shipment_number=shipment_number(shipment.order_number, shipment.id),
        order_number=shipment.order_number,
        origin=carriers.Origin(node=node.code, country=node.country, city=node.city),
        destination=carriers.Address(
            country=order.destination_country,
            city=address.get("city", ""),
            line1=address.get("line1", ""),
            recipient=address.get("recipient", ""),
            phone=address.get("phone", ""),
            postal_code=address.get("postal_code"),
            region=address.get("region"),
            line2=address.get("line2"),
        ),
        parcel=carriers.Parcel(
            weight_g=shipment.packed_weight_g or shipment.weight_g,
            items=items,
            length_mm=dimensions.get("length"),
            width_mm=dimensions.get("width"),
            height_mm=dimensions.get("height"),
        ),
        service=service,
        declared_value=Money(declared, order.currency),
    )


# ------------------------------------------------------------------ the jobs


def _sending_grace(adapter: carriers.CarrierAdapter) -> timedelta:
    """How long a run that said "sending" may still be waiting for the carrier's answer:
    twice the adapter's whole timeout (connect + read), at least a few seconds."""
    timeout = getattr(adapter, "timeout", None)
    if isinstance(timeout, tuple | list):
        seconds = float(sum(timeout))
    elif isinstance(timeout, int | float):
        seconds = float(timeout)
    else:
        seconds = DEFAULT_CARRIER_TIMEOUT_SECONDS
    return timedelta(seconds=max(2 * seconds, MIN_SENDING_GRACE_SECONDS))


def _nobody_sending_since(adapter: carriers.CarrierAdapter) -> datetime:
    """An ``updated_at`` for state ``sending`` that says: a booking may have reached the
    carrier, but no run is waiting for its answer any more (look it up, then book)."""
    return utcnow() - _sending_grace(adapter) - timedelta(seconds=1)


def _this_attempt(shipment_id: int, attempt: str):
    return (
        Shipment.id == shipment_id,
        Shipment.status == "booking_requested",
        Shipment.booking_attempt == attempt,
    )


def _write_booking(shipment_id: int, attempt: str, *conditions, **values) -> bool:
    """Write ``values`` while the shipment still waits for this booking attempt (and
    ``conditions`` hold); whether it did."""
    written = db.session.execute(
        sql_update(Shipment).where(*_this_attempt(shipment_id, attempt), *conditions)
        .values(**{"updated_at": utcnow(), **values})
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    db.session.commit()
    return bool(written)


def _set(shipment_id: int, **values) -> None:
    db.session.execute(
        sql_update(Shipment).where(Shipment.id == shipment_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    db.session.commit()


def _outside(call, *args, **kwargs):
    """Call the carrier with no transaction open; its outages become retries."""
    db.session.rollback()
    try:
        return call(*args, **kwargs)
    except carriers.CarrierUnavailable as outage:
        raise background.TransientError(f"carrier unavailable: {outage}") from outage
    except carriers.CarrierConfigurationError as misconfigured:
        # Credentials or settings: no retry helps until an operator fixes them.
        raise background.PermanentError(f"carrier not configured: {misconfigured}") from None


def _booking_gave_up(kwargs: dict[str, Any], error: str) -> None:
    """The booking job is dead (retries ran out in an outage, the carrier refused a
    lookup, the carrier is not configured): give the parcel back to the pickers with
    the reason, so they see it in the shipment and can ship it again."""
    attempt = kwargs.get("attempt")
    if not attempt:
        return
    shipment_id = int(kwargs["shipment_id"])
    given_back = db.session.execute(
        sql_update(Shipment).where(*_this_attempt(shipment_id, attempt))
        .values(status="packed", booking_state="failed", updated_at=utcnow(),
                last_error=f"booking failed: {error}"[:500])
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    if given_back:
        domain_events.publish(
            ShipmentsChanged(
                (shipment_id,), "booking job", f"shipment {shipment_id}: booking failed"
            )
        )
    log.warning("shipment %s: booking given up: %s", kwargs.get("shipment_id"), error)


@background.task("carriers.book_shipment", on_dead=_booking_gave_up)
def book_shipment(shipment_id: int, attempt: str, service: str | None = None) -> str:
    """Book the parcel at its carrier once, for the request ``attempt``.

    Every write is conditional on the shipment still waiting for this attempt, so a
    run of an earlier request (or one whose lease ran out) never overwrites a newer
    one; a booking made by a run that lost the shipment is handed to the newer
    attempt or withdrawn. Sending is claimed with a conditional update: only one run
    sends at a time, and a run that finds another sending looks again later (by then
    the lookup under our number finds what the other one booked).
    """
    shipment = db.session.get(Shipment, shipment_id)
    if (
        shipment is None
        or shipment.status != "booking_requested"
        or shipment.booking_attempt != attempt
    ):
        db.session.rollback()
        return "nothing to do"
    adapter = carrier(shipment.carrier)
    grace = _sending_grace(adapter)
    request = _booking_request(shipment, service)
    reference, state = shipment.carrier_reference, shipment.booking_state
    booking = None
    if reference:
        booking = carriers.Booking(adapter.name, reference, "pending")
    elif state == "sending":
        # An earlier try sent the booking and lost the answer: ask before sending again.
        booking = _outside(adapter.find_booking, request.shipment_number)
        if booking is not None and booking.state == "invalid":
            booking = None  # refused there: nothing exists, book again
        if booking is not None and not _booked(shipment_id, attempt, booking):
            return "superseded"
    if booking is None:
        booking = _send_booking(shipment_id, attempt, adapter, request, grace)
        if isinstance(booking, str):
            return booking
    if booking.state == "pending":
        booking = _outside(adapter.booking_status, booking)
    if booking.state == "invalid":
        return _refused(shipment_id, attempt, booking.errors)
    if booking.state != "registered" or not booking.tracking_number:
        raise background.TransientError("the carrier is still registering the parcel")
    if not _shipped(shipment_id, attempt, booking):
        return "superseded"
    background.enqueue("carriers.fetch_label", key=f"label:{shipment_id}", shipment_id=shipment_id)
    db.session.commit()
    return "registered"


def _send_booking(
    shipment_id: int,
    attempt: str,
    adapter: carriers.CarrierAdapter,
    request: carriers.BookingRequest,
    grace: timedelta,
) -> carriers.Booking | str:
    """Claim the sending, send the booking once, record the carrier's answer. Returns
    the booking, or what became of the job when it ends here."""
    now = utcnow()
    claimed = _write_booking(
        shipment_id, attempt,
        Shipment.carrier_reference.is_(None),
        or_(
            Shipment.booking_state.in_(CLAIMABLE_STATES),
            and_(Shipment.booking_state == "sending", Shipment.updated_at < now - grace),
        ),
        booking_state="sending", updated_at=now,
    )  # fmt: skip
    if not claimed:
        raise background.TransientError("another run is sending this booking; looking again later")
    try:
        booking = _outside(adapter.book, request)
    except carriers.CarrierRejected as refused:
        return _refused(shipment_id, attempt, refused.errors or (str(refused),))
    except Exception:
        # The answer is lost, maybe not the booking: the next run looks it up first,
        # and need not wait for this one (it is over).
        _write_booking(shipment_id, attempt, Shipment.booking_state == "sending",
                       updated_at=_nobody_sending_since(adapter))  # fmt: skip
        raise
    if booking.state == "invalid":
        return _refused(shipment_id, attempt, booking.errors)
    if not _booked(shipment_id, attempt, booking):
        return "superseded"
    return booking


def _booked(shipment_id: int, attempt: str, booking: carriers.Booking) -> bool:
    """Record the carrier's booking on the shipment, if this attempt still owns it;
    otherwise hand the booking over or withdraw it. Whether this attempt goes on."""
    shipment = db.session.get(Shipment, shipment_id, with_for_update=True, populate_existing=True)
    if shipment.status == "booking_requested" and shipment.booking_attempt == attempt:
        shipment.carrier_reference = booking.reference
        shipment.booking_state = "pending"
        shipment.updated_at = utcnow()
        db.session.commit()
        return True
    _superseded(shipment, booking)
    db.session.commit()
    return False


def _superseded(shipment: Shipment, booking: carriers.Booking) -> None:
    """This run booked (or found) ``booking``, but the shipment no longer waits for its
    attempt (cancelled, shipped by hand, or asked again). Called with the shipment
    locked; the caller commits."""
    if not booking.reference or booking.state == "invalid":
        return  # nothing lives at the carrier
    if shipment.carrier_reference == booking.reference:
        return  # the newer attempt found and holds this very booking
    now = utcnow()
    sending = shipment.booking_state == "sending" and (
        shipment.updated_at is not None
        and as_utc(shipment.updated_at) >= now - _sending_grace(carrier(booking.carrier))
    )
    if (
        shipment.status == "booking_requested"
        and shipment.carrier == booking.carrier
        and shipment.carrier_reference is None
        and not sending
    ):
        # A newer request for the same carrier that has not sent anything yet: it
        # takes this booking over (its own lookup by our number would find it anyway).
        shipment.carrier_reference = booking.reference
        shipment.booking_state = "pending"
        shipment.updated_at = now
        log.info("shipment %d: booking %s handed to the newer request", shipment.id,
                 booking.reference)  # fmt: skip
        return
    if shipment.status == "cancelled" and shipment.carrier_reference is None:
        shipment.carrier_reference = booking.reference  # what the cancellation withdraws
    log.warning("shipment %d is %s: withdrawing booking %s made for an older request",
                shipment.id, shipment.status, booking.reference)  # fmt: skip
    background.enqueue(
        "carriers.cancel_booking",
        key=f"cancel-booking:{shipment.id}:{booking.reference}",
        shipment_id=shipment.id,
        reference=booking.reference,
        carrier_name=booking.carrier,
    )


def _refused(shipment_id: int, attempt: str, errors) -> str:
    """The carrier refused the data: back to packed with its reasons. A finished job,
    not a dead letter: the answer is on the shipment, where staff act on it."""
    reasons = "; ".join(errors)[:500] or "refused by the carrier"
    if not _write_booking(shipment_id, attempt, status="packed", booking_state="failed",
                          last_error=reasons):  # fmt: skip
        return "superseded"
    log.warning("shipment %d: booking refused: %s", shipment_id, reasons)
    return f"refused: {reasons}"


def _shipped(shipment_id: int, attempt: str, booking: carriers.Booking) -> bool:
    """Registered with a tracking number: the parcel is the carrier's; stock leaves.
    Whether this attempt still owned the shipment (if not, the booking is handed over
    or withdrawn); the caller commits."""
    shipment = db.session.get(Shipment, shipment_id, with_for_update=True, populate_existing=True)
    if shipment.status != "booking_requested" or shipment.booking_attempt != attempt:
        _superseded(shipment, booking)
        db.session.commit()
        return False
    fulfilment.consume_holds(shipment, f"carrier {booking.carrier}")
    shipment.status = "shipped"
    shipment.booking_state = "registered"
    shipment.carrier_reference = booking.reference
    shipment.tracking_number = booking.tracking_number
    shipment.shipped_at = utcnow()
    db.session.flush()
    fulfilment.announce_shipped(
        shipment, f"carrier {booking.carrier}", f"shipment {shipment.id} booked"
    )
    return True


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
        _outside(adapter.cancel, carriers.Booking(adapter.name, reference, "pending"))
        if cancelled:
            _set(shipment_id, booking_state="cancelled")
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
        booking = _outside(adapter.find_booking, number)
        if booking is None or booking.state == "invalid" or not booking.reference:
            _set(shipment_id, booking_state="cancelled")
            return "nothing booked"
    _outside(adapter.cancel, booking)
    _set(shipment_id, booking_state="cancelled", carrier_reference=booking.reference)
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
        pdf = _outside(adapter.label, booking, print_reference=shipment.label_reference)
    except carriers.LabelNotReady as waiting:
        # Keep the carrier's print job, so the retry asks about it instead of a new one.
        _set(shipment_id, label_reference=waiting.print_reference)
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
    events = _outside(adapter.track, booking)
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
        background.enqueue(
            "carriers.refresh_tracking",
            key=f"track:{shipment_id}:{utcnow():%Y%m%d%H%M}",
            shipment_id=shipment_id,
        )
    db.session.commit()
    return len(ids)


# ------------------------------------------------------------------ webhooks and labels


def carrier_webhook(carrier_name: str, headers, body: bytes) -> str:
    """A carrier says something changed. The body is only a hint (unsigned): find the
    shipment it names and re-read the parcel from the carrier in a job.

    Anyone can post here, so the answer is the same whatever the body names (no way to
    probe which parcels exist), a shipment number must match ours exactly, and a
    parcel is re-read at most once a minute however many notices arrive.
    """
    if carrier_name not in enabled_carriers():
        raise NotFound(f"No carrier {carrier_name}.")
    hint = carrier(carrier_name).parse_webhook(headers, body)
    shipment_id = _webhook_shipment(carrier_name, hint) if hint is not None else None
    if shipment_id is None:
        db.session.rollback()
        return WEBHOOK_OUTCOME
    background.enqueue(
        "carriers.refresh_tracking",
        key=f"track:{shipment_id}:{utcnow():%Y%m%d%H%M}",
        shipment_id=shipment_id,
    )
    db.session.commit()
    return WEBHOOK_OUTCOME


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


# ------------------------------------------------------------------ carrier quotes at checkout

QUOTE_CACHE_SECONDS = 600
# Past this many cached quotes, those older than QUOTE_CACHE_SECONDS are dropped.
QUOTE_CACHE_MAX_ENTRIES = 1000
# A carrier whose quote failed is not asked again for this long (the lane tables
# price meanwhile), so an outage does not make every cart wait a timeout per lane.
QUOTE_FAILURE_SECONDS = 60


@dataclass(frozen=True)
class LaneQuotes:
    """Carrier prices that replace a lane's table for its last leg, and where each lane's
    shipping price comes from (shown to the shopper: a fallback is never silent)."""

    quotes: tuple[routing.CarrierQuote, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)


def api_carriers() -> tuple[str, ...]:
    return tuple(name for name in enabled_carriers() if name != "manual")


def carrier_quotes(
    lanes: tuple[routing.Lane, ...],
    destination: routing.Destination,
    *,
    city: str | None,
    weight_g: int,
) -> LaneQuotes:
    """Ask the carrier of each serving lane's last leg (when it has an API) for today's
    price of a parcel of ``weight_g``; kept per app for 10 minutes. A carrier that does
    not answer leaves the lane's own table, and the source says so.

    Called before checkout opens its transaction (an outside call, never inside one).
    """
    cache = current_app.extensions.setdefault("pavilion.carrier_quotes", {})
    now = monotonic()
    _forget_old_quotes(cache, now)
    wanted = api_carriers()
    serving = [
        lane for lane in lanes
        if lane.active and lane.serves(destination) and lane.legs[-1].carrier in wanted
    ]  # fmt: skip
    if not serving:
        return LaneQuotes()
    cities = cache.get("node cities")
    if cities is None:
        cities = cache["node cities"] = dict(db.session.execute(select(Node.code, Node.city)).all())
    failures = current_app.extensions.setdefault("pavilion.carrier_quote_failures", {})
    quotes, sources = [], {}
    for lane in serving:
        leg = lane.legs[-1]
        key = (lane.code, destination.country, destination.region, city,
               destination.postal_code, routing.chargeable_kg(weight_g))  # fmt: skip
        cached = cache.get(key)
        if cached is not None and now - cached[0] < QUOTE_CACHE_SECONDS:
            option = cached[1]
        elif now - failures.get(leg.carrier, -QUOTE_FAILURE_SECONDS) < QUOTE_FAILURE_SECONDS:
            sources[lane.code] = f"lane table ({leg.carrier} unreachable)"
            continue
        else:
            try:
                options = carrier(leg.carrier).quote(
                    carriers.Parcel(weight_g=max(weight_g, 1)),
                    carriers.Origin(node=lane.node, country=_node_country(lane.node),
                                    city=cities.get(lane.node, "")),
                    carriers.Address(country=destination.country, city=city or "", line1="",
                                     recipient="", phone="", postal_code=destination.postal_code,
                                     region=destination.region),
                )  # fmt: skip
            except carriers.CarrierError as problem:
                failures[leg.carrier] = monotonic()
                log.warning("lane %s: %s quote failed (%s); lane table used for %d s",
                            lane.code, leg.carrier, problem, QUOTE_FAILURE_SECONDS)  # fmt: skip
                sources[lane.code] = f"lane table ({leg.carrier} unreachable)"
                continue
            if not options:
                sources[lane.code] = f"lane table ({leg.carrier} offers no tariff)"
                continue
            option = min(options, key=lambda o: (o.price.amount, o.transit_days_max))
            cache[key] = (now, option)
        quotes.append(
            routing.CarrierQuote(
                lane=lane.code, leg=len(lane.legs) - 1, cost=option.price,
                transit_days_min=option.transit_days_min,
                transit_days_max=option.transit_days_max,
            )
        )  # fmt: skip
        sources[lane.code] = f"{leg.carrier} tariff {option.service}"
    return LaneQuotes(tuple(quotes), sources)


def _forget_old_quotes(cache: dict, now: float) -> None:
    """Keep the quote cache bounded: past its size, drop the quotes too old to use."""
    if len(cache) <= QUOTE_CACHE_MAX_ENTRIES:
        return
    for key in [k for k, v in cache.items()
                if isinstance(k, tuple) and now - v[0] >= QUOTE_CACHE_SECONDS]:  # fmt: skip
        cache.pop(key, None)


def _node_country(code: str) -> str:
    return next(node.country for node in routing_world().nodes if node.code == code)
