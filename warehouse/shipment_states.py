"""The shipment state machine: one table, pure, no database.

Shipments are the warehouse's, so their states live here; orders read them (an
order follows its parcels) but never move them. Services ask
``shipment_transition`` before they change a status; an illegal move is an
``IllegalTransition`` (409 problem+json), so a late webhook or a double click
can never walk a parcel backwards.
"""

from __future__ import annotations

from shop.core.errors import DomainError

SHIPMENT_STATUSES = (
    "awaiting_payment",
    "ready_to_pick",
    "picking",
    "packed",
    "booking_requested",
    "shipped",
    "in_transit",
    "delivered",
    "returned",
    "cancelled",
    "rerouted",
)

# booking_requested: a carrier is being booked in the background; a refused booking
# goes back to packed (staff pick another carrier), a registered one becomes shipped.
SHIPMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    "awaiting_payment": frozenset({"ready_to_pick", "cancelled", "rerouted"}),
    "ready_to_pick": frozenset({"picking", "cancelled", "rerouted"}),
    "picking": frozenset({"packed", "ready_to_pick", "cancelled"}),
    "packed": frozenset({"booking_requested", "shipped", "cancelled"}),
    "booking_requested": frozenset({"shipped", "packed", "cancelled"}),
    "shipped": frozenset({"in_transit", "delivered", "returned", "cancelled"}),
    "in_transit": frozenset({"delivered", "returned"}),
    "delivered": frozenset(),
    "returned": frozenset(),
    "cancelled": frozenset(),
    "rerouted": frozenset(),
}

# Parcels that have left the node (the order counts them as shipped).
LEFT_THE_NODE = ("shipped", "in_transit", "delivered", "returned")


class IllegalTransition(DomainError):
    """A state machine refused a move; orders' lifecycle raises the same one."""

    status = 409
    code = "illegal_transition"
    title = "Not possible in this state"


def shipment_transition(current: str, target: str) -> str:
    """``target`` if a shipment may move there from ``current``; else IllegalTransition."""
    return checked_move("shipment", SHIPMENT_TRANSITIONS, current, target)


def checked_move(kind: str, table: dict[str, frozenset[str]], current: str, target: str) -> str:
    """``target`` if ``table`` allows ``current`` -> ``target``; a status the table does
    not know is a programming error (ValueError), a refused move an IllegalTransition."""
    if current not in table:
        raise ValueError(f"unknown {kind} status {current!r}")
    if target not in table:
        raise ValueError(f"unknown {kind} status {target!r}")
    if target not in table[current]:
        raise IllegalTransition(
            f"A {kind} that is {current.replace('_', ' ')} cannot become "
            f"{target.replace('_', ' ')}.",
            status_now=current,
            wanted=target,
        )
    return target
