"""``CdekCarrier``: the carrier port over CDEK (the package's docstring lists the
settings it reads and the CDEK facts it relies on)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from warehouse.carriers.base import (
    Address,
    Booking,
    BookingRequest,
    CarrierAdapter,
    CarrierConfigurationError,
    CarrierError,
    CarrierRejected,
    DeliveryPoint,
    LabelNotReady,
    Origin,
    Parcel,
    Pickup,
    PickupRequest,
    QuoteOption,
    TrackingEvent,
    WebhookHint,
)
from warehouse.carriers.cdek.answers import (
    booking_from_creation,
    booking_from_order,
    create_request_state,
    error_strings,
    is_not_found,
    latest_status_code,
    quote_options,
)
from warehouse.carriers.cdek.client import CdekClient, build_session
from warehouse.carriers.cdek.currencies import CDEK_CURRENCY_CODES
from warehouse.carriers.cdek.offices import city_code, delivery_points, offices_query
from warehouse.carriers.cdek.request_bodies import CdekRequestBodies
from warehouse.carriers.cdek.subscriptions import CdekSubscriptions
from warehouse.carriers.cdek.tariffs import recipient_end, sender_side, tariff_table
from warehouse.carriers.cdek.tracking import tracking_events, webhook_hint

# The adapter's one logger, as before it was split in modules.
log = logging.getLogger(__package__)

DEFAULT_API_BASE = "https://api.edu.cdek.ru"
DEFAULT_TIMEOUT = (5.0, 15.0)
DEFAULT_TARIFF_CODE = 137
DEFAULT_CURRENCY = "RUB"
DEFAULT_PRINT_FORMAT = "A6"
DEFAULT_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 0.5
DEFAULT_TOKEN_MARGIN = 60.0


def _timeout(value: Any) -> tuple[float, float]:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, int | float | str):
        return (float(value), float(value))
    connect, read = value
    return (float(connect), float(read))


def _delivery(service: str, sender: str, family: str) -> str | None:
    try:
        return recipient_end(int(service), sender, family)
    except ValueError:
        return None


class CdekCarrier(CdekRequestBodies, CdekSubscriptions, CarrierAdapter):
    name = "cdek"

    def __init__(self, settings: Mapping[str, Any], *, clock: Callable[[], float] = time.monotonic):
        super().__init__(settings)
        self.api_base = str(settings.get("CDEK_API_BASE") or DEFAULT_API_BASE).rstrip("/")
        self.client_id = settings.get("CDEK_CLIENT_ID")
        self.client_secret = settings.get("CDEK_CLIENT_SECRET")
        if not self.client_id or not self.client_secret:
            raise CarrierConfigurationError(
                "the cdek carrier needs CDEK_CLIENT_ID and CDEK_CLIENT_SECRET"
            )
        self.timeout = _timeout(settings.get("CDEK_TIMEOUT_SECONDS"))
        self.tariff_code = int(settings.get("CDEK_TARIFF_CODE") or DEFAULT_TARIFF_CODE)
        self.sender_locations = dict(settings.get("CDEK_SENDER_LOCATIONS") or {})
        self.currency = str(settings.get("CDEK_CURRENCY") or DEFAULT_CURRENCY).upper()
        if self.currency not in CDEK_CURRENCY_CODES:
            raise CarrierConfigurationError(f"CDEK cannot price in {self.currency}")
        quote_tariffs = settings.get("CDEK_QUOTE_TARIFFS")
        self.quote_tariffs = tuple(int(c) for c in quote_tariffs) if quote_tariffs else None
        self.sender = settings.get("CDEK_SENDER") or None
        self.print_format = str(settings.get("CDEK_PRINT_FORMAT") or DEFAULT_PRINT_FORMAT)
        retries = settings.get("CDEK_RETRIES")
        backoff = settings.get("CDEK_RETRY_BACKOFF_SECONDS")
        margin = settings.get("CDEK_TOKEN_MARGIN_SECONDS")
        self.token_margin = float(DEFAULT_TOKEN_MARGIN if margin is None else margin)
        self.session = build_session(
            DEFAULT_RETRIES if retries is None else int(retries),
            DEFAULT_RETRY_BACKOFF if backoff is None else float(backoff),
        )
        self.client = CdekClient(
            self.api_base,
            self.client_id,
            self.client_secret,
            session=self.session,
            timeout=self.timeout,
            token_margin=self.token_margin,
            clock=clock,
        )

    # -- the port ---------------------------------------------------------------

    def quote(self, parcel: Parcel, origin: Origin, destination: Address) -> list[QuoteOption]:
        body = self.client.json_or_raise(
            self.client.call(
                "POST",
                "/v2/calculator/tarifflist",
                json=self.tarifflist_body(parcel, origin, destination),
            ),
            "quote",
        )
        options = quote_options(body, self.currency, self.quote_tariffs, self.name)
        # Each tariff of the configured one's family says where the recipient takes the
        # parcel, when its sender side is the node's hand-over (``origin.handover``; the
        # configured tariff's side for a node without one): the booking's
        # ``choose_tariff`` accepts exactly these.
        configured = tariff_table().get(self.tariff_code)
        family = configured.family if configured else "parcel"
        if origin.handover is not None:
            sender = sender_side(origin.handover)
        else:
            sender = configured.sender if configured else "warehouse"
        return [
            dataclasses.replace(option, delivery=_delivery(option.service, sender, family))
            for option in options
        ]

    def delivery_points(
        self, country: str, city: str, postal_code: str | None = None
    ) -> list[DeliveryPoint]:
        """``GET /v2/deliverypoints`` for the city: by its postal code when given (CDEK
        reads it as the city's), else by the CDEK city code found by name through
        ``GET /v2/location/cities``. An unknown city has no points."""
        if postal_code:
            query = offices_query(country, postal_code=postal_code)
        else:
            response = self.client.call(
                "GET", "/v2/location/cities", params={"country_codes": country, "city": city}
            )
            code = city_code(self.client.json_or_raise_list(response, "city lookup"), city)
            if code is None:
                return []
            query = offices_query(country, city_code=code)
        response = self.client.call("GET", "/v2/deliverypoints", params=query)
        return delivery_points(self.client.json_or_raise_list(response, "office list"), self.name)

    def book(self, request: BookingRequest) -> Booking:
        """Sent once. A timeout raises ``CarrierUnavailable(outcome_unknown=True)``:
        the order may exist, so call ``find_booking`` before booking again."""
        body = self.order_body(request)
        response = self.client.call("POST", "/v2/orders", json=body)
        booking = booking_from_creation(self.client.json_or_raise(response, "booking"), self.name)
        if booking.service is None:
            booking = Booking(
                booking.carrier,
                booking.reference,
                booking.state,
                booking.tracking_number,
                booking.errors,
                service=str(body["tariff_code"]),
            )
        # Never the body: an international one holds the recipient's ID number.
        log.info(
            "CDEK booking %s for shipment %s: %s",
            booking.reference,
            request.shipment_number,
            booking.state,
        )
        return booking

    def book_pickup(self, request: PickupRequest) -> Pickup:
        """``POST /v2/intakes`` for a booked order (a дверь sender tariff): sent once.
        CDEK refuses a second courier to the same address on the same day, so a
        retry after a lost answer is refused rather than doubled."""
        response = self.client.call("POST", "/v2/intakes", json=self.intake_body(request))
        body = self.client.json_or_raise(response, "courier intake")
        reference = (body.get("entity") or {}).get("uuid") or None
        state = create_request_state(body)
        if state == "INVALID" or not reference:
            return Pickup(self.name, reference, "invalid", errors=error_strings(body))
        log.info("CDEK intake %s for shipment %s on %s: %s", reference,
                 request.shipment_number, request.on, state)  # fmt: skip
        return Pickup(
            self.name, str(reference), "registered" if state == "SUCCESSFUL" else "pending"
        )

    def booking_status(self, booking: Booking) -> Booking:
        """``invalid`` also when CDEK no longer knows the uuid."""
        reference = self._reference(booking)
        response = self.client.call("GET", f"/v2/orders/{reference}")
        body = self.client.body(response)
        if is_not_found(response.status_code, body):
            return Booking(
                self.name,
                reference,
                "invalid",
                errors=error_strings(body) or ("not_found: CDEK has no such order",),
                service=booking.service,
            )
        found = booking_from_order(self.client.json_or_raise(response, "order lookup"), self.name)
        if found.reference is None:
            found = Booking(self.name, reference, found.state, found.tracking_number, found.errors)
        return found

    def find_booking(self, shipment_number: str) -> Booking | None:
        response = self.client.call("GET", "/v2/orders", params={"im_number": shipment_number})
        body = self.client.body(response)
        if is_not_found(response.status_code, body):
            return None
        body = self.client.json_or_raise(response, "order lookup")
        if not (body.get("entity") or {}).get("uuid"):
            return None
        return booking_from_order(body, self.name)

    def label(self, booking: Booking, print_reference: str | None = None) -> bytes:
        """The barcode label (``/v2/print/barcodes``) as PDF bytes.

        CDEK makes it asynchronously: the first call starts a print job and,
        until it is READY, raises ``LabelNotReady`` whose ``print_reference`` is
        the job's uuid. Pass it back on the retry so the same job is polled; a
        job that expired or vanished is replaced by a new one (again raising
        ``LabelNotReady`` with the new reference).
        """
        reference = self._reference(booking)
        if not booking.tracking_number:
            raise LabelNotReady(
                "the CDEK order is not registered yet; poll booking_status first",
                print_reference=print_reference,
            )
        if print_reference is None:
            print_reference = self._start_print(reference)
        response = self.client.call("GET", f"/v2/print/barcodes/{print_reference}")
        body = self.client.body(response)
        if is_not_found(response.status_code, body):
            raise LabelNotReady(
                "the CDEK print job is gone; a new one was started",
                print_reference=self._start_print(reference),
            )
        entity = self.client.json_or_raise(response, "label").get("entity") or {}
        codes = [s.get("code") for s in entity.get("statuses") or () if isinstance(s, Mapping)]
        latest = latest_status_code(entity.get("statuses") or ())
        if latest == "READY" and entity.get("url"):
            return self._download_pdf(str(entity["url"]), reference)
        if latest == "INVALID" or "INVALID" in codes:
            raise CarrierRejected(
                "CDEK could not print the label", errors=error_strings(body) or ("INVALID",)
            )
        if latest == "REMOVED":
            raise LabelNotReady(
                "the CDEK label link expired; a new print job was started",
                print_reference=self._start_print(reference),
            )
        raise LabelNotReady(
            f"the CDEK label is being made ({latest or 'no status yet'})",
            print_reference=print_reference,
        )

    def track(self, booking: Booking) -> list[TrackingEvent]:
        reference = self._reference(booking)
        response = self.client.call("GET", f"/v2/orders/{reference}")
        return tracking_events(self.client.json_or_raise(response, "tracking"))

    def cancel(self, booking: Booking) -> None:
        """``DELETE /v2/orders/{uuid}``; CDEK deletes asynchronously and refuses
        (``CarrierRejected``) once the parcel has been handed over."""
        reference = self._reference(booking)
        response = self.client.call("DELETE", f"/v2/orders/{reference}")
        body = self.client.body(response)
        if is_not_found(response.status_code, body):
            return
        body = self.client.json_or_raise(response, "cancellation")
        if create_request_state(body) == "INVALID":
            raise CarrierRejected("CDEK refused to delete the order", errors=error_strings(body))
        log.info("CDEK order %s deletion asked", reference)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookHint | None:
        return webhook_hint(body)

    # -- the port's helpers -----------------------------------------------------

    def _reference(self, booking: Booking) -> str:
        if not booking.reference:
            raise ValueError("this booking has no CDEK uuid")
        return booking.reference

    def _start_print(self, order_uuid: str) -> str:
        response = self.client.call(
            "POST",
            "/v2/print/barcodes",
            json={"orders": [{"order_uuid": order_uuid}], "format": self.print_format},
        )
        body = self.client.json_or_raise(response, "label")
        print_uuid = (body.get("entity") or {}).get("uuid")
        if create_request_state(body) == "INVALID" or not print_uuid:
            raise CarrierRejected(
                "CDEK refused to print the label", errors=error_strings(body) or ("INVALID",)
            )
        return str(print_uuid)

    def _download_pdf(self, url: str, order_uuid: str) -> bytes:
        # The bearer token goes only to CDEK's own API host.
        same_host = urlsplit(url)[:2] == urlsplit(self.api_base)[:2]
        response = self.client.call("GET", url=url, authorize=same_host, accept="application/pdf")
        if response.status_code in (404, 410):  # the link's hour is over
            raise LabelNotReady(
                "the CDEK label link expired; a new print job was started",
                print_reference=self._start_print(order_uuid),
            )
        if response.status_code >= 400:
            self.client.json_or_raise(response, "label download")
        if not response.content.startswith(b"%PDF"):
            raise CarrierError("CDEK's label download is not a PDF")
        return response.content
