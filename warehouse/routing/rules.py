"""The routing rules: small classes that filter or rank, and say why.

Filters look at one candidate node at a time and narrow what it may do
(which lanes, which lines on each lane, how many units of each SKU); each
returns the narrowed candidate and a ``Verdict``. A filter may also judge a
whole parcel (``check_parcel``), for limits that depend on what is packed
together (value, weight).

Rankers order whole plan options (one or more shipments); the first ranker
where two options differ decides, as in Shopify's ranked routing rules.

A plugin adds a rule by subclassing ``FilterRule`` or ``RankingRule`` and
passing it to ``DefaultStrategy(filters=[...], rankers=[...])``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar

from catalog.money import Money, round_to_currency
from warehouse.routing.model import (
    Lane,
    Node,
    OrderLine,
    RoutingRequest,
    Shipment,
    Verdict,
)


def format_money(money: Money) -> str:
    return f"{round_to_currency(money.amount, money.currency)} {money.currency}"


# ---------------------------------------------------------------------------
# What the rules look at


@dataclass(frozen=True)
class Candidate:
    """A node as the filters see it, narrowed rule by rule.

    ``lanes``: the lanes still usable; ``carried``: for each of those lanes, the
    line indexes it may carry; ``stock``: units per SKU this node can give, or
    ``None`` while no rule has limited them; ``refusals``: why lines were
    refused (shown when no node can carry a line, or none that can holds it);
    ``ruled_out``: why the whole node is out, if it is.
    """

    node: Node
    lanes: tuple[Lane, ...]
    carried: Mapping[str, frozenset[int]]
    stock: Mapping[str, int] | None = None
    refusals: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    ruled_out: str | None = None
    # The line indexes at least one lane carries, kept because every search step asks.
    carried_somewhere: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "carried_somewhere", frozenset().union(*self.carried.values()))

    @classmethod
    def start(cls, node: Node, lanes: Iterable[Lane], lines: Iterable[OrderLine]) -> Candidate:
        everything = frozenset(line.index for line in lines)
        lanes = tuple(lanes)
        return cls(node, lanes, MappingProxyType({lane.code: everything for lane in lanes}))

    @property
    def code(self) -> str:
        return self.node.code

    def _with(self, **changes: Any) -> Candidate:
        # dataclasses.replace, without its per-call field inspection (this runs per rule per node)
        fields = {
            "node": self.node,
            "lanes": self.lanes,
            "carried": self.carried,
            "stock": self.stock,
            "refusals": self.refusals,
            "ruled_out": self.ruled_out,
        }
        fields.update(changes)
        return Candidate(**fields)

    def rule_out(self, why: str) -> Candidate:
        return self._with(ruled_out=why)

    def keep_lanes(self, lanes: Iterable[Lane]) -> Candidate:
        kept = tuple(lanes)
        carried = {lane.code: self.carried[lane.code] for lane in kept}
        return self._with(lanes=kept, carried=MappingProxyType(carried))

    def refuse(self, refused: Mapping[str, Mapping[int, str]]) -> Candidate:
        """Take lines off lanes: ``{lane code: {line index: why}}``."""
        carried = dict(self.carried)
        refusals = {index: list(reasons) for index, reasons in self.refusals.items()}
        for lane_code, lines in refused.items():
            carried[lane_code] = carried[lane_code] - frozenset(lines)
            for index, why in lines.items():
                refusals.setdefault(index, []).append(why)
        return self._with(
            carried=MappingProxyType(carried),
            refusals=MappingProxyType({i: tuple(r) for i, r in refusals.items()}),
        )

    def limit_stock(self, stock: Mapping[str, int]) -> Candidate:
        if self.stock is not None:
            stock = {sku: min(units, self.stock.get(sku, 0)) for sku, units in stock.items()}
        return self._with(stock=MappingProxyType(dict(stock)))

    def carries(self, index: int) -> bool:
        return index in self.carried_somewhere

    def units_of(self, sku: str) -> float:
        """Units of ``sku`` this node can give; unlimited until a rule limits stock."""
        if self.stock is None:
            return float("inf")
        return self.stock.get(sku, 0)

    def shippable(self, line: OrderLine) -> int:
        if self.ruled_out or not self.carries(line.index):
            return 0
        return int(min(line.quantity, self.units_of(line.sku)))

    def ships_whole(self, line: OrderLine) -> bool:
        return self.shippable(line) == line.quantity

    def lanes_carrying(self, indexes: Iterable[int]) -> tuple[Lane, ...]:
        wanted = frozenset(indexes)
        return tuple(lane for lane in self.lanes if wanted <= self.carried[lane.code])

    def is_usable(self, lines: Iterable[OrderLine]) -> bool:
        return not self.ruled_out and any(self.shippable(line) for line in lines)

    def ships_whole_order(self, lines: tuple[OrderLine, ...]) -> bool:
        if not all(self.ships_whole(line) for line in lines):
            return False
        wanted: dict[str, int] = {}
        for line in lines:
            wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        if any(units > self.units_of(sku) for sku, units in wanted.items()):
            return False
        return bool(self.lanes_carrying(line.index for line in lines))


@dataclass(frozen=True)
class Parcel:
    """What one node would send by one lane: the lines and units packed together."""

    node: Node
    lane: Lane
    items: tuple[tuple[OrderLine, int], ...]
    weight_g: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(
            self, "weight_g", sum(line.weight_g * units for line, units in self.items)
        )

    def value_in(self, currency: str, request: RoutingRequest) -> Money:
        total = Decimal(0)
        for line, units in self.items:
            value = line.unit_value
            if value.currency != currency:
                value = request.convert(value, currency)
            total += value.amount * units
        return Money(total, currency)


@dataclass(frozen=True)
class PlanOption:
    """A complete way to ship the order, as the rankers compare it.

    ``nodes`` runs beside ``shipments``; ``split_lines`` counts lines whose
    units leave from more than one node.
    """

    shipments: tuple[Shipment, ...]
    nodes: tuple[Node, ...]
    split_lines: int = 0

    @property
    def identity(self) -> tuple:
        """The last tie-break: node codes, lanes and lines, so equal rank never means chance."""
        return tuple((s.node, s.lane, s.lines) for s in self.shipments)

    @property
    def deliver_by(self) -> date:
        return max(s.deliver_by for s in self.shipments)

    @property
    def deliver_from(self) -> date:
        return max(s.deliver_from for s in self.shipments)


# ---------------------------------------------------------------------------
# Rule interfaces


class FilterRule(ABC):
    """Narrows one candidate node and says why. Subclasses set ``name`` and ``apply``."""

    name: ClassVar[str] = "filter"

    @abstractmethod
    def apply(self, candidate: Candidate, request: RoutingRequest) -> tuple[Candidate, Verdict]:
        """The candidate, possibly narrowed, and this rule's verdict on it."""

    def check_parcel(self, parcel: Parcel, request: RoutingRequest) -> str | None:
        """Why this parcel cannot go as packed, or ``None`` if it can."""
        return None

    def verdict(self, candidate: Candidate, ok: bool, reasons: Iterable[str]) -> Verdict:
        return Verdict(self.name, candidate.code, ok, tuple(reasons))


class RankingRule(ABC):
    """Orders plan options: a lower ``key`` is better. ``describe`` says what it saw."""

    name: ClassVar[str] = "ranker"
    # True when no option with more shipments can ever rank above one with fewer:
    # the engine may then stop searching larger node combinations early.
    narrows_to_fewest_shipments: ClassVar[bool] = False

    @abstractmethod
    def key(self, option: PlanOption, request: RoutingRequest) -> Any:
        """A sortable value; lower ranks first."""

    @abstractmethod
    def describe(self, option: PlanOption, request: RoutingRequest) -> str:
        """What the rule saw in this option, for the explanation."""


# ---------------------------------------------------------------------------
# Filters


class NodeIsActive(FilterRule):
    """An inactive node, or one staff excluded (a re-route), ships nothing."""

    name = "node_is_active"

    def apply(self, candidate, request):
        node = candidate.node
        if not node.active:
            why = f"{node.code}: node is inactive"
            return candidate.rule_out(why), self.verdict(candidate, False, [why])
        if node.code in request.excluded_nodes:
            why = f"{node.code}: excluded by staff: {request.excluded_nodes[node.code]}"
            return candidate.rule_out(why), self.verdict(candidate, False, [why])
        return candidate, self.verdict(candidate, True, [f"{node.code}: node is active"])


class LaneServesDestination(FilterRule):
    """Keeps the node's active lanes that reach the destination country (and region)."""

    name = "lane_serves_destination"

    def apply(self, candidate, request):
        destination = request.destination
        code = candidate.code
        serving = [lane for lane in candidate.lanes if lane.active and lane.serves(destination)]
        if serving:
            reasons = [f"{code}: lane {lane.code} serves {destination}" for lane in serving]
            return candidate.keep_lanes(serving), self.verdict(candidate, True, reasons)
        reasons = []
        for lane in candidate.lanes:
            if lane.serves(destination):
                reasons.append(f"{code}: lane {lane.code} serves {destination} but is inactive")
            elif destination.country in lane.countries:
                region = destination.region or "an unknown region"
                reasons.append(
                    f"{code}: lane {lane.code} serves {destination.country} only in "
                    f"{', '.join(lane.regions)}, not {region}"
                )
            else:
                reasons.append(f"{code}: lane {lane.code} serves {lane.area()}, not {destination}")
        if not candidate.lanes:
            reasons.append(f"{code}: no lane leaves this node")
        reasons.append(f"{code}: no lane to {destination}")
        return candidate.keep_lanes(()), self.verdict(candidate, False, reasons)


class CorridorAcceptsLines(FilterRule):
    """Takes off each lane the lines its corridor refuses: categories, HS prefixes, goods
    outside China's CBEC positive list, and single units over the parcel limits.
    ``check_parcel`` then holds each packed parcel to the value and weight limits."""

    name = "corridor_accepts_lines"

    def refusals(self, lane: Lane, line: OrderLine, request: RoutingRequest) -> list[str]:
        why = []
        if line.category in lane.refuses_categories:
            why.append(f"category {line.category} is refused")
        for prefix in lane.refuses_hs_prefixes:
            if line.hs_code.startswith(prefix):
                why.append(f"HS {line.hs_code} is refused (HS {prefix}…)")
                break
        if lane.requires_cbec_positive_list and line.outside_cbec_positive_list:
            why.append("outside China's CBEC positive list")
        if lane.max_parcel_weight_g is not None and line.weight_g > lane.max_parcel_weight_g:
            why.append(
                f"one unit weighs {line.weight_g} g, over the {lane.max_parcel_weight_g} g "
                "parcel limit"
            )
        limit = lane.max_parcel_value
        if limit is not None:
            unit = request.convert(line.unit_value, limit.currency)
            if unit.amount > limit.amount:
                why.append(
                    f"one unit is worth {format_money(unit)}, over the "
                    f"{format_money(limit)} parcel limit"
                )
        return why

    def apply(self, candidate, request):
        code = candidate.code
        if not candidate.lanes:
            return candidate, self.verdict(candidate, False, [f"{code}: no lane to check"])
        reasons: list[str] = []
        refused: dict[str, dict[int, str]] = {}
        for lane in candidate.lanes:
            for line in request.lines:
                why = self.refusals(lane, line, request)
                if why:
                    text = f"{code}: lane {lane.code} refuses {line.label}: {'; '.join(why)}"
                    refused.setdefault(lane.code, {})[line.index] = text
                    reasons.append(text)
            if lane.code not in refused:
                count = len(request.lines)
                what = f"all {count} lines" if count > 1 else request.lines[0].label
                reasons.append(f"{code}: lane {lane.code} accepts {what}")
        narrowed = candidate.refuse(refused) if refused else candidate
        ok = all(narrowed.carries(line.index) for line in request.lines)
        return narrowed, self.verdict(candidate, ok, reasons)

    def check_parcel(self, parcel, request):
        lane = parcel.lane
        where = f"{parcel.node.code}: parcel by {lane.code}"
        if lane.max_parcel_weight_g is not None and parcel.weight_g > lane.max_parcel_weight_g:
            return (
                f"{where} weighs {parcel.weight_g} g, over its {lane.max_parcel_weight_g} g limit"
            )
        limit = lane.max_parcel_value
        if limit is not None:
            value = parcel.value_in(limit.currency, request)
            if value.amount > limit.amount:
                return (
                    f"{where} is worth {format_money(value)}, over its {format_money(limit)} limit"
                )
        return None


class StockAvailable(FilterRule):
    """Limits each SKU to the units available at the node (on hand − reserved)."""

    name = "stock_available"

    def apply(self, candidate, request):
        code = candidate.code
        stock: dict[str, int] = {}
        wanted: dict[str, int] = {}
        reasons = []
        for line in request.lines:
            sku, quantity = line.sku, line.quantity
            have = stock.get(sku)
            if have is None:
                have = stock[sku] = request.available(code, sku)
            wanted[sku] = wanted.get(sku, 0) + quantity
            if have >= quantity:
                reasons.append(
                    f"{code}: stock {have} of {sku} ≥ {quantity} → can ship line {line.index}"
                )
            elif have == 0:
                reasons.append(f"{code}: stock 0 of {sku} → cannot ship line {line.index}")
            else:
                reasons.append(
                    f"{code}: stock {have} of {sku} < {quantity} → can ship {have} of "
                    f"{quantity} units of line {line.index}"
                )
        ok = True
        for sku, total in wanted.items():
            if stock[sku] >= total:
                continue
            ok = False
            lines = [line for line in request.lines if line.sku == sku]
            if len(lines) > 1 and all(stock[sku] >= line.quantity for line in lines):
                numbers = ", ".join(str(line.index) for line in lines)
                reasons.append(
                    f"{code}: stock {stock[sku]} of {sku} < {total} wanted by lines {numbers} "
                    "together"
                )
        return candidate.limit_stock(stock), self.verdict(candidate, ok, reasons)


# ---------------------------------------------------------------------------
# Rankers


class FewestShipments(RankingRule):
    """One node that ships the whole order first; then fewer shipments, then fewer split
    lines, then fewer nodes (a node's parcels of one order leave and travel together,
    so one node in two parcels beats two nodes in one each)."""

    name = "fewest_shipments"
    narrows_to_fewest_shipments = True

    def key(self, option, request):
        return (len(option.shipments), option.split_lines, len({n.code for n in option.nodes}))

    def describe(self, option, request):
        count = len(option.shipments)
        nodes = sorted({n.code for n in option.nodes})
        if count == 1:
            text = "1 shipment (whole order from one node)"
        elif len(nodes) == 1:
            text = f"{count} shipments (whole order from {nodes[0]} in {count} parcels)"
        else:
            text = f"{count} shipments"
        if option.split_lines:
            text += f", {option.split_lines} line{'s' if option.split_lines > 1 else ''} split"
        return text


# What a duty estimator returns for a shipment: the duties and taxes in any
# currency, or None when unknown (then it counts as nothing).
DutyEstimator = Callable[[Shipment, RoutingRequest], Money | None]


class LowestLandedCost(RankingRule):
    """Cheapest to deliver: shipping, plus duties when a ``duties`` estimator is given
    (so a parcel that crosses a border pays for its crossing in the comparison)."""

    name = "lowest_landed_cost"

    def __init__(self, duties: DutyEstimator | None = None):
        self.duties = duties

    def _parts(self, option: PlanOption, request: RoutingRequest) -> tuple[Decimal, Decimal]:
        # Shipment costs are already rounded to the currency, so their sum is exact.
        shipping = sum((s.cost.amount for s in option.shipments), Decimal(0))
        duties = Decimal(0)
        if self.duties is None:
            return shipping, duties
        for shipment in option.shipments:
            estimate = self.duties(shipment, request)
            if estimate is not None:
                duties += request.convert(estimate, request.compare_in).amount
        return shipping, round_to_currency(duties, request.compare_in)

    def key(self, option, request):
        shipping, duties = self._parts(option, request)
        return shipping + duties

    def describe(self, option, request):
        shipping, duties = self._parts(option, request)
        currency = request.compare_in
        shipping = round_to_currency(shipping, currency)
        if self.duties is None:
            return f"shipping {shipping} {currency}"
        return f"shipping {shipping} + duties {duties} = {shipping + duties} {currency}"


class FastestDelivery(RankingRule):
    """The earliest last delivery date (cut-offs included), then the earliest first one."""

    name = "fastest_delivery"

    def key(self, option, request):
        return (option.deliver_by, option.deliver_from)

    def describe(self, option, request):
        return f"delivered {option.deliver_from.isoformat()} to {option.deliver_by.isoformat()}"


class ClosestToDestination(RankingRule):
    """Fewer shipments from nodes outside the destination country (no border to cross)."""

    name = "closest_to_destination"

    def key(self, option, request):
        return sum(node.country != request.destination.country for node in option.nodes)

    def describe(self, option, request):
        country = request.destination.country
        crossing = self.key(option, request)
        if not crossing:
            return f"all from within {country}"
        return f"{crossing} of {len(option.nodes)} from outside {country}"


class NodePriority(RankingRule):
    """The operator's preference between nodes (lower first), then node code."""

    name = "node_priority"

    def key(self, option, request):
        # Each node once: a node's second parcel says nothing more about preferring it.
        return tuple(sorted({(node.priority, node.code) for node in option.nodes}))

    def describe(self, option, request):
        return ", ".join(
            f"{code} priority {priority}" for priority, code in self.key(option, request)
        )


def default_filters() -> list[FilterRule]:
    return [NodeIsActive(), LaneServesDestination(), CorridorAcceptsLines(), StockAvailable()]


def default_rankers() -> list[RankingRule]:
    return [
        FewestShipments(),
        LowestLandedCost(),
        FastestDelivery(),
        ClosestToDestination(),
        NodePriority(),
    ]
