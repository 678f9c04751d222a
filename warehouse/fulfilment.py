"""A node's work: stock in (receipts into bins, counted adjustments), pick lists that
walk the bins once, packing against the slip, and shipping.

Every service checks the node boundary first: a picker acts on their own node
only (another node's objects are 404, as if they did not exist); operators on
all. Each owns its transaction; stock changes go through the ledger.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from catalog.models import Product, Sku
from catalog.money import Money
from shop.core import events as domain_events
from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import documents, picking, shipment_states
from warehouse.events import ShipmentsChanged, ShipmentShipped
from warehouse.models import (
    Node,
    PickList,
    PickListLine,
    Shipment,
    ShipmentLine,
    StockBin,
    StockLevel,
)
from warehouse.parcel_orders import parcel_orders
from warehouse.services import record_movements, routing_world

log = logging.getLogger(__name__)

MAX_RECEIPT_LINES = 1000
MAX_UNITS_PER_LINE = 100_000
DEFAULT_PICK_LIST_SIZE = 200
MAX_PICK_LIST_SIZE = 1000


class NothingToPick(Conflict):
    code = "nothing_to_pick"
    title = "No shipment is ready to pick"


# ------------------------------------------------------------------ the node boundary


def _node_for(staff: StaffPrincipal, code: str) -> Node:
    node = db.session.scalar(select(Node).where(Node.code == code.upper()))
    if node is None or not (staff.is_operator or node.id == staff.node_id):
        raise NotFound(f"No node {code}.")
    return node


def _visible(staff: StaffPrincipal, node_id: int) -> bool:
    return staff.is_operator or node_id == staff.node_id


# ------------------------------------------------------------------ overview


def node_overview(staff: StaffPrincipal, lang: str = "en") -> list[dict[str, Any]]:
    """The caller's nodes (a picker's own; an operator's all) with shipments per state
    and their open pick lists."""
    nodes = select(Node).order_by(Node.code)
    if not staff.is_operator:
        nodes = nodes.where(Node.id == staff.node_id)
    rows = db.session.scalars(nodes).all()
    ids = [node.id for node in rows]
    counts: dict[int, dict[str, int]] = {}
    for node_id, status, count in db.session.execute(
        select(Shipment.node_id, Shipment.status, func.count(Shipment.id))
        .where(Shipment.node_id.in_(ids))
        .group_by(Shipment.node_id, Shipment.status)
    ):
        counts.setdefault(node_id, {})[status] = count
    open_lists: dict[int, list[dict[str, Any]]] = {}
    for pick_list in db.session.scalars(
        select(PickList)
        .where(PickList.node_id.in_(ids), PickList.status == "open")
        .order_by(PickList.id)
    ):
        open_lists.setdefault(pick_list.node_id, []).append(
            {"id": pick_list.id, "created_at": iso_utc(pick_list.created_at),
             "created_by": pick_list.created_by, "shipment_count": pick_list.shipment_count,
             "unit_count": pick_list.unit_count}
        )  # fmt: skip
    result = [
        {
            "code": node.code,
            "name": node.localized("name", lang),
            "kind": node.kind,
            "country": node.country,
            "shipments": {
                status: counts.get(node.id, {}).get(status, 0)
                for status in shipment_states.SHIPMENT_STATUSES
            },
            "open_pick_lists": open_lists.get(node.id, []),
        }
        for node in rows
    ]
    db.session.rollback()
    return result


# ------------------------------------------------------------------ stock in


@dataclass(frozen=True)
class StockLine:
    sku: str
    quantity: int
    bin: str


def _check_lines(lines: list[dict[str, Any]], *, counted: bool) -> tuple[list[StockLine], dict]:
    """Per-line problems (``lines.2.bin``), all of them at once; nothing is written."""
    errors: dict[str, list[str]] = {}
    if not lines:
        errors["lines"] = ["At least one line."]
    if len(lines) > MAX_RECEIPT_LINES:
        errors["lines"] = [f"At most {MAX_RECEIPT_LINES} lines."]
    checked = []
    amount_field = "counted" if counted else "quantity"
    for position, line in enumerate(lines):
        try:
            bin_code = picking.normalize_bin(str(line.get("bin") or ""))
        except picking.InvalidBin as problem:
            errors[f"lines.{position}.bin"] = [str(problem)]
            bin_code = ""
        units = line.get(amount_field)
        low = 0 if counted else 1
        if (
            not isinstance(units, int)
            or isinstance(units, bool)
            or not (low <= units <= MAX_UNITS_PER_LINE)
        ):
            errors[f"lines.{position}.{amount_field}"] = [
                f"A whole number from {low} to {MAX_UNITS_PER_LINE}."
            ]
            units = 0
        checked.append(StockLine(str(line.get("sku") or "").strip(), units, bin_code))
    codes = {line.sku for line in checked}
    known = dict(
        db.session.execute(
            select(Sku.code, Sku.id).where(Sku.code.in_(codes), Sku.deleted_at.is_(None))
        ).all()
    )
    for position, line in enumerate(checked):
        if line.sku not in known:
            errors[f"lines.{position}.sku"] = [f"No SKU {line.sku or '(empty)'}."]
    return checked, {"errors": errors, "sku_ids": known}


def _add_units(sku_id: int, node_id: int, bin_code: str, delta: int) -> None:
    """Move a bin's and the node's on-hand by ``delta``, making rows that are missing.

    Units in are an upsert, not update-then-insert: two receipts of a SKU new to
    the node (or to the bin) at once would both find no row and both insert; here
    the second waits on the first's row and adds to it. Units out (a lower count)
    only ever move rows that hold them.
    """
    now = utcnow()
    if delta < 0:
        for model, where in (
            (StockLevel, (StockLevel.sku_id == sku_id, StockLevel.node_id == node_id)),
            (StockBin, (StockBin.sku_id == sku_id, StockBin.node_id == node_id,
                        StockBin.bin == bin_code)),
        ):  # fmt: skip
            db.session.execute(
                sql_update(model).where(*where)
                .values(on_hand=model.on_hand + delta, updated_at=now)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
        return
    _upsert_add(StockLevel, ("sku_id", "node_id"),
                {"sku_id": sku_id, "node_id": node_id, "on_hand": delta, "reserved": 0,
                 "updated_at": now})  # fmt: skip
    _upsert_add(StockBin, ("sku_id", "node_id", "bin"),
                {"sku_id": sku_id, "node_id": node_id, "bin": bin_code, "on_hand": delta,
                 "updated_at": now})  # fmt: skip


def _upsert_add(model: type[db.Model], key: tuple[str, ...], row: dict[str, Any]) -> None:
    """Insert ``row``, or add its ``on_hand`` to the row with the same ``key``."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(model).values(**row)
    table = model.__table__
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c[name] for name in key],
            set_={"on_hand": table.c.on_hand + statement.excluded.on_hand,
                  "updated_at": statement.excluded.updated_at},
        ).execution_options(synchronize_session=False)
    )  # fmt: skip


@retry_on_conflict()
def receive_stock(
    staff: StaffPrincipal, node_code: str, lines: list[dict[str, Any]], reference: str
) -> dict[str, Any]:
    """Goods arrived: on-hand goes up at the node and in the named bins, through the
    ledger (reason ``receipt``). Any bad line refuses the whole receipt (422 per line)."""
    node = _node_for(staff, node_code)
    checked, found = _check_lines(lines, counted=False)
    if found["errors"]:
        raise ValidationFailed("Nothing was received: fix the lines named.",
                               errors=found["errors"])  # fmt: skip
    reference = (reference or "").strip()[:120]
    # One lock order for every writer: (sku, node), then bin.
    for line in sorted(checked, key=lambda x: (found["sku_ids"][x.sku], x.bin)):
        sku_id = found["sku_ids"][line.sku]
        _add_units(sku_id, node.id, line.bin, line.quantity)
        record_movements([(sku_id, node.id, line.quantity, 0)], reason="receipt", actor=staff.actor,
                reference=reference, bin=line.bin)  # fmt: skip
    db.session.commit()
    log.info("receipt %r at %s by %s: %d line(s)", reference, node.code, staff.actor,
             len(checked))  # fmt: skip
    return _bins_document(node, sorted(found["sku_ids"].values()))


@retry_on_conflict()
def adjust_stock(
    staff: StaffPrincipal, node_code: str, lines: list[dict[str, Any]], reason: str
) -> dict[str, Any]:
    """A count found a different number in a bin: the bin is set to what was counted and
    the node's on-hand moves by the difference (reason ``adjustment``, with the why).
    A count that would leave fewer units than orders hold is refused (409)."""
    node = _node_for(staff, node_code)
    reason = (reason or "").strip()
    checked, found = _check_lines(lines, counted=True)
    errors = found["errors"]
    if not reason:
        errors["reason"] = ["Say why the count differs (damaged, miscounted, found…)."]
    if errors:
        raise ValidationFailed("Nothing was adjusted: fix the fields named.", errors=errors)
    short = []
    for position, line in sorted(
        enumerate(checked), key=lambda x: (found["sku_ids"][x[1].sku], x[1].bin)
    ):
        sku_id = found["sku_ids"][line.sku]
        # The level, then the bin: the lock order of every other stock writer.
        level = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved)
            .where(StockLevel.sku_id == sku_id, StockLevel.node_id == node.id)
            .with_for_update()
        ).first()
        current = db.session.scalar(
            select(StockBin.on_hand).where(
                StockBin.sku_id == sku_id, StockBin.node_id == node.id, StockBin.bin == line.bin
            ).with_for_update()
        ) or 0  # fmt: skip
        delta = line.quantity - current
        if delta == 0:
            continue
        on_hand, reserved = level if level else (0, 0)
        if on_hand + delta < reserved:
            short.append(f"lines.{position}.counted")
            continue
        _add_units(sku_id, node.id, line.bin, delta)
        record_movements([(sku_id, node.id, delta, 0)], reason="adjustment", actor=staff.actor,
                reference=reason[:120], bin=line.bin)  # fmt: skip
    if short:
        db.session.rollback()
        raise Conflict(
            "Orders hold more units than the count leaves; re-route or cancel them first.",
            code="below_reserved",
            errors={name: ["Fewer than the units orders hold."] for name in short},
        )
    db.session.commit()
    return _bins_document(node, sorted(found["sku_ids"].values()))


def _bins_document(node: Node, sku_ids: list[int]) -> dict[str, Any]:
    levels = {
        sku_id: (code, on_hand, reserved)
        for sku_id, code, on_hand, reserved in db.session.execute(
            select(StockLevel.sku_id, Sku.code, StockLevel.on_hand, StockLevel.reserved)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .where(StockLevel.node_id == node.id, StockLevel.sku_id.in_(sku_ids))
        )
    }
    bins: dict[int, list[dict[str, Any]]] = {}
    for sku_id, bin_code, on_hand in db.session.execute(
        select(StockBin.sku_id, StockBin.bin, StockBin.on_hand).where(
            StockBin.node_id == node.id, StockBin.sku_id.in_(sku_ids)
        )
    ):
        bins.setdefault(sku_id, []).append({"bin": bin_code, "on_hand": on_hand})
    document = {
        "node": node.code,
        "items": [
            {
                "sku": code,
                "on_hand": on_hand,
                "reserved": reserved,
                "available": on_hand - reserved,
                "bins": sorted(bins.get(sku_id, []), key=lambda b: picking.bin_sort_key(b["bin"])),
            }
            for sku_id, (code, on_hand, reserved) in sorted(levels.items(), key=lambda x: x[1][0])
        ],
    }
    db.session.rollback()
    return document


# ------------------------------------------------------------------ pick lists


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
    node = _node_for(staff, node_code)
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
    if found is None or not _visible(staff, found[0].node_id):
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
        select(Shipment.id, Shipment.status).where(Shipment.pick_list_id == pick_list.id)
        .order_by(Shipment.id)
    ).all()  # fmt: skip
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
            }
            for shipment_id, status in shipments
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


# ------------------------------------------------------------------ shipments


def shipment_for(staff: StaffPrincipal, shipment_id: int, *, for_update=False) -> Shipment:
    query = select(Shipment).where(Shipment.id == shipment_id)
    if for_update:
        query = query.with_for_update()
    shipment = db.session.scalar(query)
    if shipment is None or not _visible(staff, shipment.node_id):
        raise NotFound(f"No shipment {shipment_id}.")
    return shipment


def list_shipments(
    staff: StaffPrincipal, *, node_code: str | None = None, status: str | None = None,
    page: int = 1, per_page: int = 50,
) -> dict[str, Any]:  # fmt: skip
    """The node's shipments (a picker's own node; operators any or all), newest first."""
    query = select(Shipment, Node.code).join(Node, Node.id == Shipment.node_id)
    if node_code:
        query = query.where(Shipment.node_id == _node_for(staff, node_code).id)
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


# ------------------------------------------------------------------ packing slips


def packing_slip_pdf(staff: StaffPrincipal, shipment_id: int, lang: str = "en") -> bytes:
    """The slip packed with the parcel: lines with the customs data a CN22/CN23 needs."""
    shipment = shipment_for(staff, shipment_id)
    order = parcel_orders().order_of_parcel(shipment.order_id)
    node = db.session.get(Node, shipment.node_id)
    rows = db.session.execute(
        select(ShipmentLine.quantity, Sku, Product)
        .join(Sku, Sku.id == ShipmentLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(ShipmentLine.shipment_id == shipment.id)
        .order_by(ShipmentLine.id)
    ).all()
    prices = order.unit_prices
    address = order.shipping_address or {}
    slip = documents.PackingSlipDoc(
        shipment_id=shipment.id,
        order_number=order.number,
        node=node.code,
        lane=shipment.lane_code,
        customs_mode=shipment.customs_mode,
        created_at=utcnow(),
        recipient=address.get("recipient", ""),
        address_lines=tuple(
            part
            for part in (
                address.get("line1"),
                address.get("line2"),
                " ".join(p for p in (address.get("postal_code"), address.get("city")) if p),
                address.get("region"),
                address.get("country"),
            )
            if part
        ),
        phone=address.get("phone", ""),
        destination_country=order.destination_country,
        lines=tuple(
            documents.SlipLine(
                sku=sku.code,
                name=sku_name(product, sku, lang),
                quantity=quantity,
                hs_code=product.hs_code,
                origin_country=product.origin_country,
                unit_value=Money(prices.get(sku.id, Decimal(0)), order.currency),
                weight_g=sku.weight_g,
            )
            for quantity, sku, product in rows
        ),
        shipping=Money(Decimal(shipment.shipping_amount), order.currency),
        lang=lang,
    )
    db.session.rollback()
    return documents.render_packing_slip_pdf(slip)
