"""A third-party carrier adapter, installed only by the plugin tests.

It shows the least a carrier package needs: one ``CarrierAdapter`` subclass
and an entry point in the ``pavilion.carriers`` group (see the dist-info
beside this file). Bookings register at once; tracking numbers count up.
"""

from decimal import Decimal
from itertools import count

from catalog.money import Money
from warehouse.carriers.base import Booking, CarrierAdapter, NoLabel, QuoteOption


class DummyCarrier(CarrierAdapter):
    name = "dummy"

    def __init__(self, settings):
        super().__init__(settings)
        self._numbers = count(1)

    def quote(self, parcel, origin, destination):
        price = Money(Decimal(parcel.weight_g) / 100, "RUB")
        return [QuoteOption(self.name, "standard", price, 2, 4)]

    def book(self, request):
        number = f"DUMMY{next(self._numbers):04d}"
        return Booking(self.name, f"dummy-{request.shipment_number}", "registered", number)

    def booking_status(self, booking):
        return booking

    def find_booking(self, shipment_number):
        return None

    def label(self, booking, print_reference=None):
        raise NoLabel("the dummy carrier prints nothing")

    def track(self, booking):
        return []

    def cancel(self, booking):
        return None

    def parse_webhook(self, headers, body):
        return None
