"""China's single item above the 5,000 CNY per-order limit (财关税〔2018〕49号): worked
examples, computed by hand in the comments. Pure: the shipped rule file, no database."""

import copy
from datetime import date
from decimal import Decimal

import pytest

from catalog.money import ExchangeRateQuote, Money, RateTable
from orders.customs import CustomsLimitExceeded, DutiableLine, Parcel, assess_duties, policy_for
from orders.customs.duties import assess_duties_under
from orders.customs.policies import parse_rule_file, shipped_rule_sets

DAY = date(2026, 11, 1)
RATES = RateTable([ExchangeRateQuote("CNY", "RUB", Decimal("12.5"), DAY, "test")])


def cny(amount):
    return Money(Decimal(amount), "CNY")


def item(value, *, quantity=1, sku="GZHEL-VASE", category="confectionery", hs="1806.32", g=100):
    return DutiableLine(
        sku=sku,
        quantity=quantity,
        unit_value=cny(value),
        category=category,
        hs_code=hs,
        weight_g=g,
    )


def to_china(*lines, shipping="0", used="0", on=DAY, currency="CNY"):
    parcel = Parcel(key="CN-SFH", lines=lines, shipping=cny(shipping), customs_mode="1210")
    return assess_duties(
        "CN",
        [parcel],
        order_date=on,
        rates=RATES,
        currency=currency,
        annual_used_cny=Decimal(used),
    )


def cbec_with_single_item_rule_from(day):
    """The shipped CBEC rule set, with its single-item rule dated ``day``."""
    (shipped,) = (s for s in shipped_rule_sets() if s.kind == "cn_cbec")
    document = copy.deepcopy(dict(shipped.document))
    document["single_item_over_limit"]["effective_from"] = day.isoformat()
    (policy,) = parse_rule_file({"kind": "cn_cbec", "rule_sets": [document]})
    return policy


def test_the_rule_is_dated_data_with_its_source_and_reading_in_the_rule_file():
    rule = policy_for("CN", DAY).single_item_over_limit
    assert rule is not None
    assert rule.effective_from == date(2019, 1, 1)
    assert "财关税〔2018〕49号" in rule.source
    assert "订单下仅一件商品" in rule.source
    assert any("exactly one unit of one SKU" in line for line in rule.reading)
    assert rule.tax_share == Decimal(1)


# the per-order limit: where the rule starts ---------------------------------------


def test_exactly_5000_cny_is_an_ordinary_cbec_order_at_70_percent():
    # 4,990 + 10 shipping = 5,000.00: "at most 5,000" -> tariff 0, 5000 x 0.091 = 455.00.
    result = to_china(item("4990"), shipping="10")
    assert result.amount == cny("455.00")
    assert result.full_rate is None
    assert result.as_json()["full_rate"] is None
    assert "70%" in result.notice


def test_5000_01_cny_for_one_item_pays_the_full_duty_vat_and_consumption_tax():
    # Chocolate, HS 1806.32: duty 8%, VAT 13%, no consumption tax, nothing at 70%.
    # duty = 5,000.01 x 0.08 = 400.0008; VAT = (5,000.01 + 400.0008) x 0.13 = 702.001404;
    # total 1,102.002204 -> 1,102.00 CNY (CBEC would have been 5,000.01 x 0.091 = 455.00).
    result = to_china(item("5000.01"))
    assert result.status == "estimated"
    assert result.amount == cny("1102.00")
    line = result.parcels[0].lines[0].figures
    assert line["tariff_rate"] == Decimal("0.08")
    assert line["tariff_rate_from"] == "hs:180632"
    assert line["tax_share"] == Decimal(1)
    assert line["tariff"] == cny("400.0008")
    assert line["combined_rate"] == Decimal("0.2204")  # 0.08 + 1.08 x 0.13
    shown = result.as_json()["full_rate"]
    assert shown["applies"] is True
    assert shown["rule"] == "single_item_over_limit"
    assert shown["tariff"] == {"amount": "400.00", "currency": "CNY"}
    assert shown["vat"] == {"amount": "702.00", "currency": "CNY"}
    assert shown["consumption_tax"] == {"amount": "0.00", "currency": "CNY"}
    assert shown["total"] == {"amount": "1102.00", "currency": "CNY"}
    assert shown["dutiable_value"] == {"amount": "5000.01", "currency": "CNY"}
    assert "5,000.00 CNY per-order limit" in shown["reason"]
    assert "财关税〔2018〕49号" in shown["reason"]
    assert "customs duty 400.00 CNY, import VAT 702.00 CNY" in result.notice
    assert "not the reduced rate" in result.notice


def test_the_full_value_counts_against_the_yearly_allowance():
    # 6,000 goods + 40 shipping: 6,040.00 counts, as any CBEC order's declared value does.
    result = to_china(item("6000"), shipping="40", used="1000")
    assert result.dutiable_value_cny == cny("6040.00")
    assert result.order_figures["annual_remaining_after_order"] == cny("18960.00")
    assert "taxed_as" in result.order_figures


def test_spirits_pay_the_whole_consumption_tax_with_its_per_litre_part():
    # Brandy, HS 2208.20, 6,000 CNY, 1,000 g (1 l): duty 10% = 600; specific 0.912;
    # base = (6,000 + 600 + 0.912) / 0.8 = 8,251.14; consumption tax = 8,251.14 x 0.2 +
    # 0.912 = 1,651.14; VAT = 8,251.14 x 0.13 = 1,072.6482; total 3,323.7882 -> 3,323.79.
    brandy = item("6000", sku="ARARAT-20", category="beverages", hs="2208.20", g=1000)
    result = to_china(brandy)
    assert result.amount == cny("3323.79")
    shown = result.as_json()["full_rate"]
    assert shown["tariff"]["amount"] == "600.00"
    assert shown["consumption_tax"]["amount"] == "1651.14"
    assert shown["vat"]["amount"] == "1072.65"  # the rest: the three add up to the total


def test_the_full_taxes_are_shown_in_the_order_currency():
    # 1,102.002204 CNY x 12.5 = 13,775.03 RUB; duty 400.0008 x 12.5 = 5,000.01 RUB.
    result = to_china(item("5000.01"), currency="RUB")
    assert result.amount == Money(Decimal("13775.03"), "RUB")
    shown = result.as_json()["full_rate"]
    assert shown["tariff"] == {"amount": "5000.01", "currency": "RUB"}
    assert shown["vat"] == {"amount": "8775.02", "currency": "RUB"}


def test_an_item_without_a_tariff_rate_gets_no_estimate_but_still_counts():
    # Felt carpet, HS 5602.10: no duty rate in the rule data -> unknown, never a low figure.
    felt = item("7000", sku="FELT-RUG", category="crafts", hs="5602.10")
    result = to_china(felt)
    assert result.status == "unknown"
    assert result.amount is None
    assert "no customs tariff rate for: FELT-RUG (HS 5602.10)" in result.reason
    assert result.dutiable_value_cny == cny("7000.00")


# what is still refused ------------------------------------------------------------


def test_two_units_of_one_sku_over_5000_cny_are_still_refused_and_told_to_split():
    # 2 x 2,600 = 5,200 CNY: two items, whatever their value.
    with pytest.raises(CustomsLimitExceeded) as caught:
        to_china(item("2600", quantity=2))
    assert caught.value.scope == "order"
    assert "Split it" in caught.value.detail
    assert "rule" not in caught.value.extra


def test_two_skus_one_unit_each_over_5000_cny_are_still_refused():
    with pytest.raises(CustomsLimitExceeded) as caught:
        to_china(item("5100"), item("100", sku="ALENKA-100"))
    assert caught.value.scope == "order"


def test_the_allowance_used_exactly_by_the_item_is_accepted():
    # 20,000 used + 6,000 = 26,000: the allowance is used exactly.
    result = to_china(item("6000"), used="20000")
    assert result.status == "estimated"
    assert result.order_figures["annual_remaining_after_order"] == cny("0.00")


def test_one_fen_more_than_the_allowance_is_refused_naming_the_rule_and_figures():
    # 20,000.01 used: 5,999.99 left, the item is 6,000.00.
    with pytest.raises(CustomsLimitExceeded) as caught:
        to_china(item("6000"), used="20000.01")
    error = caught.value
    assert error.status == 422
    assert error.extra["scope"] == "annual"
    assert error.extra["limit"] == {"amount": "26000.00", "currency": "CNY"}
    assert error.extra["value"] == {"amount": "6000.00", "currency": "CNY"}
    assert error.extra["remaining"] == {"amount": "5999.99", "currency": "CNY"}
    assert error.extra["rule"] == {
        "id": "single_item_over_limit",
        "version": "CN-CBEC-2019@2019-04-01",
        "effective_from": "2019-01-01",
        "citation": "MOF/GACC/SAT 财关税〔2018〕49号, item 2",
    }
    assert "5,999.99 CNY of the allowance is left" in error.detail


def test_a_used_up_allowance_refuses_the_item_until_january():
    with pytest.raises(CustomsLimitExceeded) as caught:
        to_china(item("6000"), used="26000")
    assert caught.value.extra["remaining"]["amount"] == "0.00"
    assert "used up" in caught.value.detail


def test_a_single_item_over_26000_cny_is_always_refused():
    # Nothing used this year, and still more than the whole allowance.
    with pytest.raises(CustomsLimitExceeded) as caught:
        to_china(item("26000.01"))
    assert caught.value.extra["rule"]["id"] == "single_item_over_limit"
    assert caught.value.extra["value"]["amount"] == "26000.01"
    assert "more than the whole allowance" in caught.value.detail


def test_a_single_item_of_exactly_26000_cny_fits_an_unused_allowance():
    assert to_china(item("26000")).status == "estimated"


# the rule's date ------------------------------------------------------------------


def assess_under(policy, value, on):
    parcel = Parcel(key="CN-SFH", lines=(item(value),), shipping=cny(0), customs_mode="1210")
    return assess_duties_under(policy, "CN", [parcel], order_date=on, rates=RATES, currency="CNY")


def test_a_rule_dated_after_the_order_date_does_not_apply():
    later = cbec_with_single_item_rule_from(date(2026, 11, 2))
    with pytest.raises(CustomsLimitExceeded) as caught:
        assess_under(later, "6000", DAY)
    assert caught.value.scope == "order"
    assert "cannot be sent to China" in caught.value.detail
    # From its first day it applies.
    assert assess_under(later, "6000", date(2026, 11, 2)).full_rate is not None


def test_a_rule_set_without_the_rule_refuses_every_single_item_over_5000():
    (shipped,) = (s for s in shipped_rule_sets() if s.kind == "cn_cbec")
    document = {k: v for k, v in shipped.document.items() if k != "single_item_over_limit"}
    (older,) = parse_rule_file({"kind": "cn_cbec", "rule_sets": [document]})
    with pytest.raises(CustomsLimitExceeded):
        assess_under(older, "5000.01", DAY)
    assert older.figures_json()["single_item_over_limit"] is None


def test_the_stored_record_carries_the_rule_it_used():
    record = to_china(item("6000")).as_json()
    rule = record["rule_set"]["figures"]["single_item_over_limit"]
    assert rule["effective_from"] == "2019-01-01"
    assert rule["tariff_by_hs_prefix"]["180632"] == "0.08"
    assert record["full_rate"]["rule_set_version"] == record["policy_version"]
