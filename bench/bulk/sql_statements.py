"""The SQL statements one upload sends, counted in-process (an app built with
``create_app`` on the bench database, a listener on its engine, the test client)."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field

from bulk.phases import check_report, expected_counts
from bulk.price_lists import csv_bytes, price_list, with_new_prices

BULK_PATH = "/api/v1/merchant/skus/bulk"
SQL_COUNT_SIZES = (1_000, 10_000)
MIN_ROWS_PER_STATEMENT = 100  # "batched": extra rows cost at most 1 statement per 100


@dataclass
class StatementLog:
    """What the before_cursor_execute listener saw during one upload.

    Each entry: (statement, style, rows). Style is ``single``, ``batch`` (one
    multi-row INSERT of SQLAlchemy's insertmanyvalues: one statement in
    PostgreSQL), ``executemany`` (psycopg pipelines one statement per row) or
    ``copy`` (a COPY … FROM STDIN on the DBAPI cursor, which SQLAlchemy's
    listener never sees: recorded by ``watch_copy``).
    """

    statements: list[tuple[str, str, int]] = field(default_factory=list)

    def record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        style_name = getattr(getattr(context, "execute_style", None), "name", "")
        if style_name == "INSERTMANYVALUES":
            # One batch's parameters, flattened: code__0, code__1, ... per row.
            keys = parameters.keys() if isinstance(parameters, dict) else ()
            rows = len({key.rsplit("__", 1)[-1] for key in keys if "__" in key}) or 1
            self.statements.append((statement, "batch", rows))
        elif executemany:
            self.statements.append((statement, "executemany", len(parameters)))
        else:
            self.statements.append((statement, "single", 1))

    @property
    def total(self) -> int:
        return len(self.statements)

    def styled(self, style: str) -> tuple[int, int]:
        """(calls of that style, rows they carried)."""
        rows = [n for _, s, n in self.statements if s == style]
        return len(rows), sum(rows)

    @property
    def in_postgres(self) -> int:
        """Statements PostgreSQL executes: an executemany call runs once per row."""
        return sum(n if style == "executemany" else 1 for _, style, n in self.statements)

    def record_copy(self, statement: str, rows: int) -> None:
        self.statements.append((statement, "copy", rows))

    def by_shape(self) -> Counter[str]:
        return Counter(
            statement_shape(statement) + ("" if style in ("single", "copy") else f" ({style})")
            for statement, style, _ in self.statements
        )


_WORDS = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|COPY)\s+\"?(\w+)?", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def statement_shape(statement: str) -> str:
    """``SELECT skus``, ``INSERT INTO products``, ...: the verb and the main table."""
    match = _WORDS.match(statement)
    if not match:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?"
    verb = match.group(1).upper()
    if verb == "SELECT":
        table = _FROM.search(statement)
        return f"SELECT {table.group(1) if table else '?'}"
    return f"{verb} {match.group(2)}"


@contextlib.contextmanager
def watch_copy(on_copy):
    """Call ``on_copy(statement, rows)`` after every psycopg COPY in this process.

    The shop sends COPY through the DBAPI cursor (``shop.core.bulk_insert``), past
    SQLAlchemy's events, so the benchmark wraps psycopg's ``Cursor.copy``.
    """
    import psycopg

    original = psycopg.Cursor.copy

    @contextlib.contextmanager
    def copy(self, statement, params=None, **kwargs):
        with original(self, statement, params, **kwargs) as copying:
            yield copying
        on_copy(str(statement), self.rowcount)

    psycopg.Cursor.copy = copy  # type: ignore[method-assign]
    try:
        yield
    finally:
        psycopg.Cursor.copy = original  # type: ignore[method-assign]


def bench_app(url: str):
    from shop import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})


def client_upload(client, token: str, body: bytes) -> tuple[int, dict]:
    """POST the CSV through the test client: (HTTP status, report)."""
    response = client.post(
        BULK_PATH, data=body, content_type="text/csv",
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    return response.status_code, response.get_json(silent=True) or {}


def count_sql_statements(url: str, token: str) -> dict[int, dict[str, StatementLog]]:
    """The three uploads at each size of SQL_COUNT_SIZES, through the test client."""
    from sqlalchemy import event

    from shop.core.extensions import db

    app = bench_app(url)
    results: dict[int, dict[str, StatementLog]] = {}
    with app.app_context():
        client = app.test_client()
        # Fill the per-process caches (rules, compiled statements) first.
        client_upload(client, token, csv_bytes(price_list("SQLWARM-", 30)))
        for size in SQL_COUNT_SIZES:
            rows = price_list(f"SQL{size}-", size)
            bodies = {
                "a": csv_bytes(rows),
                "b": csv_bytes(rows),
                "c": csv_bytes(with_new_prices(rows)),
            }
            results[size] = {}
            for phase, body in bodies.items():
                seen = StatementLog()
                event.listen(db.engine, "before_cursor_execute", seen.record)
                try:
                    with watch_copy(seen.record_copy):
                        status, document = client_upload(client, token, body)
                finally:
                    event.remove(db.engine, "before_cursor_execute", seen.record)
                check_report(
                    f"in-process {size} rows ({phase})",
                    status,
                    document,
                    expected_counts(phase, size),
                )
                results[size][phase] = seen
        db.session.remove()
        db.engine.dispose()
    return results
