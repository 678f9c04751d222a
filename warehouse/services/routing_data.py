"""Nodes and lanes as the routing engine reads them, kept per app for a while, and the
routing strategy the settings name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from time import monotonic
from types import MappingProxyType

from flask import current_app
from sqlalchemy import select

from catalog.money import Money
from shop.core.extensions import db
from warehouse import routing
from warehouse.models import Node
from warehouse.services.lanes import _lanes_query


@dataclass(frozen=True)
class RoutingWorld:
    """Nodes and lanes as the routing engine reads them (plain data, no rows)."""

    nodes: tuple[routing.Node, ...]
    lanes: tuple[routing.Lane, ...]
    node_ids: Mapping[str, int] = field(default_factory=dict)  # code -> row id, for writes

    @property
    def destinations(self) -> tuple[str, ...]:
        """Every country an active lane serves, sorted."""
        return tuple(sorted({c for lane in self.lanes if lane.active for c in lane.countries}))


def load_routing_world() -> RoutingWorld:
    rows = db.session.scalars(select(Node).order_by(Node.code)).all()
    nodes = tuple(
        routing.Node(
            n.code, n.country, n.priority, n.is_active, routing.Packaging.from_json(n.packaging)
        )
        for n in rows
    )
    node_ids = MappingProxyType({node.code: node.id for node in rows})
    lanes = []
    for lane in db.session.scalars(_lanes_query()).unique():
        max_value = None
        if lane.max_parcel_value_amount is not None:
            max_value = Money(
                Decimal(lane.max_parcel_value_amount), lane.max_parcel_value_currency or "CNY"
            )
        lanes.append(
            routing.Lane(
                code=lane.code,
                node=lane.node.code,
                countries=tuple(lane.countries),
                regions=tuple(lane.regions or ()),
                legs=tuple(
                    routing.Leg(
                        carrier=leg.carrier,
                        service=leg.service,
                        transit_days_min=leg.transit_days_min,
                        transit_days_max=leg.transit_days_max,
                        cost_base=Decimal(leg.cost_base),
                        cost_per_kg=Decimal(leg.cost_per_kg),
                        cost_currency=leg.cost_currency,
                        crossing=leg.crossing,
                        customs_mode=leg.customs_mode,
                    )
                    for leg in lane.legs
                ),
                cutoff=time.fromisoformat(lane.cutoff_time),
                timezone=lane.timezone,
                refuses_categories=tuple(lane.refuses_categories or ()),
                refuses_hs_prefixes=tuple(lane.refuses_hs_prefixes or ()),
                requires_cbec_positive_list=lane.requires_cbec_positive_list,
                max_parcel_value=max_value,
                max_parcel_weight_g=lane.max_parcel_weight_g,
                active=lane.is_active,
            )
        )
    return RoutingWorld(nodes, tuple(lanes), node_ids)


_CACHE_KEY = "pavilion.routing_world"


def routing_world() -> RoutingWorld:
    """The routing data, kept per app for PAVILION_RATES_CACHE_SECONDS like the rates:
    every product page plans deliveries, and lanes change rarely."""
    cache = current_app.extensions.setdefault(_CACHE_KEY, {})
    ttl = current_app.config.get("RATES_CACHE_SECONDS", 0)
    now = monotonic()
    cached = cache.get("world")
    if cached is None or now - cached[0] >= ttl:
        cached = cache["world"] = (now, load_routing_world())
    return cached[1]


def forget_routing_world() -> None:
    """Drop this worker's cached routing data, so that a node or lane change applies
    here at once (other workers see it within the cache's TTL)."""
    current_app.extensions.get(_CACHE_KEY, {}).clear()


def routing_strategy() -> routing.RoutingStrategy:
    """The strategy the ROUTING_STRATEGY setting names (an installed entry point)."""
    return routing.load_strategy(current_app.config["ROUTING_STRATEGY"])
