"""Why an order cannot be routed, as domain errors that carry their data.

The extras (``lines``, ``country``, ``region``) appear as members of the
problem+json body; ``explanation`` stays on the exception for logs and staff,
since it names stock per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shop.core.errors import DomainError

if TYPE_CHECKING:
    from warehouse.routing.model import Explanation


@dataclass(frozen=True)
class ShortLine:
    """A line no combination of nodes can fill: ``available`` counts every unit the
    nodes able to ship it to the destination hold together."""

    line: int
    sku: str
    wanted: int
    available: int

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "sku": self.sku,
            "wanted": self.wanted,
            "available": self.available,
        }


@dataclass(frozen=True)
class RefusedLine:
    """A line (or a parcel holding it) that no lane to the destination will carry."""

    line: int
    sku: str
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "sku": self.sku, "reasons": list(self.reasons)}


class RoutingError(DomainError):
    """Base of the errors that say an order cannot be routed."""

    explanation: Explanation | None = None


class InsufficientStock(RoutingError):
    status = 409
    code = "insufficient_stock"
    title = "Not enough stock"

    def __init__(self, lines: list[ShortLine], *, explanation: Explanation | None = None):
        self.lines = tuple(lines)
        self.explanation = explanation
        detail = "; ".join(
            f"line {s.line} ({s.sku}): {s.wanted} wanted, {s.available} available"
            for s in self.lines
        )
        super().__init__(f"Not enough stock: {detail}.", lines=[s.as_json() for s in self.lines])


class NoLaneToDestination(RoutingError):
    status = 422
    code = "no_lane_to_destination"
    title = "No delivery to this destination"

    def __init__(
        self, country: str, region: str | None = None, *, explanation: Explanation | None = None
    ):
        self.country = country
        self.region = region
        self.explanation = explanation
        where = f"{country} ({region})" if region else country
        super().__init__(f"No node ships to {where}.", country=country, region=region)


class CorridorRefuses(RoutingError):
    """Some lines cannot go to the destination whatever the stock: every lane there
    refuses them, or the only active nodes holding them have no lane there that takes
    them. It names the destination, since the shopper can change only that; lines also
    short of stock come along in ``short_lines``, so one answer says everything."""

    status = 422
    code = "corridor_refuses"
    title = "The goods cannot be sent there"

    def __init__(
        self,
        lines: Sequence[RefusedLine],
        *,
        country: str,
        region: str | None = None,
        short_lines: Sequence[ShortLine] = (),
        explanation: Explanation | None = None,
    ):
        self.lines = tuple(lines)
        self.country = country
        self.region = region
        self.short_lines = tuple(short_lines)
        self.explanation = explanation
        where = f"{country} ({region})" if region else country
        detail = "; ".join(f"line {r.line} ({r.sku}): {', '.join(r.reasons)}" for r in self.lines)
        text = f"No lane to {where} carries: {detail}."
        if self.short_lines:
            short = "; ".join(
                f"line {s.line} ({s.sku}): {s.wanted} wanted, {s.available} available"
                for s in self.short_lines
            )
            text += f" Not enough stock either: {short}."
        super().__init__(
            text,
            country=country,
            region=region,
            lines=[r.as_json() for r in self.lines],
            short_lines=[s.as_json() for s in self.short_lines],
        )
