"""Operators' use cases for customs rule sets: listing them (shipped and added) and
adding a row from a new date. The rows and their checks are customs' own
(``orders.customs.policy_rows``); this adds the audit entry and the transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orders.customs import policy_rows
from shop.admin.services.transaction import in_transaction
from shop.core import audit
from shop.core.auth import StaffPrincipal


def list_policies(*, country: str | None = None) -> dict[str, Any]:
    """Every customs rule set, shipped (files) and added (rows), with when each applies
    to which countries once later ones are laid over it."""
    today = datetime.now(UTC).date()
    items = policy_rows.rule_sets_with_periods(today=today, country=country)
    return {"items": items, "today": today.isoformat()}


def policy_template(version: str) -> dict[str, Any]:
    """An existing rule set as a starting point for a new row: its kind and document,
    without dates (the operator sets the new ``effective_from``)."""
    return policy_rows.rule_set_template(version)


def add_policy(operator: StaffPrincipal, kind: str, document: Any) -> dict[str, Any]:
    """Add a customs rule set for some countries from a new date: a new row, checked by
    the parsers of the shipped files. It starts after today and not before the latest
    rule set of any of its countries; the one before it ends the day before (computed).
    """
    today = datetime.now(UTC).date()

    def work() -> dict[str, Any]:
        _, summary = policy_rows.add_rule_set(kind, document, operator.actor, today=today)
        audit.record(
            operator, "customs_policy.add", "customs_policy", summary["version"], after=summary
        )
        return summary

    result = in_transaction(work)
    policy_rows.forget_added_rule_sets()
    return result
