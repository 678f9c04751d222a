"""Staff accounts: a member of a node (or an operator of all), with a password and an API
token shown once, and a staff member as the audit records them (the CLI and the admin
API alike).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shop.core import audit
from shop.core.auth import StaffPrincipal, hash_password, issue_token, new_password
from shop.core.clock import iso_utc
from shop.core.errors import Conflict, ValidationFailed
from shop.core.extensions import db
from warehouse.models import Node, Staff

ROLES = ("picker", "operator")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def staff_json(staff: Staff) -> dict[str, Any]:
    """A staff member as operators see them (never the password hash)."""
    return {
        "id": staff.id,
        "email": staff.email,
        "node": staff.node.code if staff.node else None,
        "role": staff.role,
        "is_active": staff.is_active,
        "is_demo": staff.is_demo,
        "created_at": iso_utc(staff.created_at),
    }


@dataclass(frozen=True)
class NewStaff:
    id: int
    email: str
    node: str | None
    role: str
    password: str  # shown once
    token: str  # shown once


def create_staff(
    email: str,
    node_code: str | None,
    role: str = "picker",
    *,
    actor: StaffPrincipal | str | None = None,
) -> NewStaff:
    """Add a staff member of a node (operators may have none) with a password and a token,
    audited as ``staff.create`` under ``actor`` in the same transaction (``cli:<user>``
    from the shell; None only when building a world for tests or benchmarks)."""
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
    try:
        staff, password, token = add_staff(email, node, role, token_label="cli")  # noqa: S106
        if actor is not None:
            audit.record(actor, "staff.create", "staff", staff.id, after=staff_json(staff))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    assert token is not None  # asked for with token_label
    return NewStaff(staff.id, email, node.code if node else None, role, password, token)


def add_staff(
    email: str, node: Node | None, role: str, *, token_label: str | None
) -> tuple[Staff, str, str | None]:
    """Add a checked staff member to the session with a new password (and an API token
    labelled ``token_label``, if given); the caller commits. Returns the row, the
    password and the token, each shown once."""
    if db.session.scalar(select(Staff.id).where(Staff.email == email)) is not None:
        raise Conflict(f"Staff member {email} already exists.")
    password = new_password()
    staff = Staff(
        email=email,
        node_id=node.id if node else None,
        role=role,
        password_hash=hash_password(password),
    )
    db.session.add(staff)
    db.session.flush()
    token = issue_token(staff_id=staff.id, label=token_label) if token_label else None
    return staff, password, token
