"""The rule sets in force: the shipped files with the operators' rows laid over them.

This is where customs meets the database. ``policies`` and ``duties`` are pure
(rule sets in, rule sets or an assessment out); this module asks ``policy_rows``
for the rule sets operators added (none outside a Flask app context, so pure
tests and scripts see the shipped files alone), merges them with the shipped
ones, and answers the questions checkout and pricing ask on a day: which rule set
governs a destination, whether it asks for a customs identity, and what an
order's parcels owe under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from catalog.money import RateTable
from orders.customs.duties import ZERO, DutyAssessment, Parcel, assess_duties_under
from orders.customs.policies import Policy, merge_rule_sets, rule_set_for, shipped_rule_sets
from orders.customs.policy_rows import added_rule_sets

__all__ = ["assess_duties", "load_policies", "policy_for", "requires_customs_identity"]


def load_policies() -> tuple[Policy, ...]:
    """The rule sets in force: the shipped ones with the operators' rows laid over them."""
    added = added_rule_sets()
    shipped = tuple(s.policy for s in shipped_rule_sets())
    if not added:
        return shipped
    # The added rows come from a cache that hands out the same tuple until it reloads:
    # merge once per load, not on every duty estimate.
    last = _last_merge
    if last and last[0] is added:
        return last[1]
    merged = merge_rule_sets(shipped, added)
    _last_merge[:] = [added, merged]
    return merged


_last_merge: list = []


def policy_for(country: str, on: date) -> Policy | None:
    """The rule set in force for ``country`` on the order date, or None."""
    return rule_set_for(load_policies(), country, on)


def requires_customs_identity(country: str, on: date) -> bool:
    """Whether the buyer must give a customs identity (China: name + PRC ID number)."""
    policy = policy_for(country, on)
    return bool(policy and policy.requires_customs_identity)


def assess_duties(
    destination_country: str,
    parcels: Sequence[Parcel],
    *,
    order_date: date,
    rates: RateTable,
    currency: str,
    annual_used_cny: Decimal = ZERO,
) -> DutyAssessment:
    """Duties and import taxes of an order's parcels, by the rules in force on
    ``order_date`` for the destination (``duties.assess_duties_under`` does the sums).

    Raises ``CustomsLimitExceeded`` when China's per-order or annual limit
    refuses the order, and ``UnknownCurrency`` when a rate is missing.
    ``annual_used_cny`` is what the buyer already used this calendar year.
    """
    return assess_duties_under(
        policy_for(destination_country, order_date),
        destination_country,
        parcels,
        order_date=order_date,
        rates=rates,
        currency=currency,
        annual_used_cny=annual_used_cny,
    )
