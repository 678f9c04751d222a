"""Duties and import taxes of an order: a pure policy over dated rule data.

``assess_duties_under`` takes the parcels after routing and the rule set in force
(``orders.customs.in_force`` finds it) and returns a
``DutyAssessment`` whose ``as_json()`` is stored on the order: the rule set's
version and figures, the exchange rates, and every intermediate value per
parcel and line, so that an operator can explain a charge a year later.

Money is Decimal throughout. Figures are computed at full precision in the
regime's base currency (CNY for China, EUR for the EAEU), converted to the
order currency and rounded half up once per parcel; the order's amount is the
sum of the rounded parcel amounts, so parcels and order always add up.

A destination without rules is ``status="unknown"`` with no amount, never a
zero: the shopper is told that duties may be collected on delivery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from catalog.money import Conversion, Money, RateTable, round_to_currency
from orders.customs.policies import (
    CbecPolicy,
    ConsumptionTaxRule,
    EaeuPolicy,
    Policy,
    RuleSet,
)
from shop.core.errors import DomainError, register_problem_types

__all__ = [
    "CustomsLimitExceeded",
    "DutiableLine",
    "DutyAssessment",
    "LineAssessment",
    "Parcel",
    "ParcelAssessment",
    "allocate_pro_rata",
    "assess_duties_under",
]

ZERO = Decimal(0)
UNKNOWN_NOTICE = "Duties and taxes may be collected on delivery."
JSON_FORMAT = "duty-assessment/1"
CBEC_FORMULA = (
    "per line: dutiable_value = goods_value + shipping_share; tariff = dutiable_value x "
    "tariff_rate; composite_base = (dutiable_value + tariff + specific if in base) / "
    "(1 - consumption_tax_rate); consumption tax = composite_base x rate + specific; "
    "VAT = composite_base x vat_rate; tax = tariff + (consumption tax + VAT) x tax_share"
)
EAEU_FORMULA = (
    "per parcel: excess regime: duty = max(duty_rate x (value - threshold), duty_min_per_kg x "
    "(kg - weight limit)), each part only when over; whole_value regime, when over either "
    "norm: duty = max(duty_rate x value, duty_min_per_kg x kg), VAT per line = (line value + "
    "its pro rata duty share if vat_base_includes_duty) x vat_rate; tax = duty + VAT"
)

register_problem_types(
    {
        "customs_limit_exceeded": (
            "The order is above a customs limit of the destination: `scope` says which "
            "(order or annual), `limit` and `value` give the figures, `detail` what to do."
        )
    }
)


class CustomsLimitExceeded(DomainError):
    """The order cannot go through the destination's channel at this value."""

    status = 422
    code = "customs_limit_exceeded"
    title = "Above the customs limit"

    def __init__(
        self,
        detail: str,
        *,
        limit: Money,
        value: Money,
        scope: str,
        remaining: Money | None = None,
    ):
        self.limit = limit
        self.value = value
        self.scope = scope
        self.remaining = remaining
        extra: dict[str, Any] = {"limit": limit.as_json(), "value": value.as_json(), "scope": scope}
        if remaining is not None:
            extra["remaining"] = remaining.as_json()
        super().__init__(detail, **extra)


@dataclass(frozen=True)
class DutiableLine:
    """One order line as customs sees it; value and weight are per unit."""

    sku: str
    quantity: int
    unit_value: Money
    category: str
    hs_code: str
    weight_g: int

    def __post_init__(self):
        if self.quantity < 1:
            raise ValueError(f"{self.sku}: quantity must be at least 1")
        if self.weight_g < 0:
            raise ValueError(f"{self.sku}: weight_g cannot be negative")
        if self.unit_value.amount < 0:
            raise ValueError(f"{self.sku}: unit_value cannot be negative")


@dataclass(frozen=True)
class Parcel:
    """One shipment; ``key`` names it (e.g. the node code ``"CN-SFH"``)."""

    key: str
    lines: tuple[DutiableLine, ...]
    shipping: Money
    customs_mode: str | None = None  # China: "9610" direct, "1210" bonded

    def __post_init__(self):
        if not isinstance(self.lines, tuple):  # a list from a caller; keep it immutable
            object.__setattr__(self, "lines", tuple(self.lines))
        if not self.lines:
            # Its shipping would count in the value with no line to carry the tax.
            raise ValueError(f"parcel {self.key} has no lines")
        if self.shipping.amount < 0:
            raise ValueError(f"parcel {self.key}: shipping cannot be negative")


@dataclass(frozen=True)
class LineAssessment:
    """One line's share of a parcel's duties, in the regime's base currency, unrounded."""

    sku: str
    quantity: int
    category: str
    hs_code: str
    weight_g: int
    goods_value: Money
    tax: Money
    figures: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "quantity": self.quantity,
            "category": self.category,
            "hs_code": self.hs_code,
            "weight_g": self.weight_g,
            "goods_value": _jsonable(self.goods_value),
            "tax": _jsonable(self.tax),
            **_jsonable(dict(self.figures)),
        }


@dataclass(frozen=True)
class ParcelAssessment:
    """One parcel: ``amount`` in the order currency, rounded; the rest in the
    base currency, unrounded."""

    key: str
    customs_mode: str | None
    amount: Money
    base_currency: str
    dutiable_value: Money
    tax: Money
    figures: Mapping[str, Any]
    lines: tuple[LineAssessment, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "customs_mode": self.customs_mode,
            "amount": self.amount.as_json(),
            "base_currency": self.base_currency,
            "dutiable_value": _jsonable(self.dutiable_value),
            "tax": _jsonable(self.tax),
            **_jsonable(dict(self.figures)),
            "lines": [line.as_json() for line in self.lines],
        }


@dataclass(frozen=True)
class DutyAssessment:
    """What customs will charge an order, with everything needed to explain it later."""

    status: str  # "estimated" (a policy applied) or "unknown" (no amount: never a false zero)
    amount: Money | None  # order currency, rounded to its minor unit
    policy: str | None
    policy_version: str | None
    parcels: tuple[ParcelAssessment, ...]
    notice: str
    destination_country: str = ""
    order_date: date | None = None
    currency: str = ""
    reason: str | None = None  # why the status is unknown
    rule_set: RuleSet | None = None
    conversions: tuple[Conversion, ...] = ()
    order_figures: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_estimated(self) -> bool:
        return self.status == "estimated"

    @property
    def dutiable_value_cny(self) -> Money | None:
        """China only: the order's value as declared (fen), which counts against the
        buyer's annual limit, also when the tax itself is unknown."""
        declared = self.order_figures.get("declared_value")
        return declared if self.destination_country == "CN" else None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON: ``amount`` fields are rounded ``{"amount": "1.23", "currency":
        "CNY"}``; every other money figure is the exact unrounded value, so the
        arithmetic can be redone from the record alone."""
        rule_set = None
        if self.rule_set is not None:
            rule_set = {**self.rule_set.header_json(), "figures": self.rule_set.figures_json()}
        dutiable = self.dutiable_value_cny
        return {
            "format": JSON_FORMAT,
            "status": self.status,
            "destination_country": self.destination_country,
            "order_date": self.order_date.isoformat() if self.order_date else None,
            "currency": self.currency,
            "amount": self.amount.as_json() if self.amount is not None else None,
            "dutiable_value_cny": dutiable.as_json() if dutiable is not None else None,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "notice": self.notice,
            "reason": self.reason,
            "rule_set": rule_set,
            "rates": [_conversion_json(c) for c in self.conversions],
            "order": _jsonable(dict(self.order_figures)),
            "parcels": [parcel.as_json() for parcel in self.parcels],
        }


def assess_duties_under(
    policy: Policy | None,
    destination_country: str,
    parcels: Sequence[Parcel],
    *,
    order_date: date,
    rates: RateTable,
    currency: str,
    annual_used_cny: Decimal = ZERO,
) -> DutyAssessment:
    """Duties and import taxes of an order's parcels under ``policy``, the rule set
    in force on ``order_date`` for the destination (None: no rules, so "unknown").
    ``orders.customs.in_force.assess_duties`` finds that rule set.

    Raises ``CustomsLimitExceeded`` when China's per-order or annual limit
    refuses the order, and ``UnknownCurrency`` when a rate is missing.
    ``annual_used_cny`` is what the buyer already used this calendar year.
    """
    if not isinstance(annual_used_cny, Decimal | int):
        raise TypeError("annual_used_cny must be a Decimal")  # a float would lose fen
    annual_used_cny = Decimal(annual_used_cny)
    country = (destination_country or "").upper()
    rates_used = _RatesUsed(rates)
    # The same order must give the same figures whatever context the caller's
    # thread set: pin precision and rounding of the intermediate arithmetic.
    with localcontext(Context(prec=28, rounding=ROUND_HALF_EVEN)):
        if isinstance(policy, CbecPolicy):
            return _assess_cbec(
                policy, country, parcels, order_date, rates_used, currency, annual_used_cny
            )
        if isinstance(policy, EaeuPolicy):
            return _assess_eaeu(policy, country, parcels, order_date, rates_used, currency)
    return _unknown(
        country,
        order_date,
        currency,
        reason=f"No customs rules for {country or 'the destination'} on {order_date.isoformat()}.",
    )


def allocate_pro_rata(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights``; equal parts if they are all zero.

    The last share takes the remainder, so the shares add up to ``total`` exactly.
    """
    if not weights:
        return []
    base = sum(weights, ZERO)
    if base == 0:
        weights = [Decimal(1)] * len(weights)
        base = Decimal(len(weights))
    shares = [total * weight / base for weight in weights[:-1]]
    shares.append(total - sum(shares, ZERO))
    return shares


# China (CBEC) -----------------------------------------------------------------


def _assess_cbec(
    policy: CbecPolicy,
    country: str,
    parcels: Sequence[Parcel],
    order_date: date,
    rates_used: _RatesUsed,
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
        return _unknown(
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
            f"tax at 70%): {_shown(amount)}."
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
                f"China's cross-border channel takes one item of at most {_shown(limit)} "
                f"including shipping; this item comes to {_shown(value)}, so it cannot be "
                "sent to China from this shop.",
                limit=limit,
                value=value,
                scope="order",
            )
        raise CustomsLimitExceeded(
            f"China allows at most {_shown(limit)} per cross-border order, goods and "
            f"shipping together; this order comes to {_shown(value)}. Split it into "
            f"orders of at most {_shown(limit)} each.",
            limit=limit,
            value=value,
            scope="order",
        )
    if annual_used_cny + declared > policy.annual_limit:
        annual = Money(policy.annual_limit, cny)
        remaining = Money(max(policy.annual_limit - annual_used_cny, ZERO), cny)
        if remaining.amount > 0:
            advice = (
                f"{_shown(remaining)} of it is left this year and this order comes to "
                f"{_shown(value)}: reduce the order to at most {_shown(remaining)}, "
                "or order the rest from 1 January."
            )
        else:
            advice = "it is used up for this year: you can order again from 1 January."
        raise CustomsLimitExceeded(
            f"China allows {_shown(annual)} of cross-border purchases per person per "
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
    rates_used: _RatesUsed,
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


# EAEU -------------------------------------------------------------------------


def _assess_eaeu(
    policy: EaeuPolicy,
    country: str,
    parcels: Sequence[Parcel],
    order_date: date,
    rates_used: _RatesUsed,
    currency: str,
) -> DutyAssessment:
    assessed = tuple(_eaeu_parcel(policy, country, p, rates_used, currency) for p in parcels)
    amount = Money(sum((p.amount.amount for p in assessed), ZERO), currency)
    threshold = Money(policy.threshold_value, policy.threshold_currency)
    if amount.amount > 0:
        notice = (
            f"Estimated customs duties and taxes for parcels above the {_shown(threshold)} "
            f"allowance: {_shown(amount)}."
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
    policy: EaeuPolicy, country: str, parcel: Parcel, rates_used: _RatesUsed, currency: str
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


# Shared -----------------------------------------------------------------------


class _RatesUsed:
    """Converts through a RateTable and remembers each conversion, for the record."""

    def __init__(self, rates: RateTable):
        self._rates = rates
        self._used: dict[tuple[str, str], Conversion] = {}

    def amount(self, money: Money, target: str) -> Decimal:
        key = (money.currency, target)
        if key not in self._used:
            self._used[key] = self._rates.conversion(*key)
        return self._used[key].apply(money.amount)

    def used(self) -> tuple[Conversion, ...]:
        return tuple(c for c in self._used.values() if c.source != c.target)


def _unknown(
    country: str,
    order_date: date,
    currency: str,
    *,
    reason: str,
    policy: Policy | None = None,
    conversions: tuple[Conversion, ...] = (),
    order_figures: Mapping[str, Any] | None = None,
) -> DutyAssessment:
    return DutyAssessment(
        status="unknown",
        amount=None,
        policy=policy.policy if policy else None,
        policy_version=policy.version if policy else None,
        parcels=(),
        notice=UNKNOWN_NOTICE,
        destination_country=country,
        order_date=order_date,
        currency=currency,
        reason=reason,
        rule_set=policy,
        conversions=conversions,
        order_figures=order_figures or {},
    )


def _shown(money: Money) -> str:
    """``5,000.00 CNY``: rounded to the minor unit, for a sentence."""
    return f"{round_to_currency(money.amount, money.currency):,} {money.currency}"


def _exact(value: Decimal) -> str:
    # normalize() drops trailing zeros of a 28-digit quotient; "f" keeps it out
    # of exponent notation ("1E+2" -> "100").
    return format(value.normalize(), "f") if value else "0"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": _exact(value.amount), "currency": value.currency}
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, Decimal):
        return _exact(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    raise TypeError(f"not JSON-able in a duty record: {type(value).__name__}")


def _conversion_json(conversion: Conversion) -> dict[str, Any]:
    return {
        "from": conversion.source,
        "to": conversion.target,
        "factor": _exact(conversion.factor),
        "quotes": [quote.as_json() for quote in conversion.quotes],
    }
