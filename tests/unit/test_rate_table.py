"""Which quote a pair converts at when sources publish it either way round."""

from datetime import date
from decimal import Decimal
from itertools import permutations

import pytest

from catalog.money import ExchangeRateQuote, Money, RateTable, UnknownCurrency

NOV_1, DEC_2 = date(2026, 11, 1), date(2026, 12, 2)


def quote(base, quote_, rate, on=NOV_1, source="test"):
    return ExchangeRateQuote(base, quote_, Decimal(rate), on, source)


SEED_RUB_CNY = quote("RUB", "CNY", "0.0880", NOV_1, "demo-seed")
CBR_CNY_RUB = quote("CNY", "RUB", "11.2364", DEC_2, "cbr")


def test_the_newer_inverse_quote_wins_over_an_older_direct_one():
    table = RateTable([SEED_RUB_CNY, CBR_CNY_RUB])

    to_cny = table.conversion("RUB", "CNY")

    assert to_cny.quotes == (CBR_CNY_RUB,)
    assert to_cny.factor == Decimal(1) / Decimal("11.2364")


def test_both_directions_of_a_pair_convert_at_the_same_quote():
    table = RateTable([SEED_RUB_CNY, CBR_CNY_RUB])

    there = table.conversion("CNY", "RUB")
    back = table.conversion("RUB", "CNY")

    assert there.quotes == back.quotes == (CBR_CNY_RUB,)
    assert there.factor == Decimal("11.2364")
    assert (there.factor * back.factor).quantize(Decimal("1e-20")) == Decimal(1)


def test_an_older_inverse_quote_does_not_override_a_newer_direct_one():
    older_cbr = quote("CNY", "RUB", "10.9000", NOV_1, "cbr")
    newer_manual = quote("RUB", "CNY", "0.0890", DEC_2, "manual")

    table = RateTable([newer_manual, older_cbr])

    assert table.conversion("CNY", "RUB").quotes == (newer_manual,)
    assert table.quote_for("CNY", "RUB") == newer_manual


def test_the_choice_does_not_depend_on_the_order_rows_arrive_in_when_days_differ():
    quotes = [
        SEED_RUB_CNY,
        CBR_CNY_RUB,
        quote("CNY", "RUB", "11.0000", date(2026, 11, 20), "manual"),
    ]
    chosen = {RateTable(list(order)).quote_for("RUB", "CNY") for order in permutations(quotes)}

    assert chosen == {CBR_CNY_RUB}


def test_on_the_same_day_the_later_listed_row_wins_whatever_its_direction():
    cbr = quote("CNY", "RUB", "11.2364", DEC_2, "cbr")
    manual_fix = quote("RUB", "CNY", "0.0900", DEC_2, "manual")

    assert RateTable([cbr, manual_fix]).quote_for("CNY", "RUB") == manual_fix
    assert RateTable([manual_fix, cbr]).quote_for("CNY", "RUB") == cbr


def test_a_direct_quote_is_preferred_to_a_newer_cross_rate():
    old_usd_cny = quote("USD", "CNY", "7.1000", NOV_1, "demo-seed")
    cbr_usd = quote("USD", "RUB", "79.7134", DEC_2, "cbr")
    table = RateTable([old_usd_cny, cbr_usd, CBR_CNY_RUB])

    conversion = table.conversion("USD", "CNY")

    assert conversion.quotes == (old_usd_cny,)
    assert conversion.factor == Decimal("7.1000")


def test_a_cross_rate_uses_the_chosen_quote_of_each_leg():
    cbr_kzt = quote("KZT", "RUB", "0.153245", DEC_2, "cbr")
    table = RateTable([SEED_RUB_CNY, CBR_CNY_RUB, cbr_kzt])

    conversion = table.conversion("KZT", "CNY")

    assert conversion.quotes == (cbr_kzt, CBR_CNY_RUB)
    assert conversion.factor == Decimal("0.153245") / Decimal("11.2364")
    assert table.convert(Money(Decimal("1000"), "KZT"), "CNY").rounded() == Money(
        Decimal("13.64"), "CNY"
    )


def test_in_force_lists_one_quote_per_pair():
    table = RateTable([SEED_RUB_CNY, CBR_CNY_RUB, quote("USD", "CNY", "7.1")])

    pairs = [(q.base, q.quote) for q in table.in_force()]

    assert pairs == [("CNY", "RUB"), ("USD", "CNY")]


def test_a_pair_no_quote_reaches_is_still_refused():
    with pytest.raises(UnknownCurrency):
        RateTable([CBR_CNY_RUB]).conversion("CNY", "INR")
