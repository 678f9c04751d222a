"""What goes into the routing engine and what comes out: frozen dataclasses, no database.

Callers build these from rows (or from JSON, see ``Lane.from_json``); the
engine never reads anything else. Every collection is stored as a tuple (or a
read-only mapping) so a request can be planned twice and give an equal plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from catalog.money import Money, RateTable, round_to_currency
from warehouse.routing.parcel_quotes import QuoteTable
from warehouse.routing.parcel_size import Packaging, ParcelBand, Size

# ---------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class OrderLine:
    """One line of the order, with what the corridors and the cost need to know.

    ``index`` is the caller's line number (shown in reasons: "line 2");
    ``weight_g`` and ``unit_value`` are per unit. ``outside_cbec_positive_list``
    is precomputed by the caller from the SKU's (or its HS code's) flag.
    """

    index: int
    sku: str
    quantity: int
    category: str
    hs_code: str
    weight_g: int
    unit_value: Money
    outside_cbec_positive_list: bool = False
    dimensions_mm: Size | None = None  # one unit's outer size; None: unknown

    def __post_init__(self):
        if self.quantity <= 0:
            raise ValueError(f"line {self.index}: quantity must be positive")
        if self.weight_g < 0:
            raise ValueError(f"line {self.index}: weight must not be negative")

    @property
    def label(self) -> str:
        return f"line {self.index} ({self.sku})"


@dataclass(frozen=True)
class Destination:
    """Where the parcel goes. ``region`` is an ISO 3166-2-like code a lane may be limited to
    (e.g. ``RU-FE`` for the Russian Far East); unknown regions are ``None``."""

    country: str
    region: str | None = None
    postal_code: str | None = None

    def __str__(self) -> str:
        return f"{self.country} ({self.region})" if self.region else self.country

    def as_json(self) -> dict[str, str | None]:
        return {"country": self.country, "region": self.region, "postal_code": self.postal_code}


@dataclass(frozen=True)
class Node:
    """A fulfilment node. Lower ``priority`` is preferred when all else is equal."""

    code: str
    country: str
    priority: int = 100
    active: bool = True
    packaging: Packaging | None = None  # the boxes it packs into; None: unknown


@dataclass(frozen=True)
class Leg:
    """One carrier's part of a lane: a truck to the border, a crossing, the last mile."""

    carrier: str
    service: str
    transit_days_min: int
    transit_days_max: int
    cost_base: Decimal
    cost_per_kg: Decimal
    cost_currency: str
    crossing: str | None = None
    customs_mode: str | None = None  # "9610" direct purchase, "1210" bonded

    def __post_init__(self):
        if not 0 <= self.transit_days_min <= self.transit_days_max:
            raise ValueError(f"leg {self.carrier}/{self.service}: transit days out of order")
        for amount in (self.cost_base, self.cost_per_kg):
            if not isinstance(amount, Decimal):
                raise TypeError("leg costs must be Decimal")

    def cost_for(self, chargeable_kg: int) -> Money:
        """Base plus per kg, in the leg's own currency, unrounded."""
        return Money(self.cost_base + self.cost_per_kg * chargeable_kg, self.cost_currency)

    def as_json(self) -> dict[str, Any]:
        return {
            "carrier": self.carrier,
            "service": self.service,
            "transit_days_min": self.transit_days_min,
            "transit_days_max": self.transit_days_max,
            "cost_base": str(self.cost_base),
            "cost_per_kg": str(self.cost_per_kg),
            "cost_currency": self.cost_currency,
            "crossing": self.crossing,
            "customs_mode": self.customs_mode,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Leg:
        return cls(
            carrier=data["carrier"],
            service=data["service"],
            transit_days_min=int(data["transit_days_min"]),
            transit_days_max=int(data["transit_days_max"]),
            cost_base=Decimal(str(data["cost_base"])),
            cost_per_kg=Decimal(str(data["cost_per_kg"])),
            cost_currency=data["cost_currency"],
            crossing=data.get("crossing"),
            customs_mode=data.get("customs_mode"),
        )


def chargeable_kg(weight_g: int) -> int:
    """Carriers bill whole kilograms, rounded up, at least one."""
    return max(1, math.ceil(weight_g / 1000))


@dataclass(frozen=True)
class Lane:
    """From a node to destination countries (optionally only some regions), through legs.

    The refusal fields describe what the corridor will not carry; the
    ``CorridorAcceptsLines`` rule reads them. Lists may be passed; they are
    kept as tuples.
    """

    code: str
    node: str
    countries: tuple[str, ...]
    legs: tuple[Leg, ...]
    regions: tuple[str, ...] = ()  # empty: the whole of each country
    cutoff: time = time(16, 0)
    timezone: str = "UTC"
    refuses_categories: tuple[str, ...] = ()
    refuses_hs_prefixes: tuple[str, ...] = ()
    requires_cbec_positive_list: bool = False
    max_parcel_value: Money | None = None
    max_parcel_weight_g: int | None = None
    active: bool = True

    def __post_init__(self):
        for name in ("countries", "legs", "regions", "refuses_categories", "refuses_hs_prefixes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.legs:
            raise ValueError(f"lane {self.code}: at least one leg")
        ZoneInfo(self.timezone)  # an unknown zone fails here, not at planning time

    @property
    def transit_days_min(self) -> int:
        return sum(leg.transit_days_min for leg in self.legs)

    @property
    def transit_days_max(self) -> int:
        return sum(leg.transit_days_max for leg in self.legs)

    @property
    def customs_modes(self) -> tuple[str, ...]:
        return tuple(leg.customs_mode for leg in self.legs if leg.customs_mode)

    @property
    def crossings(self) -> tuple[str, ...]:
        return tuple(leg.crossing for leg in self.legs if leg.crossing)

    @property
    def value_limit_is_per_transaction(self) -> bool:
        """Whether ``max_parcel_value`` is a customs limit on the whole order, which more
        boxes cannot get under, rather than the carrier's limit on one box.

        A lane that clears China's CBEC customs (a leg with a customs mode, 9610 or
        1210, or a lane that holds goods to the CBEC positive list) carries the
        5,000 CNY limit *per transaction* (DOMAIN.md, "China": the order is the
        transaction). Packing one order as several parcels to bring each under it is
        the splitting China's customs treat as evasion, so the engine never splits for
        it: an order over it is refused, and even parcels split for weight must
        together stay within it. On any other lane the value limit is the carrier's
        (declared value, insurance), and a second box is the ordinary answer.
        """
        return bool(self.customs_modes) or self.requires_cbec_positive_list

    def serves(self, destination: Destination) -> bool:
        if destination.country not in self.countries:
            return False
        return not self.regions or destination.region in self.regions

    def area(self) -> str:
        countries = ", ".join(self.countries)
        return f"{countries} (only {', '.join(self.regions)})" if self.regions else countries

    def cost_for(self, weight_g: int, rates: RateTable, currency: str) -> Money:
        """The sum of the legs' costs for a parcel of ``weight_g``, in ``currency``, unrounded.

        Each leg bills ``base + per_kg × chargeable kg`` where chargeable kg is
        the parcel weight rounded up to whole kilograms (at least 1).
        """
        kg = chargeable_kg(weight_g)
        total = Decimal(0)
        for leg in self.legs:
            total += rates.convert(leg.cost_for(kg), currency).amount
        return Money(total, currency)

    def ship_by(self, now: datetime) -> date:
        """The local date the parcel leaves: today before the cut-off, else tomorrow."""
        local = now.astimezone(ZoneInfo(self.timezone))
        if local.time() < self.cutoff:
            return local.date()
        return local.date() + timedelta(days=1)

    def as_json(self) -> dict[str, Any]:
        """The lane as data; the field names are those of the ``lanes`` table."""
        return {
            "code": self.code,
            "node": self.node,
            "countries": list(self.countries),
            "regions": list(self.regions),
            "cutoff_time": self.cutoff.strftime("%H:%M"),
            "timezone": self.timezone,
            "refuses_categories": list(self.refuses_categories),
            "refuses_hs_prefixes": list(self.refuses_hs_prefixes),
            "requires_cbec_positive_list": self.requires_cbec_positive_list,
            "max_parcel_value": self.max_parcel_value.as_json() if self.max_parcel_value else None,
            "max_parcel_weight_g": self.max_parcel_weight_g,
            "active": self.active,
            "legs": [leg.as_json() for leg in self.legs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lane:
        """The inverse of ``as_json`` (a seed file or an API body)."""
        limit = data.get("max_parcel_value")
        return cls(
            code=data["code"],
            node=data["node"],
            countries=tuple(data["countries"]),
            regions=tuple(data.get("regions") or ()),
            legs=tuple(Leg.from_json(leg) for leg in data["legs"]),
            cutoff=time.fromisoformat(data.get("cutoff_time") or "16:00"),
            timezone=data.get("timezone") or "UTC",
            refuses_categories=tuple(data.get("refuses_categories") or ()),
            refuses_hs_prefixes=tuple(data.get("refuses_hs_prefixes") or ()),
            requires_cbec_positive_list=bool(data.get("requires_cbec_positive_list")),
            max_parcel_value=Money.parse(limit["amount"], limit["currency"]) if limit else None,
            max_parcel_weight_g=data.get("max_parcel_weight_g"),
            active=data.get("active", True),
        )


@dataclass(frozen=True)
class CarrierQuote:
    """A carrier's answer that overrides a lane's tariff: for one leg (``leg`` is its
    0-based position) or, with ``leg=None``, for the whole lane.

    ``cost`` is a flat price for the parcel the caller asked about (usually the
    whole order from that node); the engine applies it to whatever parcel takes
    the lane. Any field left ``None`` keeps the lane's own figure.
    """

    lane: str
    leg: int | None = None
    cost: Money | None = None
    transit_days_min: int | None = None
    transit_days_max: int | None = None


@dataclass(frozen=True)
class RoutingRequest:
    """Everything one routing decision depends on; nothing else is read.

    ``stock`` maps ``(node code, sku code)`` to available units (on hand −
    reserved); a missing pair means 0. ``compare_in`` is the currency in which
    costs are compared and reported. ``excluded_nodes`` maps a node code to why
    staff took it out (a re-route of a shipment that node cannot fulfil).
    """

    lines: tuple[OrderLine, ...]
    destination: Destination
    nodes: tuple[Node, ...]
    lanes: tuple[Lane, ...]
    stock: Mapping[tuple[str, str], int]
    now: datetime
    rates: RateTable = field(default_factory=RateTable)
    compare_in: str = "CNY"
    quotes: tuple[CarrierQuote, ...] = ()
    excluded_nodes: Mapping[str, str] = field(default_factory=dict)
    parcel_quotes: QuoteTable = field(default_factory=QuoteTable)
    _factors: dict[tuple[str, str], Decimal] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self):
        # Canonical order, so that the order rows arrive in never changes a plan or a reason.
        object.__setattr__(self, "lines", tuple(sorted(self.lines, key=lambda x: x.index)))
        object.__setattr__(self, "nodes", tuple(sorted(self.nodes, key=lambda x: x.code)))
        object.__setattr__(self, "lanes", tuple(sorted(self.lanes, key=lambda x: x.code)))
        object.__setattr__(self, "quotes", tuple(self.quotes))
        object.__setattr__(self, "stock", MappingProxyType(dict(self.stock)))
        object.__setattr__(self, "excluded_nodes", MappingProxyType(dict(self.excluded_nodes)))
        if not self.lines:
            raise ValueError("an order needs at least one line")
        indexes = [line.index for line in self.lines]
        if len(set(indexes)) != len(indexes):
            raise ValueError("line indexes must be unique")
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("now must be an aware datetime")
        codes = {node.code for node in self.nodes}
        if len(codes) != len(self.nodes):
            raise ValueError("node codes must be unique")
        for lane in self.lanes:
            if lane.node not in codes:
                raise ValueError(f"lane {lane.code} leaves from unknown node {lane.node}")

    def available(self, node: str, sku: str) -> int:
        return max(0, self.stock.get((node, sku), 0))

    def convert(self, money: Money, currency: str) -> Money:
        """``rates.convert``, with each factor looked up once per request."""
        if money.currency == currency:
            return money
        key = (money.currency, currency)
        factor = self._factors.get(key)
        if factor is None:
            factor = self._factors[key] = self.rates.conversion(*key).factor
        return Money(money.amount * factor, currency)


# ---------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True, order=True)
class ShipmentLine:
    line: int
    sku: str
    quantity: int

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "sku": self.sku, "quantity": self.quantity}


@dataclass(frozen=True)
class Shipment:
    """One parcel: what a node sends by one lane, what it costs and when it arrives.

    ``cost`` is in the request's ``compare_in`` currency, rounded to its minor
    unit; ``ship_by`` is the local date at the lane's cut-off; the delivery
    window counts calendar days of transit from ``ship_by``.
    """

    node: str
    lane: str
    lines: tuple[ShipmentLine, ...]
    weight_g: int
    cost: Money
    transit_days_min: int
    transit_days_max: int
    ship_by: date
    deliver_from: date
    deliver_by: date
    customs_modes: tuple[str, ...] = ()
    crossings: tuple[str, ...] = ()
    # When a node's goods do not fit one parcel of the lane, they go in several
    # parcels of that lane: this one is ``parcel`` of ``parcels``, and ``packing`` says
    # why (the same sentence on each parcel of the node). One parcel: 1 of 1, "".
    parcel: int = 1
    parcels: int = 1
    packing: str = ""
    # Each parcel, split or whole, has its own size and so its own band and price.
    size_mm: Size | None = None  # outer size, longest side first; None: unknown
    price_source: str = "lane table"  # or the carrier's tariff that priced it
    service: str | None = None  # the carrier's tariff the price is for, when quoted

    @property
    def band(self) -> ParcelBand:
        return ParcelBand.of(self.weight_g, self.size_mm)

    def describe(self) -> str:
        lines = ", ".join(f"{item.quantity} × {item.sku} (line {item.line})" for item in self.lines)
        if self.parcels > 1:
            return f"{self.node} by {self.lane}, parcel {self.parcel} of {self.parcels}: {lines}"
        return f"{self.node} by {self.lane}: {lines}"

    def as_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "lane": self.lane,
            "lines": [item.as_json() for item in self.lines],
            "weight_g": self.weight_g,
            "cost": self.cost.as_json(),
            "transit_days": {"min": self.transit_days_min, "max": self.transit_days_max},
            "ship_by": self.ship_by.isoformat(),
            "delivery": {"from": self.deliver_from.isoformat(), "by": self.deliver_by.isoformat()},
            "customs_modes": list(self.customs_modes),
            "crossings": list(self.crossings),
            "size_mm": list(self.size_mm) if self.size_mm else None,
            "price_source": self.price_source,
            "service": self.service,
            # Only on split parcels, so that a plan of whole parcels is stored as before.
            **(
                {"parcel": {"number": self.parcel, "of": self.parcels, "why": self.packing}}
                if self.parcels > 1
                else {}
            ),
        }


@dataclass(frozen=True)
class Verdict:
    """One rule's judgement of one candidate node, with reasons a person can read."""

    rule: str
    node: str
    ok: bool
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "ok": self.ok, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class CandidateReport:
    """Every filter's verdict on one node, and what that left it able to do."""

    node: str
    verdicts: tuple[Verdict, ...]
    usable: bool
    ships_whole_order: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "usable": self.usable,
            "ships_whole_order": self.ships_whole_order,
            "verdicts": [verdict.as_json() for verdict in self.verdicts],
        }


@dataclass(frozen=True)
class RankingKey:
    rule: str
    value: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "value": self.value}


@dataclass(frozen=True)
class RankedOption:
    """A whole plan the rankers compared, as staff see it."""

    shipments: tuple[str, ...]
    keys: tuple[RankingKey, ...]
    chosen: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "shipments": list(self.shipments),
            "chosen": self.chosen,
            "keys": [key.as_json() for key in self.keys],
        }


@dataclass(frozen=True)
class Explanation:
    """Why the plan is what it is: each candidate node with each filter's verdict, the
    options the rankers compared (the best few), and one sentence of decision."""

    strategy: str
    destination: Destination
    compare_in: str
    planned_at: datetime
    candidates: tuple[CandidateReport, ...]
    rankers: tuple[str, ...] = ()
    options_considered: int = 0
    options: tuple[RankedOption, ...] = ()
    decision: str = ""
    # How each parcel was priced when carriers were asked: a quote, the lane's table
    # for want of one, or a carrier refusing a parcel (never silent).
    pricing: tuple[str, ...] = ()

    def reasons(self) -> list[str]:
        """Every filter reason, in node order, then the pricing notes: the short story
        staff read first."""
        return [
            reason
            for candidate in self.candidates
            for verdict in candidate.verdicts
            for reason in verdict.reasons
        ] + list(self.pricing)

    def as_json(self) -> dict[str, Any]:
        """Plain dicts, lists, strings, numbers and booleans: ``json.dumps`` takes it as is."""
        return {
            "strategy": self.strategy,
            "destination": self.destination.as_json(),
            "compare_in": self.compare_in,
            "planned_at": self.planned_at.isoformat(),
            "decision": self.decision,
            "pricing": list(self.pricing),
            "candidates": [candidate.as_json() for candidate in self.candidates],
            "ranking": {
                "rules": list(self.rankers),
                "options_considered": self.options_considered,
                "options": [option.as_json() for option in self.options],
            },
        }


@dataclass(frozen=True)
class Plan:
    """Shipments that together carry every unit of every line exactly once."""

    strategy: str
    shipments: tuple[Shipment, ...]
    explanation: Explanation
    # The parcels of the best few options the rankers compared (the chosen one first):
    # what a caller asks carriers to quote before planning again.
    considered: tuple[Shipment, ...] = ()

    @property
    def total_cost(self) -> Money:
        currency = self.explanation.compare_in
        amount = sum((s.cost.amount for s in self.shipments), Decimal(0))
        return Money(round_to_currency(amount, currency), currency)

    @property
    def is_split(self) -> bool:
        return len(self.shipments) > 1

    @property
    def deliver_by(self) -> date:
        return max(s.deliver_by for s in self.shipments)

    def quantities(self) -> dict[tuple[str, str], int]:
        """Units taken per ``(node, sku)``: what checkout reserves."""
        taken: dict[tuple[str, str], int] = {}
        for shipment in self.shipments:
            for item in shipment.lines:
                key = (shipment.node, item.sku)
                taken[key] = taken.get(key, 0) + item.quantity
        return taken

    def as_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "shipments": [shipment.as_json() for shipment in self.shipments],
            "total_cost": self.total_cost.as_json(),
            "explanation": self.explanation.as_json(),
        }
