"""The carrier port: what the fulfilment services ask of any carrier, and the
plain dataclasses that cross it (never a carrier's own JSON).

An adapter is built with ``settings``, a plain dict the application builds
from its configuration; each adapter's module lists the keys it reads
(``warehouse/carriers/cdek/__init__.py``, ``warehouse/carriers/manual.py``).

Adapters touch neither the database nor the Flask request. A service calls
them from a background task and stores what they return; the row's state is
the truth, the carrier is asked again when in doubt.

Errors: every adapter call raises only the ``CarrierError`` family below (and
``ValueError`` for arguments that can never be right, such as a booking with
no carrier reference), so a task can tell "retry later" (``CarrierUnavailable``,
``LabelNotReady``) from "the carrier refused this data" (``CarrierRejected``).

Booking is the call that must never happen twice. A carrier call whose answer
is lost (a timeout after the request left) may have booked anyway, so before
sending a booking again the caller asks ``find_booking(shipment_number)``
and books only when it answers ``None`` (or a refused, ``invalid`` booking).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from catalog.money import Money
from warehouse.carriers.customs import CustomsDeclaration
from warehouse.carriers.pickups import Handover, Pickup, PickupRequest

# Where a booking stands, whatever the carrier calls it.
BOOKING_STATES = ("pending", "registered", "invalid")
# What a tracking event means to the shop.
TRACKING_STATUSES = ("accepted", "in_transit", "delivered", "returned", "problem")
QUOTE_SOURCES = ("carrier", "lane table")
# Where the recipient takes the parcel: at the door (a courier brings it), or at a
# pickup point (a carrier's office or parcel locker) the shopper chose.
DELIVERY_METHODS = ("door", "pickup")
# Where a carrier's service hands the parcel to the recipient: the door, a staffed
# office (a pickup point), or a parcel locker. A pickup point's ``kind`` is one of the
# last two, and a pickup choice is quoted with the service that ends there.
RECIPIENT_ENDS = ("door", "office", "locker")

SHIPMENT_NUMBER_MAX_LENGTH = 40  # CDEK's ``number``; the tightest carrier we know


@dataclass(frozen=True)
class Address:
    """A recipient's address; ``country`` is an ISO 3166-1 alpha-2 code."""

    country: str
    city: str
    line1: str
    recipient: str
    phone: str  # international format, "+79991234567"
    postal_code: str | None = None
    region: str | None = None
    line2: str | None = None


@dataclass(frozen=True)
class Origin:
    """The node a parcel leaves from (``RU-WH``, ``CN-URC``...).

    ``carrier_location`` is the node's location in the carrier's own terms
    (for CDEK the sender city code); when given it wins over the adapter's
    settings. ``handover`` is how the node hands parcels to this carrier, when a
    quote must offer only services that start that way (``None``: not set).
    """

    node: str
    country: str
    city: str
    postal_code: str | None = None
    carrier_location: str | None = None
    handover: Handover | None = None


@dataclass(frozen=True)
class ParcelItem:
    """One line in a parcel: ``unit_value`` is the declared value of one unit,
    ``weight_g`` the weight of one unit."""

    sku: str
    name: str
    quantity: int
    unit_value: Money
    weight_g: int
    hs_code: str = ""
    origin_country: str = ""
    # For a customs invoice: the name in a foreign language (English) and the brand.
    name_i18n: str = ""
    brand: str = ""

    def __post_init__(self):
        if not isinstance(self.unit_value, Money):
            raise TypeError("ParcelItem.unit_value must be a Money")
        if self.quantity < 1:
            raise ValueError(f"a parcel item needs a positive quantity, not {self.quantity}")
        if self.weight_g < 0:
            raise ValueError(f"a parcel item cannot weigh {self.weight_g} g")


@dataclass(frozen=True)
class Parcel:
    """One box: gross weight in grams, outer dimensions in millimetres."""

    weight_g: int
    items: tuple[ParcelItem, ...] = ()
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None

    def __post_init__(self):
        if self.weight_g <= 0:
            raise ValueError(f"a parcel must weigh something, not {self.weight_g} g")


@dataclass(frozen=True)
class QuoteOption:
    """A price and transit time for one service. ``transit_days_*`` are the
    carrier's own unit (CDEK: working days). ``source`` is ``"carrier"`` when
    the carrier priced it, ``"lane table"`` when the shop's table did."""

    carrier: str
    service: str
    price: Money
    transit_days_min: int
    transit_days_max: int
    source: str = "carrier"
    # Where the recipient takes the parcel, one of RECIPIENT_ENDS, when the carrier says
    # so and the service fits how the node hands parcels over; ``None`` when it does not
    # say (the shop then takes it for a door service).
    delivery: str | None = None


@dataclass(frozen=True)
class DeliveryPoint:
    """A place where the recipient collects a parcel: ``code`` is the carrier's own
    (CDEK's office code, sent back as ``BookingRequest.delivery_point``); ``kind`` is
    ``"office"`` (staffed) or ``"locker"`` (a parcel terminal)."""

    carrier: str
    code: str
    name: str
    city: str
    address: str
    kind: str = "office"
    work_time: str = ""
    postal_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "carrier": self.carrier,
            "code": self.code,
            "name": self.name,
            "city": self.city,
            "address": self.address,
            "kind": self.kind,
            "work_time": self.work_time,
            "postal_code": self.postal_code,
        }


@dataclass(frozen=True)
class BookingRequest:
    """One parcel to hand to a carrier.

    ``shipment_number`` is ours, unique and stable across retries (CDEK keeps
    it as the order's ``number`` and finds the order by it again); at most 40
    characters. ``service`` is the carrier's service (a CDEK tariff code such as
    ``"137"``; for ``manual`` the carrier's name as staff typed it); ``None``
    takes the adapter's default. ``tracking_number`` is only for ``manual``:
    the number staff typed.

    ``delivery_point`` is the carrier's pickup point the shopper chose (CDEK's office
    code, ``DeliveryPoint.code``); ``None`` delivers to the address. ``handover`` is
    how the origin node hands the parcel to this carrier (``None``: the node has none
    set).
    ``customs`` is the paperwork of a parcel that crosses a border.
    """

    shipment_number: str
    order_number: str
    origin: Origin
    destination: Address
    parcel: Parcel
    service: str | None = None
    declared_value: Money | None = None
    tracking_number: str | None = None
    delivery_point: str | None = None
    handover: Handover | None = None
    customs: CustomsDeclaration | None = None

    @property
    def crosses_border(self) -> bool:
        return self.origin.country.upper() != self.destination.country.upper()

    def __post_init__(self):
        if not self.shipment_number or len(self.shipment_number) > SHIPMENT_NUMBER_MAX_LENGTH:
            raise ValueError(
                f"a shipment number of 1 to {SHIPMENT_NUMBER_MAX_LENGTH} characters is required"
            )
        if self.declared_value is not None and not isinstance(self.declared_value, Money):
            raise TypeError("BookingRequest.declared_value must be a Money")


@dataclass(frozen=True)
class Booking:
    """Where a booking stands at the carrier.

    ``state`` is one of ``BOOKING_STATES``:

    - ``pending``: the carrier accepted the request and is still processing it
      (CDEK registers asynchronously); poll ``booking_status``.
    - ``registered``: the carrier holds the shipment; ``tracking_number`` is set.
    - ``invalid``: the carrier refused it; ``errors`` says why ("code: message").
      Nothing exists at the carrier; fix the data and book again.

    ``reference`` is the carrier's id (CDEK's order uuid), ``None`` when the
    carrier never gave one. ``service`` is the service booked, when known.
    """

    carrier: str
    reference: str | None
    state: str
    tracking_number: str | None = None
    errors: tuple[str, ...] = ()
    service: str | None = None

    def __post_init__(self):
        if self.state not in BOOKING_STATES:
            raise ValueError(f"booking state must be one of {BOOKING_STATES}, not {self.state!r}")


@dataclass(frozen=True)
class TrackingEvent:
    """One step of a shipment. ``code`` is the carrier's word (``SENT_TO_RECIPIENT_CITY``),
    ``status`` ours (one of ``TRACKING_STATUSES``); ``at`` is timezone-aware."""

    code: str
    status: str
    at: datetime
    location: str | None = None
    description: str = ""


@dataclass(frozen=True)
class WebhookHint:
    """What a carrier's notification says it is about. Only a hint: carrier
    webhooks are unsigned (CDEK's are), so the receiver finds its shipment by
    these, then asks the carrier (``booking_status``/``track``) for the truth."""

    reference: str | None = None
    tracking_number: str | None = None
    shipment_number: str | None = None
    # The event the notice claims (the carrier's status code and its time): a notice
    # claiming what the carrier already confirmed to us is a repeat, not news.
    status_code: str | None = None
    status_at: datetime | None = None


class CarrierError(Exception):
    """Base of what carrier adapters raise."""


class CarrierUnavailable(CarrierError):
    """The carrier cannot be reached, timed out, or answered 429 / 5xx: retry
    later with backoff. ``retry_after`` is the carrier's asked wait in seconds,
    when it said one.

    ``outcome_unknown`` is true when a write may have reached the carrier
    before the failure (a read timeout, a dropped connection, a gateway's
    500/502/504): for a booking, ask ``find_booking`` before sending it again.
    Asking first is always right; this flag only says when it matters.
    """

    retryable = True  # background jobs back off and try again

    def __init__(
        self, message: str, *, retry_after: float | None = None, outcome_unknown: bool = False
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class CarrierRejected(CarrierError):
    """The carrier refused the data (HTTP 4xx, a request marked INVALID).
    Retrying the same call will not help. ``errors`` holds "code: message"."""

    def __init__(self, message: str, *, errors: tuple[str, ...] = ()):
        super().__init__(message)
        self.errors = tuple(errors)


class CarrierConfigurationError(CarrierError):
    """The settings do not let this adapter work (a missing key, credentials
    the carrier refuses). An operator must act; retrying alone will not help."""


class LabelNotReady(CarrierError):
    """The label is being made (or the booking is not registered yet): retry
    later. ``print_reference`` is the carrier's print job (CDEK's print uuid);
    pass it back to ``label`` so the retry polls that job instead of starting
    another."""

    def __init__(
        self,
        message: str,
        *,
        print_reference: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.print_reference = print_reference
        self.retry_after = retry_after


class NoLabel(CarrierError):
    """This carrier makes no labels (``manual``: staff write or print their own)."""


class NoPickup(CarrierError):
    """This carrier books no courier pickups (``manual``, or one the node drives to)."""


class CarrierAdapter(ABC):
    """A carrier behind the shop's own vocabulary.

    Every method is safe to call again with the same arguments, except
    ``book``: see the module docstring for how a caller books exactly once.
    """

    name: ClassVar[str]

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = dict(settings)

    @abstractmethod
    def quote(self, parcel: Parcel, origin: Origin, destination: Address) -> list[QuoteOption]:
        """Prices and transit times the carrier offers, cheapest first; ``[]``
        when it has none (the shop then uses its lane table)."""

    def delivery_points(
        self, country: str, city: str, postal_code: str | None = None
    ) -> list[DeliveryPoint]:
        """The pickup points where the carrier hands parcels to recipients in ``city``
        (``postal_code`` narrows the lookup where the carrier reads it); ``[]`` when
        it has none, or delivers to the door only. Not abstract: a carrier without
        pickup points need not say so."""
        return []

    @abstractmethod
    def book(self, request: BookingRequest) -> Booking:
        """Ask the carrier to carry ``request.parcel``. Sends the request once,
        never retrying by itself; may answer ``pending`` (poll
        ``booking_status``), ``registered`` or ``invalid``."""

    @abstractmethod
    def booking_status(self, booking: Booking) -> Booking:
        """The booking as the carrier sees it now (for polling a ``pending`` one)."""

    @abstractmethod
    def find_booking(self, shipment_number: str) -> Booking | None:
        """The booking the carrier holds under our ``shipment_number``, or ``None``."""

    @abstractmethod
    def label(self, booking: Booking, print_reference: str | None = None) -> bytes:
        """The shipping label as PDF bytes; raises ``LabelNotReady`` (carrying
        the ``print_reference`` to pass back) while it is being made."""

    @abstractmethod
    def track(self, booking: Booking) -> list[TrackingEvent]:
        """Every tracking event so far, oldest first."""

    @abstractmethod
    def cancel(self, booking: Booking) -> None:
        """Withdraw the booking; cancelling one the carrier no longer has is harmless."""

    def book_pickup(self, request: PickupRequest) -> Pickup:
        """Ask the carrier's courier to collect a booked parcel at the node. Sent once,
        like ``book``. Carriers without couriers raise ``NoPickup``."""
        raise NoPickup(f"{self.name} books no courier pickups")

    @abstractmethod
    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookHint | None:
        """Which shipment a carrier notification is about, or ``None`` for a
        notification the shop does not act on or cannot read. Never raises on
        junk: the body is unsigned and anyone can send it."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
