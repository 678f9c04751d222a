"""Re-routing a shipment its node cannot fulfil to the node(s) the engine picks without it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from catalog.cbec import cbec_rules
from catalog.models import Category, Product, Sku
from catalog.services import load_rate_table
from shop.core.auth import StaffPrincipal
from shop.core.clock import utcnow
from shop.core.errors import Conflict, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import routing
from warehouse.models import Node, RoutingDecision, Shipment, ShipmentLine, StockLevel
from warehouse.parcel_orders import ParcelOrder, parcel_orders
from warehouse.services.handovers import node_handover
from warehouse.services.routing_data import load_routing_world, routing_strategy
from warehouse.services.stock import Allocation, release_shipment_stock, reserve_stock

REROUTABLE = ("awaiting_payment", "ready_to_pick")


@retry_on_conflict()
def reroute_shipment(staff: StaffPrincipal, shipment_id: int, reason: str) -> dict[str, Any]:
    """Move a shipment a node cannot fulfil to the node(s) the engine picks without it.

    One transaction: the old holds are released, the new ones taken (never
    beyond what is available), the old shipment marked ``rerouted``, and the
    decision kept with the engine's explanation. Pickers may re-route only
    their node's shipments (another node's is a 404); operators any.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(errors={"reason": ["Say why the node cannot ship it."]})
    order, shipment, node_code = _lock_reroutable(staff, shipment_id)
    lines, sku_ids = _held_lines(shipment)
    plan = _plan_without(node_code, reason, order, lines, sku_ids)
    try:
        created = _move_holds(shipment, order, plan, sku_ids, staff.actor)
        db.session.add(
            RoutingDecision(
                order_id=order.id,
                shipment_id=shipment.id,
                kind="reroute",
                strategy=plan.strategy,
                explanation=plan.as_json(),
                actor=staff.actor,
                reason=reason[:500],
            )
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return {
        "rerouted": shipment.id,
        "from_node": node_code,
        "reason": reason,
        "shipments": created,
        "explanation": plan.explanation.as_json(),
    }


def _lock_reroutable(staff: StaffPrincipal, shipment_id: int) -> tuple[ParcelOrder, Shipment, str]:
    """The order and the shipment, locked in that order, or why they may not move."""
    found = db.session.execute(
        select(Shipment.order_id, Shipment.node_id).where(Shipment.id == shipment_id)
    ).first()
    if found is None or not (staff.is_operator or found.node_id == staff.node_id):
        raise NotFound(f"No shipment {shipment_id}.")
    # The order, then the shipment: the lock order cancel uses too, so a cancel and a
    # re-route of one order run one after the other. Orders refuse an order whose
    # parcels may no longer move.
    order = parcel_orders().lock_for_reroute(found.order_id)
    shipment, node_code = db.session.execute(
        select(Shipment, Node.code)
        .join(Node, Node.id == Shipment.node_id)
        .where(Shipment.id == shipment_id)
        .with_for_update(of=Shipment)
        .execution_options(populate_existing=True)
    ).one()
    if shipment.status not in REROUTABLE:
        raise Conflict(
            f"Shipment {shipment_id} is {shipment.status}; only a shipment not yet picked "
            "can be re-routed.",
            code="shipment_not_reroutable",
        )
    return order, shipment, node_code


def _held_lines(shipment: Shipment) -> tuple[list[routing.OrderLine], dict[str, int]]:
    """The units the shipment holds, as the routing engine reads order lines, and the
    SKU ids by code."""
    held = db.session.execute(
        select(ShipmentLine, Sku, Product.hs_code, Category.slug)
        .join(Sku, Sku.id == ShipmentLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(ShipmentLine.shipment_id == shipment.id, ShipmentLine.reservation == "held")
        .order_by(ShipmentLine.id)
    ).all()
    lines = [
        routing.OrderLine(
            index=position,
            sku=sku.code,
            quantity=line.quantity,
            category=category,
            hs_code=hs_code,
            weight_g=sku.weight_g,
            unit_value=sku.price,
            outside_cbec_positive_list=cbec_rules().is_likely_outside_positive_list(hs_code),
            dimensions_mm=sku.dimensions_mm,
        )
        for position, (line, sku, hs_code, category) in enumerate(held, start=1)
    ]
    return lines, {sku.code: sku.id for _, sku, _, _ in held}


def _plan_without(
    node_code: str,
    reason: str,
    order: ParcelOrder,
    lines: list[routing.OrderLine],
    sku_ids: dict[str, int],
) -> routing.Plan:
    """The engine's plan for these lines with the node left out (a RoutingError is a
    409/422 problem, and nothing has changed yet)."""
    world = load_routing_world()
    stock = {
        (code, sku_code): available
        for code, sku_code, available in db.session.execute(
            select(Node.code, Sku.code, StockLevel.on_hand - StockLevel.reserved)
            .join(Node, Node.id == StockLevel.node_id)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .where(StockLevel.sku_id.in_(list(sku_ids.values())))
        )
    }
    strategy = routing_strategy()
    request = routing.RoutingRequest(
        lines=tuple(lines),
        destination=routing.Destination(order.destination_country),
        nodes=world.nodes,
        lanes=world.lanes,
        stock=stock,
        now=utcnow(),
        rates=load_rate_table(),
        compare_in=order.currency,
        excluded_nodes={node_code: reason},
    )
    return strategy.plan(request)


def _move_holds(
    shipment: Shipment,
    order: ParcelOrder,
    plan: routing.Plan,
    sku_ids: dict[str, int],
    actor: str,
) -> list[dict[str, Any]]:
    """Release the old shipment's holds, mark it ``rerouted``, and make the planned
    shipments with their lines and holds; in the caller's transaction."""
    node_ids = dict(db.session.execute(select(Node.code, Node.id)).all())
    kept_status = shipment.status  # the new parcels are as far along as the old one
    release_shipment_stock(shipment, reason="reroute", actor=actor)
    shipment.status = "rerouted"
    created = []
    for planned in plan.shipments:
        new = Shipment(
            order_id=order.id, order_number=shipment.order_number,
            node_id=node_ids[planned.node], lane_code=planned.lane,
            status=kept_status,
            currency=shipment.currency, customs_mode=planned.customs_modes[0]
            if planned.customs_modes else None, weight_g=planned.weight_g,
            deliver_from=planned.deliver_from, deliver_by=planned.deliver_by,
            shipping_amount=planned.cost.amount,
            **_delivery_kept(shipment, planned.lane, node_ids[planned.node]),
        )  # fmt: skip
        db.session.add(new)
        db.session.flush()
        allocations = []
        for item in planned.lines:
            db.session.add(
                ShipmentLine(shipment_id=new.id, sku_id=sku_ids[item.sku], quantity=item.quantity)
            )
            allocations.append(
                Allocation(sku_ids[item.sku], node_ids[planned.node], item.quantity, new.id,
                           item.sku)
            )  # fmt: skip
        reserve_stock(allocations, order_id=order.id, actor=actor)
        created.append({"id": new.id, **planned.as_json()})
    return created


def _delivery_kept(shipment: Shipment, lane_code: str | None, node_id: int) -> dict[str, Any]:
    """The carrier service and pickup point chosen at checkout travel with the parcels
    when their new lane ends with the same carrier: the shopper still collects them where
    they chose. With another carrier the point means nothing, and the parcel goes to the
    address. A tariff starts with the node's hand-over (a CDEK склад tariff needs an
    office drop-off, a дверь one a courier): when the new node hands parcels over the
    other way, the tariff is left for the booking to choose for that node (the same
    carrier, to the same point or door)."""
    lane = next((x for x in load_routing_world().lanes if x.code == lane_code), None)
    if (
        lane is None
        or not shipment.quoted_carrier
        or lane.legs[-1].carrier != shipment.quoted_carrier
    ):
        return {}
    carrier = shipment.quoted_carrier
    before = node_handover(shipment.node_id, carrier)
    after = node_handover(node_id, carrier)
    same_way = bool(before and before.courier_collects) == bool(after and after.courier_collects)
    return {
        "quoted_carrier": carrier,
        "quoted_service": shipment.quoted_service if same_way else None,
        "delivery_point": shipment.delivery_point,
        "delivery_point_address": shipment.delivery_point_address,
    }
