"""Operators' use cases for staff: adding them, moving them between nodes, roles,
disabling them, their passwords and API tokens."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update

from shop.admin.services.nodes import node_by_code
from shop.admin.services.tokens import Issued
from shop.admin.services.transaction import MAX_PER_PAGE, count_rows, in_transaction
from shop.core import audit
from shop.core.auth import (
    ApiToken,
    StaffPrincipal,
    hash_password,
    issue_token,
    new_password,
    token_json,
    token_row,
)
from shop.core.clock import utcnow
from shop.core.errors import Conflict, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.paging import one_page
from warehouse.models import Node, Staff
from warehouse.services import ROLES, add_staff, staff_json

EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _staff_listing_json(staff: Staff) -> dict[str, Any]:
    return {
        **staff_json(staff),
        "active_tokens": count_rows(
            ApiToken, ApiToken.staff_id == staff.id, ApiToken.revoked_at.is_(None)
        ),
    }


def list_staff(
    *,
    page: int = 1,
    per_page: int = 50,
    node: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """Staff by e-mail, filtered by node code, role and whether active."""
    query = select(Staff).order_by(Staff.email)
    if node:
        query = query.join(Node, Node.id == Staff.node_id).where(Node.code == node.upper())
    if role:
        query = query.where(Staff.role == role)
    if active is not None:
        query = query.where(Staff.is_active.is_(active))
    return one_page(
        query, _staff_listing_json, page=page, per_page=per_page, max_per_page=MAX_PER_PAGE
    )


def _staff(staff_id: int) -> Staff:
    staff = db.session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"No staff member {staff_id}.")
    return staff


def get_staff(staff_id: int) -> dict[str, Any]:
    """A staff member with their tokens (prefixes only)."""
    staff = _staff(staff_id)
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.staff_id == staff_id).order_by(ApiToken.id)
    )
    return {**_staff_listing_json(staff), "tokens": [token_json(t) for t in tokens]}


def create_staff(
    operator: StaffPrincipal,
    email: str,
    node_code: str | None,
    role: str = "picker",
    *,
    with_token: bool = False,
) -> Issued:
    """Add a staff member with a one-time password (and an API token if asked), both
    shown once. Pickers work at one node; operators may have none."""
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL_SHAPE.match(email) or len(email) > 254:
        errors["email"] = ["Not an e-mail address."]
    if role not in ROLES:
        errors["role"] = [f"Role must be one of {', '.join(ROLES)}."]
    node = node_by_code(node_code, errors) if node_code else None
    if not node_code and role == "picker":
        errors["node"] = ["A picker works at one node: give the node."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> Issued:
        staff, password, token = add_staff(
            email, node, role, token_label="admin" if with_token else None
        )
        audit.record(operator, "staff.create", "staff", staff.id, after=staff_json(staff))
        return Issued(staff_json(staff), token=token, password=password)

    return in_transaction(work)


_UNCHANGED: Any = object()


def change_staff(
    operator: StaffPrincipal,
    staff_id: int,
    *,
    node_code: str | None = _UNCHANGED,
    role: str | None = None,
    is_active: bool | None = None,
) -> dict[str, Any]:
    """Move a staff member to another node, change their role, disable or re-enable them.

    Disabling ends every page session at once (the session epoch moves on) and
    revokes their API tokens; re-enabling gives nothing back (reset the password,
    issue a token). An operator cannot disable or demote themselves: another
    operator must, so the pavilion is never left without one by a slip.
    """
    errors: dict[str, list[str]] = {}
    if role is not None and role not in ROLES:
        errors["role"] = [f"Role must be one of {', '.join(ROLES)}."]
    new_node = None
    if node_code is not _UNCHANGED and node_code:
        new_node = node_by_code(node_code, errors)
    if staff_id == operator.staff_id and (is_active is False or role == "picker"):
        errors["staff"] = ["You cannot disable or demote yourself; ask another operator."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> dict[str, Any]:
        staff = db.session.scalar(select(Staff).where(Staff.id == staff_id).with_for_update())
        if staff is None:
            raise NotFound(f"No staff member {staff_id}.")
        before = staff_json(staff)
        if node_code is not _UNCHANGED:
            staff.node = new_node
        if role is not None:
            staff.role = role
        # The relationship, not node_id: a node given in this change is not flushed yet.
        if staff.role == "picker" and staff.node is None:
            raise ValidationFailed(errors={"node": ["A picker works at one node: give the node."]})
        revoked = 0
        if is_active is not None and is_active != staff.is_active:
            staff.is_active = is_active
            if not is_active:
                staff.session_epoch = staff.session_epoch + 1
                revoked = _revoke_staff_tokens(staff.id)
        after = staff_json(staff)
        if after == before:
            return after
        if revoked:
            after["tokens_revoked"] = revoked
        audit.record(operator, "staff.update", "staff", staff.id, before=before, after=after)
        return staff_json(staff)

    return in_transaction(work)


def _revoke_staff_tokens(staff_id: int) -> int:
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def reset_staff_password(operator: StaffPrincipal, staff_id: int) -> Issued:
    """A new one-time password (shown once); the old one and every page session end."""

    def work() -> Issued:
        staff = db.session.scalar(select(Staff).where(Staff.id == staff_id).with_for_update())
        if staff is None:
            raise NotFound(f"No staff member {staff_id}.")
        password = new_password()
        staff.password_hash = hash_password(password)
        staff.session_epoch = staff.session_epoch + 1
        audit.record(operator, "staff.password_reset", "staff", staff.id, after=staff_json(staff))
        return Issued(staff_json(staff), password=password)

    return in_transaction(work)


def issue_staff_token(operator: StaffPrincipal, staff_id: int, label: str = "") -> Issued:
    """An API token for a staff member (shown once)."""

    def work() -> Issued:
        staff = _staff(staff_id)
        if not staff.is_active:
            raise Conflict(f"Staff member {staff_id} is disabled; enable them first.")
        token = issue_token(staff_id=staff_id, label=(label or "admin")[:80])
        document = token_json(token_row(token))
        audit.record(operator, "staff.token.issue", "staff", staff_id, after=document)
        return Issued(document, token=token)

    return in_transaction(work)
