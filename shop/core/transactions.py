"""Retry a unit of work that PostgreSQL aborted to break a deadlock or a
serialization conflict: the right answer to those is to run it again, not a 500.
And tell a database that is away from a mistake in our SQL."""

from __future__ import annotations

import logging
import random
import time
from functools import wraps

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shop.core.extensions import db

log = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def is_database_unavailable(error: BaseException) -> bool:
    """The database, not our SQL, is the trouble: the server refused or dropped the
    connection (OperationalError), the driver found its connection gone whatever class
    it raised (``connection_invalidated``: psycopg's InterfaceError on a closed socket),
    or every pooled connection stayed busy past the pool's timeout. A request answers
    503 and a background job tries again later."""
    if isinstance(error, OperationalError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def is_retryable(error: BaseException) -> bool:
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(error, DBAPIError) and sqlstate in RETRYABLE_SQLSTATES


def retry_on_conflict(attempts: int = 3, base_delay: float = 0.02):
    """Run the decorated service again (after a rollback) when the database aborted
    it for a deadlock or a serialization failure; other errors pass through."""

    def decorate(service):
        @wraps(service)
        def wrapper(*args, **kwargs):
            for attempt in range(1, attempts + 1):
                try:
                    return service(*args, **kwargs)
                except DBAPIError as error:
                    if not is_retryable(error) or attempt == attempts:
                        raise
                    db.session.rollback()
                    delay = base_delay * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311
                    log.warning(
                        "%s: %s, attempt %d of %d; retrying in %.0f ms",
                        service.__name__, error.orig.sqlstate, attempt, attempts, delay * 1000,
                    )  # fmt: skip
                    time.sleep(delay)
            raise AssertionError("unreachable")

        return wrapper

    return decorate
