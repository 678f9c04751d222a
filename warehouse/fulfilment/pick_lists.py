"""Pick lists that walk a node's bins once, their documents and PDFs, and closing them
once their shipments are done.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from catalog.models import Product, Sku
from shop.core import events as domain_events
from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import Conflict, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import documents, picking
from warehouse.events import ShipmentsChanged
from warehouse.fulfilment.boundary import node_for_staff, staff_sees_node
from warehouse.fulfilment.parcel_numbers import parcel_numbers
from warehouse.models import Node, PickList, PickListLine, Shipment, ShipmentLine, StockBin
from warehouse.services import routing_world

log = logging.getLogger(__name__)

DEFAULT_PICK_LIST_SIZE = 200
MAX_PICK_LIST_SIZE = 1000


class NothingToPick(Conflict):
    code = "nothing_to_pick"
    title = "No shipment is ready to pick"


def _lanes_by_first_carrier(carrier: str) -> set[str]:
    return {lane.code for lane in routing_world().lanes if lane.legs[0].carrier == carrier}


@retry_on_conflict()
def create_pick_list(
    staff: StaffPrincipal,
    node_code: str,
    *,
    max_shipments: int | None = None,
    carrier: str | None = None,
    cutoff_before: str | None = None,
) -> dict[str, Any]:
    """Batch the node's ``ready_to_pick`` shipments (oldest first) into one list.

    Shipments are claimed by a conditional update (``ready_to_pick`` ->
    ``picking``): when two staff press the button at once, PostgreSQL makes the
    second wait for the first and then skip what it took, so no shipment is on
    two lists. A constant number of statements, however many shipments.
    """
    node = node_for_staff(staff, node_code)
    limit = max_shipments or DEFAULT_PICK_LIST_SIZE
    if not 1 <= limit <= MAX_PICK_LIST_SIZE:
        raise ValidationFailed(errors={"max_shipments": [f"From 1 to {MAX_PICK_LIST_SIZE}."]})
    candidates = (
        select(Shipment.id)
        .where(Shipment.node_id == node.id, Shipment.status == "ready_to_pick")
        .order_by(Shipment.deliver_by.is_(None), Shipment.deliver_by, Shipment.id)
        .limit(limit)
    )
    filters: dict[str, Any] = {"max_shipments": limit}
    if carrier:
        candidates = candidates.where(Shipment.lane_code.in_(_lanes_by_first_carrier(carrier)))
        filters["carrier"] = carrier
    if cutoff_before:
        lanes = {lane.code for lane in routing_world().lanes
                 if lane.cutoff.strftime("%H:%M") <= cutoff_before}  # fmt: skip
        candidates = candidates.where(Shipment.lane_code.in_(lanes))
        filters["cutoff_before"] = cutoff_before
    ids = db.session.scalars(candidates).all()
    if not ids:
        db.session.rollback()
        raise NothingToPick(f"No shipment at {node.code} is ready to pick.")
    pick_list = PickList(node_id=node.id, status="open", created_by=staff.actor, filters=filters)
    db.session.add(pick_list)
    db.session.flush()
    claimed = db.session.scalars(
        sql_update(Shipment)
        .where(Shipment.id.in_(ids), Shipment.status == "ready_to_pick")
        .values(status="picking", pick_list_id=pick_list.id, updated_at=utcnow())
        .returning(Shipment.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        db.session.rollback()
        raise NothingToPick(f"Another pick list took {node.code}'s ready shipments.")
    wanted = [
        picking.WantedUnits(shipment_id, sku_id, code, quantity)
        for shipment_id, sku_id, code, quantity in db.session.execute(
            select(ShipmentLine.shipment_id, ShipmentLine.sku_id, Sku.code, ShipmentLine.quantity)
            .join(Sku, Sku.id == ShipmentLine.sku_id)
            .where(ShipmentLine.shipment_id.in_(claimed), ShipmentLine.reservation == "held")
        )
    ]
    sku_ids = sorted({w.sku_id for w in wanted})
    # Lock the bins first (one fixed order), then read what open lists promised from
    # them: a list made at the same moment waits here and then sees the other's lines.
    on_shelf = db.session.execute(
        select(StockBin.sku_id, StockBin.bin, StockBin.on_hand)
        .where(StockBin.node_id == node.id, StockBin.sku_id.in_(sku_ids), StockBin.on_hand > 0)
        .order_by(StockBin.sku_id, StockBin.bin)
        .with_for_update()
    ).all()
    promised = _promised_by_open_lists(node.id, sku_ids)
    bins = [
        picking.BinStock(sku_id, bin_code, on_hand - promised.get((sku_id, bin_code), 0))
        for sku_id, bin_code, on_hand in on_shelf
        if on_hand > promised.get((sku_id, bin_code), 0)
    ]
    lines = picking.plan_pick_lines(wanted, bins)
    db.session.add_all(
        PickListLine(
            pick_list_id=pick_list.id, position=line.position, sku_id=line.sku_id, bin=line.bin,
            quantity=line.quantity,
            shipments=[{"shipment_id": s, "quantity": q} for s, q in line.shipments],
        )
        for line in lines
    )  # fmt: skip
    pick_list.shipment_count = len(claimed)
    pick_list.unit_count = sum(line.quantity for line in lines)
    domain_events.publish(ShipmentsChanged(tuple(claimed), staff.actor, "picking started"))
    db.session.commit()
    log.info("pick list %d at %s: %d shipments, %d units", pick_list.id, node.code,
             len(claimed), pick_list.unit_count)  # fmt: skip
    return pick_list_document(staff, pick_list.id)


# A picker may still take these shipments' units from the bins their list named.
STILL_TO_LEAVE_THE_BINS = ("picking", "packed", "booking_requested")


def _promised_by_open_lists(node_id: int, sku_ids: list[int]) -> dict[tuple[int, str], int]:
    """``{(sku_id, bin): units}`` that open pick lists send pickers to take and that
    have not left yet. A shipped parcel already took its units off the bin, and a
    cancelled one left them on the shelf, so only unfinished shipments count.

    Two queries whatever the size: the unfinished shipments on the node's open lists,
    then those lists' lines, whose per-shipment parts (JSON) are summed here.
    """
    on_open_lists = select(PickList.id).where(
        PickList.node_id == node_id, PickList.status == "open"
    )
    unfinished = set(
        db.session.scalars(
            select(Shipment.id).where(
                Shipment.pick_list_id.in_(on_open_lists),
                Shipment.status.in_(STILL_TO_LEAVE_THE_BINS),
            )
        )
    )
    if not unfinished:
        return {}
    promised: Counter[tuple[int, str]] = Counter()
    for sku_id, bin_code, parts in db.session.execute(
        select(PickListLine.sku_id, PickListLine.bin, PickListLine.shipments).where(
            PickListLine.pick_list_id.in_(on_open_lists),
            PickListLine.sku_id.in_(sku_ids),
            PickListLine.bin.is_not(None),
        )
    ):
        for part in parts:
            if part["shipment_id"] in unfinished:
                promised[(sku_id, bin_code)] += part["quantity"]
    return dict(promised)


def _pick_list_for(staff: StaffPrincipal, pick_list_id: int) -> tuple[PickList, Node]:
    found = db.session.execute(
        select(PickList, Node).join(Node, Node.id == PickList.node_id)
        .where(PickList.id == pick_list_id)
    ).first()  # fmt: skip
    if found is None or not staff_sees_node(staff, found[0].node_id):
        raise NotFound(f"No pick list {pick_list_id}.")
    return found[0], found[1]


def pick_list_document(staff: StaffPrincipal, pick_list_id: int, lang: str = "en") -> dict:
    """The list in walking order: per SKU and bin the units to take and the shipments
    they feed, with localized names and the barcodes printed on paper."""
    pick_list, node = _pick_list_for(staff, pick_list_id)
    rows = db.session.execute(
        select(PickListLine, Sku, Product)
        .join(Sku, Sku.id == PickListLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(PickListLine.pick_list_id == pick_list.id)
        .order_by(PickListLine.position)
    ).all()
    shipments = db.session.execute(
        select(Shipment.id, Shipment.status, Shipment.order_number, Shipment.order_id)
        .where(Shipment.pick_list_id == pick_list.id)
        .order_by(Shipment.id)
    ).all()  # fmt: skip
    # Parcels of one order from this node are packed side by side: say which box is which.
    parcels = parcel_numbers(order_id for *_, order_id in shipments)
    document = {
        "id": pick_list.id,
        "barcode": documents.barcode_value("pick_list", pick_list.id),
        "node": node.code,
        "node_name": node.localized("name", lang),
        "status": pick_list.status,
        "created_at": iso_utc(pick_list.created_at),
        "created_by": pick_list.created_by,
        "filters": pick_list.filters,
        "shipment_count": pick_list.shipment_count,
        "unit_count": pick_list.unit_count,
        "lang": lang,
        "lines": [
            {
                "position": line.position,
                "bin": line.bin,
                "sku": sku.code,
                "sku_barcode": documents.barcode_value("sku", sku.code),
                "name": sku_name(product, sku, lang),
                "quantity": line.quantity,
                "shipments": line.shipments,
            }
            for line, sku, product in rows
        ],
        "shipments": [
            {
                "id": shipment_id,
                "status": status,
                "barcode": documents.barcode_value("shipment", shipment_id),
                "order_number": order_number,
                "parcel": (
                    {"number": parcels[shipment_id][0], "of": parcels[shipment_id][1]}
                    if shipment_id in parcels
                    else None
                ),
            }
            for shipment_id, status, order_number, _ in shipments
        ],
    }
    db.session.rollback()
    return document


def sku_name(product: Product, sku: Sku, lang: str) -> str:
    name = product.localized("name", lang)
    label = sku.localized("label", lang)
    return f"{name} ({label})" if label else name


def pick_list_pdf(staff: StaffPrincipal, pick_list_id: int, lang: str = "en") -> bytes:
    document = pick_list_document(staff, pick_list_id, lang)
    return documents.render_pick_list_pdf(
        documents.PickListDoc(
            id=document["id"],
            node=document["node"],
            node_name=document["node_name"],
            created_at=datetime.fromisoformat(document["created_at"]),
            created_by=document["created_by"],
            lang=lang,
            lines=tuple(
                documents.PickDocLine(
                    position=line["position"],
                    sku=line["sku"],
                    name=line["name"],
                    bin=line["bin"],
                    quantity=line["quantity"],
                    shipments=tuple((s["shipment_id"], s["quantity"]) for s in line["shipments"]),
                )
                for line in document["lines"]
            ),
            shipment_count=document["shipment_count"],
            unit_count=document["unit_count"],
        )
    )


def close_done_pick_list(pick_list_id: int | None) -> None:
    """Mark the list done once none of its shipments still needs picking, packing or
    handing over. A parcel waiting for its booking may come back to packed, so it
    counts as work; shipped, cancelled or re-routed ones do not."""
    if pick_list_id is None:
        return
    remaining = db.session.scalar(
        select(func.count(Shipment.id)).where(
            Shipment.pick_list_id == pick_list_id, Shipment.status.in_(STILL_TO_LEAVE_THE_BINS)
        )
    )
    if remaining == 0:
        db.session.execute(
            sql_update(PickList)
            .where(PickList.id == pick_list_id, PickList.status == "open")
            .values(status="done")
        )


def close_finished_pick_lists(pick_list_ids: Iterable[int | None]) -> None:
    """Close the lists whose shipments are all finished, in the caller's transaction:
    for services that end shipments outside the warehouse (cancelling an order)."""
    for pick_list_id in sorted({i for i in pick_list_ids if i is not None}):
        close_done_pick_list(pick_list_id)
