"""The pure parts of the reports: ranges, days of cover, conversion of per-currency sums,
and the CSV shape. No database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from catalog.money import ExchangeRateQuote, RateTable, UnknownCurrency
from orders.reports import (
    Converter,
    ReportRange,
    check_currency,
    daily_average,
    days_of_cover,
    report_range,
    to_csv,
)
from shop.core.errors import ValidationFailed

TODAY = date(2026, 12, 1)


def quote(base, quote_, rate):
    return ExchangeRateQuote(base, quote_, Decimal(rate), date(2026, 11, 1), "test")


RATES = RateTable([quote("CNY", "RUB", "12.5"), quote("USD", "CNY", "7.2")])


def test_days_of_cover_is_stock_over_daily_sales():
    assert days_of_cover(on_hand=100, units_sold=6, days=3) == Decimal("50.0")
    assert days_of_cover(on_hand=190, units_sold=9, days=3) == Decimal("63.3")
    assert days_of_cover(on_hand=1, units_sold=3, days=1) == Decimal("0.3")
    assert days_of_cover(on_hand=0, units_sold=5, days=28) == Decimal("0.0")


def test_nothing_sold_has_no_days_of_cover_not_infinity_or_zero():
    assert days_of_cover(on_hand=50, units_sold=0, days=28) is None


def test_daily_average_to_the_hundredth():
    assert daily_average(10, 3) == Decimal("3.33")
    assert daily_average(0, 28) == Decimal("0.00")


def test_range_defaults_to_the_last_28_days_up_to_today():
    assert report_range(None, None, TODAY) == ReportRange(date(2026, 11, 4), TODAY)
    assert report_range(date(2026, 11, 1), None, TODAY) == ReportRange(
        date(2026, 11, 1), date(2026, 11, 28)
    )
    assert report_range(None, date(2026, 6, 30), TODAY) == ReportRange(
        date(2026, 6, 3), date(2026, 6, 30)
    )


def test_one_day_is_a_range_and_a_year_is_the_longest():
    assert report_range(TODAY, TODAY, TODAY).days == 1
    assert report_range(date(2024, 1, 1), date(2024, 12, 31), TODAY).days == 366
    with pytest.raises(ValidationFailed) as refused:
        report_range(date(2024, 1, 1), date(2025, 1, 1), TODAY)
    assert list(refused.value.errors) == ["to"]


def test_a_backwards_range_names_from():
    with pytest.raises(ValidationFailed) as refused:
        report_range(date(2026, 11, 5), date(2026, 11, 4), TODAY)
    assert list(refused.value.errors) == ["from"]


def test_range_bounds_are_utc_instants_end_exclusive():
    first, after = ReportRange(date(2026, 11, 2), date(2026, 11, 4)).bounds()
    assert first == datetime(2026, 11, 2, tzinfo=UTC)
    assert after == datetime(2026, 11, 5, tzinfo=UTC)


def test_converter_sums_per_key_and_names_the_rates_it_used():
    converter = Converter(RATES, "CNY")
    sums = converter.sums([("a", "CNY", Decimal("80")), ("a", "RUB", Decimal("500")),
                           ("b", "RUB", None)])  # fmt: skip
    assert sums == {"a": Decimal("120")}
    assert [(r["base"], r["quote"], r["rate"]) for r in converter.rates_json()] == [
        ("CNY", "RUB", "12.5")
    ]
    assert converter.money(sums["a"]) == {"amount": "120.00", "currency": "CNY"}


def test_converter_goes_through_a_pivot_and_rounds_only_when_shown():
    converter = Converter(RATES, "USD")
    sums = converter.sums([("k", "RUB", Decimal("500")), ("k", "RUB", Decimal("500"))])
    # 1000 RUB = 80 CNY = 11.111… USD: each half alone would round to 5.56 (11.12).
    assert converter.money(sums["k"]) == {"amount": "11.11", "currency": "USD"}
    assert len(converter.rates_json()) == 2


def test_a_currency_no_rate_reaches_is_refused():
    with pytest.raises(UnknownCurrency):
        Converter(RATES, "CNY").sums([("k", "KZT", Decimal(1))])
    with pytest.raises(ValidationFailed) as refused:
        check_currency("KZT", RATES)
    assert list(refused.value.errors) == ["currency"]
    with pytest.raises(ValidationFailed):
        check_currency("ABC", RATES)
    assert check_currency("usd", RATES) == "USD"


def test_csv_has_the_currency_in_money_headers_and_defuses_formulas():
    report = {
        "currency": "CNY",
        "columns": ["sku", "product", "units", "goods", "days_of_cover"],
        "money_columns": ["goods"],
        "rows": [
            {"sku": "A-1", "product": "=HYPERLINK(\"http://x\")", "units": 3,
             "goods": {"amount": "60.00", "currency": "CNY"}, "days_of_cover": None},
            {"sku": "B-2", "product": "Мёд 蜂蜜", "units": 0,
             "goods": {"amount": "0.00", "currency": "CNY"}, "days_of_cover": Decimal("7.5")},
        ],
    }  # fmt: skip
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows == [
        ["sku", "product", "units", "goods_CNY", "days_of_cover"],
        ["A-1", '\'=HYPERLINK("http://x")', "3", "60.00", ""],
        ["B-2", "Мёд 蜂蜜", "0", "0.00", "7.5"],
    ]
