"""Properties of every plan, on random orders and stock over the seeded lanes (hypothesis)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.money import Money
from tests.unit.test_routing_engine import LANES, NODES, RATES
from warehouse.routing import (
    DefaultStrategy,
    Destination,
    Lane,
    OrderLine,
    Plan,
    RoutingError,
    RoutingRequest,
)

BOUNDED = settings(max_examples=200, deadline=None)

GOODS = [  # category, HS code: one allowed everywhere, one refused by the Khorgos lane
    ("confectionery", "180632"),
    ("dairy", "040299"),
    ("beverages", "220860"),
    ("crafts", "691390"),
]
DESTINATIONS = [  # weighted towards where the shoppers are; India has no lane
    Destination("CN"),
    Destination("CN"),
    Destination("CN"),
    Destination("RU", "RU-SIB"),
    Destination("RU", "RU-FE"),
    Destination("KZ"),
    Destination("KZ"),
    Destination("BY"),
    Destination("UZ"),
    Destination("IN"),
]


@st.composite
def sku_facts(draw, code: str) -> dict:
    category, hs_code = draw(st.sampled_from(GOODS))
    return {
        "sku": code,
        "category": category,
        "hs_code": hs_code,
        # Some heavy goods, so that parcels over the lanes' 30/31 kg limits split.
        "weight_g": draw(st.integers(0, 6000) | st.integers(6000, 16000)),
        "unit_value": Money(Decimal(draw(st.integers(1, 200000))) / 100, "CNY"),
        "outside_cbec_positive_list": draw(st.integers(0, 5)) == 0,
    }


@st.composite
def routing_requests(draw) -> RoutingRequest:
    codes = ["A", "B", "C", "D"]
    facts = {code: draw(sku_facts(code)) for code in codes}
    skus = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=5))
    lines = [
        OrderLine(index=i, quantity=draw(st.integers(1, 4)), **facts[sku])
        for i, sku in enumerate(skus, start=1)
    ]
    stock = {
        (node.code, code): draw(st.integers(0, 12))
        for node in NODES
        for code in codes
        if draw(st.integers(0, 3))
    }
    nodes = [dataclasses.replace(n, active=draw(st.integers(0, 19)) > 0) for n in NODES]
    lanes = [dataclasses.replace(lane, active=draw(st.integers(0, 19)) > 0) for lane in LANES]
    minutes = draw(st.integers(0, 60 * 24 * 7))
    return RoutingRequest(
        lines=draw(st.permutations(lines)),
        destination=draw(st.sampled_from(DESTINATIONS)),
        nodes=draw(st.permutations(nodes)),
        lanes=draw(st.permutations(lanes)),
        stock=stock,
        now=datetime(2026, 3, 9, tzinfo=UTC) + timedelta(minutes=minutes),
        rates=RATES,
        compare_in=draw(st.sampled_from(["CNY", "RUB"])),
    )


def plan_or_none(request: RoutingRequest) -> Plan | None:
    """The plan, or None when the engine says why it cannot route (naming real lines)."""
    try:
        return DefaultStrategy().plan(request)
    except RoutingError as error:
        named = [item["line"] for item in error.extra.get("lines", [])]
    known = {line.index for line in request.lines}
    assert set(named) <= known
    return None


def lane_refuses(lane: Lane, line: OrderLine) -> bool:
    """The corridor's rules, read straight from the lane's data (not from the engine)."""
    return (
        line.category in lane.refuses_categories
        or any(line.hs_code.startswith(prefix) for prefix in lane.refuses_hs_prefixes)
        or (lane.requires_cbec_positive_list and line.outside_cbec_positive_list)
    )


def parcel_within_limits(lane: Lane, items: list[tuple[OrderLine, int]]) -> bool:
    weight = sum(line.weight_g * units for line, units in items)
    if lane.max_parcel_weight_g is not None and weight > lane.max_parcel_weight_g:
        return False
    if lane.max_parcel_value is not None:
        value = sum(
            (RATES.convert(line.unit_value, lane.max_parcel_value.currency).amount * units)
            for line, units in items
        )
        if value > lane.max_parcel_value.amount:
            return False
    return True


@BOUNDED
@given(routing_requests())
def test_a_plan_never_takes_more_stock_than_a_node_has(request):
    plan = plan_or_none(request)
    if plan is None:
        return
    for (node, sku), units in plan.quantities().items():
        assert units <= request.available(node, sku)


@BOUNDED
@given(routing_requests())
def test_a_plan_ships_every_unit_of_every_line_exactly_once(request):
    plan = plan_or_none(request)
    if plan is None:
        return
    shipped: dict[int, int] = {}
    for shipment in plan.shipments:
        indexes = [item.line for item in shipment.lines]
        assert len(indexes) == len(set(indexes)), "a line appears twice in one parcel"
        for item in shipment.lines:
            assert item.quantity > 0
            shipped[item.line] = shipped.get(item.line, 0) + item.quantity
    assert shipped == {line.index: line.quantity for line in request.lines}
    lanes = {lane.code: lane for lane in request.lanes}
    lines = {line.index: line for line in request.lines}
    for node in {s.node for s in plan.shipments}:
        parcels = [s for s in plan.shipments if s.node == node]
        assert len({s.lane for s in parcels}) == 1, "a node's parcels go by one lane"
        assert [(s.parcel, s.parcels) for s in parcels] == [
            (n, len(parcels)) for n in range(1, len(parcels) + 1)
        ]
        if len(parcels) > 1:  # split only when one parcel of the node's goods is over a limit
            lane = lanes[parcels[0].lane]
            items = [(lines[i.line], i.quantity) for s in parcels for i in s.lines]
            assert not parcel_within_limits(lane, items)
            # No two parcels would fit in one (what first fit guarantees, by weight).
            for first, second in itertools.combinations(parcels, 2):
                both = [(lines[i.line], i.quantity) for s in (first, second) for i in s.lines]
                assert not parcel_within_limits(lane, both), "two parcels could be one"
            if lane.max_parcel_value is not None and lane.value_limit_is_per_transaction:
                # China's CBEC limit is per transaction: split parcels stay within it together.
                by_value_only = dataclasses.replace(lane, max_parcel_weight_g=None)
                assert parcel_within_limits(by_value_only, items)


@BOUNDED
@given(routing_requests(), st.randoms(use_true_random=False))
def test_the_same_request_gives_the_same_plan_whatever_the_order_of_its_rows(request, random):
    shuffled = dataclasses.replace(
        request,
        lines=random.sample(request.lines, len(request.lines)),
        nodes=random.sample(request.nodes, len(request.nodes)),
        lanes=random.sample(request.lanes, len(request.lanes)),
    )
    outcomes = []
    for attempt in (request, request, shuffled):
        try:
            outcomes.append(DefaultStrategy().plan(attempt).as_json())
        except RoutingError as error:
            outcomes.append((type(error).__name__, error.extra))
    assert outcomes[0] == outcomes[1] == outcomes[2]


@BOUNDED
@given(routing_requests())
def test_a_plan_never_uses_a_lane_node_or_corridor_that_refuses_its_goods(request):
    plan = plan_or_none(request)
    if plan is None:
        return
    lanes = {lane.code: lane for lane in request.lanes}
    nodes = {node.code: node for node in request.nodes}
    lines = {line.index: line for line in request.lines}
    for shipment in plan.shipments:
        lane = lanes[shipment.lane]
        assert lane.node == shipment.node
        assert nodes[shipment.node].active
        assert lane.active
        assert lane.serves(request.destination)
        items = [(lines[item.line], item.quantity) for item in shipment.lines]
        assert not any(lane_refuses(lane, line) for line, _ in items)
        assert parcel_within_limits(lane, items)


@BOUNDED
@given(routing_requests())
def test_when_one_node_can_ship_everything_the_plan_is_one_shipment(request):
    wanted: dict[str, int] = {}
    for line in request.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    items = [(line, line.quantity) for line in request.lines]
    one_node_can = any(
        node.active
        and lane.active
        and lane.node == node.code
        and lane.serves(request.destination)
        and not any(lane_refuses(lane, line) for line in request.lines)
        and parcel_within_limits(lane, items)
        and all(request.available(node.code, sku) >= units for sku, units in wanted.items())
        for node in request.nodes
        for lane in request.lanes
    )
    if not one_node_can:
        return
    plan = DefaultStrategy().plan(request)
    assert len(plan.shipments) == 1
