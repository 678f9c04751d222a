"""Booking a parcel with its carrier: staff ask (``request_booking``, answered at once),
and a background job books it once, safe to run again (see the package's docstring).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy import update as sql_update

from catalog.models import Merchant, Product, Sku
from catalog.money import Money
from shop.core import background
from shop.core import events as domain_events
from shop.core.auth import StaffPrincipal
from shop.core.clock import as_utc, utcnow
from shop.core.errors import ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import fulfilment, shipment_states
from warehouse.carriers import base as carriers
from warehouse.carriers.customs import CustomsDeclaration, Party
from warehouse.carriers.pickups import Handover
from warehouse.events import ShipmentsChanged
from warehouse.models import Node, Shipment, ShipmentLine
from warehouse.parcel_orders import ParcelOrder, parcel_orders
from warehouse.services.handovers import node_handover
from warehouse.shipping.adapters import (
    DEFAULT_CARRIER_TIMEOUT_SECONDS,
    carrier,
    enabled_carriers,
    outside_transaction,
    shipment_number,
)
from warehouse.shipping.pickups import request_pickup

log = logging.getLogger(__name__)

BOOKED_BY_API_STATES = ("requested", "sending", "pending")
# A run may claim the sending from these; "sending" only once its run went silent.
CLAIMABLE_STATES = ("requested", "pending", "failed")
# An earlier request in one of these may have left a booking at the carrier.
MAYBE_AT_CARRIER_STATES = ("sending", "pending", "failed")
MIN_SENDING_GRACE_SECONDS = 2.0


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
            sku=sku.code, name=product.name_ru or product.name_en, quantity=line.quantity,
            unit_value=prices.get(sku.id, Money(Decimal(0), order.currency)),
            weight_g=sku.weight_g,
            hs_code=product.hs_code, origin_country=product.origin_country,
            # Products carry no brand yet: the merchant, who makes or imports the goods.
            name_i18n=product.name_en, brand=merchant_name,
        )
        for line, sku, product, merchant_name in db.session.execute(
            select(ShipmentLine, Sku, Product, Merchant.name)
            .join(Sku, Sku.id == ShipmentLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Merchant, Merchant.id == Product.merchant_id)
            .where(ShipmentLine.shipment_id == shipment.id)
            .order_by(ShipmentLine.id)
        )
    )  # fmt: skip
    dimensions = shipment.dimensions_mm or {}
    declared = sum((item.unit_value.amount * item.quantity for item in items), Decimal(0))
    handover = node_handover(node.id, shipment.carrier) if shipment.carrier else None
    origin = carriers.Origin(node=node.code, country=node.country, city=node.city)
    customs = None
    if node.country.upper() != order.destination_country.upper():
        customs = _customs_declaration(shipment, order, node, handover)
    return carriers.BookingRequest(
        shipment_number=shipment_number(shipment.order_number, shipment.id),
        order_number=shipment.order_number,
        origin=origin,
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
        service=service or _quoted(shipment, shipment.quoted_service),
        declared_value=Money(declared, order.currency),
        delivery_point=_quoted(shipment, shipment.delivery_point),
        handover=handover,
        customs=customs,
    )


def seller_of_record() -> Party:
    """The shop's own legal entity (``SELLER_OF_RECORD``): the seller on every customs
    invoice (why the shop and not a merchant: ``warehouse/carriers/cdek/customs.py``)."""
    config = current_app.config
    settings = config.get("SELLER_OF_RECORD") or {}
    return Party(
        name=str(settings.get("name") or config.get("CUSTOMS_ENTERPRISE_NAME")
                 or config.get("SHOP_NAME") or ""),
        address=str(settings.get("address") or ""),
        tax_id=str(settings.get("tax_id") or ""),
        phone=str(settings.get("phone") or ""),
    )  # fmt: skip


def _customs_declaration(
    shipment: Shipment, order: ParcelOrder, node: Node, handover: Handover | None
) -> CustomsDeclaration:
    """The paperwork of a parcel that crosses a border: the shop sells, the node ships
    (from where the courier collects, or the node's city), invoiced on the order's day,
    to the recipient the order's customs identity names."""
    seller = seller_of_record()
    where = handover.address if handover and handover.address else None
    shipper_address = ", ".join(part for part in (where, node.city, node.country) if part)
    return CustomsDeclaration(
        invoice_date=order.placed_on or utcnow().date(),
        seller=seller,
        shipper=Party(name=seller.name, address=shipper_address),
        currency=order.currency,
        recipient_identity=parcel_orders().customs_identity_of_parcel(shipment.order_id),
    )


def _quoted(shipment: Shipment, value: str | None) -> str | None:
    """What checkout quoted (the tariff, the pickup point), for the carrier that quoted
    it: the shopper paid for that service, so it is the one booked. Staff who book
    another carrier (or name a service themselves) book what they chose."""
    return value if shipment.carrier == shipment.quoted_carrier else None


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
        booking = outside_transaction(adapter.find_booking, request.shipment_number)
        if booking is not None and booking.state == "invalid":
            booking = None  # refused there: nothing exists, book again
        if booking is not None and not _booked(shipment_id, attempt, booking):
            return "superseded"
    if booking is None:
        booking = _send_booking(shipment_id, attempt, adapter, request, grace)
        if isinstance(booking, str):
            return booking
    if booking.state == "pending":
        booking = outside_transaction(adapter.booking_status, booking)
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
        booking = outside_transaction(adapter.book, request)
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
    # A node whose courier collects needs the courier invited, once the parcel is booked.
    request_pickup(shipment)
    fulfilment.announce_shipped(
        shipment, f"carrier {booking.carrier}", f"shipment {shipment.id} booked"
    )
    return True
