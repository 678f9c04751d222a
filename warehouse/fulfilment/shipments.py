"""Shipments at a node: listing them, packing against the slip and shipping by hand, and
the held units leaving the bins when a parcel leaves.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from catalog.models import Sku
from shop.core import events as domain_events
from shop.core import metrics
from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import DomainError, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import shipment_states
from warehouse.events import ShipmentsChanged, ShipmentShipped
from warehouse.fulfilment.boundary import node_for_staff, staff_sees_node
from warehouse.fulfilment.pick_lists import close_done_pick_list
from warehouse.models import Node, PickListLine, Shipment, ShipmentLine, StockBin, StockLevel
from warehouse.services import record_movements


def shipment_for(staff: StaffPrincipal, shipment_id: int, *, for_update=False) -> Shipment:
    query = select(Shipment).where(Shipment.id == shipment_id)
    if for_update:
        query = query.with_for_update()
    shipment = db.session.scalar(query)
    if shipment is None or not staff_sees_node(staff, shipment.node_id):
        raise NotFound(f"No shipment {shipment_id}.")
    return shipment


def list_shipments(
    staff: StaffPrincipal, *, node_code: str | None = None, status: str | None = None,
    page: int = 1, per_page: int = 50,
) -> dict[str, Any]:  # fmt: skip
    """The node's shipments (a picker's own node; operators any or all), newest first."""
    query = select(Shipment, Node.code).join(Node, Node.id == Shipment.node_id)
    if node_code:
        query = query.where(Shipment.node_id == node_for_staff(staff, node_code).id)
    elif not staff.is_operator:
        query = query.where(Shipment.node_id == staff.node_id)
    if status:
        query = query.where(Shipment.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(
        query.order_by(Shipment.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    items = [shipment_summary(shipment, code, shipment.order_number) for shipment, code in rows]
    db.session.rollback()
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "pages": -(-total // per_page)}  # fmt: skip


def shipment_summary(shipment: Shipment, node_code: str, order_number: str) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "order": order_number,
        "node": node_code,
        "lane": shipment.lane_code,
        "status": shipment.status,
        "pick_list_id": shipment.pick_list_id,
        "weight_g": shipment.weight_g,
        "packed_weight_g": shipment.packed_weight_g,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "booking_state": shipment.booking_state,
        "last_error": shipment.last_error or None,
        "deliver_by": shipment.deliver_by.isoformat() if shipment.deliver_by else None,
        "packed_at": iso_utc(shipment.packed_at) if shipment.packed_at else None,
        "shipped_at": iso_utc(shipment.shipped_at) if shipment.shipped_at else None,
    }


def summary_of(shipment: Shipment) -> dict[str, Any]:
    node_code = db.session.scalar(select(Node.code).where(Node.id == shipment.node_id))
    return shipment_summary(shipment, node_code, shipment.order_number)


def _by_hand_from(shipment: Shipment, required: str, target: str) -> None:
    """Staff pack and ship by hand from one state only. The transition table is wider
    (``booking_requested`` -> packed/shipped) because the booking job walks a parcel
    back or on; a person pressing a button while that job owns the parcel must not."""
    if shipment.status != required:
        raise shipment_states.IllegalTransition(
            f"A shipment that is {shipment.status.replace('_', ' ')} cannot be "
            f"{target} by hand; only a {required} one can.",
            status_now=shipment.status,
            wanted=target,
        )
    shipment_states.shipment_transition(shipment.status, target)


class ScanMismatch(DomainError):
    status = 422
    code = "scan_mismatch"
    title = "The scanned items do not match the shipment"


@retry_on_conflict()
def pack_shipment(
    staff: StaffPrincipal,
    shipment_id: int,
    *,
    weight_g: int,
    dimensions_mm: dict[str, int] | None = None,
    scanned: list[str] | None = None,
) -> dict[str, Any]:
    """picking -> packed, with the packed weight; scanned SKU codes (one per unit), when
    given, must be exactly the shipment's units (422 names what is missing or extra)."""
    shipment = shipment_for(staff, shipment_id, for_update=True)
    _by_hand_from(shipment, "picking", "packed")
    if scanned is not None:
        expected = Counter(
            dict(
                db.session.execute(
                    select(Sku.code, func.sum(ShipmentLine.quantity))
                    .join(Sku, Sku.id == ShipmentLine.sku_id)
                    .where(ShipmentLine.shipment_id == shipment.id)
                    .group_by(Sku.code)
                ).all()
            )
        )
        got = Counter(code.strip() for code in scanned)
        missing, extra = expected - got, got - expected
        if missing or extra:
            raise ScanMismatch(
                "Scanned items differ from the slip: "
                + "; ".join(
                    [f"missing {n} × {code}" for code, n in sorted(missing.items())]
                    + [f"extra {n} × {code}" for code, n in sorted(extra.items())]
                )
                + ".",
                errors={"scanned": [f"missing {n} × {c}" for c, n in sorted(missing.items())]
                        + [f"extra {n} × {c}" for c, n in sorted(extra.items())]},
                missing=dict(sorted(missing.items())),
                extra=dict(sorted(extra.items())),
            )  # fmt: skip
    shipment.status = "packed"
    shipment.packed_weight_g = weight_g
    shipment.dimensions_mm = dimensions_mm
    shipment.packed_at = utcnow()
    db.session.flush()
    domain_events.publish(
        ShipmentsChanged((shipment.id,), staff.actor, f"shipment {shipment.id} packed")
    )
    db.session.commit()
    return summary_of(shipment)


SHIPPED_BY_HAND = ("manual",)


@retry_on_conflict()
def ship_shipment(
    staff: StaffPrincipal,
    shipment_id: int,
    *,
    carrier: str,
    tracking_number: str | None = None,
    carrier_name: str | None = None,
) -> dict[str, Any]:
    """packed -> shipped, by hand (``manual``: the tracking number staff type).

    The held units leave: reserved and on-hand go down through the ledger
    (reason ``shipment``), the bins the pick list used give them up, and the
    order follows (partially shipped / shipped). The shopper is told after commit.
    """
    if carrier not in SHIPPED_BY_HAND:
        raise ValidationFailed(
            f"Carrier {carrier} cannot be booked here yet; ship with the manual carrier.",
            errors={"carrier": [f"One of: {', '.join(SHIPPED_BY_HAND)}."]},
        )
    tracking_number = (tracking_number or "").strip()
    if not tracking_number or len(tracking_number) > 80:
        raise ValidationFailed(errors={"tracking_number": ["The carrier's tracking number."]})
    shipment = shipment_for(staff, shipment_id, for_update=True)
    _by_hand_from(shipment, "packed", "shipped")
    consume_holds(shipment, staff.actor)
    shipment.status = "shipped"
    shipment.carrier = (carrier_name or carrier).strip()[:40]
    shipment.tracking_number = tracking_number
    shipment.shipped_at = utcnow()
    db.session.flush()
    announce_shipped(shipment, staff.actor, f"shipment {shipment.id} shipped")
    db.session.commit()
    return summary_of(shipment)


def announce_shipped(shipment: Shipment, actor: str, reason: str) -> None:
    """The parcel left (its holds consumed, its status flushed): the order follows, the
    pick list may be done, and the shopper is told; all in the caller's transaction."""
    domain_events.publish(ShipmentsChanged((shipment.id,), actor, reason))
    close_done_pick_list(shipment.pick_list_id)
    domain_events.publish(ShipmentShipped(shipment.id, shipment.order_id, shipment.order_number))


def order_number_of(order_id: int) -> str:
    """The order's number as its shipments carry it (copied at checkout)."""
    return db.session.scalar(
        select(Shipment.order_number).where(Shipment.order_id == order_id).limit(1)
    )


def consume_holds(shipment: Shipment, actor: str) -> None:
    lines = db.session.scalars(
        select(ShipmentLine)
        .where(ShipmentLine.shipment_id == shipment.id, ShipmentLine.reservation == "held")
        .order_by(ShipmentLine.sku_id)
    ).all()
    taken_from = _bins_taken(shipment)
    for line in lines:
        db.session.execute(
            sql_update(StockLevel)
            .where(StockLevel.sku_id == line.sku_id, StockLevel.node_id == shipment.node_id)
            .values(on_hand=StockLevel.on_hand - line.quantity,
                    reserved=StockLevel.reserved - line.quantity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        line.reservation = "consumed"
        for bin_code, quantity in taken_from.get(line.sku_id, [(None, line.quantity)]):
            from_bin = _take_from_bin(line.sku_id, shipment.node_id, bin_code, quantity)
            # What the bin did not hold left from "no bin": the ledger says where
            # units really came from, so a bin's rows add up to what it holds.
            for where, units in ((bin_code, from_bin), (None, quantity - from_bin)):
                if units:
                    record_movements(
                        [(line.sku_id, shipment.node_id, -units, -units)],
                        reason="shipment",
                        actor=actor,
                        order_id=shipment.order_id,
                        shipment_id=shipment.id,
                        bin=where,
                    )
    metrics.count_stock_holds(
        "consumed", "shipment", len(lines), sum(line.quantity for line in lines)
    )


def _take_from_bin(sku_id: int, node_id: int, bin_code: str | None, wanted: int) -> int:
    """Take up to ``wanted`` units off the bin (its row locked: after the level, as
    every writer does) and say how many it gave."""
    if bin_code is None:
        return 0
    where = (StockBin.sku_id == sku_id, StockBin.node_id == node_id, StockBin.bin == bin_code)
    holding = db.session.scalar(select(StockBin.on_hand).where(*where).with_for_update()) or 0
    taken = min(holding, wanted)
    if taken:
        db.session.execute(
            sql_update(StockBin).where(*where)
            .values(on_hand=StockBin.on_hand - taken, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    return taken


def _bins_taken(shipment: Shipment) -> dict[int, list[tuple[str | None, int]]]:
    """Which bins the pick list sent this shipment's units from (per SKU)."""
    if shipment.pick_list_id is None:
        return {}
    taken: dict[int, list[tuple[str | None, int]]] = {}
    for line in db.session.scalars(
        select(PickListLine).where(PickListLine.pick_list_id == shipment.pick_list_id)
    ):
        for part in line.shipments:
            if part["shipment_id"] == shipment.id:
                taken.setdefault(line.sku_id, []).append((line.bin, part["quantity"]))
    return taken
