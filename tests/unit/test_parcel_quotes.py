"""Parcel sizes, quote bands, and the routing engine pricing each parcel by its band (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.money import Money
from warehouse.routing import (
    FILL_FACTOR,
    Box,
    CorridorRefuses,
    Destination,
    Lane,
    Leg,
    Node,
    OrderLine,
    Packaging,
    ParcelBand,
    ParcelQuote,
    QuoteTable,
    RoutingRequest,
    load_strategy,
    parcel_size,
)

BOXES = Packaging(
    (
        Box("S", 200, 150, 100),  # 3.0 l
        Box("M", 300, 200, 150),  # 9.0 l
        Box("L", 400, 300, 250),  # 30 l
    ),
    default_box="M",
)

# ---------------------------------------------------------------------------
# Parcel size


def test_one_unit_with_its_own_dimensions_ships_in_its_own_size():
    assert parcel_size([((80, 170, 10), 1)], BOXES) == (170, 80, 10)


def test_several_items_take_the_smallest_box_they_fill_at_the_fill_factor():
    # 2 × 1.0 l = 2.0 l: within 75 % of S (3.0 l → 2.25 l).
    assert parcel_size([((100, 100, 100), 2)], BOXES) == (200, 150, 100)
    # 3 × 1.0 l = 3.0 l: S's volume, but not at 75 %; M takes it.
    assert parcel_size([((100, 100, 100), 3)], BOXES) == (300, 200, 150)
    assert Decimal("0.75") == FILL_FACTOR


def test_an_item_too_long_for_a_box_takes_a_box_it_fits_in_whatever_the_volume():
    # 0.25 l would fill S at 8 %, but a 250 mm side does not go into a 200 mm box.
    assert parcel_size([((250, 50, 20), 2)], BOXES) == (300, 200, 150)


def test_goods_without_dimensions_go_in_the_default_box():
    assert parcel_size([(None, 3)], BOXES) == (300, 200, 150)
    # Mixed: the known items would fit S, the unknown one needs the default box at least.
    assert parcel_size([((100, 100, 50), 1), (None, 1)], BOXES) == (300, 200, 150)


def test_a_node_without_boxes_and_goods_without_dimensions_give_no_size():
    assert parcel_size([(None, 2)], None) is None
    assert parcel_size([(None, 2)], Packaging()) is None


def test_goods_no_box_holds_get_a_carton_as_near_a_cube_as_the_largest_item_allows():
    # 60 l at 75 % = 80 l: 500 mm long for the item, then 400 × 400 mm.
    assert parcel_size([((500, 400, 100), 3)], BOXES) == (500, 400, 400)
    # 120 l at 75 % = 160 l of small items: a 543 mm cube.
    assert parcel_size([((100, 100, 100), 120)], BOXES) == (543, 543, 543)


def test_a_band_rounds_the_weight_up_to_a_kilogram_and_each_side_up_to_5_cm():
    band = ParcelBand.of(1200, (310, 220, 150))
    assert band == ParcelBand(2, (350, 250, 150))
    assert band.weight_g == 2000
    assert str(band) == "2 kg, 35×25×15 cm"
    assert ParcelBand.of(0, None) == ParcelBand(1, None)
    assert str(ParcelBand.of(30001, None)) == "31 kg"


def test_packaging_is_read_from_the_nodes_json():
    box = {"code": "A", "length_mm": 10, "width_mm": 20, "height_mm": 30}
    packaging = Packaging.from_json({"default_box": "A", "boxes": [box]})
    assert packaging.default == Box("A", 10, 20, 30)
    assert Packaging.from_json(None) is None
    with pytest.raises(ValueError, match="default box"):
        Packaging((Box("A", 1, 1, 1),), default_box="B")


# ---------------------------------------------------------------------------
# The engine prices each parcel by its band

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


def cdek_lane(code, node, base="900", per_kg="100"):
    return Lane(
        code=code,
        node=node,
        countries=("RU",),
        legs=(Leg("cdek", "tariff 137", 3, 8, Decimal(base), Decimal(per_kg), "RUB"),),
    )


NODES = (
    Node("CN-SFH", "CN", priority=30, packaging=BOXES),
    Node("CN-URC", "CN", priority=40, packaging=BOXES),
)
LANES = (cdek_lane("CN-SFH-RU", "CN-SFH"), cdek_lane("CN-URC-RU", "CN-URC"))
TEA = (180, 120, 60)  # 1.3 l a pack


def tea_line(index, sku, quantity):
    return OrderLine(
        index=index,
        sku=sku,
        quantity=quantity,
        category="tea-coffee",
        hs_code="090230",
        weight_g=500,
        unit_value=Money(Decimal("100"), "RUB"),
        dimensions_mm=TEA,
    )


NO_QUOTES = QuoteTable()


def plan(lines, stock, table=NO_QUOTES):
    request = RoutingRequest(
        lines=tuple(lines),
        destination=Destination("RU"),
        nodes=NODES,
        lanes=LANES,
        stock=stock,
        now=NOW,
        compare_in="RUB",
        parcel_quotes=table,
    )
    return load_strategy("default").plan(request)


SPLIT_STOCK = {("CN-SFH", "PUER"): 2, ("CN-URC", "DIANHONG"): 3}
SPLIT_LINES = [tea_line(1, "PUER", 2), tea_line(2, "DIANHONG", 3)]


def rub(amount):
    return Money(Decimal(amount), "RUB")


def test_each_parcel_has_its_box_and_band_and_the_plan_lists_the_parcels_to_quote():
    result = plan(SPLIT_LINES, SPLIT_STOCK)

    by_node = {s.node: s for s in result.shipments}
    assert by_node["CN-SFH"].size_mm == (300, 200, 150)  # 2.6 l: M at 75 %
    assert by_node["CN-SFH"].band == ParcelBand(1, (300, 200, 150))
    assert by_node["CN-URC"].band == ParcelBand(2, (300, 200, 150))
    assert set(result.considered) >= set(result.shipments)
    assert all(s.price_source == "lane table" for s in result.shipments)
    assert result.explanation.pricing == ()  # no carrier asked: nothing to say


def test_each_parcel_pays_its_own_bands_quote_and_the_plan_their_sum():
    table = QuoteTable(
        (
            ParcelQuote("CN-SFH-RU", ParcelBand(1, (300, 200, 150)), "cdek", leg=0,
                        cost=rub("610"), service="137"),
            ParcelQuote("CN-URC-RU", ParcelBand(2, (300, 200, 150)), "cdek", leg=0,
                        cost=rub("745"), service="137"),
        ),
        asked={"CN-SFH-RU": "cdek not asked for this band", "CN-URC-RU": "cdek not asked"},
    )  # fmt: skip
    result = plan(SPLIT_LINES, SPLIT_STOCK, table)

    costs = {s.node: s.cost for s in result.shipments}
    assert costs == {"CN-SFH": rub("610.00"), "CN-URC": rub("745.00")}
    assert result.total_cost == rub("1355.00")
    assert {s.service for s in result.shipments} == {"137"}
    assert {s.price_source for s in result.shipments} == {"cdek tariff 137"}
    assert "CN-SFH by CN-SFH-RU: parcel 1 kg, 30×20×15 cm priced by cdek tariff 137" in (
        result.explanation.reasons()
    )


def test_a_parcel_whose_band_has_no_quote_pays_the_lane_table_and_the_reasons_say_so():
    table = QuoteTable(asked={"CN-SFH-RU": "cdek unreachable"})
    result = plan([tea_line(1, "PUER", 2)], {("CN-SFH", "PUER"): 2}, table)

    [parcel] = result.shipments
    assert parcel.cost == rub("1000.00")  # 900 + 100 × 1 kg
    assert parcel.price_source == "lane table (cdek unreachable)"
    assert any(
        "no carrier quote for a parcel of 1 kg, 30×20×15 cm; priced by the lane table" in r
        for r in result.explanation.reasons()
    )


def test_the_engine_compares_plans_on_the_parcels_quoted_prices():
    stock = {("CN-SFH", "PUER"): 5, ("CN-URC", "PUER"): 5}
    band = ParcelBand(1, (300, 200, 150))
    # By the tables both lanes cost the same and CN-SFH wins on priority…
    assert plan([tea_line(1, "PUER", 2)], stock).shipments[0].node == "CN-SFH"
    # …but CDEK prices the parcel from Urumqi lower.
    table = QuoteTable(
        (
            ParcelQuote("CN-SFH-RU", band, "cdek", leg=0, cost=rub("800"), service="137"),
            ParcelQuote("CN-URC-RU", band, "cdek", leg=0, cost=rub("700"), service="137"),
        ),
        asked={"CN-SFH-RU": "not asked", "CN-URC-RU": "not asked"},
    )
    [parcel] = plan([tea_line(1, "PUER", 2)], stock, table).shipments
    assert (parcel.node, parcel.cost) == ("CN-URC", rub("700.00"))


def test_a_parcel_the_carrier_refuses_never_falls_back_to_the_lane_table():
    heavy = [tea_line(1, "PUER", 70)]  # 35 kg
    stock = {("CN-SFH", "PUER"): 70}
    [parcel] = plan(heavy, stock).shipments  # the lane itself has no weight limit
    refused = QuoteTable(
        (ParcelQuote("CN-SFH-RU", parcel.band, "cdek", refused="no tariff takes 35 kg"),),
        asked={"CN-SFH-RU": "not asked"},
    )

    with pytest.raises(CorridorRefuses) as refusal:
        plan(heavy, stock, refused)
    [line] = refusal.value.lines
    assert any("cdek refuses it (no tariff takes 35 kg)" in why for why in line.reasons)


def test_a_refused_parcel_goes_by_another_node_when_one_can_and_the_reasons_say_why():
    heavy = [tea_line(1, "PUER", 70)]
    stock = {("CN-SFH", "PUER"): 70, ("CN-URC", "PUER"): 70}
    [parcel] = plan(heavy, stock).shipments
    assert parcel.node == "CN-SFH"
    refused = QuoteTable(
        (ParcelQuote("CN-SFH-RU", parcel.band, "cdek", refused="over 30 kg"),),
        asked={"CN-SFH-RU": "not asked"},
    )

    result = plan(heavy, stock, refused)
    assert [s.node for s in result.shipments] == ["CN-URC"]
    assert any("lane CN-SFH-RU cannot take a parcel" in r for r in result.explanation.reasons())


# ---------------------------------------------------------------------------
# A node whose goods split into parcels: each parcel its own box, band and quote

SPLIT_LANE = replace(LANES[0], max_parcel_weight_g=30_000)  # CDEK's Посылка limit


def plan_split(table=NO_QUOTES):
    request = RoutingRequest(
        lines=(tea_line(1, "PUER", 70),),  # 35 kg
        destination=Destination("RU"),
        nodes=NODES[:1],
        lanes=(SPLIT_LANE,),
        stock={("CN-SFH", "PUER"): 70},
        now=NOW,
        compare_in="RUB",
        parcel_quotes=table,
    )
    return load_strategy("default").plan(request)


# 60 packs (77.8 l at 75 %: no box holds it, a 470 mm carton) and 10 packs (17.3 l: L).
FULL_BAND = ParcelBand(30, (500, 500, 500))
REST_BAND = ParcelBand(5, (400, 300, 250))


def test_each_parcel_of_a_split_node_is_sized_from_its_own_goods_and_listed_to_quote():
    result = plan_split()

    assert [(s.parcel, s.parcels, s.weight_g) for s in result.shipments] == [
        (1, 2, 30_000),
        (2, 2, 5_000),
    ]
    assert [s.size_mm for s in result.shipments] == [(470, 470, 470), (400, 300, 250)]
    assert [s.band for s in result.shipments] == [FULL_BAND, REST_BAND]
    # Both bands are what the caller asks the carrier for, not the node's 35 kg whole.
    assert {s.band for s in result.considered} == {FULL_BAND, REST_BAND}


def test_each_parcel_of_a_split_node_pays_its_own_bands_quote_and_the_order_their_sum():
    table = QuoteTable(
        (
            ParcelQuote("CN-SFH-RU", FULL_BAND, "cdek", leg=0, cost=rub("2300"), service="137"),
            ParcelQuote("CN-SFH-RU", REST_BAND, "cdek", leg=0, cost=rub("650"), service="137"),
        ),
        asked={"CN-SFH-RU": "not asked"},
    )
    result = plan_split(table)

    assert [(s.parcel, s.cost) for s in result.shipments] == [
        (1, rub("2300.00")),
        (2, rub("650.00")),
    ]
    assert result.total_cost == rub("2950.00")
    assert {s.price_source for s in result.shipments} == {"cdek tariff 137"}
    reasons = result.explanation.reasons()
    assert "CN-SFH by CN-SFH-RU: parcel 30 kg, 50×50×50 cm priced by cdek tariff 137" in reasons
    assert "CN-SFH by CN-SFH-RU: parcel 5 kg, 40×30×25 cm priced by cdek tariff 137" in reasons


def test_a_split_parcel_whose_band_the_carrier_refuses_refuses_that_way_with_the_reason():
    table = QuoteTable(
        (
            ParcelQuote("CN-SFH-RU", FULL_BAND, "cdek", refused="over 150 cm in sum of sides"),
            ParcelQuote("CN-SFH-RU", REST_BAND, "cdek", leg=0, cost=rub("650"), service="137"),
        ),
        asked={"CN-SFH-RU": "not asked"},
    )

    with pytest.raises(CorridorRefuses) as refusal:
        plan_split(table)
    [line] = refusal.value.lines
    assert any("cdek refuses it (over 150 cm in sum of sides)" in why for why in line.reasons)
