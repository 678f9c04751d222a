"""The order and shipment state machines: every pair of states, legal or not."""

from __future__ import annotations

import itertools

import pytest

from orders import lifecycle
from orders.lifecycle import ORDER_STATUSES, ORDER_TRANSITIONS, IllegalTransition
from warehouse import shipment_states
from warehouse.shipment_states import SHIPMENT_STATUSES, SHIPMENT_TRANSITIONS

LEGAL_ORDER_MOVES = {
    ("pending_payment", "paid"),
    ("pending_payment", "cancelled"),
    ("pending_payment", "expired"),
    ("expired", "pending_payment"),  # a late payment, with every line held again
    ("paid", "fulfilling"),
    ("paid", "partially_shipped"),
    ("paid", "shipped"),
    ("paid", "cancelled"),
    ("fulfilling", "partially_shipped"),
    ("fulfilling", "shipped"),
    ("fulfilling", "cancelled"),
    ("partially_shipped", "shipped"),
    ("partially_shipped", "delivered"),
    ("partially_shipped", "cancelled"),
    ("partially_shipped", "partially_refunded"),
    ("shipped", "delivered"),
    ("shipped", "cancelled"),
    ("shipped", "partially_refunded"),
    ("shipped", "refunded"),
    ("delivered", "partially_refunded"),
    ("delivered", "refunded"),
    ("partially_refunded", "partially_refunded"),
    ("partially_refunded", "refunded"),
}

LEGAL_SHIPMENT_MOVES = {
    ("awaiting_payment", "ready_to_pick"),
    ("awaiting_payment", "cancelled"),
    ("awaiting_payment", "rerouted"),
    ("ready_to_pick", "picking"),
    ("ready_to_pick", "cancelled"),
    ("ready_to_pick", "rerouted"),
    ("picking", "packed"),
    ("picking", "ready_to_pick"),
    ("picking", "cancelled"),
    ("packed", "booking_requested"),
    ("packed", "shipped"),
    ("packed", "cancelled"),
    ("booking_requested", "shipped"),
    ("booking_requested", "packed"),
    ("booking_requested", "cancelled"),
    ("shipped", "in_transit"),
    ("shipped", "delivered"),
    ("shipped", "returned"),
    ("shipped", "cancelled"),
    ("in_transit", "delivered"),
    ("in_transit", "returned"),
}


def test_the_tables_name_every_state_and_only_known_ones():
    assert set(ORDER_TRANSITIONS) == set(ORDER_STATUSES)
    assert set(SHIPMENT_TRANSITIONS) == set(SHIPMENT_STATUSES)
    assert {(a, b) for a, targets in ORDER_TRANSITIONS.items() for b in targets} == (
        LEGAL_ORDER_MOVES
    )
    assert {(a, b) for a, targets in SHIPMENT_TRANSITIONS.items() for b in targets} == (
        LEGAL_SHIPMENT_MOVES
    )


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ORDER_STATUSES, repeat=2)))
def test_every_order_move_is_allowed_exactly_when_the_table_says(current, target):
    if (current, target) in LEGAL_ORDER_MOVES:
        assert lifecycle.order_transition(current, target) == target
    else:
        with pytest.raises(IllegalTransition) as refused:
            lifecycle.order_transition(current, target)
        assert refused.value.status == 409
        assert refused.value.extra["status_now"] == current


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(SHIPMENT_STATUSES, repeat=2))
)
def test_every_shipment_move_is_allowed_exactly_when_the_table_says(current, target):
    if (current, target) in LEGAL_SHIPMENT_MOVES:
        assert shipment_states.shipment_transition(current, target) == target
    else:
        with pytest.raises(IllegalTransition):
            shipment_states.shipment_transition(current, target)


def test_unknown_states_are_programming_errors_not_409s():
    with pytest.raises(ValueError, match="unknown order status"):
        lifecycle.order_transition("lost", "paid")
    with pytest.raises(ValueError, match="unknown shipment status"):
        shipment_states.shipment_transition("packed", "teleported")


@pytest.mark.parametrize("status", ORDER_STATUSES)
def test_shoppers_cancel_until_a_parcel_leaves_staff_until_delivery(status):
    shopper = status in ("pending_payment", "paid", "fulfilling")
    staff = shopper or status in ("partially_shipped", "shipped")
    assert lifecycle.can_cancel(status, "shopper") is shopper
    assert lifecycle.can_cancel(status, "staff") is staff
    if shopper:
        assert lifecycle.cancel_transition(status, "shopper") == "cancelled"
    else:
        with pytest.raises(IllegalTransition) as refused:
            lifecycle.cancel_transition(status, "shopper")
        if staff:
            assert "left the warehouse" in refused.value.detail


@pytest.mark.parametrize(
    ("current", "shipments", "expected"),
    [
        ("paid", ["ready_to_pick"], "paid"),
        ("paid", ["picking", "ready_to_pick"], "fulfilling"),
        ("paid", ["shipped", "ready_to_pick"], "partially_shipped"),
        ("fulfilling", ["shipped", "shipped"], "shipped"),
        ("shipped", ["delivered", "shipped"], "shipped"),
        ("shipped", ["delivered", "delivered"], "delivered"),
        ("paid", ["shipped", "rerouted"], "shipped"),
        ("paid", ["cancelled"], "paid"),
        ("pending_payment", ["shipped"], "pending_payment"),
        ("cancelled", ["delivered"], "cancelled"),
        ("paid", ["booking_requested"], "fulfilling"),
        ("shipped", ["in_transit", "delivered"], "shipped"),
        ("shipped", ["returned", "delivered"], "delivered"),
    ],
)
def test_a_paid_orders_status_follows_its_shipments(current, shipments, expected):
    assert lifecycle.status_from_shipments(current, shipments) == expected
