"""The staff's first view: their nodes with shipments per state and open pick lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc
from shop.core.extensions import db
from warehouse import shipment_states
from warehouse.models import Node, PickList, Shipment
from warehouse.services import list_lanes


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


def node_board(staff: StaffPrincipal, lang: str = "en") -> dict[str, Any]:
    """The staff pages' board: ``node_overview``, and per node the carriers a new pick
    list may be filtered by (a lane's first leg is what the filter matches)."""
    nodes = node_overview(staff, lang)
    carriers: dict[str, set[str]] = {}
    for lane in list_lanes(None if staff.is_operator else staff.node_code):
        if lane["active"] and lane["legs"]:
            carriers.setdefault(lane["node"], set()).add(lane["legs"][0]["carrier"])
    return {"nodes": nodes, "carriers": {node: sorted(names) for node, names in carriers.items()}}
