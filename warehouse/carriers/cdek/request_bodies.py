"""Building CDEK's requests (pure): where a parcel goes from and to, its package in
whole centimetres and grams, the tariff, and the body of a quote or an order."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from catalog.money import Money, round_to_currency
from warehouse.carriers.base import Address, BookingRequest, CarrierRejected, Origin, Parcel
from warehouse.carriers.cdek.currencies import CDEK_CURRENCY_CODES

ORDER_TYPE_ESHOP = 1


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


def location_code(value: Any) -> int | str:
    """A CDEK city code as CDEK wants it: a number, also when the settings give it as text."""
    text = str(value).strip()
    return int(text) if text.isascii() and text.isdecimal() else text


class CdekRequestBodies:
    """The request bodies of ``CdekCarrier``, from the settings it reads into these
    attributes."""

    tariff_code: int
    sender_locations: Mapping[str, Any]
    currency: str
    sender: Mapping[str, Any] | None

    def from_location(self, origin: Origin) -> dict[str, Any]:
        """The node as CDEK's ``from_location``: its CDEK city code when known,
        else country, city and postal code for CDEK to look up."""
        code = origin.carrier_location or self.sender_locations.get(origin.node)
        if code not in (None, ""):
            return {"code": location_code(code)}
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

    def recipient_fields(self, request: BookingRequest) -> dict[str, Any]:
        """Where CDEK hands the parcel over: the pickup point the shopper chose
        (``delivery_point``, an office code) or else the address (``to_location``)."""
        if request.delivery_point:
            return {"delivery_point": request.delivery_point}
        return {"to_location": self.to_location(request.destination)}

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
            **self.recipient_fields(request),
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
