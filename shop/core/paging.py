"""One page of a query's rows, in the shape every paged listing answers with.

``{"items", "page", "per_page", "total", "pages"}``: the admin listings and the audit
log share it, so the page arithmetic (offset, rounding the page count up) lives here
once. A page size beyond the cap is refused, never quietly made smaller: a client that
asked for 1000 rows and got 200 would take the first 200 for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select

from shop.core.errors import ValidationFailed
from shop.core.extensions import db


def one_page(
    query: Select,
    to_json: Callable[[Any], dict[str, Any]],
    *,
    page: int,
    per_page: int,
    max_per_page: int,
) -> dict[str, Any]:
    """Page ``page`` (from 1) of ``query``'s rows, ``per_page`` of them (at most
    ``max_per_page``), each through ``to_json``, with the total count of rows.

    The API's query schemas refuse the same values first (``PageQuerySchema``); this
    guards a caller without one (a page, a script) with the same 422 naming the field."""
    errors = {}
    if page < 1:
        errors["page"] = ["Must be 1 or more."]
    if not 1 <= per_page <= max_per_page:
        errors["per_page"] = [f"Must be between 1 and {max_per_page}."]
    if errors:
        raise ValidationFailed(errors=errors)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {
        "items": [to_json(row) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": -(-total // per_page),
    }
