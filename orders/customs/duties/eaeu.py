"""Parcels to individuals in the EAEU (DOMAIN.md, Russia and the EAEU): duty above
the value or weight allowance, per parcel, and VAT where the regime charges it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from catalog.money import Money, round_to_currency
from orders.customs.duties.assessment import (
    ZERO,
    DutyAssessment,
    LineAssessment,
    Parcel,
    ParcelAssessment,
    shown_amount,
)
from orders.customs.duties.pro_rata import allocate_pro_rata
from orders.customs.duties.rates_used import RatesUsed
from orders.customs.policies import EaeuPolicy

EAEU_FORMULA = (
    "per parcel: excess regime: duty = max(duty_rate x (value - threshold), duty_min_per_kg x "
    "(kg - weight limit)), each part only when over; whole_value regime, when over either "
    "norm: duty = max(duty_rate x value, duty_min_per_kg x kg), VAT per line = (line value + "
    "its pro rata duty share if vat_base_includes_duty) x vat_rate; tax = duty + VAT"
)


def assess_eaeu(
    policy: EaeuPolicy,
    country: str,
    parcels: Sequence[Parcel],
    order_date: date,
    rates_used: RatesUsed,
    currency: str,
) -> DutyAssessment:
    assessed = tuple(_eaeu_parcel(policy, country, p, rates_used, currency) for p in parcels)
    amount = Money(sum((p.amount.amount for p in assessed), ZERO), currency)
    threshold = Money(policy.threshold_value, policy.threshold_currency)
    if amount.amount > 0:
        notice = (
            f"Estimated customs duties and taxes for parcels above the {shown_amount(threshold)} "
            f"allowance: {shown_amount(amount)}."
        )
    else:
        notice = "No customs duties are due: every parcel is within the duty-free allowance."
    return DutyAssessment(
        status="estimated",
        amount=amount,
        policy=policy.policy,
        policy_version=policy.version,
        parcels=assessed,
        notice=notice,
        destination_country=country,
        order_date=order_date,
        currency=currency,
        rule_set=policy,
        conversions=rates_used.used(),
        order_figures={"formula": EAEU_FORMULA},
    )


def _eaeu_parcel(
    policy: EaeuPolicy, country: str, parcel: Parcel, rates_used: RatesUsed, currency: str
) -> ParcelAssessment:
    eur = policy.threshold_currency
    values = [rates_used.amount(line.unit_value, eur) * line.quantity for line in parcel.lines]
    value = sum(values, ZERO)
    # Recorded for the operator, not dutiable: DOMAIN.md names no freight here.
    shipping = rates_used.amount(parcel.shipping, eur)
    declared = round_to_currency(value, eur)
    weight_kg = Decimal(sum(line.weight_g * line.quantity for line in parcel.lines)) / 1000
    weight_limit = policy.weight_limit_kg(country)
    over_value = declared > policy.threshold_value
    over_weight = weight_limit is not None and weight_kg > weight_limit
    above = over_value or over_weight

    if policy.regime == "excess":
        excess = max(value - policy.threshold_value, ZERO) if over_value else ZERO
        by_value = policy.duty_rate * excess
        by_weight = (
            policy.duty_min_per_kg * (weight_kg - weight_limit)
            if over_weight and weight_limit is not None
            else ZERO
        )
    else:  # "whole_value": above the threshold, the whole value and weight count
        by_value = policy.duty_rate * value if above else ZERO
        by_weight = policy.duty_min_per_kg * weight_kg if above else ZERO
    # "Not less than ... per kg": the per-kg minimum wins when it is higher.
    duty = max(by_value, by_weight)
    duty_from = "none" if duty == 0 else ("weight minimum" if by_weight > by_value else "value")

    schedule = policy.vat_by_country.get(country) if policy.regime == "whole_value" else None
    charge_vat = schedule is not None and above
    duty_shares = allocate_pro_rata(duty, values)
    lines = []
    for line, line_value, duty_share in zip(parcel.lines, values, duty_shares, strict=True):
        if charge_vat and schedule is not None:
            vat_rate, vat_from = schedule.rate_for(line.category, line.hs_code)
        else:
            vat_rate, vat_from = ZERO, "no VAT under this regime or within the allowance"
        vat_base = line_value + (duty_share if policy.vat_base_includes_duty else ZERO)
        vat = vat_base * vat_rate if charge_vat else ZERO
        lines.append(
            LineAssessment(
                sku=line.sku,
                quantity=line.quantity,
                category=line.category,
                hs_code=line.hs_code,
                weight_g=line.weight_g,
                goods_value=Money(line_value, eur),
                tax=Money(duty_share + vat, eur),
                figures={
                    "unit_value": line.unit_value,
                    "weight_kg": Decimal(line.weight_g * line.quantity) / 1000,
                    "duty_share": Money(duty_share, eur),
                    "vat_rate": vat_rate,
                    "vat_rate_from": vat_from,
                    "vat_base": Money(vat_base if charge_vat else ZERO, eur),
                    "vat": Money(vat, eur),
                },
            )
        )
    vat_total = sum((line.figures["vat"].amount for line in lines), ZERO)
    tax = duty + vat_total
    in_order_currency = rates_used.amount(Money(tax, eur), currency)
    return ParcelAssessment(
        key=parcel.key,
        customs_mode=parcel.customs_mode,
        amount=Money(round_to_currency(in_order_currency, currency), currency),
        base_currency=eur,
        dutiable_value=Money(value, eur),
        tax=Money(tax, eur),
        figures={
            "goods_value": Money(value, eur),
            "declared_value": Money(declared, eur),
            "shipping": Money(shipping, eur),
            "shipping_in_dutiable_value": False,
            "weight_kg": weight_kg,
            "threshold_value": Money(policy.threshold_value, eur),
            "weight_limit_kg": weight_limit,
            "over_value": over_value,
            "over_weight": over_weight,
            "regime": policy.regime,
            "duty_rate": policy.duty_rate,
            "duty_min_per_kg": policy.duty_min_per_kg,
            "duty_by_value": Money(by_value, eur),
            "duty_by_weight": Money(by_weight, eur),
            "duty": Money(duty, eur),
            "duty_from": duty_from,
            "vat_base_includes_duty": policy.vat_base_includes_duty if charge_vat else None,
            "vat": Money(vat_total, eur),
            "tax_in_order_currency_unrounded": Money(in_order_currency, currency),
            "rounding": "half up, once per parcel, to the order currency's minor unit",
        },
        lines=tuple(lines),
    )
