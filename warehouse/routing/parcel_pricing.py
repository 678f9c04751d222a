"""What one parcel costs by one lane, and where that price came from (pure).

A parcel is priced by its band (``ParcelBand``: its weight and size), so each parcel
of a node that splits pays for its own weight and box, never the whole order's. The
price is the lane's own table, with a carrier's quotes in place of a leg's cost
first: the per-lane ``RoutingRequest.quotes``, then the per-band
``RoutingRequest.parcel_quotes``. A carrier that refuses a band refuses the parcel:
the lane does not take it, rather than pricing it by a table the carrier would not
honour. What pricing did is kept for the explanation (``notes``).

Kept apart from the search (engine.py) so the planner reads as search and ranking;
plain data in and out, like the rest of the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from catalog.money import Money, round_to_currency
from warehouse.routing.model import Lane, RoutingRequest, Shipment
from warehouse.routing.parcel_quotes import ParcelQuote
from warehouse.routing.parcel_size import ParcelBand


@dataclass(frozen=True)
class Tariff:
    """A parcel's price by one lane, where it came from, and a carrier's refusal."""

    cost: Money
    days_min: int
    days_max: int
    source: str
    service: str | None = None
    refused: str | None = None


class LanePricing:
    """The prices of one planning run, cached per (lane, band): the search prices the
    same parcel many times."""

    def __init__(self, request: RoutingRequest):
        self.request = request
        self._tariffs: dict[tuple[str, ParcelBand], Tariff] = {}
        # What pricing said: a fallback to a lane table per (lane, band), and every
        # parcel a carrier refused.
        self._fallbacks: dict[tuple[str, ParcelBand], str] = {}
        self._refused: dict[tuple[str, ParcelBand], str] = {}
        self._quotes = {(q.lane, q.leg): q for q in request.quotes}

    def notes(self, chosen: Iterable[Shipment]) -> tuple[str, ...]:
        """How each chosen parcel was priced, and which parcels a carrier refused,
        once carriers were asked (no notes when every lane priced by its table)."""
        if not self.request.parcel_quotes.asked:
            return ()
        notes = [
            self._fallbacks.get((s.lane, s.band))
            or f"{s.node} by {s.lane}: parcel {s.band} priced by {s.price_source}"
            for s in chosen
        ]
        # Refusals of parcels the chosen plan does not hold explain why it is not cheaper.
        notes += self._refused.values()
        return tuple(dict.fromkeys(notes))

    def tariff(self, lane: Lane, band: ParcelBand) -> Tariff:
        """Cost (in ``compare_in``, rounded), transit days and price source of a parcel of
        ``band`` by ``lane``: the lane's table, with carrier quotes first (the per-lane
        ``quotes``, then the per-band ``parcel_quotes``), or a carrier's refusal."""
        cached = self._tariffs.get((lane.code, band))
        if cached:
            return cached
        table = self.request.parcel_quotes
        parcel_quote = table.find(lane.code, band)
        key = (lane.code, band)
        if parcel_quote is not None and parcel_quote.refused:
            why = (
                f"{lane.node}: lane {lane.code} cannot take a parcel of {band}: "
                f"{parcel_quote.carrier} refuses it ({parcel_quote.refused})"
            )
            self._refused[key] = why
            result = Tariff(Money(Decimal(0), self.request.compare_in), 0, 0, why, None, why)
            self._tariffs[key] = result
            return result
        kg = band.weight_kg
        convert, currency = self.request.convert, self.request.compare_in
        whole = self._quotes.get((lane.code, None))
        total, days_min, days_max = Decimal(0), 0, 0
        for position, leg in enumerate(lane.legs):
            quote = self._quotes.get((lane.code, position))
            cost = quote.cost if quote and quote.cost else leg.cost_for(kg)
            total += convert(cost, currency).amount
            days_min += (
                quote.transit_days_min
                if quote and quote.transit_days_min is not None
                else (leg.transit_days_min)
            )
            days_max += (
                quote.transit_days_max
                if quote and quote.transit_days_max is not None
                else (leg.transit_days_max)
            )
        if whole is not None:
            if whole.cost is not None:
                total = convert(whole.cost, currency).amount
            if whole.transit_days_min is not None:
                days_min = whole.transit_days_min
            if whole.transit_days_max is not None:
                days_max = whole.transit_days_max
        source, service = "lane table", None
        if parcel_quote is not None:
            total, days_min, days_max = self.apply_quote(lane, kg, parcel_quote)
            source = f"{parcel_quote.carrier} tariff {parcel_quote.service}"
            service = parcel_quote.service
        elif lane.code in table.asked:
            source = f"lane table ({table.asked[lane.code]})"
            self._fallbacks[key] = (
                f"{lane.node} by {lane.code}: no carrier quote for a parcel of {band}; "
                f"priced by the lane table ({table.asked[lane.code]})"
            )
        result = Tariff(
            Money(round_to_currency(total, currency), currency), days_min, days_max, source, service
        )
        self._tariffs[key] = result
        return result

    def apply_quote(self, lane: Lane, kg: int, quote: ParcelQuote) -> tuple[Decimal, int, int]:
        """The lane's cost and days with ``quote`` in place of its leg (or of the lane)."""
        convert, currency = self.request.convert, self.request.compare_in
        if quote.leg is None:
            return (
                convert(quote.cost, currency).amount,
                quote.transit_days_min if quote.transit_days_min is not None
                else lane.transit_days_min,
                quote.transit_days_max if quote.transit_days_max is not None
                else lane.transit_days_max,
            )  # fmt: skip
        total, days_min, days_max = Decimal(0), 0, 0
        for position, leg in enumerate(lane.legs):
            quoted = position == quote.leg
            cost = quote.cost if quoted else leg.cost_for(kg)
            total += convert(cost, currency).amount
            days_min += (
                quote.transit_days_min
                if quoted and quote.transit_days_min is not None
                else leg.transit_days_min
            )
            days_max += (
                quote.transit_days_max
                if quoted and quote.transit_days_max is not None
                else leg.transit_days_max
            )
        return total, days_min, days_max
