"""Which ways to pay a shopper is offered: dated rows by destination and currency (pure).

The rows live in ``orders/rules/payment_methods.json`` (with the reason and the source
of each); an operator lays their own rows over them (``PAVILION_PAYMENT_METHOD_RULES``:
a row with a shipped row's id replaces it, any other is added). What is offered is
what the rows in force allow, narrowed to the adapters the shop enables.

No Flask, no database: data in, data out (the ``pure policies`` import contract).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

SHIPPED_RULES = Path(__file__).parent / "rules" / "payment_methods.json"
ANY = "*"

# The message id a page or a client shows for a method (the storefront translates them).
LABEL_KEYS = {
    "yookassa": "payment_method.yookassa",
    "alipay": "payment_method.alipay",
    "wechatpay": "payment_method.wechatpay",
    "stripe": "payment_method.stripe",
    "manual": "payment_method.bank_transfer",
}


class PaymentRulesInvalid(ValueError):
    """A rules file that cannot be read as payment-method rows."""


@dataclass(frozen=True)
class PaymentMethodRule:
    id: str
    adapter: str
    countries: frozenset[str]
    except_countries: frozenset[str]
    currencies: frozenset[str] | None  # None: any
    valid_from: date
    valid_to: date | None
    reason: str
    source: str

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def covers(self, country: str, currency: str) -> bool:
        if country in self.except_countries:
            return False
        if ANY not in self.countries and country not in self.countries:
            return False
        return self.currencies is None or currency in self.currencies


def parse_rules(document: Mapping[str, Any]) -> tuple[PaymentMethodRule, ...]:
    """The rows of a rules document (``{"rules": [...]}``); PaymentRulesInvalid says why not."""
    rows = document.get("rules") if isinstance(document, Mapping) else None
    if not isinstance(rows, list):
        raise PaymentRulesInvalid('a payment-method rules file holds {"rules": [...]}')
    parsed = []
    for position, row in enumerate(rows):
        try:
            parsed.append(_parse_row(row))
        except (KeyError, TypeError, ValueError) as problem:
            raise PaymentRulesInvalid(f"rule {position}: {problem}") from None
    ids = [rule.id for rule in parsed]
    if len(set(ids)) != len(ids):
        raise PaymentRulesInvalid("two rules share an id")
    return tuple(parsed)


def _codes(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(str(value).upper() for value in values or ())


def _parse_row(row: Mapping[str, Any]) -> PaymentMethodRule:
    countries = _codes(row["countries"])
    if not countries:
        raise ValueError("countries is empty (use ['*'] for any destination)")
    currencies = row.get("currencies")
    valid_to = row.get("valid_to")
    rule = PaymentMethodRule(
        id=str(row["id"]),
        adapter=str(row["adapter"]),
        countries=countries,
        except_countries=_codes(row.get("except_countries")),
        currencies=None if currencies is None else _codes(currencies),
        valid_from=date.fromisoformat(row["valid_from"]),
        valid_to=date.fromisoformat(valid_to) if valid_to else None,
        reason=str(row.get("reason") or ""),
        source=str(row.get("source") or ""),
    )
    if not rule.id or not rule.adapter:
        raise ValueError("id and adapter are required")
    if not rule.reason or not rule.source:
        raise ValueError(f"{rule.id}: say the reason and the source")
    if rule.valid_to is not None and rule.valid_to < rule.valid_from:
        raise ValueError(f"{rule.id}: valid_to is before valid_from")
    return rule


@cache
def shipped_rules() -> tuple[PaymentMethodRule, ...]:
    return parse_rules(json.loads(SHIPPED_RULES.read_text(encoding="utf-8")))


def rules_from_file(path: str | Path) -> tuple[PaymentMethodRule, ...]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise PaymentRulesInvalid(f"{path}: {problem}") from None
    return parse_rules(document)


def merge_rules(
    shipped: Sequence[PaymentMethodRule], added: Sequence[PaymentMethodRule]
) -> tuple[PaymentMethodRule, ...]:
    """The operator's rows over the shipped ones: same id replaces (in its place), others
    follow in their own order."""
    by_id = {rule.id: rule for rule in added}
    merged = [by_id.pop(rule.id, rule) for rule in shipped]
    return (*merged, *(rule for rule in added if rule.id in by_id))


def offered_adapters(
    rules: Sequence[PaymentMethodRule],
    *,
    destination: str,
    currency: str,
    on: date,
    enabled: Collection[str],
) -> tuple[str, ...]:
    """The adapters offered for an order to ``destination`` in ``currency`` on ``on``:
    what the rows in force allow, among the ``enabled`` ones, in the rows' order (then
    enabled adapters no row names, in the allowlist's order)."""
    destination, currency = destination.upper(), currency.upper()
    named = {rule.adapter for rule in rules}
    offered: list[str] = []
    for rule in rules:
        if (
            rule.adapter in enabled
            and rule.adapter not in offered
            and rule.in_force(on)
            and rule.covers(destination, currency)
        ):
            offered.append(rule.adapter)
    offered.extend(name for name in enabled if name not in named and name not in offered)
    return tuple(offered)


def rule_offering(
    rules: Sequence[PaymentMethodRule], adapter: str, destination: str, currency: str, on: date
) -> PaymentMethodRule | None:
    """The row that offers ``adapter`` there, to say why (None: none does)."""
    for rule in rules:
        if (
            rule.adapter == adapter
            and rule.in_force(on)
            and rule.covers(destination.upper(), currency.upper())
        ):
            return rule
    return None


def label_key(adapter: str) -> str:
    return LABEL_KEYS.get(adapter, f"payment_method.{adapter}")
