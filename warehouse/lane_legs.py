"""A lane's legs as an operator gives them: checked, then put in place of the old ones.

The lane's other fields (cut-off, countries, what it refuses...) change through
``warehouse.services.update_lane``; the legs are replaced whole, in order, because a
leg's position is its place in the corridor.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from catalog.money import is_currency_code
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from warehouse.models import Lane, LaneLeg

CUSTOMS_MODES = ("9610", "1210")


@dataclass(frozen=True)
class LegInput:
    """One leg of a lane as an operator gives it."""

    carrier: str
    service: str
    transit_days_min: int
    transit_days_max: int
    cost_base: Decimal
    cost_per_kg: Decimal
    cost_currency: str
    crossing: str | None = None
    customs_mode: str | None = None


def leg_problems(legs: list[LegInput]) -> dict[str, list[str]]:
    """What is wrong with a lane's new legs, under ``legs`` (empty when nothing is)."""
    problems: list[str] = []
    if not legs:
        problems.append("A lane has at least one leg.")
    for n, leg in enumerate(legs, 1):
        if not leg.carrier.strip() or not leg.service.strip():
            problems.append(f"Leg {n}: carrier and service are required.")
        if leg.transit_days_min < 0 or leg.transit_days_max < leg.transit_days_min:
            problems.append(f"Leg {n}: transit days must be 0 or more, min ≤ max.")
        if leg.cost_base < 0 or leg.cost_per_kg < 0:
            problems.append(f"Leg {n}: costs must not be negative.")
        if not is_currency_code(leg.cost_currency.upper()):
            problems.append(f"Leg {n}: {leg.cost_currency!r} is not an ISO 4217 currency code.")
        if leg.customs_mode and leg.customs_mode not in CUSTOMS_MODES:
            problems.append(f"Leg {n}: customs mode is 9610, 1210 or none.")
    return {"legs": problems} if problems else {}


def check_legs(legs: list[LegInput]) -> None:
    """Refuse legs that ``leg_problems`` finds fault with (ValidationFailed)."""
    if problems := leg_problems(legs):
        raise ValidationFailed(errors=problems)


def lane_by_code(code: str) -> Lane:
    """The lane row of ``code`` (any case), or NotFound."""
    lane = db.session.scalar(select(Lane).where(Lane.code == code.upper()))
    if lane is None:
        raise NotFound(f"No lane {code}.")
    return lane


def replace_legs(lane: Lane, legs: list[LegInput]) -> None:
    """Put ``legs`` in place of the lane's legs, numbered from 1 in the order given.
    Checked legs only (``check_legs``); the caller commits."""
    # Old legs go first: a new leg 1 must not meet the old leg 1 in one flush.
    lane.legs.clear()
    db.session.flush()
    lane.legs = [
        LaneLeg(
            position=n,
            carrier=leg.carrier.strip(),
            service=leg.service.strip(),
            transit_days_min=leg.transit_days_min,
            transit_days_max=leg.transit_days_max,
            cost_base=leg.cost_base,
            cost_per_kg=leg.cost_per_kg,
            cost_currency=leg.cost_currency.upper(),
            crossing=(leg.crossing or "").strip() or None,
            customs_mode=leg.customs_mode or None,
        )
        for n, leg in enumerate(legs, 1)
    ]
