"""What the warehouse must know of the order a parcel belongs to, and the port it asks.

A packing slip, a carrier booking and a re-route need the order's address, its
unit prices and its destination; a re-route must also lock the order and know
whether its parcels may still move. Those are orders' facts: the warehouse
declares the question here and orders answer it (``serve``, wired at start by
``shop.app``), so the warehouse never imports orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from warehouse.carriers.customs import RecipientIdentity


@dataclass(frozen=True)
class ParcelOrder:
    """The order as a parcel needs it: amounts in ``currency``."""

    id: int
    number: str
    currency: str
    destination_country: str
    shipping_address: Mapping[str, Any] = field(default_factory=dict)
    unit_prices: Mapping[int, Decimal] = field(default_factory=dict)  # by SKU id
    placed_on: date | None = None


class ParcelOrders(Protocol):
    def order_of_parcel(self, order_id: int) -> ParcelOrder:
        """The order, read in the caller's transaction."""
        ...

    def customs_identity_of_parcel(self, order_id: int) -> RecipientIdentity | None:
        """The recipient's identity document for a cross-border carrier booking, the
        number decrypted; ``None`` when the order holds none (or it cannot be read).
        Only a carrier booking asks, and it never logs the number."""
        ...

    def lock_for_reroute(self, order_id: int) -> ParcelOrder:
        """Lock the order row (before its shipment's: the lock order cancelling uses)
        and refuse, with a ``Conflict`` coded ``shipment_not_reroutable``, an order
        whose parcels may no longer move."""
        ...


_served_by: ParcelOrders | None = None


def serve(port: ParcelOrders) -> None:
    """Orders answer the warehouse's questions about orders (called once at start)."""
    global _served_by
    _served_by = port


def parcel_orders() -> ParcelOrders:
    if _served_by is None:
        raise RuntimeError(
            "No package answers warehouse.parcel_orders: create the app with "
            "shop.create_app (its _connect_packages wires orders in)."
        )
    return _served_by
