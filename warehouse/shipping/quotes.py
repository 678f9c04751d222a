"""Carrier quotes at checkout: today's price of each planned parcel on a lane whose last
leg's carrier has an API, by the parcel's weight and size band, kept per app for a while;
the lane's own table when the carrier does not answer, and a refusal when it offers no
tariff for such a parcel (over its weight limit): never a silent fallback.

Pricing plans first with the lane tables, asks here for the bands of the parcels the best
plans hold, and plans again with the answers (``orders.pricing``); the routing engine
looks each parcel's band up in the ``QuoteTable`` this returns.

Each parcel is quoted for the shopper's delivery end (the door, or the chosen pickup
point's kind: ``office`` or ``locker``) and for the way its node hands parcels to the
carrier (``node_handovers``): only a tariff that fits both is taken, so the tariff each
planned parcel carries (``routing.Shipment.service``, stored on its shipment row as
``quoted_service``) is one the booking accepts and books.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from time import monotonic

from flask import current_app
from sqlalchemy import select

from shop.core.extensions import db
from warehouse import routing
from warehouse.carriers import base as carriers
from warehouse.carriers.pickups import Handover
from warehouse.models import Node, NodeHandover
from warehouse.services import routing_world
from warehouse.services.handovers import as_handover
from warehouse.shipping.adapters import api_carriers, carrier
from warehouse.shipping.delivery_points import DOOR, DeliveryChoice, pick_option

log = logging.getLogger(__name__)

QUOTE_CACHE_SECONDS = 600
# Past this many cached quotes, those older than QUOTE_CACHE_SECONDS are dropped.
QUOTE_CACHE_MAX_ENTRIES = 1000
# A carrier whose quote failed is not asked again for this long (the lane tables
# price meanwhile), so an outage does not make every cart wait a timeout per lane.
QUOTE_FAILURE_SECONDS = 60
# At most this many carrier calls per quote (each bounded by the adapter's timeout):
# bands past it are priced by their lane's table, and the quote says so.
MAX_CARRIER_CALLS = 6
NOT_ASKED = "not quoted for this parcel size"


def parcel_quotes(
    lanes: tuple[routing.Lane, ...],
    destination: routing.Destination,
    *,
    city: str | None,
    parcels: Iterable[tuple[str, routing.ParcelBand]],
    delivery: DeliveryChoice = DOOR,
    points: Mapping[str, carriers.DeliveryPoint] | None = None,
) -> routing.QuoteTable:
    """Ask the carrier of each lane's last leg (when it has an API and the lane serves
    ``destination``) for the price of a parcel of each ``(lane code, band)`` wanted:
    the band's upper weight and sides. Kept per app for ``QUOTE_CACHE_SECONDS`` by
    (lane, its tariff, destination, band, delivery end, node hand-over).

    A carrier that does not answer leaves the lane's table (``asked`` says why); one
    that answers with no tariff for the parcel refuses it (``ParcelQuote.refused``), and
    so does one whose tariffs all end elsewhere than ``delivery`` (a pickup choice:
    ``points``, the chosen point per carrier, whose ``kind`` is the end) or start
    otherwise than the node's hand-over.
    Called before checkout opens its transaction (an outside call, never inside one).
    """
    cache = current_app.extensions.setdefault("pavilion.carrier_quotes", {})
    now = monotonic()
    _forget_old_quotes(cache, now)
    wanted = api_carriers()
    by_code = {
        lane.code: lane for lane in lanes
        if lane.active and lane.serves(destination) and lane.legs[-1].carrier in wanted
    }  # fmt: skip
    bands: dict[str, set[routing.ParcelBand]] = {}
    for code, band in parcels:
        if code in by_code:
            bands.setdefault(code, set()).add(band)
    if not bands:
        return routing.QuoteTable()
    cities = cache.get("node cities")
    if cities is None:
        cities = cache["node cities"] = dict(db.session.execute(select(Node.code, Node.city)).all())
    handovers = _handovers({by_code[code].node for code in bands})
    db.session.rollback()  # no transaction stays open while a carrier is asked
    failures = current_app.extensions.setdefault("pavilion.carrier_quote_failures", {})
    quotes: list[routing.ParcelQuote] = []
    asked: dict[str, str] = {}
    calls = 0
    for code in sorted(bands):
        lane = by_code[code]
        leg = lane.legs[-1]
        asked[code] = NOT_ASKED
        end = _end(delivery, points or {}, leg.carrier)
        if end is None:
            asked[code] = f"{leg.carrier} has no pickup point chosen"
            continue
        handover = handovers.get((lane.node, leg.carrier))
        for band in sorted(bands[code], key=_band_order):
            key = (lane.code, leg.service, destination.country, destination.region, city,
                   destination.postal_code, band, end, handover)  # fmt: skip
            cached = cache.get(key)
            if cached is not None and now - cached[0] < QUOTE_CACHE_SECONDS:
                quotes.append(cached[1])
                continue
            if now - failures.get(leg.carrier, -QUOTE_FAILURE_SECONDS) < QUOTE_FAILURE_SECONDS:
                asked[code] = f"{leg.carrier} unreachable"
                continue
            if calls >= MAX_CARRIER_CALLS:
                asked[code] = f"{leg.carrier} not asked: {MAX_CARRIER_CALLS} quotes per order"
                continue
            calls += 1
            try:
                options = carrier(leg.carrier).quote(
                    _parcel(band),
                    carriers.Origin(node=lane.node, country=_node_country(lane.node),
                                    city=cities.get(lane.node, ""), handover=handover),
                    carriers.Address(country=destination.country, city=city or "", line1="",
                                     recipient="", phone="", postal_code=destination.postal_code,
                                     region=destination.region),
                )  # fmt: skip
            except carriers.CarrierRejected as problem:
                # About the addresses, not this parcel (CDEK names the city): the booking
                # will say it again; the lane's table prices meanwhile.
                log.warning("lane %s: %s refused the quote for %s (%s); lane table used",
                            lane.code, leg.carrier, band, problem)  # fmt: skip
                asked[code] = f"{leg.carrier} refused the quote: {'; '.join(problem.errors)}"
                continue
            except carriers.CarrierError as problem:
                failures[leg.carrier] = monotonic()
                log.warning("lane %s: %s quote failed (%s); lane table used for %d s",
                            lane.code, leg.carrier, problem, QUOTE_FAILURE_SECONDS)  # fmt: skip
                asked[code] = f"{leg.carrier} unreachable"
                continue
            quote = _parcel_quote(lane, leg.carrier, band, options, end)
            cache[key] = (now, quote)
            quotes.append(quote)
    return routing.QuoteTable(tuple(quotes), asked)


def _parcel(band: routing.ParcelBand) -> carriers.Parcel:
    length, width, height = band.size_mm or (None, None, None)
    return carriers.Parcel(
        weight_g=band.weight_g, length_mm=length, width_mm=width, height_mm=height
    )


def _parcel_quote(
    lane: routing.Lane, carrier_name: str, band: routing.ParcelBand, options, end: str
) -> routing.ParcelQuote:
    """The cheapest tariff offered that ends at ``end`` and starts the node's way (the
    quickest of equals) replaces the lane's last leg; no such tariff is the carrier
    refusing such a parcel (the booking would refuse it too)."""
    option = pick_option(options, end)
    if option is None:
        to = "" if end == "door" else f" to a pickup point ({end})"
        return routing.ParcelQuote(
            lane.code, band, carrier_name, leg=len(lane.legs) - 1,
            refused=f"no tariff offered{to} for a parcel of {band}",
        )  # fmt: skip
    return routing.ParcelQuote(
        lane.code, band, carrier_name, leg=len(lane.legs) - 1, cost=option.price,
        transit_days_min=option.transit_days_min, transit_days_max=option.transit_days_max,
        service=option.service,
    )  # fmt: skip


def _end(
    delivery: DeliveryChoice, points: Mapping[str, carriers.DeliveryPoint], carrier_name: str
) -> str | None:
    """Where this carrier hands the parcel to the recipient: the door, or the kind of the
    pickup point the shopper chose among its points (``None``: none of its)."""
    if not delivery.is_pickup:
        return "door"
    point = points.get(carrier_name)
    return point.kind if point is not None else None


def _handovers(nodes: set[str]) -> dict[tuple[str, str], Handover]:
    """How each of ``nodes`` hands parcels to each carrier, by (node code, carrier)."""
    rows = db.session.execute(
        select(Node.code, NodeHandover)
        .join(NodeHandover, NodeHandover.node_id == Node.id)
        .where(Node.code.in_(sorted(nodes)))
    ).all()
    return {(code, row.carrier): as_handover(row) for code, row in rows}


def _band_order(band: routing.ParcelBand) -> tuple:
    return (band.weight_kg, band.size_mm or ())


def _forget_old_quotes(cache: dict, now: float) -> None:
    """Keep the quote cache bounded: past its size, drop the quotes too old to use."""
    if len(cache) <= QUOTE_CACHE_MAX_ENTRIES:
        return
    for key in [k for k, v in cache.items()
                if isinstance(k, tuple) and now - v[0] >= QUOTE_CACHE_SECONDS]:  # fmt: skip
        cache.pop(key, None)


def _node_country(code: str) -> str:
    return next(node.country for node in routing_world().nodes if node.code == code)
