"""Carrier quotes at checkout: today's price of a lane's last leg, kept per app for a while,
and the lane's own table when the carrier does not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import monotonic

from flask import current_app
from sqlalchemy import select

from shop.core.errors import ValidationFailed
from shop.core.extensions import db
from warehouse import routing
from warehouse.carriers import base as carriers
from warehouse.models import Node
from warehouse.services import routing_world
from warehouse.shipping.adapters import api_carriers, carrier
from warehouse.shipping.delivery_points import (
    DOOR,
    POINT_FIELD,
    DeliveryChoice,
    QuotedService,
    chosen_point,
    pick_option,
)

log = logging.getLogger(__name__)

QUOTE_CACHE_SECONDS = 600
# Past this many cached quotes, those older than QUOTE_CACHE_SECONDS are dropped.
QUOTE_CACHE_MAX_ENTRIES = 1000
# A carrier whose quote failed is not asked again for this long (the lane tables
# price meanwhile), so an outage does not make every cart wait a timeout per lane.
QUOTE_FAILURE_SECONDS = 60


@dataclass(frozen=True)
class LaneQuotes:
    """Carrier prices that replace a lane's table for its last leg, and where each lane's
    shipping price comes from (shown to the shopper: a fallback is never silent)."""

    quotes: tuple[routing.CarrierQuote, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    # Per lane priced by a carrier: the service quoted (booked as quoted) and the point.
    services: Mapping[str, QuotedService] = field(default_factory=dict)


def carrier_quotes(
    lanes: tuple[routing.Lane, ...],
    destination: routing.Destination,
    *,
    city: str | None,
    weight_g: int,
    delivery: DeliveryChoice = DOOR,
) -> LaneQuotes:
    """Ask the carrier of each serving lane's last leg (when it has an API) for today's
    price of a parcel of ``weight_g``; kept per app for 10 minutes. A carrier that does
    not answer leaves the lane's own table, and the source says so.

    Called before checkout opens its transaction (an outside call, never inside one).

    ``delivery`` picks the service: for ``pickup``, the carrier's service to a pickup
    point, and the point must be in the carrier's list for the city (else a 422 naming
    ``delivery.point``).
    """
    cache = current_app.extensions.setdefault("pavilion.carrier_quotes", {})
    now = monotonic()
    _forget_old_quotes(cache, now)
    wanted = api_carriers()
    serving = [
        lane for lane in lanes
        if lane.active and lane.serves(destination) and lane.legs[-1].carrier in wanted
    ]  # fmt: skip
    if not serving:
        if delivery.is_pickup:
            raise ValidationFailed(
                errors={POINT_FIELD: ["No carrier delivers to pickup points at this address."]}
            )
        return LaneQuotes()
    cities = cache.get("node cities")
    if cities is None:
        cities = cache["node cities"] = dict(db.session.execute(select(Node.code, Node.city)).all())
    failures = current_app.extensions.setdefault("pavilion.carrier_quote_failures", {})
    quotes, sources, services = [], {}, {}
    for lane in serving:
        leg = lane.legs[-1]
        point = None
        if delivery.is_pickup:
            point = chosen_point(delivery, leg.carrier, destination.country, city,
                                 destination.postal_code)  # fmt: skip
        # Where the parcel is handed over: a locker needs the carrier's locker service.
        end = point.kind if point is not None else "door"
        key = (lane.code, destination.country, destination.region, city,
               destination.postal_code, routing.chargeable_kg(weight_g), end)  # fmt: skip
        cached = cache.get(key)
        if cached is not None and now - cached[0] < QUOTE_CACHE_SECONDS:
            option = cached[1]
        elif now - failures.get(leg.carrier, -QUOTE_FAILURE_SECONDS) < QUOTE_FAILURE_SECONDS:
            sources[lane.code] = f"lane table ({leg.carrier} unreachable)"
            continue
        else:
            try:
                options = carrier(leg.carrier).quote(
                    carriers.Parcel(weight_g=max(weight_g, 1)),
                    carriers.Origin(node=lane.node, country=_node_country(lane.node),
                                    city=cities.get(lane.node, "")),
                    carriers.Address(country=destination.country, city=city or "", line1="",
                                     recipient="", phone="", postal_code=destination.postal_code,
                                     region=destination.region),
                )  # fmt: skip
            except carriers.CarrierError as problem:
                failures[leg.carrier] = monotonic()
                log.warning("lane %s: %s quote failed (%s); lane table used for %d s",
                            lane.code, leg.carrier, problem, QUOTE_FAILURE_SECONDS)  # fmt: skip
                sources[lane.code] = f"lane table ({leg.carrier} unreachable)"
                continue
            option = pick_option(options, end)
            if option is None:
                wanted = " to a pickup point" if delivery.is_pickup else ""
                sources[lane.code] = f"lane table ({leg.carrier} offers no tariff{wanted})"
                continue
            cache[key] = (now, option)
        quotes.append(
            routing.CarrierQuote(
                lane=lane.code, leg=len(lane.legs) - 1, cost=option.price,
                transit_days_min=option.transit_days_min,
                transit_days_max=option.transit_days_max,
            )
        )  # fmt: skip
        sources[lane.code] = f"{leg.carrier} tariff {option.service}"
        services[lane.code] = QuotedService(leg.carrier, option.service, delivery.method, point)
    return LaneQuotes(tuple(quotes), sources, services)


def _forget_old_quotes(cache: dict, now: float) -> None:
    """Keep the quote cache bounded: past its size, drop the quotes too old to use."""
    if len(cache) <= QUOTE_CACHE_MAX_ENTRIES:
        return
    for key in [k for k, v in cache.items()
                if isinstance(k, tuple) and now - v[0] >= QUOTE_CACHE_SECONDS]:  # fmt: skip
        cache.pop(key, None)


def _node_country(code: str) -> str:
    return next(node.country for node in routing_world().nodes if node.code == code)
