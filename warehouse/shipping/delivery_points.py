"""Door or pickup point: the shopper's delivery choice, and the pickup points of the
carriers that deliver to a city, kept per app for ``DELIVERY_POINTS_CACHE_SECONDS``.

A carrier's office list changes slowly (offices open and close over weeks), and
every checkout form and order would otherwise ask for it again. It is fetched
with no transaction open, before checkout opens its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from time import monotonic

from flask import current_app

from shop.core.errors import DomainError, ValidationFailed, register_problem_types
from shop.core.extensions import db
from warehouse import routing
from warehouse.carriers import base as carriers
from warehouse.services import routing_world
from warehouse.shipping.adapters import api_carriers, carrier

log = logging.getLogger(__name__)

DEFAULT_DELIVERY_POINTS_CACHE_SECONDS = 3600
# Past this many cached lists, the expired ones are dropped.
DELIVERY_POINTS_CACHE_MAX_ENTRIES = 2000
POINT_FIELD = "delivery.point"

register_problem_types(
    {
        "pickup_points_unavailable": "The carrier's pickup points cannot be read now; "
        "retry later or choose delivery to the door."
    }
)


class PickupPointsUnavailable(DomainError):
    """The carrier cannot be asked for its points now: a pickup choice cannot be checked
    (a door choice can still go ahead)."""

    status = 503
    code = "pickup_points_unavailable"
    title = "Pickup points unavailable"


@dataclass(frozen=True)
class DeliveryChoice:
    """How the shopper takes the parcels: ``door`` (to the address) or ``pickup`` at the
    carrier's point ``point`` (its code, from ``delivery_points``)."""

    method: str = "door"
    point: str | None = None

    def __post_init__(self):
        if self.method not in carriers.DELIVERY_METHODS:
            raise ValueError(f"delivery method is one of {carriers.DELIVERY_METHODS}")

    @property
    def is_pickup(self) -> bool:
        return self.method == "pickup"


DOOR = DeliveryChoice()


def cache_seconds() -> float:
    return float(
        current_app.config.get("DELIVERY_POINTS_CACHE_SECONDS")
        or DEFAULT_DELIVERY_POINTS_CACHE_SECONDS
    )


def pickup_carriers(country: str, region: str | None = None) -> tuple[str, ...]:
    """The carriers with an API that carry the last leg of a lane serving the destination."""
    wanted = api_carriers()
    destination = routing.Destination(country, region, None)
    found = {
        lane.legs[-1].carrier
        for lane in routing_world().lanes
        if lane.active and lane.serves(destination) and lane.legs[-1].carrier in wanted
    }
    return tuple(sorted(found))


def carrier_points(
    name: str, country: str, city: str, postal_code: str | None = None
) -> list[carriers.DeliveryPoint]:
    """One carrier's pickup points in a city, from the cache or the carrier (asked with no
    transaction open). Raises ``PickupPointsUnavailable`` when the carrier cannot answer."""
    key = (name, country.upper(), city.strip().casefold(), (postal_code or "").strip())
    cache = current_app.extensions.setdefault("pavilion.delivery_points", {})
    now = monotonic()
    ttl = cache_seconds()
    cached = cache.get(key)
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    db.session.rollback()  # never ask a carrier with a transaction open
    try:
        points = carrier(name).delivery_points(country.upper(), city.strip(),
                                               (postal_code or "").strip() or None)  # fmt: skip
    except carriers.CarrierError as problem:
        log.warning("%s pickup points for %s/%s not read: %s", name, country, city, problem)
        raise PickupPointsUnavailable(
            f"The pickup points of {name} cannot be read now; choose delivery to the door "
            "or try again later.",
            carrier=name,
        ) from None
    if len(cache) >= DELIVERY_POINTS_CACHE_MAX_ENTRIES:
        for old in [k for k, v in cache.items() if now - v[0] >= ttl]:
            cache.pop(old, None)
    cache[key] = (now, points)
    return points


def delivery_points(
    country: str, city: str, postal_code: str | None = None, region: str | None = None
) -> list[carriers.DeliveryPoint]:
    """Every pickup point in the city of the carriers that deliver there."""
    if not city.strip():
        return []
    return [
        point
        for name in pickup_carriers(country, region)
        for point in carrier_points(name, country, city, postal_code)
    ]


def chosen_point(
    choice: DeliveryChoice,
    carrier_name: str,
    country: str,
    city: str | None,
    postal_code: str | None,
) -> carriers.DeliveryPoint:
    """The point the shopper chose, from ``carrier_name``'s list for the city; a 422
    naming ``delivery.point`` when it is not in that list."""
    if not choice.point:
        raise ValidationFailed(errors={POINT_FIELD: ["Choose a pickup point."]})
    if not (city or "").strip():
        raise ValidationFailed(errors={"shipping_address.city": ["Needed to find pickup points."]})
    for point in carrier_points(carrier_name, country, city or "", postal_code):
        if point.code == choice.point:
            return point
    raise ValidationFailed(
        f"{choice.point} is not a pickup point of {carrier_name} in {city}.",
        errors={POINT_FIELD: [f"{choice.point} is not a pickup point in {city}."]},
    )


def chosen_points(
    choice: DeliveryChoice,
    lanes: tuple[routing.Lane, ...],
    destination: routing.Destination,
    city: str | None,
) -> dict[str, carriers.DeliveryPoint]:
    """The pickup point the shopper chose, per carrier (with an API) of a lane serving
    ``destination`` that lists it in the city: only those carriers' lanes can take the
    parcels there. A 422 naming ``delivery.point`` when none does."""
    wanted = api_carriers()
    names = sorted({
        lane.legs[-1].carrier for lane in lanes
        if lane.active and lane.serves(destination) and lane.legs[-1].carrier in wanted
    })  # fmt: skip
    if not names:
        raise ValidationFailed(
            errors={POINT_FIELD: ["No carrier delivers to pickup points at this address."]}
        )
    found: dict[str, carriers.DeliveryPoint] = {}
    refusal: ValidationFailed | None = None
    for name in names:
        try:
            found[name] = chosen_point(choice, name, destination.country, city,
                                       destination.postal_code)  # fmt: skip
        except ValidationFailed as problem:
            refusal = problem
    if not found and refusal is not None:
        raise refusal
    return found


@dataclass(frozen=True)
class QuotedService:
    """The carrier service a parcel's price came from (``None``: its lane's table priced
    it), the way the recipient takes the parcel (``door`` or ``pickup``), and the pickup
    point when there is one."""

    carrier: str
    service: str | None
    delivery: str = "door"
    point: carriers.DeliveryPoint | None = None

    def as_json(self) -> dict:
        return {
            "carrier": self.carrier,
            "service": self.service,
            "method": self.delivery,
            "point": self.point.as_json() if self.point else None,
        }


def pick_option(options: list[carriers.QuoteOption], end: str) -> carriers.QuoteOption | None:
    """The cheapest option that hands the parcel over at ``end`` (``door``, or the
    chosen point's kind: ``office``, ``locker``). A carrier that says nothing of how its
    services deliver is taken as delivering to the door."""
    told = [o for o in options if o.delivery is not None]
    fitting = [o for o in told if o.delivery == end] if told else (
        list(options) if end == "door" else []
    )  # fmt: skip
    return min(fitting, key=lambda o: (o.price.amount, o.transit_days_max, o.service), default=None)
