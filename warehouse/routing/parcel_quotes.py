"""Carrier quotes per parcel band, as data the routing engine is given (pure).

A caller (orders/pricing.py) asks carriers for the bands of the parcels a first plan
holds and hands the answers in as ``RoutingRequest.parcel_quotes``; the engine never
calls a carrier. Keyed by (lane, ``ParcelBand``), so every parcel, a split node's
included, finds the quote for its own weight and size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from catalog.money import Money
from warehouse.routing.parcel_size import ParcelBand


@dataclass(frozen=True)
class ParcelQuote:
    """A carrier's price for a parcel of one ``band`` on one lane: it replaces the cost
    (and transit days, when given) of leg ``leg`` (0-based; ``None``: the whole lane).

    ``refused`` says why the carrier will not carry a parcel of this band (over its
    weight limit, no tariff): the lane then does not take such a parcel at all, rather
    than falling back to its own table for a parcel the carrier would turn away.
    ``service`` is the carrier's tariff the price is for (a CDEK ``tariff_code``):
    booking uses the same one.
    """

    lane: str
    band: ParcelBand
    carrier: str
    leg: int | None = None
    cost: Money | None = None
    transit_days_min: int | None = None
    transit_days_max: int | None = None
    service: str | None = None
    refused: str | None = None

    def __post_init__(self):
        if self.cost is None and self.refused is None:
            raise ValueError(f"quote for {self.lane} {self.band}: a cost or a refusal")


@dataclass(frozen=True)
class QuoteTable:
    """Carrier quotes per (lane, parcel band), and the lanes whose carrier was asked.

    For a lane in ``asked``, a parcel whose band has no quote is priced by the lane's
    own table, and the engine says so (``asked[lane]`` is why there is no quote, e.g.
    ``"cdek unreachable"``). Lanes not in ``asked`` are priced by their tables as ever.
    """

    quotes: tuple[ParcelQuote, ...] = ()
    asked: Mapping[str, str] = field(default_factory=dict)
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "quotes", tuple(self.quotes))
        object.__setattr__(self, "asked", MappingProxyType(dict(self.asked)))
        self._index.update({(q.lane, q.band): q for q in self.quotes})

    def find(self, lane: str, band: ParcelBand) -> ParcelQuote | None:
        return self._index.get((lane, band))

    def has(self, lane: str, band: ParcelBand) -> bool:
        return (lane, band) in self._index

    def merged(self, other: QuoteTable) -> QuoteTable:
        """Both tables' quotes (``other`` wins for the same lane and band) and asks."""
        quotes = {(q.lane, q.band): q for q in (*self.quotes, *other.quotes)}
        return QuoteTable(tuple(quotes.values()), {**self.asked, **other.asked})
