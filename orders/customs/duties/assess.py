"""The entry point of the duty policy (pure): the order's parcels and the rule set in
force in, a ``DutyAssessment`` out, by the regime the rule set belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from catalog.money import RateTable
from orders.customs.duties.assessment import ZERO, DutyAssessment, Parcel, unknown_assessment
from orders.customs.duties.china import assess_cbec
from orders.customs.duties.eaeu import assess_eaeu
from orders.customs.duties.rates_used import RatesUsed
from orders.customs.policies import CbecPolicy, EaeuPolicy, Policy


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
    rates_used = RatesUsed(rates)
    # The same order must give the same figures whatever context the caller's
    # thread set: pin precision and rounding of the intermediate arithmetic.
    with localcontext(Context(prec=28, rounding=ROUND_HALF_EVEN)):
        if isinstance(policy, CbecPolicy):
            return assess_cbec(
                policy, country, parcels, order_date, rates_used, currency, annual_used_cny
            )
        if isinstance(policy, EaeuPolicy):
            return assess_eaeu(policy, country, parcels, order_date, rates_used, currency)
    return unknown_assessment(
        country,
        order_date,
        currency,
        reason=f"No customs rules for {country or 'the destination'} on {order_date.isoformat()}.",
    )
