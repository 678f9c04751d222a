"""The SQL statements one checkout sends, counted in-process (an app built with
``create_app`` on the bench database and its test client), by phase and shape."""

from __future__ import annotations

import re
from dataclasses import dataclass

from placing_orders.world import NODE, ORDERS_PATH, order_body

SQL_LINE_COUNTS = (1, 2, 3, 5)
COLD = "first checkout of a fresh app (1 line)"


@dataclass
class StatementCount:
    statements: list[str]
    transactions: list[tuple[int, str]]  # (statements before it, BEGIN/COMMIT/ROLLBACK)
    status: int
    shipments: list[str]
    error: str = ""

    @property
    def valid(self) -> bool:
        """A 201 with one shipment from RU-WH: the checkout the count is about."""
        return self.status == 201 and self.shipments == [NODE]

    def phases(self) -> list[tuple[int, str]]:
        """(transaction number, statement) for each statement."""
        marks = sorted(self.transactions)
        out = []
        for index, statement in enumerate(self.statements):
            number = sum(1 for at, kind in marks if kind == "BEGIN" and at <= index)
            out.append((number, statement))
        return out


def _transaction_listener(kind: str, statements: list[str], into: list[tuple[int, str]]):
    """An engine begin/commit/rollback listener noting where it fell among ``statements``."""

    def listener(*_args) -> None:
        into.append((len(statements), kind))

    return listener


def count_checkout_statements(url: str, codes: list[str]) -> dict[str, StatementCount]:
    """Statements of the fresh app's first checkout, then of 1-, 2-, 3- and 5-line ones."""
    from sqlalchemy import event

    from shop import create_app
    from shop.core.extensions import db
    from tests.sql_count import count_statements

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test", "LOG_LEVEL": "WARNING"}
    )
    plan = [(COLD, codes[:1])] + [
        (f"{n} line{'s' if n > 1 else ''}", codes[:n]) for n in SQL_LINE_COUNTS if n <= len(codes)
    ]
    results: dict[str, StatementCount] = {}
    with app.app_context():
        client = app.test_client()
        try:
            for label, lines in plan:
                transactions: list[tuple[int, str]] = []
                with count_statements(db.engine) as statements:
                    listeners = [
                        (name, _transaction_listener(name.upper(), statements, transactions))
                        for name in ("begin", "commit", "rollback")
                    ]
                    for name, listener in listeners:
                        event.listen(db.engine, name, listener)
                    try:
                        response = client.post(ORDERS_PATH, json=order_body(lines))
                    finally:
                        for name, listener in listeners:
                            event.remove(db.engine, name, listener)
                document = response.get_json(silent=True) or {}
                results[label] = StatementCount(
                    statements=list(statements),
                    transactions=transactions,
                    status=response.status_code,
                    shipments=[s["node"] for s in document.get("shipments", [])],
                    error="" if response.status_code == 201 else response.get_data(as_text=True),
                )
        finally:
            db.session.remove()
            db.engine.dispose()
    return results


_SHAPE = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|COPY)\s+\"?(\w+)?", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_WHERE = re.compile(r"\bWHERE\s+(.*?)(?:\s+ORDER BY|\s+LIMIT|\s+RETURNING|\s+FOR UPDATE|$)", re.I)


def statement_shape(statement: str) -> str:
    """``SELECT skus WHERE skus.id = …``: the verb, the main table and the condition's columns."""
    flat = " ".join(statement.split())
    match = _SHAPE.match(flat)
    if not match:
        return flat[:60]
    verb = match.group(1).upper()
    table = match.group(2)
    if verb == "SELECT":
        found = _FROM.search(flat)
        table = found.group(1) if found else "?"
        joins = re.findall(r"\bJOIN\s+(\w+)", flat, re.IGNORECASE)
        if joins:
            table += " ⋈ " + " ⋈ ".join(joins)
    shape = f"{verb} {table}"
    where = _WHERE.search(flat) if verb in ("SELECT", "UPDATE", "DELETE FROM") else None
    if where:
        columns = sorted(set(re.findall(r"\b([a-z_]+\.[a-z_]+)\b", where.group(1))))
        if columns:
            shape += " WHERE " + ", ".join(columns)
    return shape


PHASE_NAMES = {
    1: "read and plan",
    2: "write (one transaction)",
    3: "response document",
}
