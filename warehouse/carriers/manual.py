"""``manual``: staff hand the parcel to a carrier themselves and type its
tracking number; no outside system is called.

- ``quote`` answers ``[]``: the shop prices manual lanes from its own lane table.
- ``book`` needs ``request.tracking_number`` (what staff typed) and answers a
  ``registered`` booking at once; ``request.service`` (optional) is the
  carrier or service staff named ("Russian Post EMS") and is kept as
  ``Booking.service``. The reference is ``manual:<shipment number>``, so
  booking the same shipment again gives the same booking.
- ``label`` raises ``NoLabel``: staff write or print the carrier's own label.
- ``track`` answers ``[]`` (staff record delivery by hand), ``cancel`` does
  nothing, ``parse_webhook`` answers ``None``, ``find_booking`` answers ``None``
  (the shop's own row is the only record).

Settings read: none.
"""

from __future__ import annotations

from collections.abc import Mapping

from warehouse.carriers.base import (
    Address,
    Booking,
    BookingRequest,
    CarrierAdapter,
    CarrierRejected,
    NoLabel,
    Origin,
    Parcel,
    QuoteOption,
    TrackingEvent,
    WebhookHint,
)

REFERENCE_PREFIX = "manual:"


class ManualCarrier(CarrierAdapter):
    name = "manual"

    def quote(self, parcel: Parcel, origin: Origin, destination: Address) -> list[QuoteOption]:
        return []

    def book(self, request: BookingRequest) -> Booking:
        tracking_number = (request.tracking_number or "").strip()
        if not tracking_number:
            raise CarrierRejected(
                "a manual booking needs the tracking number staff typed",
                errors=("tracking_number: required for a manual booking",),
            )
        return Booking(
            carrier=self.name,
            reference=REFERENCE_PREFIX + request.shipment_number,
            state="registered",
            tracking_number=tracking_number,
            service=request.service,
        )

    def booking_status(self, booking: Booking) -> Booking:
        return booking

    def find_booking(self, shipment_number: str) -> Booking | None:
        return None

    def label(self, booking: Booking, print_reference: str | None = None) -> bytes:
        raise NoLabel("manual shipments carry the label of the carrier staff chose")

    def track(self, booking: Booking) -> list[TrackingEvent]:
        return []

    def cancel(self, booking: Booking) -> None:
        return None

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookHint | None:
        return None
