"""Warehouse use cases, one module per thing they hold.

- ``staff``: staff accounts (a password and a token, shown once);
- ``stock``: the stock ledger, holds for orders, their release;
- ``lanes``: lanes as operators read and change them;
- ``routing_data``: nodes and lanes as the routing engine reads them (cached per app),
  and the routing strategy;
- ``reroute``: moving a shipment its node cannot fulfil;
- ``handovers``: how each node hands its parcels to a carrier.

Callers may import from here as before; the names below are the package's public ones.
"""

from __future__ import annotations

from warehouse.services.handovers import (
    HandoverChange,
    list_handovers,
    node_handover,
    set_handover,
)
from warehouse.services.lanes import (
    LaneChange,
    _lanes_query,
    get_lane,
    lane_document,
    list_lanes,
    update_lane,
)
from warehouse.services.reroute import REROUTABLE, reroute_shipment
from warehouse.services.routing_data import (
    RoutingWorld,
    forget_routing_world,
    load_routing_world,
    routing_strategy,
    routing_world,
)
from warehouse.services.staff import ROLES, NewStaff, add_staff, create_staff, staff_json
from warehouse.services.stock import (
    Allocation,
    OnHandChange,
    StockShortage,
    ledger_mismatches,
    movement_row,
    record_movement_rows,
    record_movements,
    release_order_stock,
    release_shipment_stock,
    release_unpaid_order,
    reserve_stock,
    set_on_hand,
)

__all__ = [
    "REROUTABLE",
    "ROLES",
    "Allocation",
    "HandoverChange",
    "LaneChange",
    "NewStaff",
    "OnHandChange",
    "RoutingWorld",
    "StockShortage",
    "_lanes_query",
    "add_staff",
    "create_staff",
    "forget_routing_world",
    "get_lane",
    "lane_document",
    "ledger_mismatches",
    "list_handovers",
    "list_lanes",
    "load_routing_world",
    "movement_row",
    "node_handover",
    "record_movement_rows",
    "record_movements",
    "release_order_stock",
    "release_shipment_stock",
    "release_unpaid_order",
    "reroute_shipment",
    "reserve_stock",
    "routing_strategy",
    "routing_world",
    "set_handover",
    "set_on_hand",
    "staff_json",
    "update_lane",
]
