"""Customs rule sets operators add: laid over the shipped ones by date, checked before
they are stored (pure: no database)."""

from __future__ import annotations

from datetime import date

import pytest

from orders.customs.in_force import load_policies
from orders.customs.policies import (
    EaeuPolicy,
    merge_rule_sets,
    shipped_rule_sets,
)
from orders.customs.policy_rows import new_rule_set_problems, parse_row

TODAY = date(2026, 12, 1)
COUNTRIES = frozenset({"RU", "BY", "KZ", "KG", "AM", "CN", "US"})


def eaeu(rule_id: str, start: str, countries=("RU",), end: str | None = None, rate="0.05"):
    return {
        "policy": "EAEU-TEST",
        "id": rule_id,
        "effective_from": start,
        "effective_to": end,
        "countries": list(countries),
        "source": "test",
        "threshold": {"currency": "EUR", "value": "200", "weight_kg": "31"},
        "regime": "excess",
        "duty_rate": rate,
        "duty_min_per_kg": "1",
    }


def rule_set(rule_id, start, countries=("RU",), end=None, rate="0.05") -> EaeuPolicy:
    return parse_row("eaeu", eaeu(rule_id, start, countries, end, rate))


def in_force(policies, country: str, day: date):
    found = [p for p in policies if country in p.countries and p.in_force_on(day)]
    assert len(found) <= 1, found
    return found[0].id if found else None


def test_a_later_row_takes_over_its_countries_and_ends_the_one_before_the_day_before():
    shipped = (rule_set("OLD", "2026-07-01", ("RU", "KZ")),)
    added = (rule_set("NEW", "2027-01-01", ("RU",)),)
    merged = merge_rule_sets(shipped, added)
    assert in_force(merged, "RU", date(2026, 12, 31)) == "OLD"
    assert in_force(merged, "RU", date(2027, 1, 1)) == "NEW"
    # KZ is not in the new row: the old rule set goes on for it.
    assert in_force(merged, "KZ", date(2030, 1, 1)) == "OLD"
    old_pieces = sorted(
        ((sorted(p.countries), p.effective_to) for p in merged if p.id == "OLD"), key=str
    )
    assert old_pieces == [(["KZ"], None), (["RU"], date(2026, 12, 31))]


def test_a_tie_on_the_start_goes_to_the_row_added_later_and_the_first_never_applies():
    shipped = (rule_set("OLD", "2026-07-01"),)
    added = (rule_set("TYPO", "2027-01-01", rate="0.5"), rule_set("FIX", "2027-01-01"))
    merged = merge_rule_sets(shipped, added)
    assert in_force(merged, "RU", date(2027, 1, 1)) == "FIX"
    assert "TYPO" not in {p.id for p in merged}


def test_a_stated_end_earlier_than_the_next_start_is_kept_as_a_gap():
    shipped = (rule_set("A", "2024-01-01", end="2024-06-30"),)
    added = (rule_set("B", "2027-01-01"),)
    merged = merge_rule_sets(shipped, added)
    assert in_force(merged, "RU", date(2025, 1, 1)) is None
    assert in_force(merged, "RU", date(2024, 6, 30)) == "A"
    assert in_force(merged, "RU", date(2027, 1, 2)) == "B"


def test_without_added_rows_the_shipped_rule_sets_are_what_applies():
    assert load_policies() == tuple(s.policy for s in shipped_rule_sets())
    assert merge_rule_sets(load_policies(), ()) == load_policies()


def problems_of(document, kind="eaeu", existing=None):
    existing = existing if existing is not None else (rule_set("CUR", "2026-07-01"),)
    problems, _ = new_rule_set_problems(
        kind, document, today=TODAY, existing=existing, known_countries=COUNTRIES
    )
    return problems


def test_a_well_formed_row_from_tomorrow_has_no_problems():
    assert problems_of(eaeu("NEXT", "2026-12-02")) == {}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (eaeu("NEXT", "2026-12-01"), "effective_from"),  # today: orders already quoted
        (eaeu("NEXT", "2026-06-30"), "effective_from"),
        (eaeu("NEXT", "2027-01-01", end="2027-12-31"), "effective_to"),
        (eaeu("NEXT", "2027-01-01", countries=("RU", "ZZ")), "countries"),
        (eaeu("NEXT", "2027-01-01", countries=()), "countries"),
        (eaeu("NEXT", "2027-01-01", rate="five"), "rule_set"),
        ({k: v for k, v in eaeu("NEXT", "2027-01-01").items() if k != "threshold"}, "rule_set"),
        ({**eaeu("NEXT", "2027-01-01"), "regime": "whatever"}, "rule_set"),
        ({**eaeu("NEXT", "2027-01-01"), "effective_from": "soon"}, "rule_set"),
        (["not", "an", "object"], "rule_set"),
        (eaeu("CUR", "2026-07-01"), "effective_from"),
    ],
)
def test_a_row_that_is_malformed_or_rewrites_the_past_is_refused(document, field):
    assert field in problems_of(document)


def test_a_row_may_not_start_before_a_scheduled_one_of_its_countries():
    scheduled = (rule_set("CUR", "2026-07-01"), rule_set("SOON", "2027-03-01"))
    assert "effective_from" in problems_of(eaeu("X", "2027-02-01"), existing=scheduled)
    # KZ has no scheduled row: the same date is fine for it.
    assert problems_of(eaeu("X", "2027-02-01", countries=("KZ",)), existing=scheduled) == {}
    # The same date as the scheduled row corrects it, under another id.
    assert problems_of(eaeu("X", "2027-03-01"), existing=scheduled) == {}
    assert "id" in problems_of(eaeu("SOON", "2027-03-01"), existing=scheduled)


def test_an_unknown_kind_is_refused():
    assert "kind" in problems_of(eaeu("X", "2027-01-01"), kind="us_de_minimis")
