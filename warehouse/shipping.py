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
from decimal import Decimal
from time import monotonic
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy import update as sql_update

from catalog.models import Product, Sku, as_utc, utcnow
from catalog.money import Money
from orders import lifecycle
from orders.models import Order
from shop import background
from shop.auth import StaffPrincipal
from shop.errors import NotFound, ValidationFailed
from shop.extensions import db
from shop.transactions import retry_on_conflict
from warehouse import fulfilment, routing
from warehouse.carriers import base as carriers
from warehouse.carriers.registry import load_carrier
from warehouse.models import Node, Shipment, ShipmentLabel, ShipmentLine, TrackingEvent
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
TRACKED_STATUSES = ("shipped", "in_transit")
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
    """packed -> booking_requested, and the booking job, in one transaction."""
    if carrier_name not in enabled_carriers():
        raise ValidationFailed(
            errors={"carrier": [f"One of: {', '.join(enabled_carriers())}."]},
        )
    shipment = fulfilment.shipment_for(staff, shipment_id, for_update=True)
    lifecycle.shipment_transition(shipment.status, "booking_requested")
    shipment.status = "booking_requested"
    shipment.carrier = carrier_name
    shipment.booking_state = "requested"
    shipment.carrier_reference = None
    shipment.last_error = ""
    background.enqueue(
        "carriers.book_shipment",
        key=f"book-shipment:{shipment.id}:{uuid.uuid4().hex}",  # one job per request
        shipment_id=shipment.id,
        service=service,
    )
    db.session.commit()
    log.info("shipment %d: booking with %s requested by %s", shipment.id, carrier_name,
             staff.actor)  # fmt: skip
    return fulfilment.summary_of(shipment)


def _booking_request(shipment: Shipment, service: str | None) -> carriers.BookingRequest:
    order = db.session.get(Order, shipment.order_id)
    node = db.session.get(Node, shipment.node_id)
    address = order.shipping_address or {}
    prices = {line.sku_id: Money(line.unit_price_amount, order.currency) for line in order.lines}
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
        shipment_number=shipment_number(order.number, shipment.id),
        order_number=order.number,
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


@background.task("carriers.book_shipment")
def book_shipment(shipment_id: int, service: str | None = None) -> str:
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None or shipment.status != "booking_requested":
        db.session.rollback()
        return "nothing to do"
    adapter = carrier(shipment.carrier)
    request = _booking_request(shipment, service)
    reference, state = shipment.carrier_reference, shipment.booking_state
    booking = None
    if reference:
        booking = carriers.Booking(adapter.name, reference, "pending")
    elif state == "sending":
        # An earlier try sent the booking and lost the answer: ask before sending again.
        booking = _outside(adapter.find_booking, request.shipment_number)
    if booking is None:
        _set(shipment_id, booking_state="sending")
        try:
            booking = _outside(adapter.book, request)
        except carriers.CarrierRejected as refused:
            return _refused(shipment_id, refused.errors or (str(refused),))
    _set(shipment_id, carrier_reference=booking.reference, booking_state="pending")
    if booking.state == "pending":
        booking = _outside(adapter.booking_status, booking)
    if booking.state == "invalid":
        return _refused(shipment_id, booking.errors)
    if booking.state != "registered" or not booking.tracking_number:
        raise background.TransientError("the carrier is still registering the parcel")
    _shipped(shipment_id, booking)
    background.enqueue("carriers.fetch_label", key=f"label:{shipment_id}", shipment_id=shipment_id)
    db.session.commit()
    return "registered"


def _refused(shipment_id: int, errors) -> str:
    reasons = "; ".join(errors)[:500] or "refused by the carrier"
    shipment = db.session.get(Shipment, shipment_id, with_for_update=True)
    if shipment.status == "booking_requested":
        shipment.status = "packed"
        shipment.booking_state = "failed"
        shipment.last_error = reasons
    db.session.commit()
    log.warning("shipment %d: booking refused: %s", shipment_id, reasons)
    raise background.PermanentError(f"booking refused: {reasons}")


def _shipped(shipment_id: int, booking: carriers.Booking) -> None:
    """Registered with a tracking number: the parcel is the carrier's; stock leaves."""
    shipment = db.session.get(Shipment, shipment_id, with_for_update=True)
    if shipment.status != "booking_requested":
        db.session.rollback()
        return
    fulfilment.consume_holds(shipment, f"carrier {booking.carrier}")
    shipment.status = "shipped"
    shipment.booking_state = "registered"
    shipment.carrier_reference = booking.reference
    shipment.tracking_number = booking.tracking_number
    shipment.shipped_at = utcnow()
    db.session.flush()
    numbers = fulfilment.orders_follow([shipment.id], f"carrier {booking.carrier}",
                                       f"shipment {shipment.id} booked")  # fmt: skip
    fulfilment.close_done_pick_list(shipment.pick_list_id)
    for number in numbers or [fulfilment.order_number(shipment.order_id)]:
        background.enqueue("orders.notify", key=f"notify:{number}:shipped:{shipment.id}",
                           number=number, event="shipped")  # fmt: skip


@background.task("carriers.cancel_booking")
def cancel_booking(shipment_id: int) -> str:
    """The order was cancelled while its parcel was being booked: withdraw the booking."""
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None or shipment.status != "cancelled" or not shipment.carrier_reference:
        db.session.rollback()
        return "nothing to do"
    adapter = carrier(shipment.carrier)
    booking = carriers.Booking(adapter.name, shipment.carrier_reference, "registered",
                               shipment.tracking_number)  # fmt: skip
    _outside(adapter.cancel, booking)
    _set(shipment_id, booking_state="cancelled")
    return "cancelled"


@background.task("carriers.fetch_label")
def fetch_label(shipment_id: int) -> str:
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None or not shipment.carrier_reference:
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
    db.session.commit()
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
    new = [e for e in events if (e.code, as_utc(e.at)) not in known]
    db.session.add_all(
        TrackingEvent(shipment_id=shipment_id, code=e.code[:60], status=e.status, at=e.at,
                      location=(e.location or "")[:120] or None,
                      description=(e.description or "")[:300])
        for e in new
    )  # fmt: skip
    shipment = db.session.get(Shipment, shipment_id, with_for_update=True)
    latest = max(events, key=lambda e: e.at, default=None)
    target = EVENT_TO_STATUS.get(latest.status) if latest else None
    if target and target != shipment.status:
        try:
            lifecycle.shipment_transition(shipment.status, target)
        except lifecycle.IllegalTransition:
            log.info("shipment %d: carrier says %s while %s; kept", shipment_id, target,
                     shipment.status)  # fmt: skip
        else:
            shipment.status = target
            db.session.flush()
            fulfilment.orders_follow([shipment_id], f"carrier {adapter.name}",
                                     f"carrier: {latest.code}")  # fmt: skip
    db.session.commit()
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
    shipment it names and re-read the parcel from the carrier in a job."""
    if carrier_name not in enabled_carriers():
        raise NotFound(f"No carrier {carrier_name}.")
    hint = carrier(carrier_name).parse_webhook(headers, body)
    if hint is None:
        return "ignored"
    conditions = []
    if hint.reference:
        conditions.append(Shipment.carrier_reference == hint.reference)
    if hint.tracking_number:
        conditions.append(Shipment.tracking_number == hint.tracking_number)
    shipment_id = None
    for condition in conditions:
        shipment_id = db.session.scalar(
            select(Shipment.id).where(condition, Shipment.carrier == carrier_name)
        )
        if shipment_id:
            break
    if shipment_id is None and hint.shipment_number and "-" in hint.shipment_number:
        candidate = hint.shipment_number.rsplit("-", 1)[1]
        if candidate.isdigit():
            shipment_id = db.session.scalar(
                select(Shipment.id).where(
                    Shipment.id == int(candidate), Shipment.carrier == carrier_name
                )
            )
    if shipment_id is None:
        db.session.rollback()
        return "unknown parcel"
    # No dedupe key: each notice re-reads the parcel (refreshing is idempotent).
    background.enqueue("carriers.refresh_tracking", shipment_id=shipment_id)
    db.session.commit()
    return "refreshing"


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
    wanted = api_carriers()
    serving = [
        lane for lane in lanes
        if lane.active and lane.serves(destination) and lane.legs[-1].carrier in wanted
    ]  # fmt: skip
    if not serving:
        return LaneQuotes()
    cache = current_app.extensions.setdefault("pavilion.carrier_quotes", {})
    cities = cache.get("node cities")
    if cities is None:
        cities = cache["node cities"] = dict(db.session.execute(select(Node.code, Node.city)).all())
    now = monotonic()
    quotes, sources = [], {}
    for lane in serving:
        leg = lane.legs[-1]
        key = (lane.code, destination.country, destination.region, city,
               destination.postal_code, routing.chargeable_kg(weight_g))  # fmt: skip
        cached = cache.get(key)
        if cached is not None and now - cached[0] < QUOTE_CACHE_SECONDS:
            option = cached[1]
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
                log.warning("lane %s: %s quote failed (%s); lane table used", lane.code,
                            leg.carrier, problem)  # fmt: skip
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


def _node_country(code: str) -> str:
    return next(node.country for node in routing_world().nodes if node.code == code)
