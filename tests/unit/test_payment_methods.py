"""Which ways to pay are offered (orders.payment_methods), and the provider's amount and
receipt lines (orders.payment_amounts): pure, no app, no database (#18)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.money import ExchangeRateQuote, Money, RateTable
from orders.payment_amounts import (
    ChargedLine,
    ProviderAmount,
    balance_lines,
    in_order_currency,
    payment_currency,
    payment_lines,
    provider_amount,
    stored_rate_table,
)
from orders.payment_methods import (
    PaymentRulesInvalid,
    merge_rules,
    offered_adapters,
    parse_rules,
    rule_offering,
    shipped_rules,
)
from orders.payments.base import PaymentLine

TODAY = date(2026, 12, 5)
ALL = ("manual", "stripe", "yookassa", "alipay", "wechatpay")


def offered(country, currency="CNY", on=TODAY, enabled=ALL, rules=None):
    return offered_adapters(rules or shipped_rules(), destination=country, currency=currency,
                            on=on, enabled=enabled)  # fmt: skip


def test_russia_is_offered_yookassa_and_the_bank_transfer():
    assert offered("RU", "RUB") == ("yookassa", "manual")


def test_china_is_offered_alipay_and_wechat_pay_whatever_the_currency():
    assert offered("CN", "CNY") == ("alipay", "wechatpay", "manual")
    assert offered("CN", "USD") == ("alipay", "wechatpay", "manual")


def test_other_destinations_are_offered_stripe():
    assert offered("KZ", "KZT") == ("stripe", "manual")
    assert offered("kz", "usd") == ("stripe", "manual")


def test_only_enabled_adapters_are_offered():
    assert offered("RU", "RUB", enabled=("manual",)) == ("manual",)
    assert offered("CN", enabled=("alipay", "stripe")) == ("alipay",)
    assert offered("KZ", enabled=("yookassa",)) == ()


def test_an_adapter_no_rule_names_is_offered_wherever_it_is_enabled():
    assert offered("RU", enabled=("manual", "dummy")) == ("manual", "dummy")


def test_orders_before_the_yookassa_row_kept_stripe_everywhere():
    assert offered("RU", "RUB", on=date(2026, 11, 30)) == ("stripe", "manual")


def test_an_operator_row_with_a_shipped_id_narrows_it():
    narrowed = parse_rules({"rules": [{
        "id": "manual-everywhere", "adapter": "manual", "countries": ["RU"],
        "currencies": None, "valid_from": "2020-01-01", "reason": "only Russia",
        "source": "operator"}]})  # fmt: skip
    rules = merge_rules(shipped_rules(), narrowed)
    assert offered("CN", rules=rules) == ("alipay", "wechatpay")
    assert offered("RU", "RUB", rules=rules) == ("yookassa", "manual")
    assert rule_offering(rules, "manual", "RU", "RUB", TODAY).reason == "only Russia"


def test_a_currency_limited_row_offers_only_that_currency():
    rules = parse_rules({"rules": [{
        "id": "stripe-usd", "adapter": "stripe", "countries": ["*"], "currencies": ["USD"],
        "valid_from": "2026-01-01", "reason": "r", "source": "s"}]})  # fmt: skip
    assert offered("KZ", "USD", rules=rules, enabled=("stripe",)) == ("stripe",)
    assert offered("KZ", "KZT", rules=rules, enabled=("stripe",)) == ()


@pytest.mark.parametrize(
    "row",
    [
        {
            "adapter": "manual",
            "countries": ["*"],
            "valid_from": "2026-01-01",
            "reason": "r",
            "source": "s",
        },
        {
            "id": "x",
            "adapter": "manual",
            "countries": [],
            "valid_from": "2026-01-01",
            "reason": "r",
            "source": "s",
        },
        {
            "id": "x",
            "adapter": "manual",
            "countries": ["*"],
            "valid_from": "2026-13-01",
            "reason": "r",
            "source": "s",
        },
        {
            "id": "x",
            "adapter": "manual",
            "countries": ["*"],
            "valid_from": "2026-01-01",
            "source": "s",
        },
        {
            "id": "x",
            "adapter": "manual",
            "countries": ["*"],
            "valid_from": "2026-02-01",
            "valid_to": "2026-01-01",
            "reason": "r",
            "source": "s",
        },
    ],
)
def test_a_row_without_an_id_countries_a_date_or_a_reason_is_refused(row):
    with pytest.raises(PaymentRulesInvalid):
        parse_rules({"rules": [row]})


def test_every_shipped_row_says_why_and_where_from():
    for rule in shipped_rules():
        assert rule.reason
        assert rule.source
        assert rule.valid_from


# ------------------------------------------------------------------ conversion

RATES = RateTable([ExchangeRateQuote("CNY", "RUB", Decimal("12.345678"), date(2026, 12, 4),
                                     "CBR")])  # fmt: skip


def test_the_payment_currency_is_the_orders_when_the_adapter_takes_it():
    assert payment_currency("CNY", ("RUB",)) == "RUB"
    assert payment_currency("RUB", ("RUB",)) == "RUB"
    assert payment_currency("KZT", ()) == "KZT"


def test_a_cny_total_is_converted_to_rub_at_the_stored_rate_rounded_to_the_kopeck():
    paid = provider_amount(Money(Decimal("100.00"), "CNY"), "RUB", RATES)
    assert paid.amount == Money(Decimal("1234.57"), "RUB")
    assert paid.order_amount == Money(Decimal("100.00"), "CNY")
    assert paid.shown_rate == Decimal("12.3457")
    assert paid.rates_of == date(2026, 12, 4)
    assert paid.as_json()["rate"] == {"from": "CNY", "to": "RUB", "rate": "12.3457",
                                      "rates_of": "2026-12-04"}  # fmt: skip


def test_the_inverse_rate_converts_rub_to_cny():
    paid = provider_amount(Money(Decimal("1234.57"), "RUB"), "CNY", RATES)
    assert paid.amount.currency == "CNY"
    assert paid.amount.amount == Decimal("100.00")


def test_no_conversion_when_the_currency_is_the_same():
    paid = provider_amount(Money(Decimal("10.5"), "RUB"), "RUB", RATES)
    assert not paid.converted
    assert paid.amount == Money(Decimal("10.50"), "RUB")


def test_stored_rates_make_the_same_table_again():
    table = stored_rate_table([q.as_json() for q in RATES.in_force()])
    assert table.conversion("CNY", "RUB").factor == Decimal("12.345678")


def test_a_refund_of_the_whole_payment_is_the_whole_order_amount():
    payment, order = Money(Decimal("1234.57"), "RUB"), Money(Decimal("100.00"), "CNY")
    assert in_order_currency(payment, payment, order) == order
    half = in_order_currency(Money(Decimal("617.29"), "RUB"), payment, order)
    assert half == Money(Decimal("50.00"), "CNY")
    with pytest.raises(ValueError, match="not in the payment's currency"):
        in_order_currency(Money(Decimal("1"), "USD"), payment, order)


# ------------------------------------------------------------------ lines


def test_lines_are_converted_and_the_remainder_lands_on_the_shipping_line():
    paid = provider_amount(Money(Decimal("113.33"), "CNY"), "RUB", RATES)
    goods = [ChargedLine("Honey", 3, Money(Decimal("33.33"), "CNY"), "honey", "HON-1")]
    lines = payment_lines(goods, Money(Decimal("13.34"), "CNY"), None, paid)
    assert sum(line.total.amount for line in lines) == paid.amount.amount
    assert [line.kind for line in lines] == ["goods", "shipping"]
    assert lines[0].quantity == 3
    assert lines[0].category == "honey"
    assert lines[0].sku == "HON-1"


def test_a_duty_line_when_duties_are_collected():
    paid = provider_amount(Money(Decimal("30.00"), "CNY"), "CNY", RATES)
    goods = [ChargedLine("Tea", 1, Money(Decimal("20.00"), "CNY"))]
    lines = payment_lines(goods, Money(Decimal("8.00"), "CNY"), Money(Decimal("2.00"), "CNY"),
                          paid)  # fmt: skip
    assert [(line.kind, line.unit_price.amount) for line in lines] == [
        ("goods", Decimal("20.00")),
        ("shipping", Decimal("8.00")),
        ("duty", Decimal("2.00")),
    ]


def test_a_remainder_without_a_single_unit_splits_one_unit_off():
    lines = [PaymentLine("Honey", 3, Money(Decimal("10.00"), "RUB"))]
    balanced = balance_lines(lines, Money(Decimal("30.01"), "RUB"))
    assert [(line.quantity, line.unit_price.amount) for line in balanced] == [
        (2, Decimal("10.00")),
        (1, Decimal("10.01")),
    ]


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
rates = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500"), places=6)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(prices, st.integers(1, 50)), min_size=1, max_size=8),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=2),
    st.one_of(st.none(), st.decimals(min_value=Decimal("0"), max_value=Decimal("900"), places=2)),
    rates,
    st.sampled_from(["RUB", "CNY", "JPY", "KWD"]),
)
def test_lines_always_add_up_to_the_amount_and_no_price_is_negative(
    goods, shipping, duties, rate, target
):
    table = RateTable([ExchangeRateQuote("USD", target, rate, date(2026, 12, 1), "test")])
    charged = [ChargedLine(f"item {i}", q, Money(p, "USD")) for i, (p, q) in enumerate(goods)]
    total = sum((p * q for p, q in goods), Decimal(0)) + shipping + (duties or 0)
    paid = provider_amount(Money(total, "USD"), target, table)
    if paid.amount.amount <= 0:
        return  # nothing a provider could be asked for
    lines = payment_lines(charged, Money(shipping, "USD"),
                          None if duties is None else Money(duties, "USD"), paid)  # fmt: skip
    assert sum(line.total.amount for line in lines) == paid.amount.amount
    assert all(line.unit_price.amount >= 0 for line in lines)
    assert all(line.unit_price.currency == target for line in lines)
    goods_units = sum(q for _, q in goods)
    assert sum(line.quantity for line in lines if line.kind == "goods") == goods_units


def test_provider_amount_is_a_dataclass_without_floats():
    paid = ProviderAmount(Money(Decimal("1"), "RUB"), Money(Decimal("1"), "RUB"))
    assert isinstance(paid.rate, Decimal)
