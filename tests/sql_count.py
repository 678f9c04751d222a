"""Count the SQL statements a block of code sends through an engine.

    with count_statements(db.engine) as statements:
        client.post(...)
    assert len(statements) <= 25, "\\n".join(statements)

A statement is one call the application makes and waits on:

- each ``before_cursor_execute`` of the engine is one statement; an
  ``executemany`` is one call, so it counts once whatever its row count;
- on PostgreSQL, ``shop.core.bulk_insert`` writes rows with ``COPY … FROM STDIN``
  on the DBAPI cursor, past SQLAlchemy's events. psycopg's ``Cursor.copy`` is
  wrapped while the block runs, and each COPY on a connection to the
  engine's database counts as one statement, listed as ``COPY …``.

Transaction control (BEGIN, COMMIT, ROLLBACK) is not counted. This is a
count, never a timing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextlib.contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Yield a list that collects each statement's SQL as the block runs."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with _watch_copy(engine, statements):
            yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextlib.contextmanager
def _watch_copy(engine: Engine, statements: list[str]) -> Iterator[None]:
    if engine.dialect.driver != "psycopg":
        yield
        return
    import psycopg

    database = engine.url.database
    original = psycopg.Cursor.copy

    @contextlib.contextmanager
    def copy(self, statement, params=None, **kwargs):
        if self.connection.info.dbname == database:
            statements.append(str(statement))
        with original(self, statement, params, **kwargs) as copying:
            yield copying

    psycopg.Cursor.copy = copy  # type: ignore[method-assign]
    try:
        yield
    finally:
        psycopg.Cursor.copy = original  # type: ignore[method-assign]
