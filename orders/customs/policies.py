"""Customs policies as dated data: which rule set governs a destination on a day.

Every rate, threshold and limit lives in ``orders/customs/rules/*.json``, one
rule set per regime with ``effective_from`` / ``effective_to``. A change of law
is a new rule set in the data, not a code edit; the order date picks the set,
and an order records the set's ``version`` with the figures it used.

Operators add rule sets without a release: each is a row in the database
(``orders.customs.policy_rows``), never edited in place. ``merge_rule_sets`` lays
them over the shipped ones: for each country, the set with the later
``effective_from`` wins from that day, and the one before it ends the day before
(computed, so no stored row changes).

Pure: data in, data out. Reading the operators' rows and choosing the rule sets in
force today is ``orders.customs.in_force``'s work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from itertools import pairwise
from types import MappingProxyType
from typing import Any


class CustomsRulesInvalid(ValueError):
    """The shipped rule files contradict themselves (e.g. two sets in force on one day)."""


def hs_digits(hs_code: str) -> str:
    """``"1806.32"`` and ``"180632"`` name the same heading; match on digits only."""
    return re.sub(r"\D", "", hs_code or "")


def longest_prefix(hs_code: str, prefixes: Mapping[str, Any] | tuple[str, ...]) -> str | None:
    """The most specific key the code starts with: a heading beats its chapter."""
    digits = hs_digits(hs_code)
    matches = [p for p in prefixes if digits.startswith(p)]
    return max(matches, key=len) if matches else None


def _decimal(value: Any) -> Decimal:
    # Through str: a rate typed as 0.09 in JSON must stay exactly 0.09.
    return Decimal(str(value))


def _decimals(mapping: Mapping[str, Any] | None) -> Mapping[str, Decimal]:
    return MappingProxyType({k: _decimal(v) for k, v in (mapping or {}).items()})


def _as_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else value
        return [_as_json(v) for v in items]
    return value


@dataclass(frozen=True, kw_only=True)
class RuleSet:
    """What every rule set has: its name, dates, countries and where it comes from."""

    policy: str  # the regime, e.g. "CN-CBEC", "EAEU-2026-07"
    id: str
    effective_from: date
    effective_to: date | None
    countries: frozenset[str]
    source: str
    notes: tuple[str, ...]
    requires_customs_identity: bool

    @property
    def version(self) -> str:
        """``id@effective_from``: names the exact data an assessment used."""
        return f"{self.id}@{self.effective_from.isoformat()}"

    def in_force_on(self, day: date) -> bool:
        ended = self.effective_to is not None and day > self.effective_to
        return self.effective_from <= day and not ended

    def header_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "id": self.id,
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "source": self.source,
            "notes": list(self.notes),
        }

    def figures_json(self) -> dict[str, Any]:
        """The figures of the rule set, as plain JSON (overridden per kind)."""
        return {}

    @staticmethod
    def header_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "policy": data["policy"],
            "id": data["id"],
            "effective_from": date.fromisoformat(data["effective_from"]),
            "effective_to": (
                date.fromisoformat(data["effective_to"]) if data.get("effective_to") else None
            ),
            "countries": frozenset(data["countries"]),
            "source": data["source"],
            "notes": tuple(data.get("notes", ())),
            "requires_customs_identity": bool(data.get("requires_customs_identity", False)),
        }


@dataclass(frozen=True)
class VatSchedule:
    """A rate per category, an HS-prefix override, a default for the rest."""

    default: Decimal
    by_category: Mapping[str, Decimal] = field(default_factory=dict)
    by_hs_prefix: Mapping[str, Decimal] = field(default_factory=dict)

    def rate_for(self, category: str, hs_code: str) -> tuple[Decimal, str]:
        """The rate and why (``"hs:0401"``, ``"category:honey"`` or ``"default"``).

        The HS code wins over the category: tax follows the classification,
        and a category such as dairy mixes goods at two rates.
        """
        prefix = longest_prefix(hs_code, tuple(self.by_hs_prefix))
        if prefix is not None:
            return self.by_hs_prefix[prefix], f"hs:{prefix}"
        if category in self.by_category:
            return self.by_category[category], f"category:{category}"
        return self.default, "default"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VatSchedule:
        return cls(
            default=_decimal(data["default"]),
            by_category=_decimals(data.get("by_category")),
            by_hs_prefix=_decimals(data.get("by_hs_prefix")),
        )

    def as_json(self) -> dict[str, Any]:
        return _as_json(
            {
                "default": self.default,
                "by_category": dict(self.by_category),
                "by_hs_prefix": dict(self.by_hs_prefix),
            }
        )


@dataclass(frozen=True)
class ConsumptionTaxRule:
    """One consumption-tax item of China's schedule, as applied at import."""

    kind: str
    hs_prefixes: tuple[str, ...]
    rate: Decimal
    specific_cny_per_litre: Decimal = Decimal(0)
    specific_tax_in_composite_base: bool = True
    threshold_cny_per_g_or_ml: Decimal | None = None
    threshold_cny_per_piece: Decimal | None = None

    def matches(self, hs_code: str) -> bool:
        return longest_prefix(hs_code, self.hs_prefixes) is not None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsumptionTaxRule:
        def optional(key: str) -> Decimal | None:
            return _decimal(data[key]) if data.get(key) is not None else None

        return cls(
            kind=data["kind"],
            hs_prefixes=tuple(data["hs_prefixes"]),
            rate=_decimal(data["rate"]),
            specific_cny_per_litre=_decimal(data.get("specific_cny_per_litre", 0)),
            specific_tax_in_composite_base=bool(data.get("specific_tax_in_composite_base", True)),
            threshold_cny_per_g_or_ml=optional("threshold_cny_per_g_or_ml"),
            threshold_cny_per_piece=optional("threshold_cny_per_piece"),
        )

    def as_json(self) -> dict[str, Any]:
        return _as_json(
            {
                "kind": self.kind,
                "hs_prefixes": self.hs_prefixes,
                "rate": self.rate,
                "specific_cny_per_litre": self.specific_cny_per_litre,
                "specific_tax_in_composite_base": self.specific_tax_in_composite_base,
                "threshold_cny_per_g_or_ml": self.threshold_cny_per_g_or_ml,
                "threshold_cny_per_piece": self.threshold_cny_per_piece,
            }
        )


@dataclass(frozen=True, kw_only=True)
class SingleItemOverLimit:
    """China's rule for an order of one item above the per-order limit (财关税〔2018〕49号):
    it may still go through CBEC, with full general-trade taxes, if it fits in the
    buyer's annual allowance. A rule of its own date and source inside the CBEC set."""

    effective_from: date
    citation: str  # short, for answers and refusals; ``source`` says it in full
    source: str
    reading: tuple[str, ...]
    tax_share: Decimal  # 1: VAT and consumption tax in full, not the CBEC 70%
    tariff_by_hs_prefix: Mapping[str, Decimal]
    tariff_notes: str = ""

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day

    def tariff_rate_for(self, hs_code: str) -> tuple[Decimal, str] | None:
        """The general-trade duty rate of the goods and why (``"hs:180632"``); None when
        the data has no rate for the code (then no estimate, never a low one)."""
        prefix = longest_prefix(hs_code, tuple(self.tariff_by_hs_prefix))
        if prefix is None:
            return None
        return self.tariff_by_hs_prefix[prefix], f"hs:{prefix}"

    def as_json(self) -> dict[str, Any]:
        return _as_json(
            {
                "effective_from": self.effective_from,
                "citation": self.citation,
                "source": self.source,
                "reading": list(self.reading),
                "tax_share": self.tax_share,
                "tariff_by_hs_prefix": dict(self.tariff_by_hs_prefix),
                "tariff_notes": self.tariff_notes,
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SingleItemOverLimit:
        return cls(
            effective_from=date.fromisoformat(data["effective_from"]),
            citation=data["citation"],
            source=data["source"],
            reading=tuple(data.get("reading", ())),
            tax_share=_decimal(data["tax_share"]),
            tariff_by_hs_prefix=_decimals(data.get("tariff_by_hs_prefix")),
            tariff_notes=data.get("tariff_notes", ""),
        )


@dataclass(frozen=True, kw_only=True)
class CbecPolicy(RuleSet):
    """China's cross-border e-commerce retail import rules (DOMAIN.md, China)."""

    limit_currency: str
    per_order_limit: Decimal
    annual_limit: Decimal
    tariff_rate: Decimal
    tax_share: Decimal  # 70%: the share of statutory VAT and consumption tax collected
    vat: VatSchedule
    consumption_tax: tuple[ConsumptionTaxRule, ...]
    consumption_tax_unmodelled_prefixes: tuple[str, ...]
    # None in rule sets written before the rule was modelled: such a set refuses every
    # single item above the per-order limit, as the shop did then.
    single_item_over_limit: SingleItemOverLimit | None = None

    def single_item_rule_on(self, day: date) -> SingleItemOverLimit | None:
        """The single-item rule if this set has one and it is in force on ``day``."""
        rule = self.single_item_over_limit
        return rule if rule is not None and rule.in_force_on(day) else None

    def consumption_tax_for(self, hs_code: str) -> ConsumptionTaxRule | None:
        return next((rule for rule in self.consumption_tax if rule.matches(hs_code)), None)

    def consumption_tax_unmodelled(self, hs_code: str) -> bool:
        return longest_prefix(hs_code, self.consumption_tax_unmodelled_prefixes) is not None

    def figures_json(self) -> dict[str, Any]:
        return _as_json(
            {
                "limits": {
                    "currency": self.limit_currency,
                    "per_order": self.per_order_limit,
                    "per_person_per_year": self.annual_limit,
                },
                "tariff_rate": self.tariff_rate,
                "tax_share": self.tax_share,
                "vat": self.vat.as_json(),
                "consumption_tax": [rule.as_json() for rule in self.consumption_tax],
                "consumption_tax_unmodelled_prefixes": self.consumption_tax_unmodelled_prefixes,
                "single_item_over_limit": (
                    self.single_item_over_limit.as_json() if self.single_item_over_limit else None
                ),
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CbecPolicy:
        limits = data["limits"]
        return cls(
            **RuleSet.header_from_json(data),
            limit_currency=limits["currency"],
            per_order_limit=_decimal(limits["per_order"]),
            annual_limit=_decimal(limits["per_person_per_year"]),
            tariff_rate=_decimal(data["tariff_rate"]),
            tax_share=_decimal(data["tax_share"]),
            vat=VatSchedule(
                default=_decimal(data["default_vat_rate"]),
                by_category=_decimals(data.get("vat_by_category")),
                by_hs_prefix=_decimals(data.get("vat_by_hs_prefix")),
            ),
            consumption_tax=tuple(
                ConsumptionTaxRule.from_json(rule) for rule in data.get("consumption_tax", ())
            ),
            consumption_tax_unmodelled_prefixes=tuple(
                data.get("consumption_tax_unmodelled_prefixes", ())
            ),
            single_item_over_limit=(
                SingleItemOverLimit.from_json(data["single_item_over_limit"])
                if data.get("single_item_over_limit")
                else None
            ),
        )


@dataclass(frozen=True, kw_only=True)
class EaeuPolicy(RuleSet):
    """Parcels to individuals in the EAEU (DOMAIN.md, Russia and the EAEU)."""

    threshold_currency: str
    threshold_value: Decimal
    threshold_weight_kg: Decimal
    no_weight_limit_countries: frozenset[str]
    regime: str  # "excess": rate on the part above; "whole_value": rate on all of it, plus VAT
    duty_rate: Decimal
    duty_min_per_kg: Decimal
    vat_base_includes_duty: bool
    vat_by_country: Mapping[str, VatSchedule]

    def weight_limit_kg(self, country: str) -> Decimal | None:
        return None if country in self.no_weight_limit_countries else self.threshold_weight_kg

    def figures_json(self) -> dict[str, Any]:
        return _as_json(
            {
                "threshold": {
                    "currency": self.threshold_currency,
                    "value": self.threshold_value,
                    "weight_kg": self.threshold_weight_kg,
                    "no_weight_limit_countries": self.no_weight_limit_countries,
                },
                "regime": self.regime,
                "duty_rate": self.duty_rate,
                "duty_min_per_kg": self.duty_min_per_kg,
                "vat": (
                    {
                        "base_includes_duty": self.vat_base_includes_duty,
                        "by_country": {c: s.as_json() for c, s in self.vat_by_country.items()},
                    }
                    if self.vat_by_country
                    else None
                ),
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EaeuPolicy:
        threshold = data["threshold"]
        vat = data.get("vat") or {}
        policy = cls(
            **RuleSet.header_from_json(data),
            threshold_currency=threshold["currency"],
            threshold_value=_decimal(threshold["value"]),
            threshold_weight_kg=_decimal(threshold["weight_kg"]),
            no_weight_limit_countries=frozenset(threshold.get("no_weight_limit_countries", ())),
            regime=data["regime"],
            duty_rate=_decimal(data["duty_rate"]),
            duty_min_per_kg=_decimal(data["duty_min_per_kg"]),
            vat_base_includes_duty=bool(vat.get("base_includes_duty", True)),
            vat_by_country=MappingProxyType(
                {c: VatSchedule.from_json(s) for c, s in vat.get("by_country", {}).items()}
            ),
        )
        if policy.regime not in ("excess", "whole_value"):
            raise CustomsRulesInvalid(f"{policy.id}: unknown regime {policy.regime!r}")
        if policy.regime == "whole_value" and set(policy.countries) - set(policy.vat_by_country):
            missing = sorted(set(policy.countries) - set(policy.vat_by_country))
            raise CustomsRulesInvalid(f"{policy.id}: no VAT rate for {', '.join(missing)}")
        return policy


Policy = CbecPolicy | EaeuPolicy

_PARSERS = {"cn_cbec": CbecPolicy.from_json, "eaeu": EaeuPolicy.from_json}


def parse_rule_file(data: Mapping[str, Any]) -> tuple[Policy, ...]:
    parse = _PARSERS.get(data.get("kind", ""))
    if parse is None:
        raise CustomsRulesInvalid(f"unknown kind of customs rules: {data.get('kind')!r}")
    return tuple(parse(rule_set) for rule_set in data["rule_sets"])


def check_no_overlap(policies: tuple[Policy, ...]) -> None:
    """Refuse data where one country has two rule sets in force on one day:
    which one applied would then depend on file order."""
    countries = {c for p in policies for c in p.countries}
    for country in sorted(countries):
        dated = sorted(
            (p for p in policies if country in p.countries), key=lambda p: p.effective_from
        )
        for earlier, later in pairwise(dated):
            if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                raise CustomsRulesInvalid(
                    f"customs rule sets {earlier.id} and {later.id} overlap for {country}"
                )


KIND_OF_POLICY: dict[type, str] = {CbecPolicy: "cn_cbec", EaeuPolicy: "eaeu"}


@dataclass(frozen=True)
class ShippedRuleSet:
    """A rule set as a file in ``rules/`` holds it, with the file's name and kind."""

    file: str
    kind: str
    document: Mapping[str, Any]
    policy: Policy


@cache
def shipped_rule_sets() -> tuple[ShippedRuleSet, ...]:
    """Every rule set shipped in ``orders/customs/rules``; read once per process,
    as the files change only with a release."""
    folder = resources.files("orders.customs").joinpath("rules")
    shipped: list[ShippedRuleSet] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            if data.get("kind") not in _PARSERS:
                continue  # other customs data kept beside the rules (e.g. code lists)
            for document, policy in zip(data["rule_sets"], parse_rule_file(data), strict=True):
                shipped.append(ShippedRuleSet(entry.name, data["kind"], document, policy))
    check_no_overlap(tuple(s.policy for s in shipped))
    return tuple(shipped)


def merge_rule_sets(shipped: tuple[Policy, ...], added: tuple[Policy, ...]) -> tuple[Policy, ...]:
    """The rule sets in force, day by day: ``added`` (in the order they were added)
    laid over ``shipped``.

    Per country, the sets are taken in order of ``effective_from`` (a tie goes to the
    one added later: that is how an operator corrects a scheduled row). Each ends the
    day before the next one starts, or at its own ``effective_to`` if that is
    earlier. A set that only some of its countries leave is split in two (same id,
    same figures, different end); a set superseded before it starts is dropped.
    """
    ordered = (*shipped, *added)
    ends: list[dict[str, date | None]] = [{} for _ in ordered]
    for country in sorted({c for p in ordered for c in p.countries}):
        chain = sorted(
            (n for n, p in enumerate(ordered) if country in p.countries),
            key=lambda n: (ordered[n].effective_from, n),
        )
        for here, following in zip(chain, [*chain[1:], None], strict=True):
            end = ordered[here].effective_to
            if following is not None:
                day_before = ordered[following].effective_from - timedelta(days=1)
                end = day_before if end is None else min(end, day_before)
            ends[here][country] = end
    merged: list[Policy] = []
    for policy, end_by_country in zip(ordered, ends, strict=True):
        by_end: dict[date | None, set[str]] = {}
        for country, end in end_by_country.items():
            by_end.setdefault(end, set()).add(country)
        for end, countries in sorted(by_end.items(), key=lambda item: item[0] or date.max):
            if end is not None and end < policy.effective_from:
                continue  # superseded before it started
            if end == policy.effective_to and countries == policy.countries:
                merged.append(policy)
            else:
                merged.append(replace(policy, countries=frozenset(countries), effective_to=end))
    result = tuple(merged)
    check_no_overlap(result)
    return result


def rule_set_for(rule_sets: tuple[Policy, ...], country: str, on: date) -> Policy | None:
    """The one of ``rule_sets`` in force for ``country`` on the order date, or None."""
    code = (country or "").upper()
    return next((p for p in rule_sets if code in p.countries and p.in_force_on(on)), None)
