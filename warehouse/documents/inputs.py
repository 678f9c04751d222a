"""What a caller hands in to print a document: frozen dataclasses, no models and no
database, so rendering stays pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from catalog.money import Money, round_to_currency


@dataclass(frozen=True)
class PickDocLine:
    position: int
    sku: str
    name: str
    bin: str | None
    quantity: int
    shipments: tuple[tuple[int, int], ...]  # (shipment_id, quantity), by shipment id


@dataclass(frozen=True)
class PickListDoc:
    id: int
    node: str
    node_name: str
    created_at: datetime
    created_by: str
    lang: str
    lines: tuple[PickDocLine, ...]
    shipment_count: int
    unit_count: int


@dataclass(frozen=True)
class SlipLine:
    sku: str
    name: str
    quantity: int
    hs_code: str
    origin_country: str
    unit_value: Money
    weight_g: int  # of one unit

    @property
    def value(self) -> Money:
        """Quantity × unit value, rounded to the currency as the slip prints it."""
        amount = self.unit_value.amount * self.quantity
        return Money(round_to_currency(amount, self.unit_value.currency), self.unit_value.currency)


@dataclass(frozen=True)
class PackingSlipDoc:
    shipment_id: int
    order_number: str
    node: str
    lane: str | None
    customs_mode: str | None  # "9610" direct, "1210" bonded, None: ordinary postal/courier
    created_at: datetime
    recipient: str
    address_lines: tuple[str, ...]
    phone: str
    destination_country: str
    lines: tuple[SlipLine, ...]
    shipping: Money
    lang: str
    # The sender block; empty: the shop's name and the node code.
    sender_lines: tuple[str, ...] = ()

    @property
    def currency(self) -> str:
        return self.lines[0].unit_value.currency if self.lines else self.shipping.currency

    @property
    def total_value(self) -> Money:
        """The contents' declared value (shipping excluded): the sum of the printed
        line values, so the form adds up. The lines must share one currency."""
        currencies = {line.unit_value.currency for line in self.lines}
        if len(currencies) > 1:
            raise ValueError(f"slip lines in several currencies: {sorted(currencies)}")
        total = sum((line.value.amount for line in self.lines), Decimal(0))
        return Money(total, self.currency)

    @property
    def total_weight_g(self) -> int:
        return sum(line.weight_g * line.quantity for line in self.lines)

    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.lines)
