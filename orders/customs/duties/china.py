"""China's cross-border e-commerce retail import tax (CBEC, DOMAIN.md, China): the
per-order and annual limits, the tariff, VAT and consumption tax at 70 %, per line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from catalog.money import Money, round_to_currency
from orders.customs.duties.assessment import (
    ZERO,
    CustomsLimitExceeded,
    DutiableLine,
    DutyAssessment,
    LineAssessment,
    Parcel,
    ParcelAssessment,
    shown_amount,
    unknown_assessment,
)
from orders.customs.duties.pro_rata import allocate_pro_rata
from orders.customs.duties.rates_used import RatesUsed
from orders.customs.policies import CbecPolicy, ConsumptionTaxRule

CBEC_FORMULA = (
    "per line: dutiable_value = goods_value + shipping_share; tariff = dutiable_value x "
    "tariff_rate; composite_base = (dutiable_value + tariff + specific if in base) / "
    "(1 - consumption_tax_rate); consumption tax = composite_base x rate + specific; "
    "VAT = composite_base x vat_rate; tax = tariff + (consumption tax + VAT) x tax_share"
)


def assess_cbec(
    policy: CbecPolicy,
    country: str,
    parcels: Sequence[Parcel],
    order_date: date,
    rates_used: RatesUsed,
    currency: str,
    annual_used_cny: Decimal,
) -> DutyAssessment:
    cny = policy.limit_currency
    goods_by_parcel = [
        [rates_used.amount(line.unit_value, cny) * line.quantity for line in parcel.lines]
        for parcel in parcels
    ]
    shipping_by_parcel = [rates_used.amount(parcel.shipping, cny) for parcel in parcels]
    goods = sum((sum(values, ZERO) for values in goods_by_parcel), ZERO)
    shipping = sum(shipping_by_parcel, ZERO)
    # 完税价格 of the whole transaction: goods + freight of every parcel.
    dutiable = goods + shipping
    # Customs declares in fen: the limits are tested against that figure.
    declared = round_to_currency(dutiable, cny)
    _check_cbec_limits(policy, parcels, declared, annual_used_cny)

    order_figures = {
        "goods_value": Money(goods, cny),
        "shipping": Money(shipping, cny),
        "dutiable_value": Money(dutiable, cny),
        "declared_value": Money(declared, cny),
        "per_order_limit": Money(policy.per_order_limit, cny),
        "annual_limit": Money(policy.annual_limit, cny),
        "annual_used_before_order": Money(annual_used_cny, cny),
        "annual_remaining_after_order": Money(
            policy.annual_limit - annual_used_cny - declared, cny
        ),
        "formula": CBEC_FORMULA,
    }
    unmodelled = sorted(
        {
            f"{line.sku} (HS {line.hs_code})"
            for parcel in parcels
            for line in parcel.lines
            if policy.consumption_tax_unmodelled(line.hs_code)
        }
    )
    if unmodelled:
        # A consumption tax we cannot compute: no estimate rather than a low one.
        return unknown_assessment(
            country,
            order_date,
            currency,
            reason="Consumption tax not modelled for: " + ", ".join(unmodelled) + ".",
            policy=policy,
            conversions=rates_used.used(),
            order_figures=order_figures,
        )

    assessed = tuple(
        _cbec_parcel(policy, parcel, goods_values, parcel_shipping, rates_used, currency)
        for parcel, goods_values, parcel_shipping in zip(
            parcels, goods_by_parcel, shipping_by_parcel, strict=True
        )
    )
    amount = Money(sum((p.amount.amount for p in assessed), ZERO), currency)
    return DutyAssessment(
        status="estimated",
        amount=amount,
        policy=policy.policy,
        policy_version=policy.version,
        parcels=assessed,
        notice=(
            "China cross-border e-commerce import taxes (tariff 0%, VAT and consumption "
            f"tax at 70%): {shown_amount(amount)}."
        ),
        destination_country=country,
        order_date=order_date,
        currency=currency,
        rule_set=policy,
        conversions=rates_used.used(),
        order_figures=order_figures,
    )


def _check_cbec_limits(
    policy: CbecPolicy, parcels: Sequence[Parcel], declared: Decimal, annual_used_cny: Decimal
) -> None:
    cny = policy.limit_currency
    limit = Money(policy.per_order_limit, cny)
    value = Money(declared, cny)
    if declared > policy.per_order_limit:
        lines = [line for parcel in parcels for line in parcel.lines]
        if len(lines) == 1 and lines[0].quantity == 1:
            # General trade (full tariff, VAT and consumption tax) is not a
            # channel this shop offers, so a single piece above the limit stops here.
            raise CustomsLimitExceeded(
                f"China's cross-border channel takes one item of at most {shown_amount(limit)} "
                f"including shipping; this item comes to {shown_amount(value)}, so it cannot be "
                "sent to China from this shop.",
                limit=limit,
                value=value,
                scope="order",
            )
        raise CustomsLimitExceeded(
            f"China allows at most {shown_amount(limit)} per cross-border order, goods and "
            f"shipping together; this order comes to {shown_amount(value)}. Split it into "
            f"orders of at most {shown_amount(limit)} each.",
            limit=limit,
            value=value,
            scope="order",
        )
    if annual_used_cny + declared > policy.annual_limit:
        annual = Money(policy.annual_limit, cny)
        remaining = Money(max(policy.annual_limit - annual_used_cny, ZERO), cny)
        if remaining.amount > 0:
            advice = (
                f"{shown_amount(remaining)} of it is left this year and this order comes to "
                f"{shown_amount(value)}: reduce the order to at most {shown_amount(remaining)}, "
                "or order the rest from 1 January."
            )
        else:
            advice = "it is used up for this year: you can order again from 1 January."
        raise CustomsLimitExceeded(
            f"China allows {shown_amount(annual)} of cross-border purchases per person per "
            f"calendar year; {advice}",
            limit=annual,
            value=value,
            scope="annual",
            remaining=remaining,
        )


def _cbec_parcel(
    policy: CbecPolicy,
    parcel: Parcel,
    goods_values: list[Decimal],
    shipping: Decimal,
    rates_used: RatesUsed,
    currency: str,
) -> ParcelAssessment:
    cny = policy.limit_currency
    shares = allocate_pro_rata(shipping, goods_values)
    lines = tuple(
        _cbec_line(policy, line, goods, share)
        for line, goods, share in zip(parcel.lines, goods_values, shares, strict=True)
    )
    goods = sum(goods_values, ZERO)
    tax = sum((line.tax.amount for line in lines), ZERO)
    in_order_currency = rates_used.amount(Money(tax, cny), currency)
    return ParcelAssessment(
        key=parcel.key,
        customs_mode=parcel.customs_mode,
        amount=Money(round_to_currency(in_order_currency, currency), currency),
        base_currency=cny,
        dutiable_value=Money(goods + shipping, cny),
        tax=Money(tax, cny),
        figures={
            "goods_value": Money(goods, cny),
            "shipping": Money(shipping, cny),
            "shipping_allocation": "pro rata by goods value",
            "tax_in_order_currency_unrounded": Money(in_order_currency, currency),
            "rounding": "half up, once per parcel, to the order currency's minor unit",
        },
        lines=lines,
    )


def _cbec_line(
    policy: CbecPolicy, line: DutiableLine, goods: Decimal, shipping_share: Decimal
) -> LineAssessment:
    cny = policy.limit_currency
    dutiable = goods + shipping_share
    tariff = dutiable * policy.tariff_rate
    vat_rate, vat_basis = policy.vat.rate_for(line.category, line.hs_code)
    rule = policy.consumption_tax_for(line.hs_code)
    consumption_rate = ZERO
    specific = ZERO
    specific_in_base = False
    consumption_figures: dict[str, Any] | None = None
    if rule is not None:
        consumption_rate, consumption_figures = _consumption_rate(rule, line, dutiable)
        if rule.specific_cny_per_litre:
            litres = Decimal(line.weight_g * line.quantity) / 1000  # 1 g taken as 1 ml
            specific = rule.specific_cny_per_litre * litres
            specific_in_base = rule.specific_tax_in_composite_base
            consumption_figures |= {
                "litres": litres,
                "litres_from": "weight_g x quantity / 1000 (1 g = 1 ml)",
                "specific_cny_per_litre": rule.specific_cny_per_litre,
                "specific_amount": Money(specific, cny),
                "specific_in_composite_base": specific_in_base,
            }
    # 组成计税价格: consumption tax is levied on a price that includes it.
    composite_base = (dutiable + tariff + (specific if specific_in_base else ZERO)) / (
        1 - consumption_rate
    )
    consumption_tax = composite_base * consumption_rate + specific
    vat = composite_base * vat_rate
    tax = tariff + (consumption_tax + vat) * policy.tax_share
    combined_rate = (consumption_rate + vat_rate) / (1 - consumption_rate) * policy.tax_share
    return LineAssessment(
        sku=line.sku,
        quantity=line.quantity,
        category=line.category,
        hs_code=line.hs_code,
        weight_g=line.weight_g,
        goods_value=Money(goods, cny),
        tax=Money(tax, cny),
        figures={
            "unit_value": line.unit_value,
            "shipping_share": Money(shipping_share, cny),
            "dutiable_value": Money(dutiable, cny),
            "tariff_rate": policy.tariff_rate,
            "tariff": Money(tariff, cny),
            "vat_rate": vat_rate,
            "vat_rate_from": vat_basis,
            "consumption_tax": consumption_figures,
            "consumption_tax_rate": consumption_rate,
            "composite_base": Money(composite_base, cny),
            "statutory_consumption_tax": Money(consumption_tax, cny),
            "statutory_vat": Money(vat, cny),
            "tax_share": policy.tax_share,
            "combined_rate": combined_rate,
        },
    )


def _consumption_rate(
    rule: ConsumptionTaxRule, line: DutiableLine, dutiable: Decimal
) -> tuple[Decimal, dict[str, Any]]:
    """The ad valorem rate that applies to the line, and the test that decided it."""
    figures: dict[str, Any] = {"kind": rule.kind, "statutory_rate": rule.rate}
    per_g = rule.threshold_cny_per_g_or_ml
    per_piece = rule.threshold_cny_per_piece
    if per_g is None and per_piece is None:
        return rule.rate, figures | {"applies": True}
    # The threshold is on the import price of one unit, freight share included (完税价格).
    unit_value = dutiable / line.quantity
    figures["unit_dutiable_value"] = unit_value
    if line.weight_g > 0 and per_g is not None:
        value_per_g = unit_value / line.weight_g
        applies = value_per_g >= per_g
        figures |= {"test": "per g or ml", "value_per_g_or_ml": value_per_g, "threshold": per_g}
    elif per_piece is not None:
        # Weight unknown: the unit is taken as one piece (片/张).
        applies = unit_value >= per_piece
        figures |= {"test": "per piece", "threshold": per_piece}
    else:
        applies = True  # no weight to test against: the conservative side
        figures |= {"test": "no weight, no per-piece threshold"}
    figures["applies"] = applies
    return (rule.rate if applies else ZERO), figures
