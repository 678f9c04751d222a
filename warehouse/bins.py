"""Bins at a node: which units of each SKU sit in which bin, and moving them between bins.

A bin only says where on-hand units are shelved; the on-hand count itself is the
stock level's (warehouse.services). Moving units between bins therefore changes no
stock and writes no stock ledger line: the audit log records the move instead.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from catalog.models import Sku
from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.errors import Conflict, NotFound, ValidationFailed
from shop.core.extensions import db
from warehouse.models import Node, PickList, PickListLine, StockBin, StockLevel

BIN_SHAPE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
_BIN_SHAPE_PROBLEM = "A bin is 1 to 20 letters, digits and dashes, e.g. A-02-05."


def _node(code: str) -> Node:
    node = db.session.scalar(select(Node).where(Node.code == code.upper()))
    if node is None:
        raise NotFound(f"No node {code}.")
    return node


def list_bins(code: str) -> dict[str, Any]:
    """The node's bins with the units of each SKU in them, and the units on hand that
    are in no bin yet (picked from "no bin" until put away)."""
    node = _node(code)
    rows = db.session.execute(
        select(StockBin.bin, Sku.code, StockBin.on_hand)
        .join(Sku, Sku.id == StockBin.sku_id)
        .where(StockBin.node_id == node.id)
        .order_by(StockBin.bin, Sku.code)
    ).all()
    binned: dict[str, int] = {}
    bins: dict[str, list[dict[str, Any]]] = {}
    for bin_code, sku_code, units in rows:
        bins.setdefault(bin_code, []).append({"sku": sku_code, "units": units})
        binned[sku_code] = binned.get(sku_code, 0) + units
    on_hand = db.session.execute(
        select(Sku.code, StockLevel.on_hand)
        .join(Sku, Sku.id == StockLevel.sku_id)
        .where(StockLevel.node_id == node.id, StockLevel.on_hand > 0)
        .order_by(Sku.code)
    ).all()
    unbinned = [
        {"sku": sku_code, "units": units - binned.get(sku_code, 0)}
        for sku_code, units in on_hand
        if units > binned.get(sku_code, 0)
    ]
    return {
        "node": node.code,
        "bins": [{"bin": b, "skus": skus} for b, skus in bins.items()],
        "unbinned": unbinned,
    }


def move_bin_units(
    operator: StaffPrincipal,
    code: str,
    *,
    sku: str,
    to_bin: str,
    quantity: int,
    from_bin: str | None = None,
) -> dict[str, Any]:
    """Put units of a SKU in a bin: from another bin, or (``from_bin`` empty) from the
    units on hand that are in no bin. On-hand stock does not change, so the stock
    ledger does not either; the audit records the move. Units a pick list that is
    still open expects in ``from_bin`` are not moved from under it. One transaction."""
    to_bin = (to_bin or "").strip().upper()
    from_bin = (from_bin or "").strip().upper() or None
    errors: dict[str, list[str]] = {}
    if not BIN_SHAPE.match(to_bin):
        errors["to_bin"] = [_BIN_SHAPE_PROBLEM]
    if from_bin is not None and not BIN_SHAPE.match(from_bin):
        errors["from_bin"] = [_BIN_SHAPE_PROBLEM]
    if from_bin is not None and from_bin == to_bin:
        errors["to_bin"] = ["The units are already in that bin."]
    if quantity is None or quantity <= 0:
        errors["quantity"] = ["At least 1."]
    if errors:
        raise ValidationFailed(errors=errors)
    try:
        moved = _move(operator, code, sku, to_bin, quantity, from_bin)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return moved


def _move(
    operator: StaffPrincipal,
    code: str,
    sku: str,
    to_bin: str,
    quantity: int,
    from_bin: str | None,
) -> dict[str, Any]:
    node = _node(code)
    sku_row = db.session.scalar(select(Sku).where(Sku.code == sku.strip().upper()))
    if sku_row is None:
        raise ValidationFailed(errors={"sku": [f"No SKU {sku!r}."]})
    # The stock level row is the lock every change of this SKU at this node takes.
    level = db.session.scalar(
        select(StockLevel)
        .where(StockLevel.sku_id == sku_row.id, StockLevel.node_id == node.id)
        .with_for_update()
    )
    bins = {
        row.bin: row
        for row in db.session.scalars(
            select(StockBin).where(StockBin.sku_id == sku_row.id, StockBin.node_id == node.id)
        )
    }
    if from_bin is None:
        available = (level.on_hand if level else 0) - sum(b.on_hand for b in bins.values())
    else:
        available = bins[from_bin].on_hand if from_bin in bins else 0
        if _open_pick_list_uses(node.id, sku_row.id, from_bin):
            raise Conflict(
                f"An open pick list expects {sku_row.code} in {from_bin}; "
                "finish or cancel it first."
            )
    if quantity > available:
        where = f"bin {from_bin}" if from_bin else "no bin"
        raise ValidationFailed(
            errors={"quantity": [f"Only {max(available, 0)} units are in {where}."]}
        )
    before = {
        "sku": sku_row.code,
        "from": {"bin": from_bin, "units": available},
        "to": {"bin": to_bin, "units": bins[to_bin].on_hand if to_bin in bins else 0},
    }
    if from_bin is not None:
        bins[from_bin].on_hand -= quantity
    target = bins.get(to_bin)
    if target is None:
        target = StockBin(sku_id=sku_row.id, node_id=node.id, bin=to_bin, on_hand=0)
        db.session.add(target)
    target.on_hand += quantity
    after = {
        "sku": sku_row.code,
        "quantity": quantity,
        "from": {"bin": from_bin, "units": available - quantity},
        "to": {"bin": to_bin, "units": target.on_hand},
    }
    audit.record(operator, "node.bin.move", "node", node.code, before=before, after=after)
    return after


def _open_pick_list_uses(node_id: int, sku_id: int, bin_code: str) -> bool:
    return (
        db.session.scalar(
            select(PickListLine.id)
            .join(PickList, PickList.id == PickListLine.pick_list_id)
            .where(
                PickList.node_id == node_id,
                PickList.status == "open",
                PickListLine.sku_id == sku_id,
                PickListLine.bin == bin_code,
            )
            .limit(1)
        )
        is not None
    )
