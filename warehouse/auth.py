"""Who is calling the staff API: the staff member behind a bearer token."""

from __future__ import annotations

from functools import wraps

from sqlalchemy import select

from shop.core.auth import (
    Forbidden,
    StaffPrincipal,
    Unauthorized,
    bearer_token,
    find_active_token,
    touch_token,
)
from shop.core.extensions import db
from warehouse.models import Node, Staff


def authenticate_staff() -> StaffPrincipal:
    """The staff member behind the request's bearer token, or 401/403."""
    token = find_active_token(bearer_token())
    if token is None:
        raise Unauthorized("The token is unknown or revoked.")
    if token.staff_id is None:
        raise Forbidden("This endpoint takes a staff token.")
    found = db.session.execute(
        select(Staff, Node.code)
        .outerjoin(Node, Node.id == Staff.node_id)
        .where(Staff.id == token.staff_id)
    ).first()
    if found is None or not found[0].is_active:
        raise Unauthorized("The staff account is disabled.")
    staff, node_code = found
    touch_token(token)
    return StaffPrincipal(
        staff.id, staff.node_id, node_code, staff.role, token.id, f"staff:{staff.id}"
    )


def staff_required(view):
    """Pass the calling staff member to the view as ``staff`` (401 without a valid token)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        kwargs["staff"] = authenticate_staff()
        return view(*args, **kwargs)

    return wrapper
