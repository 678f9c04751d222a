"""Staff endpoints: thin flask-smorest MethodViews over the warehouse services (parse, call
one service, answer)."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from shop.core import background
from shop.core.api_base import Blueprint, bearer_protected, shaped_json
from shop.core.auth import Forbidden
from shop.core.errors import register_problem_types
from shop.core.i18n import choose_language
from warehouse import fulfilment, services, shipping
from warehouse.auth import staff_required
from warehouse.schemas import (
    CarrierWebhookAckSchema,
    JobPageSchema,
    JobQuerySchema,
    JobSchema,
    LaneListSchema,
    LaneQuerySchema,
    NodeListSchema,
    NodesQuerySchema,
    NodeStockSchema,
    PackSchema,
    PickListCreateSchema,
    PickListQuerySchema,
    PickListSchema,
    RerouteResultSchema,
    RerouteSchema,
    ShipmentPageSchema,
    ShipmentQuerySchema,
    ShipmentSummarySchema,
    ShipSchema,
    SlipQuerySchema,
    StockLinesSchema,
)

register_problem_types(
    {
        "nothing_to_pick": "No shipment at the node is ready to pick (with these filters).",
        "scan_mismatch": "The scanned items differ from the shipment; `missing` and `extra` "
        "name them.",
        "below_reserved": "The count leaves fewer units than orders hold.",
        "shipment_not_reroutable": "The shipment is already picked or shipped.",
    }
)

warehouse_blp = Blueprint(
    "warehouse",
    __name__,
    url_prefix="/api/v1/warehouse",
    description="Warehouse staff: nodes, stock into bins, pick lists, packing, shipping, lanes",
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


@warehouse_blp.route("/shipments/<int(max=2147483647):shipment_id>/reroute", endpoint="reroute")
class Reroute(MethodView):
    @staff_only
    @warehouse_blp.arguments(RerouteSchema)
    @warehouse_blp.response(200, RerouteResultSchema)
    @warehouse_blp.alt_response(404, description="No such shipment at the caller's node")
    @warehouse_blp.alt_response(409, description="Already picked, or no stock elsewhere")
    @warehouse_blp.alt_response(422, description="No other lane or corridor can take it")
    def post(self, body, shipment_id, staff):
        """Move a shipment its node cannot fulfil: the engine plans it again without that
        node, stock moves from one hold to the other, and the decision is kept."""
        return shaped_json(services.reroute_shipment(staff, shipment_id, body["reason"]))


NO_STORE = {"Cache-Control": "no-store"}
PDF_RESPONSE = {
    "responses": {
        "200": {
            "description": "A print-ready A4 PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


def _lang(args: dict) -> str:
    return choose_language(args.get("lang"), request.headers.get("Accept-Language"))


def _pdf(data: bytes, filename: str):
    from flask import current_app

    response = current_app.response_class(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@warehouse_blp.route("/nodes", endpoint="nodes")
class Nodes(MethodView):
    @staff_only
    @warehouse_blp.arguments(NodesQuerySchema, location="query")
    @warehouse_blp.response(200, NodeListSchema)
    def get(self, args, staff):
        """Nodes with shipments per state and open pick lists (pickers: their node)."""
        return shaped_json({"items": fulfilment.node_overview(staff, _lang(args))}, NO_STORE)


@warehouse_blp.route("/nodes/<string(maxlength=16):code>/receipts", endpoint="receive")
class Receipts(MethodView):
    @staff_only
    @warehouse_blp.arguments(StockLinesSchema)
    @warehouse_blp.response(201, NodeStockSchema)
    @warehouse_blp.alt_response(404, description="No such node for this staff member")
    @warehouse_blp.alt_response(
        422, description="A line names an unknown SKU, a bad bin or quantity"
    )
    def post(self, body, code, staff):
        """Receive stock into bins: `{"lines": [{"sku", "quantity", "bin"}], "reference"}`.
        On-hand rises at the node and in each bin, through the stock ledger."""
        document = fulfilment.receive_stock(staff, code, body["lines"], body.get("reference", ""))
        return shaped_json(document, NO_STORE, 201)


@warehouse_blp.route("/nodes/<string(maxlength=16):code>/adjustments", endpoint="adjust")
class Adjustments(MethodView):
    @staff_only
    @warehouse_blp.arguments(StockLinesSchema)
    @warehouse_blp.response(200, NodeStockSchema)
    @warehouse_blp.alt_response(404, description="No such node for this staff member")
    @warehouse_blp.alt_response(409, description="The count leaves fewer units than orders hold")
    @warehouse_blp.alt_response(422, description="A bad line, or no reason")
    def post(self, body, code, staff):
        """Counted differences: `{"lines": [{"sku", "bin", "counted"}], "reason"}` sets each
        bin to what was counted; on-hand moves by the difference, through the ledger."""
        return shaped_json(
            fulfilment.adjust_stock(staff, code, body["lines"], body.get("reason", "")), NO_STORE
        )


@warehouse_blp.route("/nodes/<string(maxlength=16):code>/pick-lists", endpoint="create_pick_list")
class PickLists(MethodView):
    @staff_only
    @warehouse_blp.arguments(PickListCreateSchema)
    @warehouse_blp.response(201, PickListSchema)
    @warehouse_blp.alt_response(404, description="No such node for this staff member")
    @warehouse_blp.alt_response(409, description="No shipment is ready to pick")
    def post(self, body, code, staff):
        """Batch the node's ready shipments (oldest first, optionally by carrier, cut-off,
        at most `max_shipments`) into a pick list in walking order; they become `picking`.
        Two staff pressing at once get disjoint shipments."""
        document = fulfilment.create_pick_list(staff, code, **body)
        headers = {**NO_STORE, "Location": f"/api/v1/warehouse/pick-lists/{document['id']}"}
        return shaped_json(document, headers, 201)


@warehouse_blp.route("/pick-lists/<int(max=2147483647):pick_list_id>", endpoint="pick_list")
class PickList(MethodView):
    @staff_only
    @warehouse_blp.arguments(PickListQuerySchema, location="query")
    @warehouse_blp.response(200, PickListSchema)
    @warehouse_blp.alt_response(404, description="No such pick list at the caller's node")
    def get(self, args, pick_list_id, staff):
        """One line per SKU and bin, in walking order, with the total to take and the
        shipments it feeds; names in the staff member's language."""
        return shaped_json(
            fulfilment.pick_list_document(staff, pick_list_id, _lang(args)), NO_STORE
        )


@warehouse_blp.route("/pick-lists/<int(max=2147483647):pick_list_id>.pdf", endpoint="pick_list_pdf")
class PickListPdf(MethodView):
    @staff_only
    @warehouse_blp.arguments(PickListQuerySchema, location="query")
    @warehouse_blp.doc(**PDF_RESPONSE)
    @warehouse_blp.alt_response(404, description="No such pick list at the caller's node")
    def get(self, args, pick_list_id, staff):
        """The pick list as a print-ready A4 PDF with Code 128 barcodes."""
        data = fulfilment.pick_list_pdf(staff, pick_list_id, _lang(args))
        return _pdf(data, f"pick-list-{pick_list_id}.pdf")


@warehouse_blp.route("/shipments", endpoint="shipments")
class Shipments(MethodView):
    @staff_only
    @warehouse_blp.arguments(ShipmentQuerySchema, location="query")
    @warehouse_blp.response(200, ShipmentPageSchema)
    @warehouse_blp.alt_response(404, description="`node` names no node this staff member works at")
    def get(self, args, staff):
        """The node's shipments, newest first (pickers: their node; operators: any)."""
        return shaped_json(
            fulfilment.list_shipments(staff, node_code=args.get("node"), status=args.get("status"),
                                      page=args["page"], per_page=args["per_page"]),
            NO_STORE,
        )  # fmt: skip


@warehouse_blp.route(
    "/shipments/<int(max=2147483647):shipment_id>/packing-slip.pdf", endpoint="packing_slip"
)
class PackingSlip(MethodView):
    @staff_only
    @warehouse_blp.arguments(SlipQuerySchema, location="query")
    @warehouse_blp.doc(**PDF_RESPONSE)
    @warehouse_blp.alt_response(404, description="No such shipment at the caller's node")
    def get(self, args, shipment_id, staff):
        """The packing slip: lines, recipient, and the customs data (HS code, origin, value,
        weight) a CN22/CN23 declaration needs."""
        data = fulfilment.packing_slip_pdf(staff, shipment_id, _lang(args))
        return _pdf(data, f"packing-slip-{shipment_id}.pdf")


@warehouse_blp.route("/shipments/<int(max=2147483647):shipment_id>/pack", endpoint="pack")
class Pack(MethodView):
    @staff_only
    @warehouse_blp.arguments(PackSchema)
    @warehouse_blp.response(200, ShipmentSummarySchema)
    @warehouse_blp.alt_response(404, description="No such shipment at the caller's node")
    @warehouse_blp.alt_response(409, description="Not being picked")
    @warehouse_blp.alt_response(422, description="Scanned items differ from the shipment")
    def post(self, body, shipment_id, staff):
        """Packed, with its weight (and optionally dimensions and the scanned SKU codes,
        which must match the shipment's units exactly)."""
        return shaped_json(fulfilment.pack_shipment(staff, shipment_id, **body), NO_STORE)


@warehouse_blp.route("/shipments/<int(max=2147483647):shipment_id>/ship", endpoint="ship")
class Ship(MethodView):
    @staff_only
    @warehouse_blp.arguments(ShipSchema)
    @warehouse_blp.response(200, ShipmentSummarySchema)
    @warehouse_blp.alt_response(404, description="No such shipment at the caller's node")
    @warehouse_blp.alt_response(409, description="Not packed")
    @warehouse_blp.alt_response(422, description="Unknown carrier or no tracking number")
    def post(self, body, shipment_id, staff):
        """Ship a packed parcel.

        By hand, `{"carrier": "manual", "tracking_number", "carrier_name"}`: shipped at
        once (200). Through a carrier's API, e.g. `{"carrier": "cdek"}`: 202 at once with
        the shipment `booking_requested`; a background job books it (never twice), fetches
        the label and sets the tracking number. Either way stock leaves on-hand and
        reserved through the ledger when the parcel is handed over, and the order follows.
        """
        if body["carrier"] == "manual":
            shipped = fulfilment.ship_shipment(
                staff, shipment_id, carrier=body["carrier"],
                tracking_number=body.get("tracking_number"), carrier_name=body.get("carrier_name"),
            )  # fmt: skip
            return shaped_json(shipped, NO_STORE)
        requested = shipping.request_booking(
            staff, shipment_id, body["carrier"], body.get("service")
        )
        return shaped_json(requested, NO_STORE, 202)


@warehouse_blp.route("/shipments/<int(max=2147483647):shipment_id>/label", endpoint="label")
class Label(MethodView):
    @staff_only
    @warehouse_blp.doc(**PDF_RESPONSE)
    @warehouse_blp.alt_response(404, description="No such shipment, or no label yet")
    def get(self, shipment_id, staff):
        """The carrier's label (PDF), once the booking job has fetched it."""
        return _pdf(shipping.label_pdf(staff, shipment_id), f"label-{shipment_id}.pdf")


@warehouse_blp.route("/jobs", endpoint="jobs")
class Jobs(MethodView):
    @staff_only
    @warehouse_blp.arguments(JobQuerySchema, location="query")
    @warehouse_blp.response(200, JobPageSchema)
    def get(self, args, staff):
        """Background work (operators): what is pending, running, done or dead, with the last
        error. Watch `counts.dead`: a dead job needs a person."""
        if not staff.is_operator:
            raise Forbidden("Only operators see background jobs.")
        return shaped_json(background.list_jobs(**args), NO_STORE)


@warehouse_blp.route("/jobs/<int(max=2147483647):job_id>/retry", endpoint="retry_job")
class JobRetry(MethodView):
    @staff_only
    @warehouse_blp.response(200, JobSchema)
    @warehouse_blp.alt_response(404, description="No such job")
    @warehouse_blp.alt_response(409, description="The job is not dead")
    def post(self, job_id, staff):
        """Give a dead job another round of attempts (operators), once its cause is fixed."""
        if not staff.is_operator:
            raise Forbidden("Only operators retry background jobs.")
        return shaped_json(background.retry_job(job_id, actor=staff), NO_STORE)


carriers_blp = Blueprint(
    "carriers", __name__, url_prefix="/api/v1/carriers", description="Carrier webhooks"
)


@carriers_blp.route("/<string(maxlength=40):carrier>/webhook", endpoint="carrier_webhook")
class CarrierWebhook(MethodView):
    @carriers_blp.response(200, CarrierWebhookAckSchema)
    @carriers_blp.alt_response(404, description="No such enabled carrier")
    def post(self, carrier):
        """A carrier's status notice. Unsigned (CDEK), so only a hint: the shop re-reads the
        parcel from the carrier in a background job and applies what the carrier says."""
        outcome = shipping.carrier_webhook(carrier, dict(request.headers), request.get_data())
        return shaped_json({"received": True, "outcome": outcome})
