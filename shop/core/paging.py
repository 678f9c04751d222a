"""One page of a query's rows, in the shape every paged listing answers with.

``{"items", "page", "per_page", "total", "pages"}``: the admin listings and the audit
log share it, so the page arithmetic (clamping, offset, rounding the page count up)
lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select

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
    ``max_per_page``), each through ``to_json``, with the total count of rows."""
    per_page = max(1, min(per_page, max_per_page))
    page = max(1, page)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {
        "items": [to_json(row) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": -(-total // per_page),
    }
