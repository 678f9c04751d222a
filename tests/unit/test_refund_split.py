"""How a refund is split between what its order charged (goods, shipping, duties), in
whole minor units: ``orders.reports.definitions.split_pro_rata``. No database."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orders.reports.definitions import (
    from_minor_units,
    split_pro_rata,
    to_minor_units,
)

PROPERTIES = settings(max_examples=400, deadline=None)
CHARGED = {"goods": 6000, "shipping": 3000, "duties": 1000}


def test_an_even_refund_splits_exactly():
    assert split_pro_rata(2500, {"goods": 8000, "shipping": 1000, "duties": 1000}) == {
        "goods": 2000, "shipping": 250, "duties": 250,
    }  # fmt: skip


def test_the_spare_unit_goes_to_the_largest_remainder():
    # 1001 x 0.6 / 0.3 / 0.1 = 600.6 / 300.3 / 100.1
    assert split_pro_rata(1001, CHARGED) == {"goods": 601, "shipping": 300, "duties": 100}


def test_a_tie_goes_to_the_part_named_first():
    assert split_pro_rata(1, {"goods": 100, "shipping": 100}) == {"goods": 1, "shipping": 0}


def test_the_last_piece_takes_what_is_left_of_each_part():
    first = split_pro_rata(1001, CHARGED)
    assert split_pro_rata(8999, CHARGED, first) == {"goods": 5399, "shipping": 2700,
                                                    "duties": 900}  # fmt: skip


def test_more_than_was_charged_is_not_split():
    assert split_pro_rata(12000, CHARGED) == CHARGED
    assert split_pro_rata(500, CHARGED, CHARGED) == {"goods": 0, "shipping": 0, "duties": 0}


def test_a_part_that_charged_nothing_gets_nothing():
    assert split_pro_rata(999, {"goods": 7000, "shipping": 0, "duties": 0}) == {
        "goods": 999, "shipping": 0, "duties": 0,
    }  # fmt: skip


def test_minor_units_follow_the_currency():
    assert to_minor_units(Decimal("18.50"), "CNY") == 1850
    assert to_minor_units(Decimal("500"), "JPY") == 500
    assert to_minor_units(Decimal("1.2345"), "KWD") == 1235  # three digits, half up
    assert from_minor_units(1850, "CNY") == Decimal("18.50")


charged_parts = st.dictionaries(
    st.sampled_from(["goods", "shipping", "duties", "other"]),
    st.integers(min_value=0, max_value=10**9),
    min_size=1,
)


@PROPERTIES
@given(charged=charged_parts, data=st.data())
def test_a_refund_splits_into_parts_that_sum_to_it_and_stay_within_the_charges(charged, data):
    amount = data.draw(st.integers(min_value=0, max_value=sum(charged.values())))
    parts = split_pro_rata(amount, charged)
    assert sum(parts.values()) == amount
    assert all(0 <= parts[part] <= charged[part] for part in charged)
    # Pro rata: each part within one unit of its exact share.
    total = sum(charged.values())
    if total:
        assert all(abs(parts[p] * total - amount * charged[p]) < total for p in charged)


@PROPERTIES
@given(charged=charged_parts, data=st.data())
def test_pieces_refunding_everything_give_back_exactly_what_was_charged(charged, data):
    total = sum(charged.values())
    cuts = sorted(data.draw(st.lists(st.integers(0, total), max_size=6)))
    pieces = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    already = dict.fromkeys(charged, 0)
    for piece in pieces:
        parts = split_pro_rata(piece, charged, already)
        assert sum(parts.values()) == piece
        assert all(parts[p] >= 0 and already[p] + parts[p] <= charged[p] for p in charged)
        already = {p: already[p] + parts[p] for p in charged}
    assert already == charged
