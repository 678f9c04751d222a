"""Warehouse use cases. Staff accounts for now; stock and routing arrive with their issue."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from shop.auth import hash_password, issue_token, new_password
from shop.errors import Conflict, ValidationFailed
from shop.extensions import db
from warehouse.models import Node, Staff

ROLES = ("picker", "operator")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class NewStaff:
    id: int
    email: str
    node: str | None
    role: str
    password: str  # shown once
    token: str  # shown once


def create_staff(email: str, node_code: str | None, role: str = "picker") -> NewStaff:
    """Add a staff member of a node (operators may have none) with a password and a token."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not _EMAIL.match(email) or len(email) > 254:
        errors["email"] = ["Not an e-mail address."]
    if role not in ROLES:
        errors["role"] = [f"Role must be one of {', '.join(ROLES)}."]
    node = None
    if node_code:
        node = db.session.scalar(select(Node).where(Node.code == node_code.upper()))
        if node is None:
            known = (
                ", ".join(db.session.scalars(select(Node.code).order_by(Node.code))) or "none yet"
            )
            errors["node"] = [f"No node {node_code!r} (known: {known})."]
    elif role == "picker":
        errors["node"] = ["A picker works at one node: give --node."]
    if errors:
        raise ValidationFailed(errors=errors)
    if db.session.scalar(select(Staff.id).where(Staff.email == email)) is not None:
        raise Conflict(f"Staff member {email} already exists.")

    password = new_password()
    try:
        staff = Staff(
            email=email,
            node_id=node.id if node else None,
            role=role,
            password_hash=hash_password(password),
        )
        db.session.add(staff)
        db.session.flush()
        token = issue_token(staff_id=staff.id, label="cli")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return NewStaff(staff.id, email, node.code if node else None, role, password, token)


# ------------------------------------------------------------------ stock


@dataclass(frozen=True)
class OnHandChange:
    """Set the on-hand count of a SKU at a node; ``stock_level_id`` when the row exists."""

    sku_id: int
    node_id: int
    on_hand: int
    stock_level_id: int | None = None


def set_on_hand(changes: list[OnHandChange], *, reason: str, actor: str) -> None:
    """Write on-hand counts in the caller's transaction, in two batched statements.

    The one door through which merchants' stock figures enter: the stock
    ledger (a later issue) records ``reason`` and ``actor`` here, for every
    caller at once. Reserved units are never touched, and the
    ``reserved <= on_hand`` constraint refuses a count below what orders hold.
    """
    from sqlalchemy import insert
    from sqlalchemy import update as sql_update

    from warehouse.models import StockLevel

    updates = [{"id": c.stock_level_id, "on_hand": c.on_hand} for c in changes if c.stock_level_id]
    inserts = [
        {"sku_id": c.sku_id, "node_id": c.node_id, "on_hand": c.on_hand, "reserved": 0}
        for c in changes
        if not c.stock_level_id
    ]
    if updates:
        db.session.execute(sql_update(StockLevel), updates)
    if inserts:
        db.session.execute(insert(StockLevel), inserts)
    # `reason` and `actor` are part of the signature now so that no caller
    # changes when the stock ledger starts recording them.
