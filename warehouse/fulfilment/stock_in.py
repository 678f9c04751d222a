"""Stock in: receipts into bins and counted adjustments, through the ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from catalog.models import Sku
from shop.core.auth import StaffPrincipal
from shop.core.clock import utcnow
from shop.core.errors import Conflict, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import picking
from warehouse.fulfilment.boundary import node_for_staff
from warehouse.models import Node, StockBin, StockLevel
from warehouse.services import record_movements

log = logging.getLogger(__name__)

MAX_RECEIPT_LINES = 1000
MAX_UNITS_PER_LINE = 100_000


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
    node = node_for_staff(staff, node_code)
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
    node = node_for_staff(staff, node_code)
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
