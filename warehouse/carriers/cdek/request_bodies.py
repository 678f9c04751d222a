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
from warehouse.carriers.cdek.customs import (
    international_fields,
    item_fields,
    recipient_identity_fields,
)
from warehouse.carriers.cdek.tariffs import Tariff, TariffMismatch, choose_tariff
from warehouse.carriers.pickups import PickupRequest

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

    def tariff_for(self, request: BookingRequest) -> Tariff:
        """The tariff to book, consistent with the node's hand-over and the recipient's
        side (``tariffs.choose_tariff``); ``CarrierRejected`` says why none fits."""
        requested = None
        if request.service is not None:
            try:
                requested = int(request.service)
            except ValueError:
                raise CarrierRejected(
                    f"{request.service!r} is not a CDEK tariff code",
                    errors=(f"service: {request.service!r} is not a CDEK tariff code",),
                ) from None
        if request.handover is None:
            message = (
                f"node {request.origin.node} has no CDEK hand-over: set its office code or "
                "courier intake (flask nodes handover)"
            )
            raise CarrierRejected(message, errors=(f"handover: {message}",))
        try:
            tariff = choose_tariff(
                requested,
                preferred=self.tariff_code,
                handover=request.handover,
                to_pickup_point=request.delivery_point is not None,
            )
        except TariffMismatch as mismatch:
            raise CarrierRejected(str(mismatch), errors=(f"tariff_code: {mismatch}",)) from None
        if tariff.max_weight_g is not None and request.parcel.weight_g > tariff.max_weight_g:
            message = (
                f"tariff {tariff.code} ({tariff.name}) takes parcels up to "
                f"{tariff.max_weight_g // 1000} kg, not {request.parcel.weight_g} g"
            )
            raise CarrierRejected(message, errors=(f"packages[0].weight: {message}",))
        return tariff

    def sender_fields(self, request: BookingRequest, tariff: Tariff) -> dict[str, Any]:
        """A склад sender tariff names the CDEK office the node drops the parcel at
        (``shipment_point``) and never ``from_location``; a дверь one gives the address
        the courier comes to (``from_location``) and never ``shipment_point``."""
        handover = request.handover
        if tariff.sender_drops_off:
            return {"shipment_point": handover.office_code}
        location = self.from_location(request.origin)
        location["address"] = handover.address
        return {"from_location": location}

    def recipient_fields(self, request: BookingRequest) -> dict[str, Any]:
        if request.delivery_point is not None:
            return {"delivery_point": request.delivery_point}
        return {"to_location": self.to_location(request.destination)}

    def order_body(self, request: BookingRequest) -> dict[str, Any]:
        """``POST /v2/orders`` for one parcel (one package), e-shop type, prepaid:
        every item's ``payment.value`` is 0 (nothing to collect on delivery). A parcel
        that crosses a border carries the international block (``customs``)."""
        parcel = request.parcel
        tariff = self.tariff_for(request)
        international = request.crosses_border
        block = international_fields(request) if international else {}
        items = [
            {
                "name": item.name,
                "ware_key": item.sku[:50],
                "payment": {"value": 0},
                "cost": money_number(item.unit_value),
                "weight": item.weight_g,
                "amount": item.quantity,
                **({"country_code": item.origin_country} if item.origin_country else {}),
                **(item_fields(item) if international else {}),
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
        recipient: dict[str, Any] = {
            "name": request.destination.recipient,
            "phones": [{"number": request.destination.phone}],
        }
        if international:
            recipient.update(recipient_identity_fields(request))
        body: dict[str, Any] = {
            "type": ORDER_TYPE_ESHOP,
            "number": request.shipment_number,
            "tariff_code": tariff.code,
            "comment": f"Order {request.order_number}",
            **self.sender_fields(request, tariff),
            **self.recipient_fields(request),
            "recipient": recipient,
            "packages": [{"number": "1", **self.package_size(parcel), "items": items}],
            **block,
        }
        if currencies:
            body["items_cost_currency"] = currencies.pop()
        if self.sender:
            body["sender"] = dict(self.sender)
        return body

    def intake_body(self, request: PickupRequest) -> dict[str, Any]:
        """``POST /v2/intakes`` for a booked order (api-docs.cdek.ru/33828859.html): with
        ``order_uuid`` CDEK takes the address, sender and weight from the order."""
        body: dict[str, Any] = {
            "order_uuid": request.reference,
            "intake_date": request.on.isoformat(),
            "intake_time_from": request.window_from,
            "intake_time_to": request.window_to,
            "need_call": False,
        }
        if request.description:
            body["name"] = request.description[:255]
        if request.comment:
            body["comment"] = request.comment[:255]
        return body
