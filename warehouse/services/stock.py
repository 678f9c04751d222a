"""Stock: the ledger, holds for orders and their release.

Every change of a stock level goes through this module and leaves a row in the
ledger (StockMovement), so that on hand and reserved always equal the ledger's sums.
Stock rows are always touched in (sku_id, node_id) order, so two transactions never
wait on each other in a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy import update as sql_update

from shop.core import metrics
from shop.core.bulk_insert import insert_rows
from shop.core.clock import utcnow
from shop.core.errors import DomainError
from shop.core.extensions import db
from warehouse.models import Node, Shipment, ShipmentLine, StockLevel, StockMovement


@dataclass(frozen=True)
class OnHandChange:
    """Set the on-hand count of a SKU at a node; ``stock_level_id`` when the row exists."""

    sku_id: int
    node_id: int
    on_hand: int
    stock_level_id: int | None = None
    previous: int = 0  # the count the caller saw; the ledger records the difference


def set_on_hand(changes: list[OnHandChange], *, reason: str, actor: str) -> None:
    """Write on-hand counts in the caller's transaction, in a few batched statements.

    Existing rows move by the difference to what the caller saw (so a
    concurrent receipt is not lost); reserved units are never touched, and the
    ``reserved <= on_hand`` constraint refuses a count below what orders hold.
    """
    changes = sorted(changes, key=lambda c: (c.sku_id, c.node_id))
    updates = [c for c in changes if c.stock_level_id and c.on_hand != c.previous]
    inserts = [c for c in changes if not c.stock_level_id]
    if updates:
        levels = StockLevel.__table__  # Core: an executemany with a WHERE, not an ORM bulk update
        db.session.execute(
            sql_update(levels)
            .where(levels.c.id == bindparam("level_id"))
            .values(on_hand=levels.c.on_hand + bindparam("delta"), updated_at=utcnow()),
            [{"level_id": c.stock_level_id, "delta": c.on_hand - c.previous} for c in updates],
        )
    if inserts:
        now = utcnow()
        insert_rows(
            StockLevel.__table__,
            [{"sku_id": c.sku_id, "node_id": c.node_id, "on_hand": c.on_hand, "reserved": 0,
              "updated_at": now} for c in inserts],
        )  # fmt: skip
    record_movements(
        [(c.sku_id, c.node_id, c.on_hand - (c.previous if c.stock_level_id else 0), 0)
         for c in changes if c.on_hand != (c.previous if c.stock_level_id else 0)],
        reason=reason,
        actor=actor,
    )  # fmt: skip


def movement_row(
    sku_id: int,
    node_id: int,
    delta_on_hand: int,
    delta_reserved: int,
    *,
    reason: str,
    actor: str,
    order_id: int | None = None,
    shipment_id: int | None = None,
    reference: str = "",
    bin: str | None = None,
) -> dict[str, Any]:
    """One stock ledger row, as ``record_movement_rows`` writes it."""
    return {
        "sku_id": sku_id,
        "node_id": node_id,
        "delta_on_hand": delta_on_hand,
        "delta_reserved": delta_reserved,
        "reason": reason,
        "actor": actor,
        "order_id": order_id,
        "shipment_id": shipment_id,
        "reference": reference,
        "bin": bin,
    }


def record_movement_rows(rows: list[dict[str, Any]]) -> None:
    """Write ledger rows in one statement (COPY on PostgreSQL), in the caller's transaction."""
    if rows:
        now = utcnow()
        insert_rows(StockMovement.__table__, [{**row, "created_at": now} for row in rows])


def record_movements(
    deltas: list[tuple[int, int, int, int]],
    *,
    reason: str,
    actor: str,
    order_id: int | None = None,
    shipment_id: int | None = None,
    reference: str = "",
    bin: str | None = None,
) -> None:
    """Ledger rows for (sku_id, node_id, delta on hand, delta reserved), sharing the rest."""
    record_movement_rows(
        [
            movement_row(sku_id, node_id, on_hand, reserved, reason=reason, actor=actor,
                         order_id=order_id, shipment_id=shipment_id, reference=reference,
                         bin=bin)
            for sku_id, node_id, on_hand, reserved in deltas
        ]
    )  # fmt: skip


@dataclass(frozen=True)
class Allocation:
    """Units of a SKU to hold at a node for a shipment line."""

    sku_id: int
    node_id: int
    quantity: int
    shipment_id: int | None = None
    sku_code: str = ""


class StockShortage(DomainError):
    """Between routing and reserving, someone else took the last units.

    Its ``lines`` have the routing engine's ``InsufficientStock`` shape (``sku``,
    ``wanted``, ``available``), plus the node that ran short: a client handles
    one ``insufficient_stock`` problem whichever step found it.
    """

    status = 409
    code = "insufficient_stock"
    title = "Not enough stock"

    @classmethod
    def for_lines(cls, short: list[tuple[int, int, str, int]]) -> StockShortage:
        """``short``: (sku id, node id, sku code, wanted) the holds could not take."""
        levels = {
            (sku_id, node_id): (code, available)
            for sku_id, node_id, code, available in db.session.execute(
                select(StockLevel.sku_id, StockLevel.node_id, Node.code,
                       StockLevel.on_hand - StockLevel.reserved)
                .join(Node, Node.id == StockLevel.node_id)
                .where(StockLevel.sku_id.in_([s[0] for s in short]))
            )
        }  # fmt: skip
        lines = []
        for sku_id, node_id, sku_code, wanted in short:
            node, available = levels.get((sku_id, node_id), (None, 0))
            lines.append({"sku": sku_code or str(sku_id), "node": node, "wanted": wanted,
                          "available": max(0, available)})  # fmt: skip
        return cls(
            "Not enough stock left for: "
            + ", ".join(f"{line['sku']} ({line['wanted']} wanted, {line['available']} left)"
                        for line in lines)
            + ".",
            lines=lines,
        )  # fmt: skip


def reserve_stock(allocations: list[Allocation], *, order_id: int, actor: str) -> None:
    """Hold units for an order, in the caller's transaction, never beyond what is available.

    Each hold is one conditional UPDATE (``on_hand - reserved >= quantity``),
    which PostgreSQL applies under the row's lock and SQLite under its write
    lock: two buyers of the last unit cannot both succeed. Raises
    ``StockShortage`` naming every short line; the caller rolls back.
    """
    merged: dict[tuple[int, int], list[Allocation]] = {}
    for allocation in allocations:
        merged.setdefault((allocation.sku_id, allocation.node_id), []).append(allocation)
    short = []
    for (sku_id, node_id), parts in sorted(merged.items()):
        quantity = sum(p.quantity for p in parts)
        held = db.session.execute(
            sql_update(StockLevel)
            .where(
                StockLevel.sku_id == sku_id,
                StockLevel.node_id == node_id,
                StockLevel.on_hand - StockLevel.reserved >= quantity,
            )
            .values(reserved=StockLevel.reserved + quantity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if held.rowcount != 1:
            short.append((sku_id, node_id, parts[0].sku_code, quantity))
    if short:
        raise StockShortage.for_lines(short)
    metrics.count_stock_holds(
        "taken", "reservation", len(allocations), sum(a.quantity for a in allocations)
    )
    # One ledger write for the whole hold, each row naming its shipment.
    record_movement_rows(
        [
            movement_row(a.sku_id, a.node_id, 0, a.quantity, reason="reservation", actor=actor,
                         order_id=order_id, shipment_id=a.shipment_id)
            for a in allocations
        ]
    )  # fmt: skip


def release_order_stock(order_id: int, *, reason: str, actor: str, new_state: str) -> int:
    """Give back every unit an order still holds (cancel, expiry); returns units released.

    In the caller's transaction; idempotent, since only ``held`` lines move.
    """
    return _release_held(
        Shipment.order_id == order_id, reason=reason, actor=actor, new_state=new_state
    )


def release_shipment_stock(shipment: Shipment, *, reason: str, actor: str) -> int:
    """Give back the units one shipment holds (its lines become ``released``)."""
    return _release_held(
        Shipment.id == shipment.id, reason=reason, actor=actor, new_state="released"
    )


def _release_held(which, *, reason: str, actor: str, new_state: str) -> int:
    """Release the ``held`` shipment lines ``which`` selects, in (sku, node) lock order."""
    lines = db.session.execute(
        select(ShipmentLine, Shipment.node_id, Shipment.order_id)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(which, ShipmentLine.reservation == "held")
        .order_by(ShipmentLine.sku_id, Shipment.node_id)
    ).all()
    released = 0
    for line, node_id, order_id in lines:
        db.session.execute(
            sql_update(StockLevel)
            .where(StockLevel.sku_id == line.sku_id, StockLevel.node_id == node_id)
            .values(reserved=StockLevel.reserved - line.quantity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        line.reservation = new_state
        record_movements(
            [(line.sku_id, node_id, 0, -line.quantity)],
            reason=reason,
            actor=actor,
            order_id=order_id,
            shipment_id=line.shipment_id,
        )
        released += line.quantity
    metrics.count_stock_holds("released", reason, len(lines), released)
    return released


def release_unpaid_order(order_id: int, *, actor: str, at: datetime) -> int:
    """An order's hold ran out unpaid: its units go back (lines become ``expired``, so a
    late payment can hold them again) and its parcels that waited for the payment are
    cancelled. In the caller's transaction; returns the units released."""
    released = release_order_stock(order_id, reason="expiry", actor=actor, new_state="expired")
    db.session.execute(
        sql_update(Shipment)
        .where(Shipment.order_id == order_id, Shipment.status == "awaiting_payment")
        .values(status="cancelled", updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return released


def ledger_mismatches() -> list[dict[str, int]]:
    """Stock levels that differ from the sums of their ledger rows (should be none)."""
    sums = (
        select(
            StockMovement.sku_id,
            StockMovement.node_id,
            func.sum(StockMovement.delta_on_hand).label("on_hand"),
            func.sum(StockMovement.delta_reserved).label("reserved"),
        )
        .group_by(StockMovement.sku_id, StockMovement.node_id)
        .subquery()
    )
    same_level = (sums.c.sku_id == StockLevel.sku_id) & (sums.c.node_id == StockLevel.node_id)
    rows = db.session.execute(
        select(
            StockLevel.sku_id,
            StockLevel.node_id,
            StockLevel.on_hand,
            StockLevel.reserved,
            func.coalesce(sums.c.on_hand, 0),
            func.coalesce(sums.c.reserved, 0),
        ).outerjoin(sums, same_level)
    ).all()
    return [
        {"sku_id": r[0], "node_id": r[1], "on_hand": r[2], "reserved": r[3],
         "ledger_on_hand": r[4], "ledger_reserved": r[5]}
        for r in rows
        if (r[2], r[3]) != (r[4], r[5])
    ]  # fmt: skip
