"""Which node ships what: a pure routing engine (plain data in, a plan and its reasons out).

    from warehouse.routing import RoutingRequest, load_strategy

    plan = load_strategy("default").plan(request)
    plan.shipments            # node, lane, lines, cost, ship-by date, delivery window
    plan.explanation.as_json()  # every node, every rule's verdict, the ranking; store it

No database, no Flask: callers build the request from rows. Errors
(``InsufficientStock``, ``NoLaneToDestination``, ``CorridorRefuses``) are
``shop.errors.DomainError`` subclasses carrying the short or refused lines.
"""

from warehouse.routing.engine import plan_order
from warehouse.routing.errors import (
    CorridorRefuses,
    InsufficientStock,
    NoLaneToDestination,
    RefusedLine,
    RoutingError,
    ShortLine,
)
from warehouse.routing.model import (
    CandidateReport,
    CarrierQuote,
    Destination,
    Explanation,
    Lane,
    Leg,
    Node,
    OrderLine,
    Plan,
    RankedOption,
    RankingKey,
    RoutingRequest,
    Shipment,
    ShipmentLine,
    Verdict,
    chargeable_kg,
)
from warehouse.routing.parcel_quotes import ParcelQuote, QuoteTable
from warehouse.routing.parcel_size import (
    FILL_FACTOR,
    Box,
    Packaging,
    ParcelBand,
    parcel_size,
)
from warehouse.routing.rules import (
    Candidate,
    ClosestToDestination,
    CorridorAcceptsLines,
    FastestDelivery,
    FewestShipments,
    FilterRule,
    LaneServesDestination,
    LowestLandedCost,
    NodeIsActive,
    NodePriority,
    Parcel,
    PlanOption,
    RankingRule,
    StockAvailable,
    default_filters,
    default_rankers,
)
from warehouse.routing.strategies import (
    ENTRY_POINT_GROUP,
    DefaultStrategy,
    RoutingStrategy,
    StrategyLoadError,
    UnknownStrategy,
    available_strategies,
    load_strategy,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FILL_FACTOR",
    "Box",
    "Candidate",
    "CandidateReport",
    "CarrierQuote",
    "ClosestToDestination",
    "CorridorAcceptsLines",
    "CorridorRefuses",
    "DefaultStrategy",
    "Destination",
    "Explanation",
    "FastestDelivery",
    "FewestShipments",
    "FilterRule",
    "InsufficientStock",
    "Lane",
    "LaneServesDestination",
    "Leg",
    "LowestLandedCost",
    "NoLaneToDestination",
    "Node",
    "NodeIsActive",
    "NodePriority",
    "OrderLine",
    "Packaging",
    "Parcel",
    "ParcelBand",
    "ParcelQuote",
    "Plan",
    "PlanOption",
    "QuoteTable",
    "RankedOption",
    "RankingKey",
    "RankingRule",
    "RefusedLine",
    "RoutingError",
    "RoutingRequest",
    "RoutingStrategy",
    "Shipment",
    "ShipmentLine",
    "ShortLine",
    "StockAvailable",
    "StrategyLoadError",
    "UnknownStrategy",
    "Verdict",
    "available_strategies",
    "chargeable_kg",
    "default_filters",
    "default_rankers",
    "load_strategy",
    "parcel_size",
    "plan_order",
]
