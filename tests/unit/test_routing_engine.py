"""The routing engine on the seeded reality: four nodes, their lanes, plain data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask

from catalog.money import ExchangeRateQuote, Money, RateTable, UnknownCurrency
from shop.errors import handle_domain_error
from warehouse.routing import (
    CarrierQuote,
    CorridorRefuses,
    DefaultStrategy,
    Destination,
    FilterRule,
    InsufficientStock,
    Lane,
    Node,
    NoLaneToDestination,
    OrderLine,
    Plan,
    RoutingRequest,
    StrategyLoadError,
    UnknownStrategy,
    available_strategies,
    load_strategy,
)
from warehouse.routing import strategies as strategies_module

# ---------------------------------------------------------------------------
# The seeded world (DOMAIN.md, "Nodes and corridors"); lanes in the seed-file shape.

NODES = (
    Node("RU-WH", "RU", priority=10),
    Node("RU-USS", "RU", priority=20),
    Node("CN-SFH", "CN", priority=30),
    Node("CN-URC", "CN", priority=40),
)

CBEC_LIMIT = {"amount": "5000", "currency": "CNY"}


def _leg(carrier, service, days, base, per_kg, currency, crossing=None, customs_mode=None):
    return {
        "carrier": carrier,
        "service": service,
        "transit_days_min": days[0],
        "transit_days_max": days[1],
        "cost_base": base,
        "cost_per_kg": per_kg,
        "cost_currency": currency,
        "crossing": crossing,
        "customs_mode": customs_mode,
    }


SEEDED_LANES = [
    {
        "code": "RU-WH-RU",
        "node": "RU-WH",
        "countries": ["RU"],
        "cutoff_time": "15:00",
        "timezone": "Asia/Novosibirsk",
        "max_parcel_weight_g": 30000,
        "legs": [_leg("cdek", "warehouse-door", (2, 7), "350", "60", "RUB")],
    },
    {
        "code": "RU-WH-EAEU",
        "node": "RU-WH",
        "countries": ["BY", "KZ", "KG", "AM"],
        "cutoff_time": "15:00",
        "timezone": "Asia/Novosibirsk",
        "max_parcel_weight_g": 31000,
        "legs": [_leg("cdek", "international", (5, 12), "1200", "250", "RUB")],
    },
    {
        "code": "RU-USS-FE",
        "node": "RU-USS",
        "countries": ["RU"],
        "regions": ["RU-FE"],
        "cutoff_time": "14:00",
        "timezone": "Asia/Vladivostok",
        "legs": [_leg("cdek", "warehouse-door", (1, 4), "300", "50", "RUB")],
    },
    {
        "code": "RU-USS-CN",
        "node": "RU-USS",
        "countries": ["CN"],
        "cutoff_time": "12:00",
        "timezone": "Asia/Vladivostok",
        "requires_cbec_positive_list": True,
        "max_parcel_value": CBEC_LIMIT,
        "legs": [
            _leg("manual", "truck Ussuriysk–Pogranichny", (1, 2), "200", "15", "RUB"),
            _leg(
                "manual",
                "customs broker",
                (1, 2),
                "30",
                "4",
                "CNY",
                crossing="Pogranichny–Suifenhe",
                customs_mode="9610",
            ),
            _leg("cdek", "China last mile", (2, 5), "12", "5", "CNY"),
        ],
    },
    {
        "code": "CN-SFH-CN",
        "node": "CN-SFH",
        "countries": ["CN"],
        "cutoff_time": "16:00",
        "timezone": "Asia/Shanghai",
        "requires_cbec_positive_list": True,
        "max_parcel_value": CBEC_LIMIT,
        "legs": [_leg("cdek", "China last mile", (2, 5), "12", "5", "CNY", customs_mode="1210")],
    },
    {
        "code": "CN-URC-CN",
        "node": "CN-URC",
        "countries": ["CN"],
        "cutoff_time": "16:00",
        "timezone": "Asia/Shanghai",
        "requires_cbec_positive_list": True,
        "max_parcel_value": CBEC_LIMIT,
        "legs": [_leg("cdek", "China last mile", (3, 6), "15", "7", "CNY", customs_mode="1210")],
    },
    {
        "code": "CN-URC-CA",
        "node": "CN-URC",
        "countries": ["KZ", "KG", "UZ", "TJ"],
        "cutoff_time": "16:00",
        "timezone": "Asia/Shanghai",
        "refuses_hs_prefixes": ["2208"],  # spirits need the destination's excise stamps
        "max_parcel_weight_g": 31000,
        "legs": [
            _leg("manual", "truck Urumqi–Khorgos", (1, 2), "20", "3", "CNY"),
            _leg("manual", "customs broker", (1, 3), "40", "5", "CNY", crossing="Khorgos–Nurkent"),
            _leg("cdek", "Central Asia last mile", (4, 9), "2500", "400", "KZT"),
        ],
    },
]
LANES = tuple(Lane.from_json(lane) for lane in SEEDED_LANES)

RATES_DAY = date(2026, 3, 1)
RATES = RateTable(
    [
        ExchangeRateQuote("RUB", "CNY", Decimal("0.088"), RATES_DAY, "test"),
        ExchangeRateQuote("KZT", "CNY", Decimal("0.0138"), RATES_DAY, "test"),
        ExchangeRateQuote("EUR", "CNY", Decimal("7.80"), RATES_DAY, "test"),
    ]
)
# 09:00 in Beijing, 12:00 in Vladivostok: before every cut-off but Ussuriysk's CN truck.
NOW = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)


def line(
    index: int,
    sku: str,
    quantity: int = 1,
    *,
    category: str = "confectionery",
    hs_code: str = "180632",
    weight_g: int = 100,
    value: str = "18.50",
    outside_cbec: bool = False,
) -> OrderLine:
    return OrderLine(
        index=index,
        sku=sku,
        quantity=quantity,
        category=category,
        hs_code=hs_code,
        weight_g=weight_g,
        unit_value=Money(Decimal(value), "CNY"),
        outside_cbec_positive_list=outside_cbec,
    )


def routing_request(lines, country, stock, *, region=None, **overrides) -> RoutingRequest:
    fields = {
        "lines": lines,
        "destination": Destination(country, region, "000000"),
        "nodes": NODES,
        "lanes": LANES,
        "stock": stock,
        "now": NOW,
        "rates": RATES,
        "compare_in": "CNY",
    }
    fields.update(overrides)
    return RoutingRequest(**fields)


def plan(lines, country, stock, **kwargs) -> Plan:
    return DefaultStrategy().plan(routing_request(lines, country, stock, **kwargs))


def shipped(result: Plan) -> list[tuple[str, str, list[tuple[int, int]]]]:
    return [
        (s.node, s.lane, [(item.line, item.quantity) for item in s.lines]) for s in result.shipments
    ]


ALENKA_EVERYWHERE = {("RU-WH", "ALENKA"): 50, ("RU-USS", "ALENKA"): 50, ("CN-SFH", "ALENKA"): 50}


# ---------------------------------------------------------------------------
# The plans a logistics planner would choose


def test_a_shopper_in_china_gets_suifenhe_when_suifenhe_and_russia_both_hold_the_sku():
    result = plan([line(1, "ALENKA", 2)], "CN", ALENKA_EVERYWHERE)

    assert shipped(result) == [("CN-SFH", "CN-SFH-CN", [(1, 2)])]
    assert result.shipments[0].customs_modes == ("1210",)
    assert "preferred to RU-USS on lowest_landed_cost" in result.explanation.decision


def test_a_shopper_in_russia_gets_the_russian_warehouse_for_the_same_sku():
    result = plan([line(1, "ALENKA", 2)], "RU", ALENKA_EVERYWHERE, region="RU-SIB")

    assert shipped(result) == [("RU-WH", "RU-WH-RU", [(1, 2)])]


def test_a_shopper_in_the_russian_far_east_gets_ussuriysk():
    result = plan([line(1, "ALENKA", 2)], "RU", ALENKA_EVERYWHERE, region="RU-FE")

    assert shipped(result) == [("RU-USS", "RU-USS-FE", [(1, 2)])]


def test_lines_only_at_suifenhe_and_only_at_urumqi_go_in_two_shipments():
    stock = {("CN-SFH", "ONLYSFH-1"): 5, ("CN-URC", "ONLYURC-1"): 5}
    result = plan([line(1, "ONLYURC-1"), line(2, "ONLYSFH-1")], "CN", stock)

    assert shipped(result) == [
        ("CN-URC", "CN-URC-CN", [(1, 1)]),
        ("CN-SFH", "CN-SFH-CN", [(2, 1)]),
    ]
    assert result.is_split
    assert result.explanation.decision.startswith("no single node ships every line: 2 shipments")


def test_one_node_holding_every_line_ships_them_in_one_shipment():
    # Suifenhe is cheaper for line 1, but only Urumqi holds both lines.
    stock = {("CN-SFH", "ALENKA"): 9, ("CN-URC", "ALENKA"): 9, ("CN-URC", "KURT"): 9}
    result = plan([line(1, "ALENKA"), line(2, "KURT", category="dairy")], "CN", stock)

    assert shipped(result) == [("CN-URC", "CN-URC-CN", [(1, 1), (2, 1)])]


def test_a_shopper_in_kazakhstan_gets_urumqi_by_the_khorgos_lane_when_only_urumqi_holds_the_sku():
    result = plan([line(1, "KURT", 3, category="dairy")], "KZ", {("CN-URC", "KURT"): 10})

    assert shipped(result) == [("CN-URC", "CN-URC-CA", [(1, 3)])]
    assert result.shipments[0].crossings == ("Khorgos–Nurkent",)
    assert result.shipments[0].transit_days_min == 6
    assert result.shipments[0].transit_days_max == 14


def test_a_cheaper_lane_that_refuses_the_goods_is_passed_over():
    stock = {("CN-URC", "KURT"): 9, ("RU-WH", "KURT"): 9, ("CN-URC", "VODKA"): 9}
    stock[("RU-WH", "VODKA")] = 9
    kurt = plan([line(1, "KURT", category="dairy")], "KZ", stock)
    vodka = plan([line(1, "VODKA", category="beverages", hs_code="220860")], "KZ", stock)

    assert shipped(kurt) == [("CN-URC", "CN-URC-CA", [(1, 1)])]  # Khorgos is cheaper
    assert shipped(vodka) == [("RU-WH", "RU-WH-EAEU", [(1, 1)])]
    assert (
        "CN-URC: lane CN-URC-CA refuses line 1 (VODKA): HS 220860 is refused (HS 2208…)"
        in vodka.explanation.reasons()
    )


def test_goods_refused_by_every_lane_raise_corridor_refuses_naming_the_line():
    stock = {("CN-URC", "VODKA"): 9}
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "VODKA", category="beverages", hs_code="220860")], "KZ", stock)

    error = raised.value
    assert (error.status, error.code) == (422, "corridor_refuses")
    assert (error.extra["country"], error.extra["region"]) == ("KZ", None)
    assert [r.line for r in error.lines] == [1]
    assert error.extra["lines"][0]["sku"] == "VODKA"
    assert "HS 220860 is refused" in error.extra["lines"][0]["reasons"][0]


def test_goods_outside_the_cbec_positive_list_are_not_sent_to_china():
    stock = {("CN-SFH", "BALM"): 9, ("RU-USS", "BALM"): 9}
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "BALM", category="beauty", outside_cbec=True)], "CN", stock)

    reasons = raised.value.lines[0].reasons
    assert [reason.split(":")[0] for reason in reasons] == ["CN-SFH", "CN-URC", "RU-USS"]
    assert all("outside China's CBEC positive list" in reason for reason in reasons)


def test_a_parcel_over_the_lane_value_limit_is_refused_with_the_parcel_reason():
    stock = {("CN-SFH", "CAVIAR"): 9}
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "CAVIAR", 3, category="seafood", value="2000")], "CN", stock)

    assert raised.value.lines[0].reasons == (
        "CN-SFH: parcel by CN-SFH-CN is worth 6000.00 CNY, over its 5000.00 CNY limit",
    )
    assert raised.value.extra["country"] == "CN"


def test_a_line_heavier_than_one_parcel_and_than_any_nodes_stock_is_split_over_two_nodes():
    # Neither node holds the 40: the line is split over both, each parcel within 31 kg.
    # (Before parcels could split, this held with 40 at each node too; now one node
    # sends those in two parcels: see the next test.)
    stock = {("CN-URC", "BUCKWHEAT"): 25, ("RU-WH", "BUCKWHEAT"): 25}
    result = plan([line(1, "BUCKWHEAT", 40, category="grain-oil", weight_g=1000)], "KZ", stock)

    assert sorted(s.node for s in result.shipments) == ["CN-URC", "RU-WH"]
    assert sum(s.lines[0].quantity for s in result.shipments) == 40
    assert all(s.weight_g <= 31000 for s in result.shipments)


def test_a_line_heavier_than_one_parcel_goes_in_two_parcels_from_one_node():
    stock = {("CN-URC", "BUCKWHEAT"): 40, ("RU-WH", "BUCKWHEAT"): 40}
    result = plan([line(1, "BUCKWHEAT", 40, category="grain-oil", weight_g=1000)], "KZ", stock)

    assert shipped(result) == [
        ("CN-URC", "CN-URC-CA", [(1, 31)]),
        ("CN-URC", "CN-URC-CA", [(1, 9)]),
    ]
    chosen = next(option for option in result.explanation.options if option.chosen)
    assert chosen.keys[0].value == "2 shipments (whole order from CN-URC in 2 parcels)"
    assert result.explanation.decision.startswith(
        "CN-URC ships 40 × BUCKWHEAT in 2 parcels by lane CN-URC-CA (31 kg parcel limit); "
        "preferred to RU-WH (2 parcels) on lowest_landed_cost"
    )


def test_a_heavy_order_of_many_lines_shares_two_parcels_within_the_weight_limit():
    skus = [f"OIL-{n}" for n in range(1, 10)]
    stock = {(node, sku): 5 for node in ("RU-WH", "CN-URC") for sku in skus}
    lines = [
        line(n, sku, category="grain-oil", hs_code="151219", weight_g=4000)
        for n, sku in enumerate(skus, start=1)
    ]
    result = plan(lines, "KZ", stock)  # 36 kg: no single parcel may take it

    # One node, two parcels of one lane (before parcels could split: one from each node).
    assert len(result.shipments) == 2
    assert len({(s.node, s.lane) for s in result.shipments}) == 1
    assert all(s.weight_g <= 31000 for s in result.shipments)
    assert sum(len(s.lines) for s in result.shipments) == 9


def test_a_line_is_split_only_as_a_last_resort():
    # Whole lines from three nodes beat two shipments that split line 3.
    stock = {
        ("CN-SFH", "A"): 1,
        ("CN-URC", "B"): 1,
        ("RU-USS", "C"): 4,
        ("CN-SFH", "C"): 2,
        ("CN-URC", "C"): 2,
    }
    result = plan([line(1, "A"), line(2, "B"), line(3, "C", 4)], "CN", stock)

    assert sorted(shipped(result)) == [
        ("CN-SFH", "CN-SFH-CN", [(1, 1)]),
        ("CN-URC", "CN-URC-CN", [(2, 1)]),
        ("RU-USS", "RU-USS-CN", [(3, 4)]),
    ]


def test_a_line_larger_than_any_node_holds_is_split_across_the_fewest_nodes():
    stock = {("CN-SFH", "HONEY"): 6, ("CN-URC", "HONEY"): 6, ("RU-USS", "HONEY"): 6}
    result = plan([line(1, "HONEY", 10, category="honey")], "CN", stock)

    assert len(result.shipments) == 2
    assert {s.node for s in result.shipments} == {"CN-SFH", "CN-URC"}  # both inside China
    assert sum(s.lines[0].quantity for s in result.shipments) == 10
    chosen = next(option for option in result.explanation.options if option.chosen)
    assert chosen.keys[0].value == "2 shipments, 1 line split"


def test_two_lines_of_one_sku_never_take_more_than_a_node_holds():
    stock = {("CN-SFH", "ZEFIR"): 4, ("CN-URC", "ZEFIR"): 1}
    result = plan([line(1, "ZEFIR", 3), line(2, "ZEFIR", 2)], "CN", stock)

    assert result.quantities() == {("CN-SFH", "ZEFIR"): 4, ("CN-URC", "ZEFIR"): 1}


def test_insufficient_stock_names_each_short_line_with_what_is_available():
    stock = {("CN-SFH", "ALENKA"): 1, ("CN-URC", "ALENKA"): 1, ("RU-WH", "ALENKA"): 99}
    stock[("CN-SFH", "KURT")] = 5
    lines = [line(1, "ALENKA", 3), line(2, "KURT", 2), line(3, "NOWHERE", 1)]
    with pytest.raises(InsufficientStock) as raised:
        plan(lines, "CN", stock)

    error = raised.value
    assert (error.status, error.code) == (409, "insufficient_stock")
    # RU-WH holds 99 but has no lane to China: it does not count.
    assert error.extra["lines"] == [
        {"line": 1, "sku": "ALENKA", "wanted": 3, "available": 2},
        {"line": 3, "sku": "NOWHERE", "wanted": 1, "available": 0},
    ]
    assert "line 1 (ALENKA): 3 wanted, 2 available" in str(error)
    assert error.explanation is not None


def test_lines_of_one_sku_are_short_in_line_order():
    with pytest.raises(InsufficientStock) as raised:
        plan([line(1, "ZEFIR", 3), line(2, "ZEFIR", 2)], "CN", {("CN-SFH", "ZEFIR"): 4})

    assert [(s.line, s.wanted, s.available) for s in raised.value.lines] == [(2, 2, 1)]


def test_goods_held_only_where_no_lane_reaches_are_refused_naming_the_destination():
    # Issue #23: honey sits in Urumqi alone, and Urumqi has no lane to Russia; RU-WH
    # serves Russia but holds none. More stock at RU-WH is not what the shopper waits for.
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "HONEY", 2, category="honey")], "RU", {("CN-URC", "HONEY"): 8})

    error = raised.value
    assert (error.status, error.code) == (422, "corridor_refuses")
    assert (error.extra["country"], error.extra["region"]) == ("RU", None)
    assert error.extra["lines"] == [
        {"line": 1, "sku": "HONEY", "reasons": ["CN-URC: no lane to RU"]}
    ]
    assert error.extra["short_lines"] == []
    assert "No lane to RU carries: line 1 (HONEY): CN-URC: no lane to RU." in str(error)


def test_a_refusal_names_the_region_of_the_destination():
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "HONEY")], "RU", {("CN-URC", "HONEY"): 8}, region="RU-SIB")

    assert (raised.value.extra["country"], raised.value.extra["region"]) == ("RU", "RU-SIB")
    assert raised.value.lines[0].reasons == ("CN-URC: no lane to RU (RU-SIB)",)


def test_goods_held_only_at_a_node_whose_lane_refuses_them_are_refused_with_its_reason():
    # RU-WH's lane to Kazakhstan carries the vodka but RU-WH holds none; CN-URC holds it,
    # and its Khorgos lane refuses spirits.
    vodka = line(1, "VODKA", category="beverages", hs_code="220860")
    with pytest.raises(CorridorRefuses) as raised:
        plan([vodka], "KZ", {("CN-URC", "VODKA"): 9, ("RU-WH", "VODKA"): 0})

    [refused] = raised.value.lines
    assert refused.reasons == (
        "CN-URC: lane CN-URC-CA refuses line 1 (VODKA): HS 220860 is refused (HS 2208…)",
    )


def test_some_units_where_a_lane_reaches_make_a_shortage_not_a_refusal():
    # RU-WH ships to Russia and holds 1; the 8 in Urumqi cannot come: 1 available.
    stock = {("RU-WH", "HONEY"): 1, ("CN-URC", "HONEY"): 8}
    with pytest.raises(InsufficientStock) as raised:
        plan([line(1, "HONEY", 3)], "RU", stock)

    assert raised.value.extra["lines"] == [{"line": 1, "sku": "HONEY", "wanted": 3, "available": 1}]


def test_a_refused_line_and_a_short_one_are_answered_together_as_a_refusal():
    stock = {("CN-URC", "HONEY"): 8, ("RU-WH", "ALENKA"): 1}
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "ALENKA", 2), line(2, "HONEY")], "RU", stock)

    error = raised.value
    assert [r.line for r in error.lines] == [2]
    assert error.extra["short_lines"] == [{"line": 1, "sku": "ALENKA", "wanted": 2, "available": 1}]
    assert "Not enough stock either: line 1 (ALENKA): 2 wanted, 1 available." in str(error)


def test_a_line_every_lane_refuses_is_refused_even_beside_a_short_line():
    vodka = line(2, "VODKA", category="beverages", hs_code="220860")
    stock = {("CN-URC", "VODKA"): 9, ("CN-URC", "KURT"): 1}
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "KURT", 2), vodka], "UZ", stock)  # only CN-URC's lane reaches UZ

    error = raised.value
    assert [(r.line, r.reasons[0].split(":")[0]) for r in error.lines] == [(2, "CN-URC")]
    assert [(s.line, s.available) for s in error.short_lines] == [(1, 1)]
    assert error.extra["country"] == "UZ"


@pytest.mark.parametrize(
    "overrides",
    [
        {"nodes": tuple(Node(n.code, n.country, n.priority, n.code != "CN-URC") for n in NODES)},
        {"excluded_nodes": {"CN-URC": "flooded"}},
    ],
    ids=["inactive", "excluded"],
)
def test_stock_at_an_inactive_or_excluded_node_counts_for_neither_answer(overrides):
    # Urumqi's honey can come neither way: it is no refusal, and no unit of it is available.
    stock = {("CN-URC", "HONEY"): 8}
    with pytest.raises(InsufficientStock) as to_russia:
        plan([line(1, "HONEY", 2)], "RU", stock, **overrides)
    with pytest.raises(InsufficientStock) as to_kazakhstan:
        plan([line(1, "HONEY", 2)], "KZ", {**stock, ("RU-WH", "HONEY"): 1}, **overrides)

    assert [(s.wanted, s.available) for s in to_russia.value.lines] == [(2, 0)]
    assert [(s.wanted, s.available) for s in to_kazakhstan.value.lines] == [(2, 1)]


def test_a_destination_no_lane_serves_raises_no_lane_to_destination():
    with pytest.raises(NoLaneToDestination) as raised:
        plan([line(1, "ALENKA")], "IN", ALENKA_EVERYWHERE, region="IN-MH")

    error = raised.value
    assert (error.status, error.code) == (422, "no_lane_to_destination")
    assert error.extra == {"country": "IN", "region": "IN-MH"}


def test_routing_errors_become_problem_json_bodies_with_their_lines():
    app = Flask(__name__)
    with pytest.raises(InsufficientStock) as raised:
        plan([line(1, "NOWHERE", 2)], "CN", {})
    with app.test_request_context("/api/v1/orders", method="POST"):
        response = handle_domain_error(raised.value)

    body = json.loads(response.get_data())
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert body["code"] == "insufficient_stock"
    assert body["lines"] == [{"line": 1, "sku": "NOWHERE", "wanted": 2, "available": 0}]


def test_an_inactive_node_ships_nothing():
    nodes = tuple(Node(n.code, n.country, n.priority, active=n.code != "CN-SFH") for n in NODES)
    result = plan([line(1, "ALENKA")], "CN", ALENKA_EVERYWHERE, nodes=nodes)

    assert [s.node for s in result.shipments] == ["RU-USS"]
    assert "CN-SFH: node is inactive" in result.explanation.reasons()


def test_staff_can_exclude_a_node_that_cannot_fulfil_and_route_again():
    result = plan(
        [line(1, "ALENKA")],
        "CN",
        ALENKA_EVERYWHERE,
        excluded_nodes={"CN-SFH": "shelf damaged by water"},
    )

    assert [s.node for s in result.shipments] == ["RU-USS"]
    assert "CN-SFH: excluded by staff: shelf damaged by water" in result.explanation.reasons()


def test_an_inactive_lane_is_not_used():
    lanes = tuple(
        Lane.from_json({**lane, "active": lane["code"] != "CN-SFH-CN"}) for lane in SEEDED_LANES
    )
    result = plan([line(1, "ALENKA")], "CN", ALENKA_EVERYWHERE, lanes=lanes)

    assert [s.lane for s in result.shipments] == ["RU-USS-CN"]
    assert "CN-SFH: lane CN-SFH-CN serves CN but is inactive" in result.explanation.reasons()


# ---------------------------------------------------------------------------
# Parcels that split: one node, one lane, as few parcels as the limits allow


def honey(quantity: int, index: int = 1, sku: str = "HONEY", **extra) -> OrderLine:
    extra = {"category": "honey", "hs_code": "040900", "weight_g": 500, **extra}
    return line(index, sku, quantity, **extra)


def test_a_35_kg_order_within_russia_goes_in_two_parcels_from_one_node():
    result = plan([honey(70)], "RU", {("RU-WH", "HONEY"): 100}, region="RU-SIB")

    assert shipped(result) == [
        ("RU-WH", "RU-WH-RU", [(1, 60)]),
        ("RU-WH", "RU-WH-RU", [(1, 10)]),
    ]
    assert [s.weight_g for s in result.shipments] == [30000, 5000]
    assert [(s.parcel, s.parcels) for s in result.shipments] == [(1, 2), (2, 2)]
    assert result.quantities() == {("RU-WH", "HONEY"): 70}  # what checkout reserves
    why = "RU-WH ships 70 × HONEY in 2 parcels by lane RU-WH-RU (30 kg parcel limit)"
    assert result.explanation.decision == f"{why}; it is the only way."
    assert all(s.packing == why for s in result.shipments)
    assert result.as_json()["shipments"][1]["parcel"] == {"number": 2, "of": 2, "why": why}
    assert result.explanation.options[0].shipments[0] == (
        "RU-WH by RU-WH-RU, parcel 1 of 2: 60 × HONEY (line 1)"
    )


def test_each_parcel_pays_its_lanes_tariff_for_its_own_weight():
    result = plan([honey(70)], "RU", {("RU-WH", "HONEY"): 100}, region="RU-SIB")

    # (350 + 60 × 30) RUB and (350 + 60 × 5) RUB, at 0.088
    assert [s.cost for s in result.shipments] == [
        Money(Decimal("189.20"), "CNY"),
        Money(Decimal("57.20"), "CNY"),
    ]
    assert result.total_cost == Money(Decimal("246.40"), "CNY")
    chosen = next(option for option in result.explanation.options if option.chosen)
    assert [key.value for key in chosen.keys[:2]] == [
        "2 shipments (whole order from RU-WH in 2 parcels)",
        "shipping 246.40 CNY",
    ]


def test_mixed_lines_take_the_fewest_parcels_largest_units_first():
    # In line order, first fit would need three parcels (14 + 14, 16, 16); the largest
    # first makes two full ones. The honey then fills what room is left.
    lines = [
        line(1, "OIL", 2, category="grain-oil", hs_code="151219", weight_g=14000),
        line(2, "FLOUR", 2, category="grain-oil", hs_code="110412", weight_g=16000),
    ]
    stock = {("RU-WH", "OIL"): 9, ("RU-WH", "FLOUR"): 9, ("RU-WH", "HONEY"): 99}
    two = plan(lines, "RU", stock, region="RU-SIB")
    with_honey = plan([*lines, honey(12, index=3)], "RU", stock, region="RU-SIB")

    assert shipped(two) == [
        ("RU-WH", "RU-WH-RU", [(1, 1), (2, 1)]),
        ("RU-WH", "RU-WH-RU", [(1, 1), (2, 1)]),
    ]
    assert [s.weight_g for s in two.shipments] == [30000, 30000]
    assert [s.weight_g for s in with_honey.shipments] == [30000, 30000, 6000]


def test_mixed_lines_of_35_kg_fill_two_parcels_not_more():
    lines = [
        line(1, "BUCKWHEAT", 3, category="grain-oil", hs_code="100810", weight_g=8000),
        honey(70, index=2),  # 24 + 35 = 59 kg: two parcels at the least
    ]
    stock = {("RU-WH", "BUCKWHEAT"): 9, ("RU-WH", "HONEY"): 99}
    result = plan(lines, "RU", stock, region="RU-SIB")

    assert shipped(result) == [
        ("RU-WH", "RU-WH-RU", [(1, 3), (2, 12)]),
        ("RU-WH", "RU-WH-RU", [(2, 58)]),
    ]
    assert "RU-WH ships 3 × BUCKWHEAT, 70 × HONEY in 2 parcels" in result.explanation.decision


def test_split_parcels_are_the_same_whatever_the_order_of_the_rows():
    lines = [
        line(1, "OIL", 3, category="grain-oil", hs_code="151219", weight_g=9000),
        honey(41, index=2),
        line(3, "ALENKA", 20),
    ]
    stock = {("RU-WH", "OIL"): 9, ("RU-WH", "HONEY"): 99, ("RU-WH", "ALENKA"): 99}
    first = plan(lines, "RU", stock, region="RU-SIB")
    again = plan(
        list(reversed(lines)),
        "RU",
        dict(reversed(stock.items())),
        region="RU-SIB",
        nodes=tuple(reversed(NODES)),
        lanes=tuple(reversed(LANES)),
    )

    assert len(first.shipments) == 2
    assert first == again
    assert first.as_json() == again.as_json()


def test_a_node_that_sends_it_in_one_parcel_beats_one_that_needs_two():
    # The Far East is served by RU-USS (no weight limit here) and by RU-WH (30 kg).
    stock = {("RU-WH", "HONEY"): 100, ("RU-USS", "HONEY"): 100}
    result = plan([honey(70)], "RU", stock, region="RU-FE")

    assert shipped(result) == [("RU-USS", "RU-USS-FE", [(1, 70)])]


def test_a_line_whose_one_unit_is_over_the_weight_limit_is_still_refused_with_the_reason():
    stock = {("RU-WH", "ANVIL"): 5}
    with pytest.raises(CorridorRefuses) as raised:
        plan([line(1, "ANVIL", 2, category="crafts", weight_g=31000)], "RU", stock)

    assert raised.value.lines[0].reasons == (
        "RU-WH: lane RU-WH-RU refuses line 1 (ANVIL): one unit weighs 31000 g, over the "
        "30000 g parcel limit",
    )


def cbec_lanes_with_a_weight_limit() -> tuple[Lane, ...]:
    return tuple(
        Lane.from_json({**lane, "max_parcel_weight_g": 30000})
        if lane["code"] == "CN-SFH-CN"
        else Lane.from_json(lane)
        for lane in SEEDED_LANES
    )


def test_a_china_order_over_the_weight_limit_splits_when_its_value_is_within_cbec():
    lanes = cbec_lanes_with_a_weight_limit()
    result = plan(
        [honey(40, weight_g=1000, value="100")], "CN", {("CN-SFH", "HONEY"): 99}, lanes=lanes
    )

    assert shipped(result) == [
        ("CN-SFH", "CN-SFH-CN", [(1, 30)]),
        ("CN-SFH", "CN-SFH-CN", [(1, 10)]),
    ]
    assert "(30 kg parcel limit)" in result.explanation.decision


def test_china_orders_are_never_split_to_get_under_the_cbec_transaction_limit():
    # 6,000 CNY in 40 kg: two 30 kg boxes would each be under 5,000 CNY, but the limit
    # is on the transaction (the order), not on the box.
    lanes = cbec_lanes_with_a_weight_limit()
    stock = {("CN-SFH", "HONEY"): 99}
    with pytest.raises(CorridorRefuses) as raised:
        plan([honey(40, weight_g=1000, value="150")], "CN", stock, lanes=lanes)

    assert raised.value.lines[0].reasons == (
        "CN-SFH: parcel by CN-SFH-CN weighs 40000 g, over its 30000 g limit",
    )


def test_a_carriers_value_limit_is_split_for_like_weight():
    carrier_limited = tuple(
        Lane.from_json({**lane, "max_parcel_value": {"amount": "1000", "currency": "CNY"}})
        if lane["code"] == "RU-WH-RU"
        else Lane.from_json(lane)
        for lane in SEEDED_LANES
    )
    stock = {("RU-WH", "CAVIAR"): 9}
    caviar = line(1, "CAVIAR", 5, category="seafood", hs_code="160431", value="400")
    result = plan([caviar], "RU", stock, region="RU-SIB", lanes=carrier_limited)

    assert shipped(result) == [
        ("RU-WH", "RU-WH-RU", [(1, 2)]),
        ("RU-WH", "RU-WH-RU", [(1, 2)]),
        ("RU-WH", "RU-WH-RU", [(1, 1)]),
    ]
    assert result.explanation.decision.startswith(
        "RU-WH ships 5 × CAVIAR in 3 parcels by lane RU-WH-RU (1000.00 CNY parcel value limit)"
    )


# ---------------------------------------------------------------------------
# Costs, dates and quotes


def test_a_shipment_costs_the_sum_of_its_legs_in_the_compared_currency():
    result = plan([line(1, "ALENKA", 2)], "CN", {("RU-USS", "ALENKA"): 5})

    # truck (200 + 15) RUB × 0.088 + crossing 30 + 4 + last mile 12 + 5, for 1 chargeable kg
    assert result.shipments[0].cost == Money(Decimal("69.92"), "CNY")
    assert result.total_cost == Money(Decimal("69.92"), "CNY")


def test_costs_can_be_compared_and_reported_in_roubles():
    result = plan([line(1, "ALENKA", 2)], "RU", ALENKA_EVERYWHERE, compare_in="RUB")

    assert result.shipments[0].cost == Money(Decimal("410.00"), "RUB")


def test_a_lane_cost_without_an_exchange_rate_is_an_error_not_a_guess():
    rates = RateTable([ExchangeRateQuote("RUB", "CNY", Decimal("0.088"), RATES_DAY, "test")])
    with pytest.raises(UnknownCurrency):
        plan([line(1, "KURT")], "KZ", {("CN-URC", "KURT"): 1}, rates=rates)


def test_ship_by_is_today_before_the_lanes_cut_off_in_its_time_zone():
    before = datetime(2026, 3, 10, 7, 59, tzinfo=UTC)  # 15:59 in Shanghai
    result = plan([line(1, "ALENKA")], "CN", ALENKA_EVERYWHERE, now=before)

    shipment = result.shipments[0]
    assert shipment.ship_by == date(2026, 3, 10)
    assert (shipment.deliver_from, shipment.deliver_by) == (date(2026, 3, 12), date(2026, 3, 15))


def test_ship_by_is_tomorrow_after_the_lanes_cut_off():
    after = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
    result = plan([line(1, "ALENKA")], "CN", ALENKA_EVERYWHERE, now=after)

    assert result.shipments[0].ship_by == date(2026, 3, 11)
    assert result.shipments[0].deliver_by == date(2026, 3, 16)


def test_a_carrier_quote_overrides_the_lane_tariff_and_transit():
    quote = CarrierQuote("CN-SFH-CN", cost=Money(Decimal("500"), "CNY"), transit_days_max=9)
    result = plan([line(1, "ALENKA")], "CN", ALENKA_EVERYWHERE, quotes=[quote])

    assert [s.node for s in result.shipments] == ["RU-USS"]
    option = next(o for o in result.explanation.options if not o.chosen)
    assert option.keys[1].value == "shipping 500.00 CNY"


def test_a_carrier_quote_for_one_leg_replaces_only_that_leg():
    quote = CarrierQuote("RU-USS-CN", leg=0, cost=Money(Decimal("100"), "RUB"), transit_days_min=3)
    result = plan([line(1, "ALENKA")], "CN", {("RU-USS", "ALENKA"): 5}, quotes=[quote])

    shipment = result.shipments[0]
    assert shipment.cost == Money(Decimal("59.80"), "CNY")  # 8.80 + 34 + 17
    assert (shipment.transit_days_min, shipment.transit_days_max) == (6, 9)


# ---------------------------------------------------------------------------
# The explanation staff read


def test_the_explanation_gives_every_node_every_rules_verdict_and_reason():
    stock = {("CN-SFH", "ONLYSFH-1"): 5, ("CN-URC", "ONLYURC-1"): 5}
    result = plan([line(1, "ONLYURC-1"), line(2, "ONLYSFH-1")], "CN", stock)

    explanation = result.explanation
    assert [c.node for c in explanation.candidates] == ["CN-SFH", "CN-URC", "RU-USS", "RU-WH"]
    for candidate in explanation.candidates:
        assert [v.rule for v in candidate.verdicts] == [
            "node_is_active",
            "lane_serves_destination",
            "corridor_accepts_lines",
            "stock_available",
        ]
        assert all(v.reasons for v in candidate.verdicts)
    reasons = explanation.reasons()
    assert "CN-URC: lane CN-URC-CN serves CN" in reasons
    assert "CN-URC: stock 0 of ONLYSFH-1 → cannot ship line 2" in reasons
    assert "RU-WH: lane RU-WH-RU serves RU, not CN" in reasons
    assert "RU-WH: no lane to CN" in reasons


def test_the_plan_and_its_explanation_are_json_as_they_are():
    result = plan([line(1, "ALENKA", 2)], "CN", ALENKA_EVERYWHERE)

    stored = json.loads(json.dumps(result.as_json()))
    assert stored["strategy"] == "default"
    assert stored["shipments"][0] == {
        "node": "CN-SFH",
        "lane": "CN-SFH-CN",
        "lines": [{"line": 1, "sku": "ALENKA", "quantity": 2}],
        "weight_g": 200,
        "cost": {"amount": "17.00", "currency": "CNY"},
        "transit_days": {"min": 2, "max": 5},
        "ship_by": "2026-03-10",
        "delivery": {"from": "2026-03-12", "by": "2026-03-15"},
        "customs_modes": ["1210"],
        "crossings": [],
        "size_mm": None,  # no SKU dimensions and no boxes in this world
        "price_source": "lane table",
        "service": None,
    }
    explanation = stored["explanation"]
    assert explanation == result.explanation.as_json()
    assert explanation["ranking"]["rules"] == [
        "fewest_shipments",
        "lowest_landed_cost",
        "fastest_delivery",
        "closest_to_destination",
        "node_priority",
    ]
    assert explanation["ranking"]["options_considered"] == 2
    assert explanation["candidates"][0]["verdicts"][3] == {
        "rule": "stock_available",
        "ok": True,
        "reasons": ["CN-SFH: stock 50 of ALENKA ≥ 2 → can ship line 1"],
    }


def test_the_same_request_gives_the_same_plan():
    request = routing_request([line(1, "ALENKA", 2), line(2, "KURT")], "CN", ALENKA_EVERYWHERE)
    request_again = routing_request(
        [line(2, "KURT"), line(1, "ALENKA", 2)],
        "CN",
        dict(reversed(ALENKA_EVERYWHERE.items())),
        nodes=tuple(reversed(NODES)),
        lanes=tuple(reversed(LANES)),
    )

    with pytest.raises(InsufficientStock):
        DefaultStrategy().plan(request)
    stocked = {**ALENKA_EVERYWHERE, ("CN-URC", "KURT"): 1, ("CN-SFH", "KURT"): 1}
    first = DefaultStrategy().plan(routing_request(request.lines, "CN", stocked))
    second = DefaultStrategy().plan(
        routing_request(
            request_again.lines,
            "CN",
            stocked,
            nodes=request_again.nodes,
            lanes=request_again.lanes,
        )
    )
    assert first == second
    assert first.as_json() == second.as_json()


# ---------------------------------------------------------------------------
# Strategies and plugins

TINY_PLUGIN = Path(__file__).parents[1] / "plugins" / "tiny_routing"


@pytest.fixture
def fresh_strategies(monkeypatch):
    monkeypatch.setattr(strategies_module, "_loaded", {})


@pytest.mark.usefixtures("fresh_strategies")
def test_the_default_strategy_loads_even_without_an_installed_entry_point():
    strategy = load_strategy("default")

    assert isinstance(strategy, DefaultStrategy)
    assert strategy.name == "default"
    assert load_strategy("default") is strategy
    assert "default" in available_strategies()


@pytest.mark.usefixtures("fresh_strategies")
def test_an_unknown_strategy_name_lists_the_installed_ones():
    with pytest.raises(UnknownStrategy, match=r"no routing strategy named 'fastest'.*default"):
        load_strategy("fastest")


@pytest.mark.usefixtures("fresh_strategies")
def test_a_strategy_installed_by_another_package_is_found_by_its_entry_point(monkeypatch):
    monkeypatch.syspath_prepend(str(TINY_PLUGIN))

    tiny = load_strategy("tiny")
    result = tiny.plan(
        routing_request(
            [line(1, "ALENKA")], "CN", {("CN-SFH", "ALENKA"): 5, ("CN-URC", "ALENKA"): 5}
        )
    )

    assert type(tiny).__name__ == "TinyStrategy"
    assert load_strategy("tiny") is tiny  # imported once, then kept
    assert "tiny" in available_strategies()
    assert result.strategy == "tiny"
    assert [s.node for s in result.shipments] == ["CN-URC"]  # the highest priority number
    assert result.explanation.rankers[0] == "highest_priority_number_first"


@pytest.mark.usefixtures("fresh_strategies")
def test_a_strategy_outside_the_allowed_names_is_refused_even_when_installed(monkeypatch):
    monkeypatch.syspath_prepend(str(TINY_PLUGIN))

    with pytest.raises(UnknownStrategy, match="not enabled"):
        load_strategy("tiny", allowed={"default"})


@pytest.mark.usefixtures("fresh_strategies")
def test_a_broken_plugin_says_which_one_it_is(monkeypatch, tmp_path):
    info = tmp_path / "broken_routing-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-routing\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pavilion.routing]\nbroken = no_such_module:Strategy\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(StrategyLoadError, match=r"'broken' \(no_such_module:Strategy\)"):
        load_strategy("broken")


class RefuseCraftsFromRussia(FilterRule):
    """A plugin's own filter: fragile crafts do not leave the Russian nodes."""

    name = "no_crafts_from_russia"

    def apply(self, candidate, request):
        if candidate.node.country != "RU":
            return candidate, self.verdict(candidate, True, [f"{candidate.code}: not in Russia"])
        crafts = {
            line.index: f"{candidate.code}: {line.label} is a fragile craft"
            for line in request.lines
            if line.category == "crafts"
        }
        refused = {lane.code: crafts for lane in candidate.lanes}
        return candidate.refuse(refused), self.verdict(candidate, not crafts, crafts.values())


def test_a_plugin_rule_joins_the_default_pipeline():
    strategy = DefaultStrategy().with_rules(filters=[RefuseCraftsFromRussia()], name="careful")
    stock = {("RU-WH", "GZHEL"): 5, ("CN-URC", "GZHEL"): 5}
    request = routing_request([line(1, "GZHEL", category="crafts", hs_code="691390")], "KZ", stock)

    assert [s.node for s in DefaultStrategy().plan(request).shipments] == ["CN-URC"]
    stock[("CN-URC", "GZHEL")] = 0
    with pytest.raises(CorridorRefuses, match="fragile craft"):
        strategy.plan(routing_request(request.lines, "KZ", stock))
    assert "careful" in repr(strategy)


def test_rankers_can_be_replaced_to_prefer_speed_over_cost():
    from warehouse.routing import FastestDelivery, NodePriority

    fastest = DefaultStrategy(rankers=[FastestDelivery(), NodePriority()])
    request = routing_request(
        [line(1, "KURT")], "KZ", {("CN-URC", "KURT"): 5, ("RU-WH", "KURT"): 5}
    )

    assert [s.node for s in DefaultStrategy().plan(request).shipments] == ["CN-URC"]
    assert [s.node for s in fastest.plan(request).shipments] == ["RU-WH"]  # 5–12 days, not 6–14


def test_cut_off_times_are_kept_as_local_times():
    assert LANES[0].cutoff == time(15, 0)
    assert Lane.from_json(LANES[3].as_json()) == LANES[3]
