"""``cdek``: CDEK's integration API v2 (https://api-docs.cdek.ru) over ``requests``.

Settings read:

``CDEK_API_BASE``
    Default ``https://api.edu.cdek.ru`` (CDEK's test server); production is
    ``https://api.cdek.ru``. Paths are ``/v2/...``.
``CDEK_CLIENT_ID``, ``CDEK_CLIENT_SECRET``
    The integration account (not the web account's login). Required.
``CDEK_TIMEOUT_SECONDS``
    ``(connect, read)`` seconds, or one number for both. Default ``(5, 15)``.
``CDEK_TARIFF_CODE``
    Tariff booked when ``BookingRequest.service`` is ``None``. Default ``137``
    (parcel door-to-door): the adapter sends ``from_location`` and
    ``to_location`` addresses, so the tariff must be a door-to-door one.
``CDEK_SENDER_LOCATIONS``
    ``{node code: CDEK city code}``, e.g. ``{"RU-WH": 44}``. ``Origin.carrier_location``
    wins when given; without either, the origin's country, city and postal
    code are sent and CDEK looks the city up.
``CDEK_CURRENCY``
    ISO code CDEK prices quotes in. Default ``RUB``.
``CDEK_QUOTE_TARIFFS``
    Tariff codes to offer in quotes (all CDEK answers when unset).
``CDEK_SENDER``
    Optional ``sender`` object sent with every order as is (CDEK asks for one on
    international orders: ``{"company": ..., "name": ..., "phones": [{"number": ...}]}``).
``CDEK_PRINT_FORMAT``
    Barcode label size: ``A4``, ``A5`` or ``A6`` (default, label printers).
``CDEK_RETRIES``, ``CDEK_RETRY_BACKOFF_SECONDS``
    How often urllib3 retries a GET answered 500/502/503/504 or timed out
    while reading, and its backoff factor. Default 2 and 0.5. Never POST or
    DELETE: a lost answer to ``POST /v2/orders`` may mean an order exists.
``CDEK_TOKEN_MARGIN_SECONDS``
    Renew the OAuth token this long before CDEK says it expires. Default 60.

CDEK facts this adapter relies on (and the fake in tests/fake_cdek.py follows):

- Booking is asynchronous: ``POST /v2/orders`` answers 202 with ``entity.uuid``
  and ``requests[0].state`` ACCEPTED (or WAITING); validation ends later and
  shows in ``GET /v2/orders/{uuid}`` as ``requests[type=CREATE].state``
  SUCCESSFUL (``entity.cdek_number`` set: the tracking number) or INVALID
  (with ``errors``). Missing fields are refused at once with HTTP 400.
- CDEK does not deduplicate by our ``number``; ``GET /v2/orders?im_number=``
  finds an order by it, which is how a caller avoids booking twice.
- Quotes (``tarifflist``) are in the requested ``currency`` (an integer code,
  see ``CDEK_CURRENCY_CODES``); periods are working days.
- Dimensions go in whole centimetres (rounded up), weights in grams; money as
  JSON numbers (``Decimal`` turned to a number only at the edge; answers are
  read back as ``Decimal``).
- Labels: ``POST /v2/print/barcodes`` starts a print job; ``GET
  /v2/print/barcodes/{uuid}`` shows READY and an ``url`` to download with the
  bearer token (the link lives an hour; afterwards the job shows REMOVED and
  this adapter starts a new one).
- ``DELETE /v2/orders/{uuid}`` withdraws an order (CDEK refuses once the
  parcel was handed over); a 404 means it is gone already.
- Webhooks are unsigned: ``parse_webhook`` returns only a hint.
- Errors arrive as ``requests[].errors[{code, message}]`` or top-level
  ``errors[]``; 401 ``v2_token_expired`` means renew the token (done once per call).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from catalog.money import Money, round_to_currency
from warehouse.carriers.base import (
    Address,
    Booking,
    BookingRequest,
    CarrierAdapter,
    CarrierConfigurationError,
    CarrierError,
    CarrierRejected,
    CarrierUnavailable,
    LabelNotReady,
    Origin,
    Parcel,
    QuoteOption,
    TrackingEvent,
    WebhookHint,
)

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.edu.cdek.ru"
DEFAULT_TIMEOUT = (5.0, 15.0)
DEFAULT_TARIFF_CODE = 137
DEFAULT_CURRENCY = "RUB"
DEFAULT_PRINT_FORMAT = "A6"
DEFAULT_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 0.5
DEFAULT_TOKEN_MARGIN = 60.0

ORDER_TYPE_ESHOP = 1
RETRYABLE_GET_STATUSES = (500, 502, 503, 504)

# CDEK's own currency codes (calculator ``currency``), from its SDK's constants.
CDEK_CURRENCY_CODES = {
    "RUB": 1, "KZT": 2, "USD": 3, "EUR": 4, "GBP": 5, "CNY": 6, "BYN": 7, "UAH": 8,
    "KGS": 9, "AMD": 10, "TRY": 11, "THB": 12, "KRW": 13, "AED": 14, "UZS": 15,
    "MNT": 16, "PLN": 17, "AZN": 18, "GEL": 19, "JPY": 55,
}  # fmt: skip
CURRENCY_BY_CDEK_CODE = {code: iso for iso, code in CDEK_CURRENCY_CODES.items()}

# CDEK order status codes -> ours. Any code not named here is a step on the way.
_ACCEPTED_CODES = frozenset({"ACCEPTED", "CREATED"})
_DELIVERED_CODES = frozenset({"DELIVERED"})
_RETURNED_CODES = frozenset({"NOT_DELIVERED", "RETURNED_TO_SENDER_WAREHOUSE"})
# A parcel going backwards (back to a transit or delivery warehouse), a refused
# or deleted order: someone should look.
_PROBLEM_CODES = frozenset(
    {
        "INVALID",
        "REMOVED",
        "RETURNED_TO_TRANSIT_WAREHOUSE",
        "RETURNED_TO_DELIVERY_WAREHOUSE",
        "RETURNED_TO_RECIPIENT_CITY_WAREHOUSE",
    }
)
_NOT_FOUND_CODE_PREFIXES = ("v2_entity_not_found", "v2_order_not_found")
_PENDING_PRINT_CODES = frozenset({"ACCEPTED", "PROCESSING", "WAITING"})


def tracking_status(code: str) -> str:
    """Our tracking status for a CDEK order status code."""
    if code in _ACCEPTED_CODES:
        return "accepted"
    if code in _DELIVERED_CODES:
        return "delivered"
    if code in _RETURNED_CODES:
        return "returned"
    if code in _PROBLEM_CODES:
        return "problem"
    return "in_transit"


def parse_cdek_datetime(text: Any) -> datetime | None:
    """CDEK's ``2026-11-02T10:15:00+0000`` (offset without a colon) as an aware
    datetime; ``None`` when missing or unreadable. A naive time is taken as UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def error_strings(body: Any) -> tuple[str, ...]:
    """Every ``code: message`` in a CDEK answer: top-level ``errors`` and each
    ``requests[].errors``."""
    if not isinstance(body, Mapping):
        return ()
    found: list[dict] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        found.extend(errors)
    for request in body.get("requests") or ():
        if isinstance(request, Mapping) and isinstance(request.get("errors"), list):
            found.extend(request["errors"])
    out = []
    for error in found:
        if isinstance(error, Mapping):
            code = str(error.get("code") or "unknown")
            message = str(error.get("message") or "").strip()
            out.append(f"{code}: {message}" if message else code)
    return tuple(dict.fromkeys(out))


def is_not_found(status_code: int, body: Any) -> bool:
    """A refusal saying CDEK has no such entity (404, or a 4xx naming
    ``v2_entity_not_found*`` / ``v2_order_not_found``). A 200 whose order
    failed validation with such a code is an answer, not a miss."""
    if status_code == 404:
        return True
    return 400 <= status_code < 500 and any(
        e.startswith(_NOT_FOUND_CODE_PREFIXES) for e in error_strings(body)
    )


def centimetres(millimetres: int | None) -> int | None:
    """CDEK takes whole centimetres; round up so a box never reads smaller than it is."""
    if millimetres is None:
        return None
    return max(1, math.ceil(millimetres / 10))


def json_number(amount: Decimal) -> int | float:
    """A Decimal as a JSON number for CDEK: an int when whole."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def money_number(money: Money) -> int | float:
    """An amount rounded to its currency's minor unit, as a JSON number."""
    return json_number(round_to_currency(money.amount, money.currency))


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# ---------------------------------------------------------------------------
# reading CDEK's answers (pure)


def quote_options(
    body: Mapping[str, Any],
    currency: str,
    tariffs: Iterable[int] | None = None,
    carrier: str = "cdek",
) -> list[QuoteOption]:
    """A ``/v2/calculator/tarifflist`` answer as quote options, cheapest first.

    Raises ``CarrierRejected`` when CDEK names errors and offers no tariff (an
    unknown city, a parcel too heavy for every tariff).
    """
    wanted = {int(code) for code in tariffs} if tariffs is not None else None
    options = []
    for tariff in body.get("tariff_codes") or ():
        try:
            code = int(tariff["tariff_code"])
            if wanted is not None and code not in wanted:
                continue
            answer_currency = tariff.get("currency", body.get("currency"))
            if isinstance(answer_currency, int):
                answer_currency = CURRENCY_BY_CDEK_CODE.get(answer_currency)
            options.append(
                QuoteOption(
                    carrier=carrier,
                    service=str(code),
                    price=Money(Decimal(str(tariff["delivery_sum"])), answer_currency or currency),
                    transit_days_min=int(tariff["period_min"]),
                    transit_days_max=int(tariff["period_max"]),
                )
            )
        except (KeyError, TypeError, ValueError, ArithmeticError):
            log.warning("CDEK tariff entry cannot be read, skipped: %r", tariff)
    errors = error_strings(body)
    if not options and errors:
        raise CarrierRejected("CDEK offers no tariff for this parcel", errors=errors)
    return sorted(options, key=lambda o: (o.price.amount, o.transit_days_max, o.service))


def _create_request(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CREATE request among ``requests`` (the first when none says its type)."""
    requests_ = [r for r in body.get("requests") or () if isinstance(r, Mapping)]
    for request in requests_:
        if request.get("type") == "CREATE":
            return request
    return requests_[0] if requests_ else {}


def booking_from_creation(body: Mapping[str, Any], carrier: str = "cdek") -> Booking:
    """The answer to ``POST /v2/orders`` (202) as a booking: ``pending`` while
    CDEK validates, ``invalid`` when it refused at once."""
    entity = body.get("entity") or {}
    reference = entity.get("uuid") or None
    service = str(entity["tariff_code"]) if entity.get("tariff_code") else None
    state = _create_request(body).get("state")
    if state == "INVALID":
        return Booking(carrier, reference, "invalid", errors=error_strings(body), service=service)
    if not reference:
        raise CarrierError(f"CDEK accepted the order but named no uuid (state {state!r})")
    if entity.get("cdek_number"):
        return Booking(
            carrier, reference, "registered", str(entity["cdek_number"]), service=service
        )
    return Booking(carrier, reference, "pending", service=service)


def booking_from_order(body: Mapping[str, Any], carrier: str = "cdek") -> Booking:
    """The answer to ``GET /v2/orders/{uuid}`` (or ``?im_number=``) as a booking."""
    entity = body.get("entity") or {}
    reference = entity.get("uuid") or None
    service = str(entity["tariff_code"]) if entity.get("tariff_code") else None
    if entity.get("cdek_number"):
        return Booking(
            carrier, reference, "registered", str(entity["cdek_number"]), service=service
        )
    codes = {s.get("code") for s in entity.get("statuses") or () if isinstance(s, Mapping)}
    if _create_request(body).get("state") == "INVALID" or "INVALID" in codes:
        return Booking(carrier, reference, "invalid", errors=error_strings(body), service=service)
    return Booking(carrier, reference, "pending", service=service)


def tracking_events(body: Mapping[str, Any]) -> list[TrackingEvent]:
    """``entity.statuses`` of an order answer as tracking events, oldest first.
    CDEK lists them newest first; a status without a readable time is skipped."""
    events = []
    for status in (body.get("entity") or {}).get("statuses") or ():
        if not isinstance(status, Mapping) or not status.get("code"):
            continue
        at = parse_cdek_datetime(status.get("date_time"))
        if at is None:
            log.warning("CDEK status without a readable date_time skipped: %r", status)
            continue
        code = str(status["code"])
        events.append(
            TrackingEvent(
                code=code,
                status=tracking_status(code),
                at=at,
                location=status.get("city") or None,
                description=str(status.get("name") or ""),
            )
        )
    events.reverse()  # so that a stable sort keeps equal times oldest first
    return sorted(events, key=lambda event: event.at)


def webhook_hint(body: bytes) -> WebhookHint | None:
    """An ORDER_STATUS notification's order uuid, tracking number and our
    number; ``None`` for any other type or anything unreadable."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("type") != "ORDER_STATUS":
        return None
    attributes = data.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}

    def text(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        return str(value).strip() or None

    hint = WebhookHint(
        reference=text(data.get("uuid")),
        tracking_number=text(attributes.get("cdek_number")),
        shipment_number=text(attributes.get("number")),
    )
    if hint == WebhookHint():
        return None
    return hint


# ---------------------------------------------------------------------------
# the adapter


def build_session(retries: int, backoff: float) -> requests.Session:
    """A session whose urllib3 retries only GETs, and never on a refused
    connection (the task retrying the call backs off better than a loop here).

    ``connect=0`` matters: urllib3 retries connection errors whatever the
    method, and we want a POST to leave exactly once per call.
    """
    retry = Retry(
        total=retries,
        connect=0,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRYABLE_GET_STATUSES,
        backoff_factor=backoff,
        respect_retry_after_header=False,  # a long wait belongs to the task, not this thread
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _timeout(value: Any) -> tuple[float, float]:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, int | float | str):
        return (float(value), float(value))
    connect, read = value
    return (float(connect), float(read))


def _location_code(value: Any) -> int | str:
    text = str(value).strip()
    return int(text) if text.isascii() and text.isdecimal() else text


class CdekCarrier(CarrierAdapter):
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
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_renew_at = 0.0

    # -- building requests (pure) ---------------------------------------------

    def from_location(self, origin: Origin) -> dict[str, Any]:
        """The node as CDEK's ``from_location``: its CDEK city code when known,
        else country, city and postal code for CDEK to look up."""
        code = origin.carrier_location or self.sender_locations.get(origin.node)
        if code not in (None, ""):
            return {"code": _location_code(code)}
        location: dict[str, Any] = {"country_code": origin.country, "city": origin.city}
        if origin.postal_code:
            location["postal_code"] = origin.postal_code
        return location

    @staticmethod
    def to_location(address: Address) -> dict[str, Any]:
        location: dict[str, Any] = {
            "country_code": address.country,
            "city": address.city,
            "address": ", ".join(part for part in (address.line1, address.line2) if part),
        }
        if address.postal_code:
            location["postal_code"] = address.postal_code
        if address.region:
            location["region"] = address.region
        return location

    @staticmethod
    def package_size(parcel: Parcel) -> dict[str, int]:
        size = {"weight": parcel.weight_g}
        for key, millimetres in (
            ("length", parcel.length_mm),
            ("width", parcel.width_mm),
            ("height", parcel.height_mm),
        ):
            if millimetres is not None:
                size[key] = centimetres(millimetres)
        return size

    def tarifflist_body(self, parcel: Parcel, origin: Origin, destination: Address) -> dict:
        return {
            "type": ORDER_TYPE_ESHOP,
            "currency": CDEK_CURRENCY_CODES[self.currency],
            "from_location": self.from_location(origin),
            "to_location": self.to_location(destination),
            "packages": [self.package_size(parcel)],
        }

    def tariff_for(self, request: BookingRequest) -> int:
        if request.service is None:
            return self.tariff_code
        try:
            return int(request.service)
        except ValueError:
            raise CarrierRejected(
                f"{request.service!r} is not a CDEK tariff code",
                errors=(f"service: {request.service!r} is not a CDEK tariff code",),
            ) from None

    def order_body(self, request: BookingRequest) -> dict[str, Any]:
        """``POST /v2/orders`` for one parcel (one package), e-shop type, prepaid:
        every item's ``payment.value`` is 0 (nothing to collect on delivery)."""
        parcel = request.parcel
        items = [
            {
                "name": item.name,
                "ware_key": item.sku[:50],
                "payment": {"value": 0},
                "cost": money_number(item.unit_value),
                "weight": item.weight_g,
                "amount": item.quantity,
                **({"country_code": item.origin_country} if item.origin_country else {}),
            }
            for item in parcel.items
        ]
        currencies = {item.unit_value.currency for item in parcel.items}
        if not items:
            # CDEK wants items on an e-shop order; a parcel described only by its
            # declared value becomes one line.
            value = request.declared_value
            items = [
                {
                    "name": f"Order {request.order_number}",
                    "ware_key": request.shipment_number,
                    "payment": {"value": 0},
                    "cost": money_number(value) if value else 0,
                    "weight": parcel.weight_g,
                    "amount": 1,
                }
            ]
            currencies = {value.currency} if value else set()
        if len(currencies) > 1:
            raise ValueError(f"items declared in several currencies: {sorted(currencies)}")
        body: dict[str, Any] = {
            "type": ORDER_TYPE_ESHOP,
            "number": request.shipment_number,
            "tariff_code": self.tariff_for(request),
            "comment": f"Order {request.order_number}",
            "from_location": self.from_location(request.origin),
            "to_location": self.to_location(request.destination),
            "recipient": {
                "name": request.destination.recipient,
                "phones": [{"number": request.destination.phone}],
            },
            "packages": [{"number": "1", **self.package_size(parcel), "items": items}],
        }
        if currencies:
            body["items_cost_currency"] = currencies.pop()
        if self.sender:
            body["sender"] = dict(self.sender)
        return body

    # -- the port ---------------------------------------------------------------

    def quote(self, parcel: Parcel, origin: Origin, destination: Address) -> list[QuoteOption]:
        body = self._json_or_raise(
            self._call(
                "POST",
                "/v2/calculator/tarifflist",
                json=self.tarifflist_body(parcel, origin, destination),
            ),
            "quote",
        )
        return quote_options(body, self.currency, self.quote_tariffs, self.name)

    def book(self, request: BookingRequest) -> Booking:
        """Sent once. A timeout raises ``CarrierUnavailable(outcome_unknown=True)``:
        the order may exist, so call ``find_booking`` before booking again."""
        body = self.order_body(request)
        response = self._call("POST", "/v2/orders", json=body)
        booking = booking_from_creation(self._json_or_raise(response, "booking"), self.name)
        if booking.service is None:
            booking = Booking(
                booking.carrier,
                booking.reference,
                booking.state,
                booking.tracking_number,
                booking.errors,
                service=str(body["tariff_code"]),
            )
        log.info(
            "CDEK booking %s for shipment %s: %s",
            booking.reference,
            request.shipment_number,
            booking.state,
        )
        return booking

    def booking_status(self, booking: Booking) -> Booking:
        """``invalid`` also when CDEK no longer knows the uuid."""
        reference = self._reference(booking)
        response = self._call("GET", f"/v2/orders/{reference}")
        body = self._body(response)
        if is_not_found(response.status_code, body):
            return Booking(
                self.name,
                reference,
                "invalid",
                errors=error_strings(body) or ("not_found: CDEK has no such order",),
                service=booking.service,
            )
        found = booking_from_order(self._json_or_raise(response, "order lookup"), self.name)
        if found.reference is None:
            found = Booking(self.name, reference, found.state, found.tracking_number, found.errors)
        return found

    def find_booking(self, shipment_number: str) -> Booking | None:
        response = self._call("GET", "/v2/orders", params={"im_number": shipment_number})
        body = self._body(response)
        if is_not_found(response.status_code, body):
            return None
        body = self._json_or_raise(response, "order lookup")
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
        response = self._call("GET", f"/v2/print/barcodes/{print_reference}")
        body = self._body(response)
        if is_not_found(response.status_code, body):
            raise LabelNotReady(
                "the CDEK print job is gone; a new one was started",
                print_reference=self._start_print(reference),
            )
        entity = self._json_or_raise(response, "label").get("entity") or {}
        codes = [s.get("code") for s in entity.get("statuses") or () if isinstance(s, Mapping)]
        latest = _latest_status_code(entity.get("statuses") or ())
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
        response = self._call("GET", f"/v2/orders/{reference}")
        return tracking_events(self._json_or_raise(response, "tracking"))

    def cancel(self, booking: Booking) -> None:
        """``DELETE /v2/orders/{uuid}``; CDEK deletes asynchronously and refuses
        (``CarrierRejected``) once the parcel has been handed over."""
        reference = self._reference(booking)
        response = self._call("DELETE", f"/v2/orders/{reference}")
        body = self._body(response)
        if is_not_found(response.status_code, body):
            return
        body = self._json_or_raise(response, "cancellation")
        if _create_request_state(body) == "INVALID":
            raise CarrierRejected("CDEK refused to delete the order", errors=error_strings(body))
        log.info("CDEK order %s deletion asked", reference)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookHint | None:
        return webhook_hint(body)

    # -- HTTP -------------------------------------------------------------------

    def _reference(self, booking: Booking) -> str:
        if not booking.reference:
            raise ValueError("this booking has no CDEK uuid")
        return booking.reference

    def _start_print(self, order_uuid: str) -> str:
        response = self._call(
            "POST",
            "/v2/print/barcodes",
            json={"orders": [{"order_uuid": order_uuid}], "format": self.print_format},
        )
        body = self._json_or_raise(response, "label")
        print_uuid = (body.get("entity") or {}).get("uuid")
        if _create_request_state(body) == "INVALID" or not print_uuid:
            raise CarrierRejected(
                "CDEK refused to print the label", errors=error_strings(body) or ("INVALID",)
            )
        return str(print_uuid)

    def _download_pdf(self, url: str, order_uuid: str) -> bytes:
        # The bearer token goes only to CDEK's own API host.
        same_host = urlsplit(url)[:2] == urlsplit(self.api_base)[:2]
        response = self._call("GET", url=url, authorize=same_host, accept="application/pdf")
        if response.status_code in (404, 410):  # the link's hour is over
            raise LabelNotReady(
                "the CDEK label link expired; a new print job was started",
                print_reference=self._start_print(order_uuid),
            )
        if response.status_code >= 400:
            self._json_or_raise(response, "label download")
        if not response.content.startswith(b"%PDF"):
            raise CarrierError("CDEK's label download is not a PDF")
        return response.content

    def _call(
        self,
        method: str,
        path: str = "",
        *,
        url: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        authorize: bool = True,
        accept: str = "application/json",
    ) -> requests.Response:
        """One API call with a bearer token; a 401 renews the token and sends
        the call once more (CDEK refused it before doing anything)."""
        target = url or self.api_base + path
        for attempt in (1, 2):
            headers = {"Accept": accept}
            token = self._access_token() if authorize else None
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = self._send(method, target, json=json, params=params, headers=headers)
            if response.status_code != 401 or not authorize:
                return response
            errors = error_strings(self._body(response))
            if attempt == 1:
                log.info(
                    "CDEK answered 401 to %s %s (%s); renewing the token", method, path, errors
                )
                self._forget_token(token)
                continue
            raise CarrierConfigurationError(
                f"CDEK refuses a freshly issued token for {method} {path or target}: "
                f"{', '.join(errors) or 'HTTP 401'}"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            unknown = method != "GET" and _may_have_arrived(exc)
            raise CarrierUnavailable(
                f"CDEK {method} {urlsplit(url).path} failed: {type(exc).__name__}: {exc}",
                outcome_unknown=unknown,
            ) from exc

    @staticmethod
    def _body(response: requests.Response) -> Any:
        if not response.content:
            return {}
        try:
            return response.json(parse_float=Decimal)
        except ValueError:
            return {}

    def _json_or_raise(self, response: requests.Response, what: str) -> dict[str, Any]:
        """The JSON body of a 2xx answer; the port's error for any other."""
        status = response.status_code
        body = self._body(response)
        if status == 429 or status >= 500:
            # A gateway's 500/502/504 may hide a call CDEK carried out anyway.
            method = response.request.method if response.request is not None else "GET"
            raise CarrierUnavailable(
                f"CDEK answered {status} to the {what}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                outcome_unknown=method != "GET" and status in (500, 502, 504),
            )
        if status >= 400:
            errors = error_strings(body) or (f"http_{status}: {response.reason or ''}".strip(),)
            raise CarrierRejected(f"CDEK refused the {what}: {'; '.join(errors)}", errors=errors)
        if not isinstance(body, dict):
            raise CarrierError(f"CDEK's answer to the {what} is not a JSON object")
        return body

    # -- OAuth ------------------------------------------------------------------

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token and self._clock() < self._token_renew_at:
                return self._token
            token, expires_in = self._fetch_token()
            self._token = token
            # A token that lives no longer than the margin serves this call only.
            self._token_renew_at = self._clock() + max(0.0, expires_in - self.token_margin)
            return token

    def _forget_token(self, token: str | None) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        response = self._send(
            "POST",
            self.api_base + "/v2/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            headers={"Accept": "application/json"},
        )
        status = response.status_code
        if status == 429 or status >= 500:
            raise CarrierUnavailable(
                f"CDEK answered {status} to the token request",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        body = self._body(response)
        if status >= 400:
            raise CarrierConfigurationError(
                f"CDEK refuses the client credentials (HTTP {status}): "
                f"{body.get('error') if isinstance(body, dict) else ''}"
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise CarrierError("CDEK's token answer has no access_token")
        try:
            expires_in = float(body.get("expires_in") or 0)
        except (TypeError, ValueError, ArithmeticError):
            expires_in = 0.0
        return str(token), expires_in


def _create_request_state(body: Mapping[str, Any]) -> str | None:
    return _create_request(body).get("state")


def _latest_status_code(statuses: Iterable[Any]) -> str | None:
    """The newest status code; CDEK lists newest first, but the times decide."""
    dated = []
    for index, status in enumerate(statuses):
        if isinstance(status, Mapping) and status.get("code"):
            at = parse_cdek_datetime(status.get("date_time"))
            dated.append((at or datetime.min.replace(tzinfo=UTC), -index, str(status["code"])))
    return max(dated)[2] if dated else None


def _may_have_arrived(exc: requests.RequestException) -> bool:
    """Whether the request may have reached CDEK before ``exc``: not when the
    connection was never made (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        name = type(reason).__name__
        if name in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError"):
            return False
    return True
