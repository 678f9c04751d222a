"""Each routing rule on its own, and the lane and request data they read."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from catalog.money import ExchangeRateQuote, Money, RateTable
from warehouse.routing import (
    Candidate,
    ClosestToDestination,
    CorridorAcceptsLines,
    Destination,
    FastestDelivery,
    FewestShipments,
    Lane,
    LaneServesDestination,
    Leg,
    LowestLandedCost,
    Node,
    NodeIsActive,
    NodePriority,
    OrderLine,
    Parcel,
    PlanOption,
    RoutingRequest,
    Shipment,
    ShipmentLine,
    StockAvailable,
    chargeable_kg,
)

NOW = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
RATES = RateTable(
    [
        ExchangeRateQuote("RUB", "CNY", Decimal("0.088"), date(2026, 3, 1), "test"),
        ExchangeRateQuote("EUR", "CNY", Decimal("7.80"), date(2026, 3, 1), "test"),
    ]
)
SFH = Node("CN-SFH", "CN", priority=30)
USS = Node("RU-USS", "RU", priority=20)


def leg(days=(2, 5), base="12", per_kg="5", currency="CNY", **extra) -> Leg:
    return Leg(
        "cdek", "last mile", days[0], days[1], Decimal(base), Decimal(per_kg), currency, **extra
    )


def lane(code="CN-SFH-CN", node="CN-SFH", countries=("CN",), **extra) -> Lane:
    extra.setdefault("legs", (leg(),))
    return Lane(code, node, countries, **extra)


def line(index=1, sku="ALENKA", quantity=1, **extra) -> OrderLine:
    fields = {
        "category": "confectionery",
        "hs_code": "180632",
        "weight_g": 100,
        "unit_value": Money(Decimal("18.50"), "CNY"),
    }
    fields.update(extra)
    return OrderLine(index, sku, quantity, **fields)


def request(lines=None, *, country="CN", region=None, lanes=(), stock=None, **extra):
    fields = {
        "lines": lines or [line()],
        "destination": Destination(country, region),
        "nodes": (SFH, USS),
        "lanes": lanes,
        "stock": stock or {},
        "now": NOW,
        "rates": RATES,
    }
    fields.update(extra)
    return RoutingRequest(**fields)


def run(rule, node, lanes, req):
    return rule.apply(Candidate.start(node, lanes, req.lines), req)


# ---------------------------------------------------------------------------
# NodeIsActive


def test_an_active_node_passes():
    candidate, verdict = run(NodeIsActive(), SFH, (), request())

    assert candidate.ruled_out is None
    assert (verdict.rule, verdict.ok, verdict.reasons) == (
        "node_is_active",
        True,
        ("CN-SFH: node is active",),
    )


def test_an_inactive_node_is_ruled_out():
    node = Node("CN-SFH", "CN", active=False)
    candidate, verdict = run(NodeIsActive(), node, (), request(nodes=(node,)))

    assert candidate.ruled_out == "CN-SFH: node is inactive"
    assert not verdict.ok
    assert candidate.shippable(line()) == 0


def test_a_node_staff_excluded_is_ruled_out_with_their_reason():
    req = request(excluded_nodes={"CN-SFH": "stock count wrong"})
    candidate, verdict = run(NodeIsActive(), SFH, (), req)

    assert verdict.reasons == ("CN-SFH: excluded by staff: stock count wrong",)
    assert candidate.ruled_out


# ---------------------------------------------------------------------------
# LaneServesDestination


def test_a_lane_to_the_destination_country_serves_it():
    served = lane()
    candidate, verdict = run(LaneServesDestination(), SFH, (served,), request(lanes=(served,)))

    assert candidate.lanes == (served,)
    assert verdict.ok
    assert verdict.reasons == ("CN-SFH: lane CN-SFH-CN serves CN",)


def test_a_lane_to_other_countries_does_not_serve():
    other = lane("RU-WH-RU", "RU-USS", ("RU",))
    candidate, verdict = run(LaneServesDestination(), USS, (other,), request(lanes=(other,)))

    assert candidate.lanes == ()
    assert not verdict.ok
    assert verdict.reasons == ("RU-USS: lane RU-WH-RU serves RU, not CN", "RU-USS: no lane to CN")


def test_a_lane_limited_to_the_far_east_serves_only_the_far_east():
    far_east = lane("RU-USS-FE", "RU-USS", ("RU",), regions=("RU-FE",))
    rule = LaneServesDestination()

    _, in_far_east = run(rule, USS, (far_east,), request(country="RU", region="RU-FE"))
    _, in_siberia = run(rule, USS, (far_east,), request(country="RU", region="RU-SIB"))
    _, unknown = run(rule, USS, (far_east,), request(country="RU"))

    assert in_far_east.ok
    assert in_far_east.reasons == ("RU-USS: lane RU-USS-FE serves RU (RU-FE)",)
    assert not in_siberia.ok
    assert in_siberia.reasons[0] == "RU-USS: lane RU-USS-FE serves RU only in RU-FE, not RU-SIB"
    assert not unknown.ok
    assert "not an unknown region" in unknown.reasons[0]


def test_an_inactive_lane_does_not_serve():
    closed = lane(active=False)
    candidate, verdict = run(LaneServesDestination(), SFH, (closed,), request())

    assert candidate.lanes == ()
    assert verdict.reasons[0] == "CN-SFH: lane CN-SFH-CN serves CN but is inactive"


def test_a_node_without_lanes_says_so():
    _, verdict = run(LaneServesDestination(), SFH, (), request())

    assert verdict.reasons == ("CN-SFH: no lane leaves this node", "CN-SFH: no lane to CN")


# ---------------------------------------------------------------------------
# CorridorAcceptsLines


def corridor(lanes, lines, **extra):
    req = request(lines, lanes=lanes, **extra)
    return run(CorridorAcceptsLines(), SFH, lanes, req)


def test_a_corridor_accepts_goods_it_does_not_refuse():
    candidate, verdict = corridor((lane(),), [line(1), line(2, "KURT")])

    assert verdict.ok
    assert verdict.reasons == ("CN-SFH: lane CN-SFH-CN accepts all 2 lines",)
    assert candidate.carries(1)
    assert candidate.carries(2)


def test_a_corridor_refuses_a_category():
    strict = lane(refuses_categories=("beverages",))
    candidate, verdict = corridor((strict,), [line(1), line(2, "KVASS", category="beverages")])

    assert not verdict.ok
    assert verdict.reasons == (
        "CN-SFH: lane CN-SFH-CN refuses line 2 (KVASS): category beverages is refused",
    )
    assert candidate.carries(1)
    assert not candidate.carries(2)
    assert candidate.refusals[2] == verdict.reasons


def test_a_corridor_refuses_an_hs_prefix():
    strict = lane(refuses_hs_prefixes=("2208",))
    candidate, verdict = corridor((strict,), [line(1, "VODKA", hs_code="220860")])

    assert not candidate.carries(1)
    assert verdict.reasons[0].endswith("HS 220860 is refused (HS 2208…)")


def test_the_cbec_flag_matters_only_on_lanes_that_require_the_positive_list():
    goods = [line(1, "BALM", outside_cbec_positive_list=True)]
    cbec, _ = corridor((lane(requires_cbec_positive_list=True),), goods)
    free, _ = corridor((lane(),), goods)

    assert not cbec.carries(1)
    assert free.carries(1)
    assert cbec.refusals[1] == (
        "CN-SFH: lane CN-SFH-CN refuses line 1 (BALM): outside China's CBEC positive list",
    )


def test_a_unit_heavier_than_the_parcel_limit_is_refused():
    light = lane(max_parcel_weight_g=31000)
    candidate, verdict = corridor((light,), [line(1, "ANVIL", weight_g=32000)])

    assert not candidate.carries(1)
    assert "one unit weighs 32000 g, over the 31000 g parcel limit" in verdict.reasons[0]


def test_a_unit_worth_more_than_the_parcel_limit_is_refused_in_the_limits_currency():
    capped = lane(max_parcel_value=Money(Decimal("200"), "EUR"))
    cheap = line(1, "HONEY", unit_value=Money(Decimal("1500"), "CNY"))  # 192.31 EUR
    dear = line(2, "CAVIAR", unit_value=Money(Decimal("1600"), "CNY"))  # 205.13 EUR
    candidate, verdict = corridor((capped,), [cheap, dear])

    assert candidate.carries(1)
    assert not candidate.carries(2)
    assert "one unit is worth 205.13 EUR, over the 200.00 EUR parcel limit" in verdict.reasons[0]


def test_a_line_one_lane_refuses_can_still_go_by_another_lane_of_the_node():
    strict = lane(refuses_categories=("beverages",))
    lenient = lane("CN-SFH-CN-EXPRESS")
    candidate, verdict = corridor((lenient, strict), [line(1, "KVASS", category="beverages")])

    assert verdict.ok
    assert candidate.carries(1)
    assert candidate.lanes_carrying([1]) == (lenient,)


def test_a_node_with_no_lane_left_has_nothing_to_check():
    _, verdict = corridor((), [line()])

    assert not verdict.ok
    assert verdict.reasons == ("CN-SFH: no lane to check",)


def test_a_parcel_over_the_weight_limit_is_refused_and_one_at_the_limit_passes():
    capped = lane(max_parcel_weight_g=1000)
    rule, req = CorridorAcceptsLines(), request(lanes=(capped,))

    at_limit = Parcel(SFH, capped, ((line(weight_g=250), 4),))
    over = Parcel(SFH, capped, ((line(weight_g=250), 5),))

    assert rule.check_parcel(at_limit, req) is None
    assert rule.check_parcel(over, req) == (
        "CN-SFH: parcel by CN-SFH-CN weighs 1250 g, over its 1000 g limit"
    )


def test_a_parcel_over_the_value_limit_is_refused():
    capped = lane(max_parcel_value=Money(Decimal("5000"), "CNY"))
    rule, req = CorridorAcceptsLines(), request(lanes=(capped,))
    items = (
        (line(1, unit_value=Money(Decimal("2500"), "CNY")), 1),
        (line(2, unit_value=Money(Decimal("30000"), "RUB")), 1),  # 2640 CNY
    )

    assert rule.check_parcel(Parcel(SFH, capped, items), req) == (
        "CN-SFH: parcel by CN-SFH-CN is worth 5140.00 CNY, over its 5000.00 CNY limit"
    )
    assert rule.check_parcel(Parcel(SFH, capped, items[:1]), req) is None


# ---------------------------------------------------------------------------
# StockAvailable


def test_stock_covering_a_line_lets_the_node_ship_it():
    req = request([line(1, "ALENKA", 2)], stock={("CN-SFH", "ALENKA"): 7})
    candidate, verdict = run(StockAvailable(), SFH, (lane(),), req)

    assert verdict.ok
    assert verdict.reasons == ("CN-SFH: stock 7 of ALENKA ≥ 2 → can ship line 1",)
    assert candidate.ships_whole(req.lines[0])


def test_no_stock_means_the_line_cannot_ship_from_that_node():
    req = request([line(1, "ALENKA"), line(2, "ONLYSFH-1")], stock={("CN-SFH", "ALENKA"): 1})
    candidate, verdict = run(StockAvailable(), Node("CN-URC", "CN"), (), req)

    assert not verdict.ok
    assert verdict.reasons[1] == "CN-URC: stock 0 of ONLYSFH-1 → cannot ship line 2"
    assert candidate.units_of("ONLYSFH-1") == 0


def test_some_stock_lets_the_node_ship_part_of_a_line():
    req = request([line(1, "HONEY", 5)], stock={("CN-SFH", "HONEY"): 2})
    candidate, verdict = run(StockAvailable(), SFH, (lane(),), req)

    assert verdict.reasons == ("CN-SFH: stock 2 of HONEY < 5 → can ship 2 of 5 units of line 1",)
    assert candidate.shippable(req.lines[0]) == 2


def test_lines_of_one_sku_share_the_nodes_stock():
    req = request([line(1, "ZEFIR", 3), line(2, "ZEFIR", 2)], stock={("CN-SFH", "ZEFIR"): 4})
    candidate, verdict = run(StockAvailable(), SFH, (lane(),), req)

    assert not verdict.ok
    assert verdict.reasons[-1] == "CN-SFH: stock 4 of ZEFIR < 5 wanted by lines 1, 2 together"
    assert not candidate.ships_whole_order(req.lines)


def test_negative_stock_counts_as_none():
    req = request([line()], stock={("CN-SFH", "ALENKA"): -3})
    candidate, _ = run(StockAvailable(), SFH, (lane(),), req)

    assert candidate.units_of("ALENKA") == 0


def test_without_a_stock_rule_stock_is_not_limited():
    candidate = Candidate.start(SFH, (lane(),), [line(1, "ALENKA", 99)])

    assert candidate.ships_whole(line(1, "ALENKA", 99))


# ---------------------------------------------------------------------------
# Rankers


def shipment(node="CN-SFH", cost="17", deliver=(2, 5), lines=((1, 1),)) -> Shipment:
    ship_by = date(2026, 3, 10)
    return Shipment(
        node=node,
        lane=f"{node}-X",
        lines=tuple(ShipmentLine(i, "SKU", q) for i, q in lines),
        weight_g=100,
        cost=Money(Decimal(cost), "CNY"),
        transit_days_min=deliver[0],
        transit_days_max=deliver[1],
        ship_by=ship_by,
        deliver_from=ship_by + timedelta(days=deliver[0]),
        deliver_by=ship_by + timedelta(days=deliver[1]),
    )


def option(*pairs, split_lines=0) -> PlanOption:
    return PlanOption(
        tuple(s for s, _ in pairs), tuple(n for _, n in pairs), split_lines=split_lines
    )


def test_fewest_shipments_prefers_one_node_then_fewer_split_lines():
    rule, req = FewestShipments(), request()
    one = option((shipment(), SFH))
    two = option((shipment(), SFH), (shipment("RU-USS"), USS))
    two_split = option((shipment(), SFH), (shipment("RU-USS"), USS), split_lines=1)

    assert rule.key(one, req) < rule.key(two, req) < rule.key(two_split, req)
    assert rule.describe(one, req) == "1 shipment (whole order from one node)"
    assert rule.describe(two_split, req) == "2 shipments, 1 line split"
    assert rule.narrows_to_fewest_shipments


def test_fewest_shipments_prefers_one_node_in_two_parcels_to_two_nodes():
    rule, req = FewestShipments(), request()
    two_parcels = option((shipment(), SFH), (shipment(), SFH))
    two_nodes = option((shipment(), SFH), (shipment("RU-USS"), USS))

    assert rule.key(option((shipment(), SFH)), req) < rule.key(two_parcels, req)
    assert rule.key(two_parcels, req) < rule.key(two_nodes, req)
    assert rule.describe(two_parcels, req) == "2 shipments (whole order from CN-SFH in 2 parcels)"


def test_node_priority_counts_a_node_once_however_many_parcels_it_sends():
    rule, req = NodePriority(), request()
    two_parcels = option((shipment(), SFH), (shipment(), SFH))

    assert rule.key(two_parcels, req) == rule.key(option((shipment(), SFH)), req)
    assert rule.describe(two_parcels, req) == "CN-SFH priority 30"


def test_lowest_landed_cost_adds_the_shipments():
    rule, req = LowestLandedCost(), request()
    cheap = option((shipment(cost="17"), SFH))
    dear = option((shipment(cost="10"), SFH), (shipment("RU-USS", cost="10"), USS))

    assert rule.key(cheap, req) < rule.key(dear, req)
    assert rule.describe(dear, req) == "shipping 20.00 CNY"


def test_lowest_landed_cost_counts_duties_when_an_estimator_is_given():
    def duties(s: Shipment, req: RoutingRequest) -> Money | None:
        return Money(Decimal("100"), "RUB") if s.node == "RU-USS" else None

    rule, req = LowestLandedCost(duties=duties), request()
    domestic = option((shipment(cost="17"), SFH))
    imported = option((shipment("RU-USS", cost="10"), USS))

    assert rule.key(domestic, req) == Decimal("17.00")
    assert rule.key(imported, req) == Decimal("18.80")
    assert rule.describe(imported, req) == "shipping 10.00 + duties 8.80 = 18.80 CNY"


def test_fastest_delivery_compares_the_last_delivery_date_then_the_first():
    rule, req = FastestDelivery(), request()
    steady = option((shipment(deliver=(4, 5)), SFH))
    maybe_sooner = option((shipment(deliver=(1, 6)), SFH))
    sooner_start = option((shipment(deliver=(2, 5)), SFH))

    assert rule.key(sooner_start, req) < rule.key(steady, req) < rule.key(maybe_sooner, req)
    assert rule.describe(steady, req) == "delivered 2026-03-14 to 2026-03-15"


def test_closest_to_destination_counts_shipments_from_abroad():
    rule, req = ClosestToDestination(), request(country="CN")
    inside = option((shipment(), SFH))
    across = option((shipment(), SFH), (shipment("RU-USS"), USS))

    assert rule.key(inside, req) == 0
    assert rule.key(across, req) == 1
    assert rule.describe(inside, req) == "all from within CN"
    assert rule.describe(across, req) == "1 of 2 from outside CN"


def test_node_priority_prefers_the_lower_number_then_the_code():
    rule, req = NodePriority(), request()
    urc, also_30 = Node("CN-URC", "CN", priority=40), Node("CN-AAA", "CN", priority=30)

    assert rule.key(option((shipment(), SFH)), req) < rule.key(option((shipment(), urc)), req)
    assert rule.key(option((shipment(), also_30)), req) < rule.key(option((shipment(), SFH)), req)
    assert rule.describe(option((shipment(), SFH)), req) == "CN-SFH priority 30"


# ---------------------------------------------------------------------------
# Lanes and requests as data


def test_a_lanes_transit_is_the_sum_of_its_legs():
    crossing = lane(legs=(leg((1, 2)), leg((1, 2), crossing="Pogranichny–Suifenhe"), leg((2, 5))))

    assert (crossing.transit_days_min, crossing.transit_days_max) == (4, 9)
    assert crossing.crossings == ("Pogranichny–Suifenhe",)


@pytest.mark.parametrize(("weight_g", "kg"), [(0, 1), (1, 1), (1000, 1), (1001, 2), (31000, 31)])
def test_carriers_bill_whole_kilograms_rounded_up_at_least_one(weight_g, kg):
    assert chargeable_kg(weight_g) == kg


def test_a_lanes_cost_adds_each_legs_base_and_per_kg_in_one_currency():
    two_legs = lane(legs=(leg(base="200", per_kg="15", currency="RUB"), leg(base="12", per_kg="5")))

    # 2 chargeable kg: (200 + 30) RUB × 0.088 + 12 + 10 CNY
    assert two_legs.cost_for(1500, RATES, "CNY") == Money(Decimal("42.240"), "CNY")


def test_ship_by_moves_to_the_next_day_at_the_cut_off_in_the_lanes_zone():
    vladivostok = lane(cutoff=time(12, 0), timezone="Asia/Vladivostok")

    assert vladivostok.ship_by(datetime(2026, 3, 10, 1, 59, tzinfo=UTC)) == date(2026, 3, 10)
    assert vladivostok.ship_by(datetime(2026, 3, 10, 2, 0, tzinfo=UTC)) == date(2026, 3, 11)


def test_a_lane_round_trips_through_json():
    rich = lane(
        regions=("RU-FE",),
        refuses_categories=("beverages",),
        refuses_hs_prefixes=("2208",),
        requires_cbec_positive_list=True,
        max_parcel_value=Money(Decimal("5000"), "CNY"),
        max_parcel_weight_g=31000,
        cutoff=time(14, 30),
        timezone="Asia/Vladivostok",
        legs=(leg(crossing="Pogranichny–Suifenhe", customs_mode="9610"),),
    )

    assert Lane.from_json(rich.as_json()) == rich


def test_a_lane_with_an_unknown_time_zone_is_refused_when_built():
    with pytest.raises(Exception, match="Mars"):
        lane(timezone="Mars/Olympus")


def test_a_request_needs_an_aware_time_unique_lines_and_known_nodes():
    with pytest.raises(ValueError, match="aware"):
        request(now=datetime(2026, 3, 10, 9, 0))
    with pytest.raises(ValueError, match="unique"):
        request([line(1), line(1, "KURT")])
    with pytest.raises(ValueError, match="unknown node"):
        request(lanes=(lane("X-CN", "X"),))
    with pytest.raises(ValueError, match="positive"):
        line(quantity=0)
