"""The order and shipment state machines: one table each, pure, no database.

Services ask ``order_transition`` / ``shipment_transition`` before they change
a status; an illegal move is a ``IllegalTransition`` (409 problem+json), so a
late webhook or a double click can never walk an order backwards.

Who may ask matters for cancelling: a shopper may cancel until something has
left a node; staff until the goods are delivered.
"""

from __future__ import annotations

from collections.abc import Iterable

from shop.core.errors import DomainError

ORDER_STATUSES = (
    "pending_payment",
    "paid",
    "fulfilling",
    "partially_shipped",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
    "partially_refunded",
    "expired",
)

# Until one of these, an order still needs its goods: its SKUs stay, its holds count.
UNSHIPPED_STATUSES = ("pending_payment", "paid", "fulfilling")
# An order whose money the pavilion holds (the CBEC yearly allowance counts these).
PAID_STATUSES = ("paid", "fulfilling", "partially_shipped", "shipped", "delivered")

ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"paid", "cancelled", "expired"}),
    "paid": frozenset({"fulfilling", "partially_shipped", "shipped", "cancelled"}),
    "fulfilling": frozenset({"partially_shipped", "shipped", "cancelled"}),
    "partially_shipped": frozenset({"shipped", "delivered", "cancelled", "partially_refunded"}),
    "shipped": frozenset({"delivered", "cancelled", "partially_refunded", "refunded"}),
    "delivered": frozenset({"partially_refunded", "refunded"}),
    "partially_refunded": frozenset({"partially_refunded", "refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
    # Only when a payment arrives after the hold ran out and every line can be held
    # again (orders.services._hold_again); otherwise the money goes back.
    "expired": frozenset({"pending_payment"}),
}

# Whom a cancel is open to, by the order's status.
CANCELLABLE_BY = {
    "shopper": frozenset({"pending_payment", "paid", "fulfilling"}),
    "staff": frozenset({"pending_payment", "paid", "fulfilling", "partially_shipped", "shipped"}),
}

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
    status = 409
    code = "illegal_transition"
    title = "Not possible in this state"


def order_transition(current: str, target: str) -> str:
    """``target`` if an order may move there from ``current``; else IllegalTransition."""
    return _check("order", ORDER_TRANSITIONS, current, target)


def shipment_transition(current: str, target: str) -> str:
    return _check("shipment", SHIPMENT_TRANSITIONS, current, target)


def can_cancel(status: str, who: str) -> bool:
    """Shoppers until a parcel has left; staff until delivery (``who``: shopper | staff)."""
    return status in CANCELLABLE_BY[who]


def cancel_transition(current: str, who: str) -> str:
    if not can_cancel(current, who):
        if who == "shopper" and can_cancel(current, "staff"):
            raise IllegalTransition(
                f"This order is {current.replace('_', ' ')}: part of it has left the "
                "warehouse, so it can no longer be cancelled online. Contact us to return it.",
                status_now=current,
            )
        raise IllegalTransition(
            f"An order that is {current.replace('_', ' ')} cannot be cancelled.",
            status_now=current,
        )
    return order_transition(current, "cancelled")


def status_from_shipments(current: str, shipment_statuses: Iterable[str]) -> str:
    """What a paid order's status becomes when its shipments move on.

    Cancelled or re-routed shipments do not count; an order with none left is
    unchanged (cancel is its own decision, not a side effect).
    """
    live = [s for s in shipment_statuses if s not in ("cancelled", "rerouted", "returned")]
    if current not in ("paid", "fulfilling", "partially_shipped", "shipped") or not live:
        return current
    left = [s for s in live if s in LEFT_THE_NODE]
    if all(s == "delivered" for s in live):
        return "delivered"
    if len(left) == len(live):
        return "shipped"
    if left:
        return "partially_shipped"
    if any(s in ("picking", "packed", "booking_requested") for s in live):
        return "fulfilling"
    return current


def _check(kind: str, table: dict[str, frozenset[str]], current: str, target: str) -> str:
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
