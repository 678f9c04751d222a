"""What goes in and comes out of a duty assessment: the dutiable lines and parcels,
the assessment of each line and parcel and of the order with its JSON record, an
assessment of "unknown", and the refusal when China's limits are exceeded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from catalog.money import Conversion, Money, round_to_currency
from orders.customs.policies import Policy, RuleSet
from shop.core.errors import DomainError, register_problem_types

ZERO = Decimal(0)
UNKNOWN_NOTICE = "Duties and taxes may be collected on delivery."
JSON_FORMAT = "duty-assessment/1"

register_problem_types(
    {
        "customs_limit_exceeded": (
            "The order is above a customs limit of the destination: `scope` says which "
            "(order or annual), `limit` and `value` give the figures (`remaining`: what is "
            "left of the annual allowance), `rule` the rule that refuses it when it is more "
            "specific than the limit (China's single item above the per-order limit: its "
            "`id`, `version` and `source`), `detail` what to do."
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
        rule: Mapping[str, str] | None = None,
    ):
        self.limit = limit
        self.value = value
        self.scope = scope
        self.remaining = remaining
        self.rule = rule
        extra: dict[str, Any] = {"limit": limit.as_json(), "value": value.as_json(), "scope": scope}
        if remaining is not None:
            extra["remaining"] = remaining.as_json()
        if rule is not None:
            extra["rule"] = dict(rule)
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
    # China's single item above the per-order limit: which rule made the taxes full,
    # why, and the amounts, for the shopper to see before paying (None otherwise).
    full_rate: Mapping[str, Any] | None = None

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
            "full_rate": _shown_json(self.full_rate) if self.full_rate is not None else None,
            "parcels": [parcel.as_json() for parcel in self.parcels],
        }


def unknown_assessment(
    country: str,
    order_date: date,
    currency: str,
    *,
    reason: str,
    policy: Policy | None = None,
    conversions: tuple[Conversion, ...] = (),
    order_figures: Mapping[str, Any] | None = None,
    full_rate: Mapping[str, Any] | None = None,
) -> DutyAssessment:
    """No amount, and why: never a false zero (the shopper is told that duties may be
    collected on delivery)."""
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
        full_rate=full_rate,
    )


def shown_amount(money: Money) -> str:
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


def _shown_json(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Figures a shopper is shown: money rounded to its minor unit, like ``amount``."""
    return {
        key: value.as_json() if isinstance(value, Money) else _jsonable(value)
        for key, value in figures.items()
    }


def _conversion_json(conversion: Conversion) -> dict[str, Any]:
    return {
        "from": conversion.source,
        "to": conversion.target,
        "factor": _exact(conversion.factor),
        "quotes": [quote.as_json() for quote in conversion.quotes],
    }
