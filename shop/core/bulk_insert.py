"""Append many rows at once: COPY on PostgreSQL, a batched INSERT elsewhere.

For append-only tables written in bulk (the stock ledger, the SKU audit, new
stock levels): COPY moves tens of thousands of rows in one round trip, in
the caller's transaction, where a multi-row INSERT would first build and
parse a statement of megabytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert, text

from shop.core.extensions import db


def insert_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        db.session.execute(insert(table), list(rows))
        return
    columns = list(rows[0].keys())
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    quoted = ", ".join(f'"{name}"' for name in columns)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(
                    [
                        json.dumps(row[name], ensure_ascii=False)
                        if name in json_columns and row[name] is not None
                        else row[name]
                        for name in columns
                    ]
                )
    finally:
        cursor.close()


def insert_rows_returning_ids(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert ``rows`` and return their new ids, in the order of ``rows``.

    On PostgreSQL the ids are drawn from the table's sequence first (one
    round trip), then the rows go in by COPY; elsewhere a batched INSERT …
    RETURNING keeps the parameter order.
    """
    if not rows:
        return []
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        result = db.session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [row[0] for row in result]
    ids = list(
        db.session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"table": table.name, "count": len(rows)},
        )
    )
    insert_rows(table, [{"id": new_id, **row} for new_id, row in zip(ids, rows, strict=True)])
    return ids
