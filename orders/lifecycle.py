"""The order state machine: one table, pure, no database.

Services ask ``order_transition`` before they change an order's status; an
illegal move is an ``IllegalTransition`` (409 problem+json), so a late webhook
or a double click can never walk an order backwards. The shipment machine is
the warehouse's (``warehouse.shipment_states``); an order follows its parcels
(``status_from_shipments``).

Who may ask matters for cancelling: a shopper may cancel until something has
left a node; staff until the goods are delivered.
"""

from __future__ import annotations

from collections.abc import Iterable

from warehouse.shipment_states import (
    LEFT_THE_NODE,
    IllegalTransition,
    checked_move,
)

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
    # again (orders.services.provider_events._hold_again); otherwise the money goes back.
    "expired": frozenset({"pending_payment"}),
}

# Whom a cancel is open to, by the order's status.
CANCELLABLE_BY = {
    "shopper": frozenset({"pending_payment", "paid", "fulfilling"}),
    "staff": frozenset({"pending_payment", "paid", "fulfilling", "partially_shipped", "shipped"}),
}


def order_transition(current: str, target: str) -> str:
    """``target`` if an order may move there from ``current``; else IllegalTransition."""
    return checked_move("order", ORDER_TRANSITIONS, current, target)


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
