"""Staff endpoints: thin views over warehouse.services."""

from __future__ import annotations

from flask.views import MethodView

from shop.api_base import Blueprint, bearer_protected, shaped_json
from shop.auth import staff_required
from warehouse import services
from warehouse.schemas import (
    LaneListSchema,
    LaneQuerySchema,
    RerouteResultSchema,
    RerouteSchema,
)

warehouse_blp = Blueprint(
    "warehouse",
    __name__,
    url_prefix="/api/v1/warehouse",
    description="Warehouse staff: lanes (more with the warehouse issue)",
)


staff_only = bearer_protected(warehouse_blp, staff_required, who="staff")


@warehouse_blp.route("/lanes")
class Lanes(MethodView):
    @staff_only
    @warehouse_blp.arguments(LaneQuerySchema, location="query")
    @warehouse_blp.response(200, LaneListSchema)
    def get(self, args, staff):
        """Shipping lanes: legs, transit, costs, cut-offs and what each corridor refuses.

        Pickers see their node's lanes; operators see all (or one node's with `node`).
        """
        node = args.get("node") if staff.is_operator else staff.node_code
        lanes = services.list_lanes(node.upper() if node else None)
        return shaped_json({"items": lanes, "total": len(lanes)})


@warehouse_blp.route("/shipments/<int(max=2147483647):shipment_id>/reroute", methods=["POST"])
@staff_only
@warehouse_blp.arguments(RerouteSchema)
@warehouse_blp.response(200, RerouteResultSchema)
@warehouse_blp.alt_response(404, description="No such shipment at the caller's node")
@warehouse_blp.alt_response(409, description="Already picked, or no stock elsewhere")
@warehouse_blp.alt_response(422, description="No other lane or corridor can take it")
def reroute(body, shipment_id, staff):
    """Move a shipment its node cannot fulfil: the engine plans it again without that
    node, stock moves from one hold to the other, and the decision is kept."""
    return shaped_json(services.reroute_shipment(staff, shipment_id, body["reason"]))
