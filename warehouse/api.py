"""Staff endpoints: thin views over warehouse.services."""

from __future__ import annotations

from flask.views import MethodView

from shop.api_base import Blueprint, bearer_protected, shaped_json
from shop.auth import staff_required
from warehouse import services
from warehouse.schemas import LaneListSchema, LaneQuerySchema

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
