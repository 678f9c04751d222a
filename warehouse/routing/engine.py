"""The planning core: run the filters on every node, search the ways to ship, rank them.

The search, in order, stopping at the first step that finds a way:

1. whole lines, by node combinations of growing size (one node first);
   each line goes whole to one node of the combination, every node of the
   combination ships something, and each node packs its lines into one parcel
   by the lane the rankers like best;
2. only if no combination ships whole lines (a line is larger than any one
   node's stock, or a customs limit bites): the same with lines split across
   the nodes of a combination, one greedy allocation per combination: a line
   goes whole to the first node with the units and the room (customs value)
   for it, else in pieces from the nodes with the most room first.

A node whose goods are over a lane's parcel limit (weight, or a value limit of
the carrier's) sends them in several parcels of that lane, as few as first-fit
decreasing packs them (``pack``); a line may then spread over parcels. It never
splits to get under a customs limit on the whole transaction (China's CBEC
5,000 CNY, see ``Lane.value_limit_is_per_transaction``). Each parcel, a split
node's too, is sized from its own contents and pays for its own band (weight and
size: ``parcel_pricing``, the lane's table or a carrier's quote for that band); the
rankers compare plans on the sum over their parcels.

With ``FewestShipments`` as the first ranker (the default), a combination
size whose best option has no more shipments than nodes ends the search: a
larger combination has at least one shipment per node, so it could not rank
above it. (A node that splits into parcels makes more shipments than nodes;
then the next size is searched too.)
Combinations of two or more nodes use the ``MAX_SPLIT_NODES`` nodes closest to
the destination (same country first, then priority, then code). Within a
combination every assignment of lines to nodes is tried up to
``MAX_ASSIGNMENTS``; past that, each line goes to the first node (in that same
order) able to ship it, and a node left empty takes a line it can ship. At most
``MAX_ASSIGNMENTS_PER_PLAN`` assignments are tried in one plan, combinations
in the order above.

Everything is ordered by codes and line numbers, never by hash or chance, so
the same request gives the same plan.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from warehouse.routing.errors import (
    CorridorRefuses,
    InsufficientStock,
    NoLaneToDestination,
    RefusedLine,
    ShortLine,
)
from warehouse.routing.model import (
    CandidateReport,
    Explanation,
    Lane,
    OrderLine,
    Plan,
    RankedOption,
    RankingKey,
    RoutingRequest,
    Shipment,
    ShipmentLine,
)
from warehouse.routing.packing import Items, pack, split_limits
from warehouse.routing.parcel_pricing import LanePricing
from warehouse.routing.parcel_size import ParcelBand, parcel_size
from warehouse.routing.rules import (
    Candidate,
    FilterRule,
    Parcel,
    PlanOption,
    RankingRule,
)

MAX_SPLIT_NODES = 8
MAX_ASSIGNMENTS = 256
MAX_ASSIGNMENTS_PER_PLAN = 4096  # bounds the search when a strategy ranks all combination sizes
OPTIONS_SHOWN = 5  # in the explanation; the count of all options considered is kept too


def plan_order(
    request: RoutingRequest,
    filters: Sequence[FilterRule],
    rankers: Sequence[RankingRule],
    *,
    strategy: str = "default",
) -> Plan:
    """The plan for ``request``, or a ``RoutingError`` saying which lines cannot go and why."""
    return _Planner(request, filters, rankers, strategy).plan()


class _Planner:
    """One planning run; holds the caches that make repeated parcels cheap."""

    def __init__(self, request, filters, rankers, strategy):
        self.request = request
        self.filters = tuple(filters)
        self.rankers = tuple(rankers)
        self.strategy = strategy
        self.lines: tuple[OrderLine, ...] = request.lines  # by index: the request sorts them
        self.pricing = LanePricing(request)
        self._parcel_refusals: dict[int, list[str]] = {}
        self._usable: list[Candidate] = []
        self._whole: dict[str, frozenset[int]] = {}  # per usable node: lines it ships whole
        self._budget = MAX_ASSIGNMENTS_PER_PLAN
        # Only the filters that judge whole parcels are asked about each parcel.
        self._parcel_rules = tuple(
            rule for rule in self.filters if type(rule).check_parcel is not FilterRule.check_parcel
        )
        self._lane_facts: dict[str, tuple] = {}

    # -- filters ---------------------------------------------------------------

    def evaluate(self) -> tuple[list[Candidate], list[CandidateReport]]:
        lanes_by_node: dict[str, list[Lane]] = {}
        for lane in self.request.lanes:  # nodes and lanes come sorted by code
            lanes_by_node.setdefault(lane.node, []).append(lane)
        candidates, reports = [], []
        for node in self.request.nodes:
            candidate = Candidate.start(node, lanes_by_node.get(node.code, ()), self.lines)
            verdicts = []
            for rule in self.filters:
                candidate, verdict = rule.apply(candidate, self.request)
                verdicts.append(verdict)
            shippable = {line.index: candidate.shippable(line) for line in self.lines}
            usable = any(shippable.values())
            whole = frozenset(
                line.index for line in self.lines if shippable[line.index] == line.quantity
            )
            if usable:
                self._usable.append(candidate)
                self._whole[candidate.code] = whole
            candidates.append(candidate)
            reports.append(
                CandidateReport(
                    node=node.code,
                    verdicts=tuple(verdicts),
                    usable=usable,
                    ships_whole_order=len(whole) == len(self.lines)
                    and self.within_stock(candidate, tuple((ln, ln.quantity) for ln in self.lines))
                    and bool(candidate.lanes_carrying(whole)),
                )
            )
        return candidates, reports

    # -- the plan --------------------------------------------------------------

    def plan(self) -> Plan:
        candidates, reports = self.evaluate()
        destination = self.request.destination
        usable = sorted(
            self._usable,
            key=lambda c: (c.node.country != destination.country, c.node.priority, c.code),
        )
        options = self.search(usable)
        explanation = Explanation(
            strategy=self.strategy,
            destination=destination,
            compare_in=self.request.compare_in,
            planned_at=self.request.now,
            candidates=tuple(reports),
            rankers=tuple(rule.name for rule in self.rankers),
        )
        if not options:
            raise self.failure(candidates, explanation)
        ranked = sorted(options, key=self.rank_key)
        chosen = ranked[0]
        shown = tuple(
            RankedOption(
                shipments=tuple(s.describe() for s in option.shipments),
                keys=tuple(
                    RankingKey(rule.name, rule.describe(option, self.request))
                    for rule in self.rankers
                ),
                chosen=option is chosen,
            )
            for option in ranked[:OPTIONS_SHOWN]
        )
        considered = tuple(
            dict.fromkeys(s for option in ranked[:OPTIONS_SHOWN] for s in option.shipments)
        )
        explanation = replace(
            explanation,
            options_considered=len(ranked),
            options=shown,
            decision=self.decision(ranked),
            pricing=self.pricing.notes(chosen.shipments),
        )
        return Plan(
            strategy=self.strategy,
            shipments=chosen.shipments,
            explanation=explanation,
            considered=considered,
        )

    def rank_key(self, option: PlanOption) -> tuple:
        return (*(rule.key(option, self.request) for rule in self.rankers), option.identity)

    def search(self, usable: list[Candidate]) -> list[PlanOption]:
        stop_early = bool(self.rankers) and self.rankers[0].narrows_to_fewest_shipments
        near = usable[:MAX_SPLIT_NODES]
        for make in (self.whole_line_options, self.split_line_options):
            options: list[PlanOption] = []
            for size in range(1, len(near) + 1):
                combos = [(c,) for c in usable] if size == 1 else itertools.combinations(near, size)
                for combo in combos:
                    options.extend(make(combo))
                if options and stop_early and min(len(o.shipments) for o in options) <= size:
                    return options
            if options:
                return options
        return []

    # -- ways to ship with a given set of nodes -------------------------------

    def whole_line_options(self, combo: Sequence[Candidate]) -> Iterator[PlanOption]:
        choices = []
        for line in self.lines:
            able = [c for c in combo if line.index in self._whole[c.code]]
            if not able:
                return
            choices.append(able)
        if math.prod(len(able) for able in choices) <= MAX_ASSIGNMENTS:
            assignments: Iterator[tuple[Candidate, ...]] = itertools.product(*choices)
        else:
            assignments = iter([self.greedy_assignment(combo, choices)])
        for assignment in assignments:
            if self._budget <= 0:
                return
            self._budget -= 1
            groups: dict[str, list[tuple[OrderLine, int]]] = {c.code: [] for c in combo}
            for line, candidate in zip(self.lines, assignment, strict=True):
                groups[candidate.code].append((line, line.quantity))
            option = self.option(combo, groups, split_lines=0)
            if option is not None:
                yield option

    @staticmethod
    def greedy_assignment(
        combo: Sequence[Candidate], choices: list[list[Candidate]]
    ) -> tuple[Candidate, ...]:
        """Each line to its first able node; then each node still empty takes the last
        line it can ship from a node that keeps at least one other line."""
        assignment = [able[0] for able in choices]
        for candidate in combo:
            codes = [c.code for c in assignment]
            if candidate.code in codes:
                continue
            for position in reversed(range(len(assignment))):
                able = [c.code for c in choices[position]]
                if candidate.code in able and codes.count(codes[position]) > 1:
                    assignment[position] = candidate
                    break
        return tuple(assignment)

    def split_line_options(self, combo: Sequence[Candidate]) -> Iterator[PlanOption]:
        """Lines whole where a node of ``combo`` has the units and parcel room, else in
        pieces from the nodes with most room first. One greedy allocation per combination."""
        if len(combo) < 2:
            return
        left = {c.code: {line.sku: c.units_of(line.sku) for line in self.lines} for c in combo}
        room = {c.code: self.parcel_room(c) for c in combo}
        groups: dict[str, list[tuple[OrderLine, int]]] = {c.code: [] for c in combo}
        split_lines = 0

        def fits(c: Candidate, line: OrderLine) -> float:
            weight_room, value_room = room[c.code]
            units = left[c.code][line.sku]
            if line.weight_g:
                units = min(units, weight_room // line.weight_g)
            value = self.request.convert(line.unit_value, self.request.compare_in).amount
            if value:
                units = min(units, value_room // value)
            return units

        def take(c: Candidate, line: OrderLine, units: int) -> None:
            groups[c.code].append((line, units))
            left[c.code][line.sku] -= units
            weight_room, value_room = room[c.code]
            value = self.request.convert(line.unit_value, self.request.compare_in).amount
            room[c.code] = (weight_room - line.weight_g * units, value_room - value * units)

        for line in self.lines:
            carriers = [c for c in combo if c.carries(line.index)]
            whole = [c for c in carriers if fits(c, line) >= line.quantity]
            if whole:
                take(whole[0], line, line.quantity)
                continue
            needed, pieces = line.quantity, 0
            for c in sorted(carriers, key=lambda c: -fits(c, line)):
                units = int(min(needed, fits(c, line)))
                if units <= 0:
                    break
                take(c, line, units)
                needed -= units
                pieces += 1
                if not needed:
                    break
            if needed:
                return
            split_lines += pieces > 1
        option = self.option(combo, groups, split_lines)
        if option is not None:
            yield option

    def parcel_room(self, candidate: Candidate) -> tuple[float, Decimal]:
        """The most weight (g) and value (in ``compare_in``) this node may send, by its
        most generous lane; infinite when no lane limits it. Weight and a carrier's value
        limit are per parcel, and a node sends as many parcels as it needs (``pack``);
        a customs limit per transaction holds the node's parcels together."""
        weight: float = 0
        value = Decimal(0)
        for lane in candidate.lanes:
            weight = math.inf  # more parcels carry more weight: only a unit must fit one
            limit = lane.max_parcel_value
            converted = (
                self.request.convert(limit, self.request.compare_in).amount
                if limit and lane.value_limit_is_per_transaction
                else Decimal("Infinity")
            )
            value = max(value, converted)
        return weight, value

    def option(self, combo, groups, split_lines: int) -> PlanOption | None:
        """The parcels of each node of ``combo`` (one, or several of one lane), or None if
        any node gets nothing or cannot pack."""
        per_node = []
        for candidate in combo:
            items = tuple(groups[candidate.code])
            if not items or not self.within_stock(candidate, items):
                return None
            parcels = self.best_parcels(candidate, items)
            if parcels is None:
                return None
            first_line = min(item.line for parcel in parcels for item in parcel.lines)
            per_node.append(((first_line, candidate.code), parcels, candidate.node))
        # Nodes by their first line, as ever; a node's parcels together, in their order.
        per_node.sort(key=lambda entry: entry[0])
        return PlanOption(
            shipments=tuple(parcel for _, parcels, _ in per_node for parcel in parcels),
            nodes=tuple(node for _, parcels, node in per_node for _ in parcels),
            split_lines=split_lines,
        )

    @staticmethod
    def within_stock(candidate: Candidate, items: Items) -> bool:
        wanted: dict[str, int] = {}
        for line, units in items:
            wanted[line.sku] = wanted.get(line.sku, 0) + units
        return all(units <= candidate.units_of(sku) for sku, units in wanted.items())

    def best_parcels(self, candidate: Candidate, items: Items) -> tuple[Shipment, ...] | None:
        """The parcels by the lane the rankers prefer among those that carry every item:
        one parcel where the lane's limits allow, else as few as ``pack`` makes."""
        lanes = candidate.lanes_carrying(line.index for line, _ in items)
        if not lanes:
            return None
        if len(lanes) == 1:
            return self.parcels_by(candidate, lanes[0], items)
        best, best_key = None, None
        for lane in lanes:
            parcels = self.parcels_by(candidate, lane, items)
            if parcels is None:
                continue
            key = self.rank_key(PlanOption(parcels, (candidate.node,) * len(parcels)))
            if best_key is None or key < best_key:
                best, best_key = parcels, key
        return best

    def parcels_by(
        self, candidate: Candidate, lane: Lane, items: Items
    ) -> tuple[Shipment, ...] | None:
        """``items`` by ``lane`` in one parcel, or, when that parcel is over a limit the
        lane lets us split for, in the fewest parcels that each pass every parcel rule."""
        whole = self.shipment(candidate, lane, items)
        if whole is not None:
            return (whole,)
        bins = pack(lane, items, self.request)
        if bins is None or len(bins) < 2:
            return None
        why = self.packing_reason(candidate, lane, items, len(bins))
        parcels = []
        for number, contents in enumerate(bins, start=1):
            parcel = self.shipment(
                candidate, lane, contents, parcel=number, parcels=len(bins), packing=why
            )
            if parcel is None:  # a plugin's parcel rule refuses it: no way by this lane
                return None
            parcels.append(parcel)
        return tuple(parcels)

    def packing_reason(self, candidate: Candidate, lane: Lane, items: Items, count: int) -> str:
        """Why the node's goods go in several parcels, as staff read it: "RU-WH ships
        70 × HONEY in 2 parcels by lane RU-WH-RU (30 kg parcel limit)"."""
        merged: dict[int, tuple[str, int]] = {}
        for line, units in items:
            merged[line.index] = (line.sku, merged.get(line.index, (line.sku, 0))[1] + units)
        what = ", ".join(f"{units} × {sku}" for _, (sku, units) in sorted(merged.items()))
        return (
            f"{candidate.code} ships {what} in {count} parcels by lane {lane.code} "
            f"({split_limits(lane, items, self.request)})"
        )

    def shipment(
        self,
        candidate: Candidate,
        lane: Lane,
        items: Items,
        *,
        parcel: int = 1,
        parcels: int = 1,
        packing: str = "",
    ) -> Shipment | None:
        merged: dict[int, int] = {}
        skus: dict[int, str] = {}
        for line, units in items:
            merged[line.index] = merged.get(line.index, 0) + units
            skus[line.index] = line.sku
        packed = tuple(ShipmentLine(i, skus[i], merged[i]) for i in sorted(merged))
        box = Parcel(candidate.node, lane, items)
        for rule in self._parcel_rules:
            why = rule.check_parcel(box, self.request)
            if why:
                for line, _ in items:
                    self._parcel_refusals.setdefault(line.index, []).append(why)
                return None
        weight = box.weight_g
        # Sized and priced from this parcel's own contents: each parcel of a split node
        # has its own box, band and quote.
        size = parcel_size(
            ((line.dimensions_mm, units) for line, units in items), candidate.node.packaging
        )
        band = ParcelBand.of(weight, size)
        tariff = self.pricing.tariff(lane, band)
        if tariff.refused:
            for line, _ in items:
                self._parcel_refusals.setdefault(line.index, []).append(tariff.refused)
            return None
        cost, days_min, days_max = tariff.cost, tariff.days_min, tariff.days_max
        facts = self._lane_facts.get(lane.code)
        if facts is None:
            facts = (lane.ship_by(self.request.now), lane.customs_modes, lane.crossings)
            self._lane_facts[lane.code] = facts
        ship_by, customs_modes, crossings = facts
        return Shipment(
            node=candidate.code,
            lane=lane.code,
            lines=packed,
            weight_g=weight,
            cost=cost,
            transit_days_min=days_min,
            transit_days_max=days_max,
            ship_by=ship_by,
            deliver_from=ship_by + timedelta(days=days_min),
            deliver_by=ship_by + timedelta(days=days_max),
            customs_modes=customs_modes,
            crossings=crossings,
            parcel=parcel,
            parcels=parcels,
            packing=packing,
            size_mm=size,
            price_source=tariff.source,
            service=tariff.service,
        )

    # -- telling why -----------------------------------------------------------

    def decision(self, ranked: list[PlanOption]) -> str:
        chosen = ranked[0]
        packings = list(dict.fromkeys(s.packing for s in chosen.shipments if s.packing))
        if len({s.node for s in chosen.shipments}) == 1:
            s = chosen.shipments[0]
            # Split into parcels, the sentence names every line the node ships: the order.
            text = packings[0] if packings else f"{s.node} ships the whole order by lane {s.lane}"
        else:
            parts = "; ".join(s.describe() for s in chosen.shipments)
            text = f"no single node ships every line: {len(chosen.shipments)} shipments ({parts})"
            if packings:
                text += f"; {'; '.join(packings)}"
        if len(ranked) == 1:
            return f"{text}; it is the only way."
        runner_up = ranked[1]
        parcels_from = Counter(s.node for s in runner_up.shipments)  # nodes in plan order
        other = " + ".join(
            f"{node} ({count} parcels)" if count > 1 else node
            for node, count in parcels_from.items()
        )
        for rule in self.rankers:
            if rule.key(chosen, self.request) != rule.key(runner_up, self.request):
                return (
                    f"{text}; preferred to {other} on {rule.name}: "
                    f"{rule.describe(chosen, self.request)} against "
                    f"{rule.describe(runner_up, self.request)}."
                )
        return f"{text}; preferred to {other} by node, lane and line order (all rules tie)."

    def failure(self, candidates: list[Candidate], explanation: Explanation) -> Exception:
        """Why no plan works. A line that cannot go to the destination whatever the stock
        is a corridor refusal, never a shortage: telling the shopper to wait for stock
        would be telling them to wait for something that cannot come."""
        destination = self.request.destination
        where = {"country": destination.country, "region": destination.region}
        serving = [c for c in candidates if not c.ruled_out and c.lanes]
        if not serving:
            return NoLaneToDestination(**where, explanation=explanation)
        # Inactive and staff-excluded nodes are ruled out: their stock counts for nothing.
        active = [c for c in candidates if not c.ruled_out]
        refused: list[RefusedLine] = []
        short: list[ShortLine] = []
        # Units reachable per SKU, allotted to its lines in line order: a line is
        # short when what is left for it is less than it wants.
        left: dict[str, float] = {}
        for line in self.lines:
            carriers = [c for c in serving if c.carries(line.index)]
            if not carriers:  # every lane to the destination refuses it
                reasons = [why for c in serving for why in c.refusals.get(line.index, ())]
                refused.append(RefusedLine(line.index, line.sku, tuple(reasons)))
                continue
            reachable = sum(c.units_of(line.sku) for c in carriers)
            carrying = {c.code for c in carriers}
            holders = [c for c in active if c.code not in carrying and c.units_of(line.sku) > 0]
            if not reachable and holders:  # held only where no lane there takes it
                reasons = [why for c in holders for why in self.why_not_from(c, line)]
                refused.append(RefusedLine(line.index, line.sku, tuple(reasons)))
                continue
            left.setdefault(line.sku, reachable)
            available = min(line.quantity, left[line.sku])
            left[line.sku] -= available
            if available < line.quantity:
                short.append(ShortLine(line.index, line.sku, line.quantity, int(available)))
        if refused:
            return CorridorRefuses(refused, **where, short_lines=short, explanation=explanation)
        if short:
            return InsufficientStock(short, explanation=explanation)
        # Every line can go somewhere and the stock is there: parcel limits stopped it.
        return CorridorRefuses(
            [
                RefusedLine(
                    line.index,
                    line.sku,
                    tuple(dict.fromkeys(self._parcel_refusals.get(line.index, ()))),
                )
                for line in self.lines
            ],
            **where,
            explanation=explanation,
        )

    def why_not_from(self, candidate: Candidate, line: OrderLine) -> tuple[str, ...]:
        """Why a node holding ``line``'s goods cannot send them to the destination."""
        if not candidate.lanes:
            return (f"{candidate.code}: no lane to {self.request.destination}",)
        return candidate.refusals.get(line.index) or (
            f"{candidate.code}: no lane to {self.request.destination} takes {line.label}",
        )
