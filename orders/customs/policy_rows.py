"""Customs rule sets that operators add, stored as database rows.

A row is one rule set in exactly the shape of a ``rules/*.json`` entry, read by the
same parsers, for some countries from a new ``effective_from``. Rows are only ever
added: a change of rates is a new row from a new date, and a mistake in a scheduled
row is corrected by another row (the one added later wins a tie on the date). Where
a row ends is not stored: the next row's start ends it (``policies.merge_rule_sets``).

Every web worker keeps the rows in a per-app cache, reloaded when the day changes
and at most every ``CUSTOMS_POLICY_CACHE_SECONDS`` (60 by default). A new row can
only start tomorrow or later, and each worker reloads on the first estimate of the
new day, so the rule applied on a day is the same in every worker; the short TTL
only keeps listings fresh. The worker that adds a row forgets its cache at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import InvalidOperation
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import JSON, Date, DateTime, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from orders.customs.policies import (
    KIND_OF_POLICY,
    CustomsRulesInvalid,
    Policy,
    merge_rule_sets,
    parse_rule_file,
    shipped_rule_sets,
)
from shop.core.clock import iso_utc
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_codes

DEFAULT_CACHE_SECONDS = 60
_CACHE_KEY = "pavilion.customs_policy_rows"
_ID_SHAPE_MAX = 60


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CustomsPolicyRow(db.Model):
    """A rule set an operator added. Never updated or deleted."""

    __tablename__ = "customs_policy_rows"
    # ``id@effective_from`` is the version orders record: it must name one rule set.
    __table_args__ = (UniqueConstraint("rule_set_id", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # cn_cbec | eaeu
    rule_set_id: Mapped[str] = mapped_column(String(60))
    effective_from: Mapped[date] = mapped_column(Date, index=True)
    countries: Mapped[list[str]] = mapped_column(JSON)
    # The rule set exactly as a rules/*.json file would hold it (effective_to null).
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


def parse_row(kind: str, document: Mapping[str, Any]) -> Policy:
    """The rule set of a row, through the parsers of the shipped files."""
    (policy,) = parse_rule_file({"kind": kind, "rule_sets": [document]})
    return policy


# ------------------------------------------------------------ reading, cached per app


@dataclass(frozen=True)
class _Loaded:
    at: float
    on: date
    rule_sets: tuple[Policy, ...]


def stored_rows() -> list[CustomsPolicyRow]:
    """Every row, in the order they were added (uncached: for listings)."""
    return list(db.session.scalars(select(CustomsPolicyRow).order_by(CustomsPolicyRow.id)))


def added_rule_sets() -> tuple[Policy, ...]:
    """The rule sets of every row, oldest first; () outside an app context (pure tests,
    scripts), where only the shipped files apply."""
    if not has_app_context():
        return ()
    cache: dict[str, _Loaded] = current_app.extensions.setdefault(_CACHE_KEY, {})
    ttl = current_app.config.get("CUSTOMS_POLICY_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)
    today, now = datetime.now(UTC).date(), time.monotonic()
    loaded = cache.get("rows")
    if loaded is None or loaded.on != today or now - loaded.at >= ttl:
        rule_sets = tuple(parse_row(row.kind, row.document) for row in stored_rows())
        loaded = cache["rows"] = _Loaded(now, today, rule_sets)
    return loaded.rule_sets


def forget_added_rule_sets() -> None:
    """Call after adding a row, so this worker applies it without waiting for the TTL."""
    if has_app_context():
        current_app.extensions.get(_CACHE_KEY, {}).clear()


# ------------------------------------------------------------ checking a new row


def new_rule_set_problems(
    kind: str,
    document: Any,
    *,
    today: date,
    existing: tuple[Policy, ...],
    known_countries: frozenset[str],
) -> tuple[dict[str, list[str]], Policy | None]:
    """What is wrong with a rule set an operator wants to add (pure).

    Returns the problems by field (empty when it may be added) and the parsed rule
    set. ``existing`` are every rule set already known, shipped and added.
    """
    if kind not in ("cn_cbec", "eaeu"):
        return {"kind": ["Use cn_cbec (China CBEC) or eaeu (EAEU parcels)."]}, None
    if not isinstance(document, Mapping):
        return {"rule_set": ["A rule set is a JSON object, as in orders/customs/rules/."]}, None
    if document.get("effective_to") is not None:
        return {
            "effective_to": [
                "Leave it out: a row ends where the next one starts, which is computed."
            ]
        }, None
    try:
        policy = parse_row(kind, {**document, "effective_to": None})
    except KeyError as missing:
        return {"rule_set": [f"The field {missing.args[0]!r} is missing."]}, None
    except (CustomsRulesInvalid, InvalidOperation, ValueError, TypeError, AttributeError) as error:
        said = str(error) or type(error).__name__
        return {"rule_set": [f"Not a valid {kind} rule set: {said}."]}, None
    problems: dict[str, list[str]] = {}
    if not policy.id or len(policy.id) > _ID_SHAPE_MAX or not isinstance(document.get("id"), str):
        problems["id"] = [f"An id of 1 to {_ID_SHAPE_MAX} characters is required."]
    bad = sorted(c for c in policy.countries if c not in known_countries)
    if not policy.countries or bad:
        problems["countries"] = [
            "Give upper-case ISO 3166-1 alpha-2 codes"
            + (f" (not: {', '.join(bad)})." if bad else ".")
        ]
    if policy.effective_from <= today:
        problems["effective_from"] = [
            f"A new row starts after today ({today.isoformat()}): "
            "orders already placed keep the rules they were quoted."
        ]
    else:
        for country in sorted(policy.countries):
            latest = max(
                (p.effective_from for p in existing if country in p.countries), default=None
            )
            if latest and policy.effective_from < latest:
                problems.setdefault("effective_from", []).append(
                    f"{country} already has a rule set from {latest.isoformat()}; "
                    "a new row may not start before it."
                )
    if any(p.id == policy.id and p.effective_from == policy.effective_from for p in existing):
        problems.setdefault("id", []).append(
            f"{policy.version} exists: give the new row another id."
        )
    if KIND_OF_POLICY.get(type(policy)) != kind:  # pragma: no cover - parsers follow the kind
        problems["kind"] = ["The kind does not match the rule set."]
    return problems, policy


def add_row(kind: str, document: Mapping[str, Any], policy: Policy, created_by: str):
    """Add a checked rule set to the session (the caller commits, with its audit entry)."""
    row = CustomsPolicyRow(
        kind=kind,
        rule_set_id=policy.id,
        effective_from=policy.effective_from,
        countries=sorted(policy.countries),
        document={**document, "effective_to": None},
        created_by=created_by[:120],
    )
    db.session.add(row)
    return row


def add_rule_set(
    kind: str, document: Any, created_by: str, *, today: date
) -> tuple[CustomsPolicyRow, dict[str, Any]]:
    """Check a rule set an operator adds (``new_rule_set_problems``, against every rule
    set shipped and added) and add its row to the session, flushed; ValidationFailed
    names what is wrong. Returns the row and its summary (the answer, and what the
    audit records). The caller commits, then calls ``forget_added_rule_sets``."""
    # Two operators adding rows at once cannot break the rules in force: rows merge
    # in any order, and the unique (id, effective_from) keeps versions apart.
    existing = (
        *(s.policy for s in shipped_rule_sets()),
        *(parse_row(r.kind, r.document) for r in stored_rows()),
    )
    problems, policy = new_rule_set_problems(
        kind,
        document,
        today=today,
        existing=existing,
        known_countries=frozenset(country_codes()),
    )
    if problems or policy is None:
        raise ValidationFailed(errors=problems)
    row = add_row(kind, document, policy, created_by)
    db.session.flush()
    summary = {
        "row_id": row.id,
        "kind": kind,
        "id": policy.id,
        "version": policy.version,
        "countries": sorted(policy.countries),
        "effective_from": policy.effective_from.isoformat(),
        "figures": policy.figures_json(),
    }
    return row, summary


# ------------------------------------------------------------ listing for operators


def _status(policy: Policy, today: date) -> str:
    if policy.effective_from > today:
        return "scheduled"
    if policy.effective_to is not None and policy.effective_to < today:
        return "past"
    return "in_force"


def _periods(version: str, merged: tuple[Policy, ...], today: date) -> list[dict[str, Any]]:
    return [
        {
            "countries": sorted(p.countries),
            "effective_from": p.effective_from.isoformat(),
            "effective_to": p.effective_to.isoformat() if p.effective_to else None,
            "status": _status(p, today),
        }
        for p in merged
        if p.version == version
    ]


def _overall_status(periods: list[dict[str, Any]]) -> str:
    statuses = {period["status"] for period in periods}
    if not statuses:
        return "superseded"  # a later row of the same date took over before it started
    return next((s for s in ("in_force", "scheduled") if s in statuses), "past")


def _rule_set_json(policy: Policy, kind: str, origin: dict[str, Any], periods) -> dict[str, Any]:
    return {
        **policy.header_json(),
        "kind": kind,
        **origin,
        "countries": sorted(policy.countries),
        "requires_customs_identity": policy.requires_customs_identity,
        "applies": periods,
        "status": _overall_status(periods),
        "figures": policy.figures_json(),
    }


def rule_sets_with_periods(*, today: date, country: str | None = None) -> list[dict[str, Any]]:
    """Every customs rule set, shipped (files) and added (rows), with when each applies
    to which countries once later ones are laid over it; only ``country``'s if given."""
    shipped = shipped_rule_sets()
    added = [(row, parse_row(row.kind, row.document)) for row in stored_rows()]
    merged = merge_rule_sets(tuple(s.policy for s in shipped), tuple(p for _, p in added))
    listed: list[tuple[Policy, str, dict[str, Any]]] = [
        (s.policy, s.kind, {"origin": "file", "file": s.file, "row_id": None}) for s in shipped
    ]
    for row, policy in added:
        origin = {
            "origin": "database",
            "row_id": row.id,
            "created_at": iso_utc(row.created_at),
            "created_by": row.created_by,
        }
        listed.append((policy, row.kind, origin))
    return [
        _rule_set_json(policy, kind, origin, _periods(policy.version, merged, today))
        for policy, kind, origin in listed
        if not country or country.upper() in policy.countries
    ]


def rule_set_template(version: str) -> dict[str, Any]:
    """An existing rule set as a starting point for a new row: its kind and document,
    without dates (the operator sets the new ``effective_from``)."""
    for shipped in shipped_rule_sets():
        if shipped.policy.version == version:
            kind, document = shipped.kind, dict(shipped.document)
            break
    else:
        row = next(
            (
                r
                for r in stored_rows()
                if f"{r.rule_set_id}@{r.effective_from.isoformat()}" == version
            ),
            None,
        )
        if row is None:
            raise NotFound(f"No customs rule set {version}.")
        kind, document = row.kind, dict(row.document)
    document.pop("effective_to", None)
    document["effective_from"] = ""
    return {"kind": kind, "rule_set": document}
