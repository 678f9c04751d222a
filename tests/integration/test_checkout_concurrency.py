"""Many shoppers at once, over real HTTP, on PostgreSQL: the last units are sold once,
and one Idempotency-Key makes one order however many times it is sent at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from orders.models import Order
from shop.core.extensions import db
from tests.checkout_world import order_body
from tests.invariants import assert_invariants
from tests.live_server import served_world
from warehouse.services import ledger_mismatches

BUYERS = 80
UNITS = 20  # LAST-UNITS at RU-WH in the checkout world


@pytest.fixture
def served(postgres):
    with served_world(postgres, "checkout_race") as (app, base_url, _world):
        yield app, base_url


def _post(base_url: str, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{base_url}/api/v1/orders", json=body, headers=headers, timeout=60)


def test_80_buyers_race_for_the_last_20_units_and_exactly_20_win(served):
    app, base_url = served
    body = order_body("LAST-UNITS", 1, currency="CNY")
    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        responses = list(pool.map(lambda _: _post(base_url, body), range(BUYERS)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == UNITS, statuses
    assert statuses.count(409) == BUYERS - UNITS, statuses
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["code"] == "insufficient_stock"
    numbers = {r.json()["number"] for r in responses if r.status_code == 201}
    assert len(numbers) == UNITS
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == UNITS
        assert ledger_mismatches() == []
    assert_invariants(app)


def test_one_idempotency_key_sent_by_10_requests_at_once_makes_one_order(served):
    app, base_url = served
    body = order_body("ALENKA-100", 1)
    headers = {"Idempotency-Key": "same-click-10-times"}
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: _post(base_url, body, headers), range(10)))
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert len({r.json()["number"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1
        assert ledger_mismatches() == []
    assert_invariants(app)
