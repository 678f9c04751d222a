"""What the warehouse announces about its shipments (``shop.core.events``).

The warehouse moves parcels; it never sets an order's status. When parcels move
it publishes one of these, and whoever cares (orders: the order follows its
parcels, the shopper is told) listens. Handlers run in the publisher's
transaction, so the order's change commits or rolls back with the parcel's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShipmentsChanged:
    """These shipments moved to another state: picking started, packed, shipped by
    hand or by a carrier's booking, moved by the carrier's tracking, or back to packed
    because the booking died. ``actor`` and ``reason`` are for the history that
    listeners write."""

    shipment_ids: tuple[int, ...]
    actor: str
    reason: str


@dataclass(frozen=True)
class ShipmentShipped:
    """A parcel left its node with a carrier (staff handed it over, or the carrier
    registered the booking). Published after ``ShipmentsChanged`` for the same move."""

    shipment_id: int
    order_id: int
    order_number: str
