"""China's cross-border e-commerce retail import tax (CBEC, DOMAIN.md, China): the
per-order and annual limits, the tariff, VAT and consumption tax at 70 %, per line;
and the single item above the per-order limit, taxed in full (财关税〔2018〕49号)."""

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
from orders.customs.policies import CbecPolicy, ConsumptionTaxRule, SingleItemOverLimit

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
    # The single-item rule when it lets this order through (taxes in full); else None.
    full = _check_cbec_limits(policy, parcels, declared, annual_used_cny, order_date)

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
    if full is not None:
        order_figures["taxed_as"] = (
            "one item above the per-order limit: customs duty at the goods' tariff rate, "
            f"VAT and consumption tax in full ({full.citation})"
        )
    unmodelled = sorted(
        {
            f"{line.sku} (HS {line.hs_code})"
            for parcel in parcels
            for line in parcel.lines
            if policy.consumption_tax_unmodelled(line.hs_code)
        }
    )
    reason = None
    if unmodelled:
        reason = "Consumption tax not modelled for: " + ", ".join(unmodelled) + "."
    elif full is not None:
        no_tariff = sorted(
            f"{line.sku} (HS {line.hs_code})"
            for parcel in parcels
            for line in parcel.lines
            if full.tariff_rate_for(line.hs_code) is None
        )
        if no_tariff:
            reason = (
                "One item above the per-order limit is taxed in full, and the rules hold no "
                "customs tariff rate for: " + ", ".join(no_tariff) + "."
            )
    if reason is not None:
        # A tax we cannot compute: no estimate rather than a low one.
        return unknown_assessment(
            country,
            order_date,
            currency,
            reason=reason,
            policy=policy,
            conversions=rates_used.used(),
            order_figures=order_figures,
        )

    assessed = tuple(
        _cbec_parcel(policy, parcel, goods_values, parcel_shipping, rates_used, currency, full)
        for parcel, goods_values, parcel_shipping in zip(
            parcels, goods_by_parcel, shipping_by_parcel, strict=True
        )
    )
    amount = Money(sum((p.amount.amount for p in assessed), ZERO), currency)
    if full is None:
        notice = (
            "China cross-border e-commerce import taxes (tariff 0%, VAT and consumption "
            f"tax at 70%): {shown_amount(amount)}."
        )
        full_rate = None
    else:
        full_rate = _full_rate(policy, full, assessed, declared, amount, rates_used)
        notice = _full_rate_notice(full_rate)
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
        order_figures=order_figures,
        full_rate=full_rate,
    )


def _full_rate(
    policy: CbecPolicy,
    full: SingleItemOverLimit,
    assessed: tuple[ParcelAssessment, ...],
    declared: Decimal,
    amount: Money,
    rates_used: RatesUsed,
) -> dict[str, Any]:
    """What the shopper is shown before paying: that the full rate applies, why, and
    the taxes in the order currency. The duty and consumption tax are rounded on their
    own and VAT takes the rest, so the three add up to the charged amount exactly."""
    cny = policy.limit_currency
    currency = amount.currency
    (line,) = (line for parcel in assessed for line in parcel.lines)
    figures = line.figures

    def in_order_currency(value: Money) -> Decimal:
        return round_to_currency(rates_used.amount(value, currency), currency)

    tariff = in_order_currency(figures["tariff"])
    consumption = in_order_currency(
        Money(figures["statutory_consumption_tax"].amount * full.tax_share, cny)
    )
    return {
        "applies": True,
        "rule": "single_item_over_limit",
        "rule_set_version": policy.version,
        "effective_from": full.effective_from,
        "citation": full.citation,
        "reason": (
            f"The order is one item whose dutiable value, {shown_amount(Money(declared, cny))}, "
            f"is above the {shown_amount(Money(policy.per_order_limit, cny))} per-order limit "
            "of cross-border e-commerce: it may still enter China through that channel, but "
            "with customs duty, import VAT and consumption tax charged in full at the goods' "
            f"own rates, not the reduced rate ({full.citation}). Its value counts against the "
            f"buyer's {shown_amount(Money(policy.annual_limit, cny))} yearly allowance."
        ),
        "dutiable_value": Money(declared, cny),
        "per_order_limit": Money(policy.per_order_limit, cny),
        "annual_limit": Money(policy.annual_limit, cny),
        "tariff_rate": figures["tariff_rate"],
        "vat_rate": figures["vat_rate"],
        "consumption_tax_rate": figures["consumption_tax_rate"],
        "tax_share": full.tax_share,
        "reduced_tax_share_not_applied": policy.tax_share,
        "tariff": Money(tariff, currency),
        "vat": Money(amount.amount - tariff - consumption, currency),
        "consumption_tax": Money(consumption, currency),
        "total": amount,
    }


def _full_rate_notice(full_rate: dict[str, Any]) -> str:
    return (
        "China: one item above the "
        f"{shown_amount(full_rate['per_order_limit'])} per-order limit of cross-border "
        f"e-commerce pays full taxes ({full_rate['citation']}): customs duty "
        f"{shown_amount(full_rate['tariff'])}, import VAT {shown_amount(full_rate['vat'])}, "
        f"consumption tax {shown_amount(full_rate['consumption_tax'])}; "
        f"{shown_amount(full_rate['total'])} in all, not the reduced rate (tariff 0%, 70% of "
        f"VAT and consumption tax). Its value, {shown_amount(full_rate['dutiable_value'])}, "
        f"counts against the buyer's {shown_amount(full_rate['annual_limit'])} yearly allowance."
    )


def _check_cbec_limits(
    policy: CbecPolicy,
    parcels: Sequence[Parcel],
    declared: Decimal,
    annual_used_cny: Decimal,
    order_date: date,
) -> SingleItemOverLimit | None:
    """Refuse what the limits refuse; return the single-item rule when it is what lets
    an order above the per-order limit through (its taxes are then full), else None."""
    cny = policy.limit_currency
    limit = Money(policy.per_order_limit, cny)
    value = Money(declared, cny)
    full = None
    if declared > policy.per_order_limit:
        lines = [line for parcel in parcels for line in parcel.lines]
        single_item = len(lines) == 1 and lines[0].quantity == 1
        if not single_item:
            raise CustomsLimitExceeded(
                f"China allows at most {shown_amount(limit)} per cross-border order, goods "
                f"and shipping together; this order comes to {shown_amount(value)}. Split it "
                f"into orders of at most {shown_amount(limit)} each.",
                limit=limit,
                value=value,
                scope="order",
            )
        full = policy.single_item_rule_on(order_date)
        if full is None:
            # No rule in force for a single item above the limit: general trade is not a
            # channel this shop offers, so it stops here.
            raise CustomsLimitExceeded(
                f"China's cross-border channel takes one item of at most {shown_amount(limit)} "
                f"including shipping; this item comes to {shown_amount(value)}, so it cannot be "
                "sent to China from this shop.",
                limit=limit,
                value=value,
                scope="order",
            )
    if annual_used_cny + declared > policy.annual_limit:
        annual = Money(policy.annual_limit, cny)
        remaining = Money(max(policy.annual_limit - annual_used_cny, ZERO), cny)
        if full is not None:
            raise _single_item_beyond_allowance(policy, full, value, annual, remaining)
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
    return full


def _single_item_beyond_allowance(
    policy: CbecPolicy, full: SingleItemOverLimit, value: Money, annual: Money, remaining: Money
) -> CustomsLimitExceeded:
    """The single-item rule lets one item above the per-order limit through only within
    the buyer's yearly allowance; one above the whole allowance never fits."""
    per_order = Money(policy.per_order_limit, value.currency)
    rule = {
        "id": "single_item_over_limit",
        "version": policy.version,
        "effective_from": full.effective_from.isoformat(),
        "citation": full.citation,
    }
    opening = (
        f"China lets one item above the {shown_amount(per_order)} per-order limit through "
        f"its cross-border channel, with full taxes, only within the buyer's "
        f"{shown_amount(annual)} yearly allowance ({full.citation}); "
    )
    if value.amount > annual.amount:
        advice = (
            f"this item comes to {shown_amount(value)}, more than the whole allowance, so it "
            "cannot be sent to China from this shop."
        )
    elif remaining.amount > 0:
        advice = (
            f"this item comes to {shown_amount(value)} and {shown_amount(remaining)} of the "
            "allowance is left this year: it can be ordered once the allowance has room for "
            "it, from 1 January at the latest."
        )
    else:
        advice = (
            f"this item comes to {shown_amount(value)} and the allowance is used up for this "
            "year: it can be ordered from 1 January."
        )
    return CustomsLimitExceeded(
        opening + advice,
        limit=annual,
        value=value,
        scope="annual",
        remaining=remaining,
        rule=rule,
    )


def _cbec_parcel(
    policy: CbecPolicy,
    parcel: Parcel,
    goods_values: list[Decimal],
    shipping: Decimal,
    rates_used: RatesUsed,
    currency: str,
    full: SingleItemOverLimit | None = None,
) -> ParcelAssessment:
    cny = policy.limit_currency
    shares = allocate_pro_rata(shipping, goods_values)
    lines = tuple(
        _cbec_line(policy, line, goods, share, full)
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
    policy: CbecPolicy,
    line: DutiableLine,
    goods: Decimal,
    shipping_share: Decimal,
    full: SingleItemOverLimit | None = None,
) -> LineAssessment:
    """One line's tax: the CBEC tariff and share, or with ``full`` (one item above the
    per-order limit) the goods' own tariff rate and the whole VAT and consumption tax."""
    cny = policy.limit_currency
    dutiable = goods + shipping_share
    tariff_rate, tax_share = policy.tariff_rate, policy.tax_share
    full_figures: dict[str, Any] = {}
    if full is not None:
        found = full.tariff_rate_for(line.hs_code)
        if found is None:  # pragma: no cover - assess_cbec returns "unknown" before this
            raise ValueError(f"{line.sku}: no tariff rate for HS {line.hs_code}")
        tariff_rate, tariff_from = found
        tax_share = full.tax_share
        full_figures = {"tariff_rate_from": tariff_from, "taxed_in_full": full.citation}
    tariff = dutiable * tariff_rate
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
    tax = tariff + (consumption_tax + vat) * tax_share
    # Tax per unit of dutiable value, ad valorem parts only; the CBEC tariff is 0, so
    # there it is the familiar (c + v) / (1 - c) x 70%.
    combined_rate = (
        tariff_rate
        + (1 + tariff_rate) * (consumption_rate + vat_rate) / (1 - consumption_rate) * tax_share
    )
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
            "tariff_rate": tariff_rate,
            **full_figures,
            "tariff": Money(tariff, cny),
            "vat_rate": vat_rate,
            "vat_rate_from": vat_basis,
            "consumption_tax": consumption_figures,
            "consumption_tax_rate": consumption_rate,
            "composite_base": Money(composite_base, cny),
            "statutory_consumption_tax": Money(consumption_tax, cny),
            "statutory_vat": Money(vat, cny),
            "tax_share": tax_share,
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
