"""A single-shipment checkout sends a bounded number of SQL statements.

A count, not a timing: the statements ``POST /api/v1/orders`` sends for a
one-line order to Russia paid by manual transfer (one shipment from RU-WH),
on the demo pavilion. The first checkout of a fresh app also fills the
app's caches (today's exchange rates, the routing world); the second shows
the steady state. Both must stay within the budget.
"""

from __future__ import annotations

import pytest

from shop.core.extensions import db
from shop.seed import seed_demo_pavilion
from tests.sql_count import count_statements

STATEMENT_BUDGET = 25

ORDER = {
    "lines": [{"sku": "RU-ALENKA-100", "quantity": 1}],
    "currency": "RUB",
    "email": "buyer@example.com",
    "shipping_address": {
        "country": "RU",
        "region": "Moscow",
        "city": "Moscow",
        "postal_code": "101000",
        "line1": "Tverskaya 1",
        "recipient": "Ivan Petrov",
        "phone": "+7 900 000 00 00",
    },
    "payment": {"adapter": "manual"},
}


def _listing(statements: list[str]) -> str:
    return "\n".join(f"{n:2d}. {' '.join(s.split())[:200]}" for n, s in enumerate(statements, 1))


# Three SKUs the demo pavilion stocks at RU-WH: one parcel, three lines.
THREE_LINES = [
    {"sku": "RU-ALENKA-100", "quantity": 1},
    {"sku": "RU-ALENKA-200", "quantity": 2},
    {"sku": "RU-MISHKA-KOSOLAPY-250", "quantity": 1},
]


@pytest.mark.parametrize("lines", [ORDER["lines"], THREE_LINES], ids=["1 line", "3 lines"])
def test_single_shipment_checkout_stays_within_the_statement_budget(app, lines):
    with app.app_context():
        seed_demo_pavilion()
        db.session.remove()
        client = app.test_client()
        for which in ("first checkout of a fresh app", "second checkout"):
            # Counted until the response is built: the jobs queued with the order (the
            # confirmation email) run after it is sent and are not the checkout's work.
            with count_statements(db.engine) as statements:
                response = client.post(
                    "/api/v1/orders", json={**ORDER, "lines": lines}, buffered=False
                )
            response.close()
            assert response.status_code == 201, response.get_json()
            shipments = response.get_json()["shipments"]
            assert [s["node"] for s in shipments] == ["RU-WH"]
            assert len(statements) <= STATEMENT_BUDGET, (
                f"{which}: {len(statements)} SQL statements (budget {STATEMENT_BUDGET}):\n"
                + _listing(statements)
            )
