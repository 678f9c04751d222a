from datetime import date
from decimal import Decimal

import pytest

from catalog.money import (
    ExchangeRateQuote,
    Money,
    RateTable,
    UnknownCurrency,
    half_minor_unit,
    minor_unit_exponent,
    round_to_currency,
)

DAY = date(2026, 11, 1)


def quote(base, quote_, rate):
    return ExchangeRateQuote(base, quote_, Decimal(rate), DAY, "test")


TABLE = RateTable(
    [quote("RUB", "CNY", "0.0880"), quote("USD", "CNY", "7.10"), quote("KZT", "CNY", "0.0138")]
)


def test_minor_units_follow_iso_4217():
    assert minor_unit_exponent("CNY") == 2
    assert minor_unit_exponent("JPY") == 0
    assert minor_unit_exponent("KWD") == 3


def test_rounding_is_half_up_to_the_minor_unit():
    assert round_to_currency(Decimal("18.505"), "CNY") == Decimal("18.51")
    assert round_to_currency(Decimal("18.504"), "CNY") == Decimal("18.50")
    assert round_to_currency(Decimal("99.5"), "JPY") == Decimal("100")
    assert round_to_currency(Decimal("1.0005"), "KWD") == Decimal("1.001")


def test_half_minor_unit_is_the_rounding_slack_of_a_bound():
    assert half_minor_unit("CNY") == Decimal("0.005")
    assert half_minor_unit("JPY") == Decimal("0.5")


def test_money_serializes_amount_as_a_rounded_string():
    assert Money(Decimal("18.5"), "CNY").as_json() == {"amount": "18.50", "currency": "CNY"}
    assert Money(Decimal("1234.5678"), "RUB").as_json() == {"amount": "1234.57", "currency": "RUB"}


def test_money_refuses_floats_and_unknown_currencies():
    with pytest.raises(TypeError):
        Money(18.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        Money(Decimal(1), "XYZ")
    with pytest.raises(ValueError, match="finite"):
        Money.parse("NaN", "CNY")


def test_direct_rate_converts_and_names_the_quote():
    conversion = TABLE.conversion("RUB", "CNY")
    assert conversion.apply(Decimal("125.00")) == Decimal("11.0000")
    assert [q.base for q in conversion.quotes] == ["RUB"]


def test_inverse_rate_is_used_when_only_the_other_direction_is_published():
    money = TABLE.convert(Money(Decimal("71.00"), "CNY"), "USD")
    assert money.rounded() == Money(Decimal("10.00"), "USD")


def test_cross_rate_goes_through_a_pivot_currency():
    conversion = TABLE.conversion("RUB", "KZT")
    assert [(q.base, q.quote) for q in conversion.quotes] == [("RUB", "CNY"), ("KZT", "CNY")]
    assert round_to_currency(conversion.apply(Decimal("100")), "KZT") == Decimal("637.68")


def test_same_currency_converts_at_one():
    assert TABLE.conversion("CNY", "CNY").factor == Decimal(1)


def test_unreachable_currency_is_refused():
    with pytest.raises(UnknownCurrency):
        TABLE.conversion("RUB", "INR")
    assert not TABLE.can_convert("RUB", "INR")
