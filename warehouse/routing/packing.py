"""Packing one node's goods into parcels of one lane, when one parcel is over a limit.

A lane's weight limit, and a value limit that is the carrier's, bind each box:
more boxes get around them, and a real shop packs 35 kg of honey as two
parcels. A customs limit on the whole transaction does not bind a box: China's
CBEC 5,000 CNY is per order (``Lane.value_limit_is_per_transaction``), so the
engine never splits to get under it, and boxes split for weight must together
stay within it. Plain data in and out, like the rest of the engine.
"""

from __future__ import annotations

import math
from decimal import Decimal

from catalog.money import Money
from warehouse.routing.model import Lane, OrderLine, RoutingRequest
from warehouse.routing.rules import format_money

# What a node sends: order lines and how many of their units.
Items = tuple[tuple[OrderLine, int], ...]


def _splittable_caps(lane: Lane) -> tuple[int | None, Money | None]:
    """The per-parcel limits that more parcels get around: the lane's weight, and its
    value limit when that is the carrier's (never a customs limit per transaction)."""
    value = lane.max_parcel_value
    if value is not None and lane.value_limit_is_per_transaction:
        value = None
    return lane.max_parcel_weight_g, value


def _value_in(items: Items, currency: str, request: RoutingRequest) -> Decimal:
    return sum(
        (request.convert(line.unit_value, currency).amount * units for line, units in items),
        Decimal(0),
    )


def pack(lane: Lane, items: Items, request: RoutingRequest) -> list[Items] | None:
    """``items`` in the fewest parcels of ``lane`` that first-fit decreasing finds, or
    None when splitting cannot help: the lane has no limit to split for, one unit is
    over a limit by itself, or the goods are over a customs limit per transaction
    (see ``Lane.value_limit_is_per_transaction``; that limit is on the order, so more
    boxes must not take it further than one box could).

    Units are sized by the larger share of a parcel they take (weight or value),
    largest first, ties by line number; each line's units go into the first parcel with
    room, in order, then into new ones. Units of one line are alike, so filling a
    parcel with as many as fit is the same as placing them one by one. Each parcel
    lists its lines by line number; parcels come in the order they were opened, so the
    same goods always pack the same way.
    """
    weight_cap, value_cap = _splittable_caps(lane)
    limit = lane.max_parcel_value
    if (
        limit is not None
        and lane.value_limit_is_per_transaction
        and _value_in(items, limit.currency, request) > limit.amount
    ):
        return None
    if weight_cap is None and value_cap is None:
        return None
    sized = []
    for line, units in items:
        weight = line.weight_g
        value = request.convert(line.unit_value, value_cap.currency).amount if value_cap else None
        if weight_cap is not None and weight > weight_cap:
            return None
        if value_cap is not None and value is not None and value > value_cap.amount:
            return None
        share = max(
            Decimal(weight) / weight_cap if weight_cap else Decimal(0),
            value / value_cap.amount if value_cap and value is not None else Decimal(0),
        )
        sized.append((share, line, units, weight, value))
    sized.sort(key=lambda entry: (-entry[0], entry[1].index))

    def room_for(used_weight: int, used_value: Decimal, weight: int, value) -> float:
        """How many more units of this size fit a parcel that already holds so much."""
        fit: float = math.inf
        if weight_cap is not None and weight:
            fit = min(fit, (weight_cap - used_weight) // weight)
        if value_cap is not None and value:
            fit = min(fit, int((value_cap.amount - used_value) // value))
        return fit

    parcels: list[dict] = []  # each: {"weight": g, "value": Decimal, "items": {index: [line, n]}}
    for _, line, units, weight, value in sized:
        left = units
        for parcel in parcels:
            if not left:
                break
            fit = int(min(left, room_for(parcel["weight"], parcel["value"], weight, value)))
            if fit > 0:
                _put(parcel, line, fit, weight, value)
                left -= fit
        while left:
            parcel = {"weight": 0, "value": Decimal(0), "items": {}}
            parcels.append(parcel)
            fit = int(min(left, room_for(0, Decimal(0), weight, value)))
            _put(parcel, line, fit, weight, value)
            left -= fit
    return [
        tuple((line, n) for _, (line, n) in sorted(parcel["items"].items())) for parcel in parcels
    ]


def _put(parcel: dict, line: OrderLine, units: int, weight: int, value) -> None:
    held = parcel["items"].setdefault(line.index, [line, 0])
    held[1] += units
    parcel["weight"] += weight * units
    if value is not None:
        parcel["value"] += value * units


def _kg(grams: int) -> str:
    """30000 -> "30 kg", 31500 -> "31.5 kg"."""
    kg = Decimal(grams) / 1000
    return f"{kg.quantize(Decimal(1)) if kg == kg.to_integral_value() else kg.normalize()} kg"


def split_limits(lane: Lane, items: Items, request: RoutingRequest) -> str:
    """The limits that made a node split its goods: "30 kg parcel limit", "2000.00 CNY
    parcel value limit", or both when both are over."""
    weight_cap, value_cap = _splittable_caps(lane)
    weight = _kg(weight_cap) if weight_cap is not None else None
    value = format_money(value_cap) if value_cap is not None else None
    over_weight = weight and sum(line.weight_g * n for line, n in items) > (weight_cap or 0)
    over_value = value and _value_in(items, value_cap.currency, request) > value_cap.amount
    if over_weight and not over_value:
        return f"{weight} parcel limit"
    if over_value and not over_weight:
        return f"{value} parcel value limit"
    # Both over, or each alone met and the two together not.
    return " and ".join(part for part in (weight, value) if part) + " parcel limits"
