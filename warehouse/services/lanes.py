"""Lanes as operators see and change them (routing reads the new values on the next order)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from catalog.models import Category
from catalog.money import Money
from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_codes
from warehouse import lane_legs
from warehouse.lane_legs import LegInput
from warehouse.models import Lane, Node

log = logging.getLogger(__name__)


def lane_document(lane: Lane) -> dict[str, Any]:
    """A lane as staff and operators read it (API, CLI)."""
    legs = [
        {
            "position": leg.position,
            "carrier": leg.carrier,
            "service": leg.service,
            "transit_days": {"min": leg.transit_days_min, "max": leg.transit_days_max},
            "cost": {
                "base": {"amount": str(leg.cost_base), "currency": leg.cost_currency},
                "per_kg": {"amount": str(leg.cost_per_kg), "currency": leg.cost_currency},
            },
            "crossing": leg.crossing,
            "customs_mode": leg.customs_mode,
        }
        for leg in lane.legs
    ]
    max_value = None
    if lane.max_parcel_value_amount is not None:
        max_value = Money(
            Decimal(lane.max_parcel_value_amount), lane.max_parcel_value_currency or "CNY"
        ).as_json()
    return {
        "code": lane.code,
        "node": lane.node.code,
        "countries": lane.countries,
        "regions": lane.regions,
        "cutoff_time": lane.cutoff_time,
        "timezone": lane.timezone,
        "transit_days": {
            "min": sum(leg.transit_days_min for leg in lane.legs),
            "max": sum(leg.transit_days_max for leg in lane.legs),
        },
        "refuses": {
            "categories": lane.refuses_categories,
            "hs_prefixes": lane.refuses_hs_prefixes,
            "outside_cbec_positive_list": lane.requires_cbec_positive_list,
            "max_parcel_value": max_value,
            "max_parcel_weight_g": lane.max_parcel_weight_g,
        },
        "active": lane.is_active,
        "legs": legs,
    }


def _lanes_query():
    return select(Lane).options(selectinload(Lane.legs), joinedload(Lane.node)).order_by(Lane.code)


def list_lanes(node_code: str | None = None) -> list[dict[str, Any]]:
    query = _lanes_query()
    if node_code:
        query = query.join(Node, Node.id == Lane.node_id).where(Node.code == node_code)
    return [lane_document(lane) for lane in db.session.scalars(query).unique()]


def get_lane(code: str) -> dict[str, Any]:
    lane = db.session.scalars(_lanes_query().where(Lane.code == code.upper())).unique().first()
    if lane is None:
        raise NotFound(f"No lane {code}.")
    return lane_document(lane)


_CUTOFF = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_HS_PREFIX = re.compile(r"^\d{2,8}$")


@dataclass(frozen=True)
class LaneChange:
    """What an operator may change on a lane; None leaves a field as it is."""

    cutoff_time: str | None = None
    timezone: str | None = None
    active: bool | None = None
    countries: list[str] | None = None
    regions: list[str] | None = None
    refuses_categories: list[str] | None = None
    refuses_hs_prefixes: list[str] | None = None
    requires_cbec_positive_list: bool | None = None
    max_parcel_weight_g: int | None = None
    max_parcel_value: Money | None = None


def update_lane(
    code: str,
    change: LaneChange,
    *,
    actor: StaffPrincipal | str,
    legs: list[LegInput] | None = None,
) -> dict[str, Any]:
    """Change a lane's data, and replace its legs when ``legs`` is given; routing reads
    the new values on the next order.

    The one path for ``flask lanes set`` and the admin API and pages: audited as
    ``lane.update`` under ``actor``, the lane before and after, in the same
    transaction; a change that leaves the lane as it was audits nothing.
    """
    if legs is not None:
        lane_legs.check_legs(legs)
    lane = db.session.scalars(_lanes_query().where(Lane.code == code.upper())).unique().first()
    if lane is None:
        raise NotFound(f"No lane {code}.")
    errors: dict[str, list[str]] = {}
    if change.cutoff_time is not None and not _CUTOFF.match(change.cutoff_time):
        errors["cutoff_time"] = ["Use HH:MM, 24-hour, local time of the lane's time zone."]
    if change.timezone is not None and change.timezone not in available_timezones():
        errors["timezone"] = ["Not an IANA time zone, e.g. Asia/Vladivostok."]
    if change.countries is not None:
        bad = [c for c in change.countries if c.upper() not in country_codes()]
        if bad or not change.countries:
            errors["countries"] = [
                f"Give ISO 3166-1 alpha-2 codes (not: {', '.join(bad) or 'none'})."
            ]
    if change.refuses_categories is not None:
        known = set(db.session.scalars(select(Category.slug)))
        bad = [c for c in change.refuses_categories if c not in known]
        if bad:
            errors["refuses_categories"] = [f"Unknown categories: {', '.join(bad)}."]
    if change.refuses_hs_prefixes is not None:
        bad = [p for p in change.refuses_hs_prefixes if not _HS_PREFIX.match(p)]
        if bad:
            errors["refuses_hs_prefixes"] = [
                f"HS prefixes are 2 to 8 digits (not: {', '.join(bad)})."
            ]
    if change.max_parcel_weight_g is not None and change.max_parcel_weight_g <= 0:
        errors["max_parcel_weight_g"] = ["Must be above 0."]
    if errors:
        raise ValidationFailed(errors=errors)

    before = lane_document(lane)
    if legs is not None:
        lane_legs.replace_legs(lane, legs)
    plain_fields = (
        "cutoff_time", "timezone", "regions", "refuses_categories",
        "refuses_hs_prefixes", "requires_cbec_positive_list", "max_parcel_weight_g",
    )  # fmt: skip
    for name in plain_fields:
        value = getattr(change, name)
        if value is not None:
            setattr(lane, name, value)
    if change.countries is not None:
        lane.countries = [c.upper() for c in change.countries]
    if change.active is not None:
        lane.is_active = change.active
    if change.max_parcel_value is not None:
        lane.max_parcel_value_amount = change.max_parcel_value.amount
        lane.max_parcel_value_currency = change.max_parcel_value.currency
    try:
        # ``after`` is taken just before the commit, legs flushed, and the entry dropped
        # there when the lane is as it was (shop.core.audit).
        audit.record(actor, "lane.update", "lane", lane.code, before=before,
                     after=lambda: lane_document(lane))  # fmt: skip
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    after = lane_document(lane)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    log.info("lane %s changed by %s: %s", lane.code, getattr(actor, "actor", actor), changed)
    return after
