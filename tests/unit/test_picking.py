"""Pick-walk policy: bin codes, walking order, and bins feeding shipments (no database)."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.picking import (
    BIN_FORMAT,
    BinStock,
    InvalidBin,
    PickLine,
    WantedUnits,
    bin_sort_key,
    normalize_bin,
    plan_pick_lines,
)

# ------------------------------------------------------------------ bin codes


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("A-02-05", "A-02-05"),
        ("  a-02-05\n", "A-02-05"),
        ("B-1", "B-1"),
        ("cn-10-2-3", "CN-10-2-3"),
        ("ABC-123-123-123", "ABC-123-123-123"),
        ("Z-007", "Z-007"),
    ],
)
def test_normalize_bin_strips_and_upper_cases_a_well_formed_code(typed, stored):
    assert normalize_bin(typed) == stored


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("A", "at least one number"),
        ("A-", "at least one number"),
        ("A--1", "number of 1-3 digits"),
        ("A-1234", "number of 1-3 digits"),
        ("A-1-2-3-4", "at most 3 numbers"),
        ("ABCD-1", "1-3 letters"),
        ("1-2", "1-3 letters"),
        ("A1-2", "1-3 letters"),
        ("A_1", "1-3 letters"),
        ("А-1", "1-3 letters"),  # Cyrillic А: looks right, is not
        ("A-１", "number of 1-3 digits"),  # full-width digit
        ("A 1", "1-3 letters"),
        ("A-1-B", "number of 1-3 digits"),
        ("ABC-123-123-1234", "longer than 15"),
    ],
)
def test_normalize_bin_rejects_other_shapes_with_a_readable_reason(typed, hint):
    with pytest.raises(InvalidBin) as raised:
        normalize_bin(typed)
    message = str(raised.value)
    assert hint in message
    assert "A-02-05" in message  # says what a good one looks like
    assert isinstance(raised.value, ValueError)


def test_normalize_bin_refuses_what_is_not_text():
    with pytest.raises(InvalidBin, match="not text"):
        normalize_bin(None)  # type: ignore[arg-type]


def test_bin_format_names_an_example():
    assert "A-02-05" in BIN_FORMAT


# ------------------------------------------------------------------ walking order


def walk(codes):
    return sorted(codes, key=bin_sort_key)


def test_numbers_compare_as_numbers_not_text():
    assert walk(["A-10-02", "A-2-05"]) == ["A-2-05", "A-10-02"]
    assert walk(["A-1-10", "A-1-9", "A-1-09"]) == ["A-1-09", "A-1-9", "A-1-10"]


def test_zones_go_alphabetically_before_any_number():
    assert walk(["B-1", "A-99-99"]) == ["A-99-99", "B-1"]
    assert walk(["CN-1", "B-99", "AB-1", "A-5"]) == ["A-5", "AB-1", "B-99", "CN-1"]


def test_no_bin_comes_last():
    assert walk([None, "Z-999-999-999", "A-1"]) == ["A-1", "Z-999-999-999", None]


def test_shorter_code_comes_before_its_longer_neighbour():
    assert walk(["A-2-1", "A-2", "A-10"]) == ["A-2", "A-2-1", "A-10"]


def test_walk_order_is_total_and_independent_of_input_order():
    codes = ["A-2-05", "A-02-05", "a-2-5", "A-10-02", "B-1", None, "A-99-99", "CN-10-2-3"]
    expected = walk(codes)
    for seed in range(20):
        shuffled = codes[:]
        random.Random(seed).shuffle(shuffled)
        assert walk(shuffled) == expected


def test_malformed_codes_from_old_data_still_sort_without_raising():
    assert walk(["A-2", "weird bin", "A-1"])[:2] == ["A-1", "A-2"]


# ------------------------------------------------------------------ plan_pick_lines


def test_one_sku_one_bin_feeds_every_shipment():
    lines = plan_pick_lines(
        [WantedUnits(7, 1, "TEA-1", 2), WantedUnits(3, 1, "TEA-1", 1)],
        [BinStock(1, "A-02-05", 10)],
    )
    assert lines == [PickLine(1, 1, "TEA-1", "A-02-05", 3, ((3, 1), (7, 2)))]


def test_bins_are_emptied_in_walking_order_and_a_shipment_may_span_two():
    lines = plan_pick_lines(
        [WantedUnits(1, 1, "TEA-1", 3), WantedUnits(2, 1, "TEA-1", 4)],
        [BinStock(1, "A-10-02", 9), BinStock(1, "A-2-05", 5)],
    )
    assert lines == [
        PickLine(1, 1, "TEA-1", "A-2-05", 5, ((1, 3), (2, 2))),
        PickLine(2, 1, "TEA-1", "A-10-02", 2, ((2, 2),)),
    ]


def test_what_the_bins_cannot_cover_comes_from_no_bin_last():
    lines = plan_pick_lines(
        [WantedUnits(5, 1, "TEA-1", 4), WantedUnits(6, 2, "HONEY", 2)],
        [BinStock(1, "B-1", 1), BinStock(1, "A-1", 0)],  # an empty bin is skipped
    )
    assert lines == [
        PickLine(1, 1, "TEA-1", "B-1", 1, ((5, 1),)),
        PickLine(2, 2, "HONEY", None, 2, ((6, 2),)),
        PickLine(3, 1, "TEA-1", None, 3, ((5, 3),)),
    ]


def test_lines_in_one_bin_go_by_sku_code_and_positions_count_from_one():
    lines = plan_pick_lines(
        [WantedUnits(1, 9, "ZZ", 1), WantedUnits(1, 8, "AA", 1), WantedUnits(2, 7, "MM", 1)],
        [BinStock(9, "A-1", 1), BinStock(8, "A-1", 1), BinStock(7, "A-1", 1)],
    )
    assert [(line.position, line.sku) for line in lines] == [(1, "AA"), (2, "MM"), (3, "ZZ")]


def test_bins_of_skus_nobody_wants_are_ignored():
    lines = plan_pick_lines([WantedUnits(1, 1, "A", 1)], [BinStock(2, "A-1", 5)])
    assert lines == [PickLine(1, 1, "A", None, 1, ((1, 1),))]


def test_two_lines_of_one_shipment_for_one_sku_add_up():
    lines = plan_pick_lines(
        [WantedUnits(4, 1, "A", 1), WantedUnits(4, 1, "A", 2)], [BinStock(1, "A-1", 9)]
    )
    assert lines == [PickLine(1, 1, "A", "A-1", 3, ((4, 3),))]


def test_nothing_wanted_is_an_empty_list():
    assert plan_pick_lines([], [BinStock(1, "A-1", 4)]) == []


def test_negative_quantities_and_conflicting_sku_codes_are_caller_bugs():
    with pytest.raises(ValueError, match="wants -1"):
        plan_pick_lines([WantedUnits(1, 1, "A", -1)], [])
    with pytest.raises(ValueError, match="holds -2"):
        plan_pick_lines([WantedUnits(1, 1, "A", 1)], [BinStock(1, "A-1", -2)])
    with pytest.raises(ValueError, match="named both"):
        plan_pick_lines([WantedUnits(1, 1, "A", 1), WantedUnits(2, 1, "B", 1)], [])


# ------------------------------------------------------------------ properties

SKUS = {1: "CHOC-ALYONKA", 2: "TEA-LONGJING", 3: "HONEY-ALTAI", 4: "B-1"}
BIN_CODES = ["A-2-05", "A-10-02", "A-02-5", "B-1", "CN-10-2-3", "AB-3", "Z-999"]

wanted_units = st.lists(
    st.builds(
        WantedUnits,
        shipment_id=st.integers(1, 12),
        sku_id=st.sampled_from(sorted(SKUS)),
        sku=st.just(""),
        quantity=st.integers(0, 9),
    ),
    max_size=25,
).map(
    lambda items: [WantedUnits(w.shipment_id, w.sku_id, SKUS[w.sku_id], w.quantity) for w in items]
)

bin_stock = st.dictionaries(
    st.tuples(st.sampled_from(sorted(SKUS)), st.sampled_from(BIN_CODES)),
    st.integers(0, 12),
    max_size=20,
).map(lambda table: [BinStock(sku_id, code, units) for (sku_id, code), units in table.items()])

PROPERTIES = settings(max_examples=300, deadline=None)


@PROPERTIES
@given(wanted=wanted_units, bins=bin_stock)
def test_every_unit_wanted_is_on_the_list_once(wanted, bins):
    lines = plan_pick_lines(wanted, bins)
    listed, asked = defaultdict(int), defaultdict(int)
    for line in lines:
        listed[line.sku_id] += line.quantity
    for units in wanted:
        asked[units.sku_id] += units.quantity
    assert {k: v for k, v in listed.items() if v} == {k: v for k, v in asked.items() if v}


@PROPERTIES
@given(wanted=wanted_units, bins=bin_stock)
def test_each_line_is_the_sum_of_the_shipments_it_feeds(wanted, bins):
    for line in plan_pick_lines(wanted, bins):
        assert line.quantity > 0
        assert line.quantity == sum(quantity for _, quantity in line.shipments)
        assert all(quantity > 0 for _, quantity in line.shipments)
        ids = [shipment_id for shipment_id, _ in line.shipments]
        assert ids == sorted(set(ids))  # by shipment id, each once


@PROPERTIES
@given(wanted=wanted_units, bins=bin_stock)
def test_no_bin_gives_more_than_it_holds(wanted, bins):
    holding = {(b.sku_id, b.bin): b.on_hand for b in bins}
    seen = set()
    for line in plan_pick_lines(wanted, bins):
        assert (line.sku_id, line.bin) not in seen  # one line per SKU and bin
        seen.add((line.sku_id, line.bin))
        if line.bin is not None:
            assert line.quantity <= holding[(line.sku_id, line.bin)]


@PROPERTIES
@given(wanted=wanted_units, bins=bin_stock)
def test_every_shipment_gets_exactly_what_it_wanted_of_each_sku(wanted, bins):
    got, asked = defaultdict(int), defaultdict(int)
    for line in plan_pick_lines(wanted, bins):
        for shipment_id, quantity in line.shipments:
            got[(shipment_id, line.sku_id)] += quantity
    for units in wanted:
        asked[(units.shipment_id, units.sku_id)] += units.quantity
    assert dict(got) == {k: v for k, v in asked.items() if v}


@PROPERTIES
@given(wanted=wanted_units, bins=bin_stock)
def test_no_bin_is_used_while_a_bin_still_holds_units_of_that_sku(wanted, bins):
    lines = plan_pick_lines(wanted, bins)
    used = defaultdict(int)
    for line in lines:
        if line.bin is not None:
            used[(line.sku_id, line.bin)] += line.quantity
    for line in lines:
        if line.bin is None:
            left = [
                b for b in bins if b.sku_id == line.sku_id and b.on_hand > used[(b.sku_id, b.bin)]
            ]
            assert left == []


@PROPERTIES
@given(wanted=wanted_units, bins=bin_stock)
def test_lines_follow_the_walk_and_positions_run_from_one(wanted, bins):
    lines = plan_pick_lines(wanted, bins)
    assert [line.position for line in lines] == list(range(1, len(lines) + 1))
    keys = [(bin_sort_key(line.bin), line.sku) for line in lines]
    assert keys == sorted(keys)


@PROPERTIES
@given(wanted=wanted_units, bins=bin_stock, seed=st.integers(0, 2**16))
def test_the_plan_does_not_depend_on_input_order(wanted, bins, seed):
    shuffled_wanted, shuffled_bins = wanted[:], bins[:]
    random.Random(seed).shuffle(shuffled_wanted)
    random.Random(seed + 1).shuffle(shuffled_bins)
    assert plan_pick_lines(shuffled_wanted, shuffled_bins) == plan_pick_lines(wanted, bins)
