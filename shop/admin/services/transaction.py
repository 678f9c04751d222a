"""The one transaction each operator use case runs in, and the counts listings show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from shop.core.extensions import db

# The most rows one page of an admin listing holds (the API schemas validate against it).
MAX_PER_PAGE = 200


def in_transaction(work: Callable[[], Any]) -> Any:
    """Run ``work`` and commit; roll back and re-raise on any failure."""
    try:
        result = work()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return result


def count_rows(model, *where) -> int:
    """How many rows of ``model`` match ``where``."""
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0
