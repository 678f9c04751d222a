"""Two staff press "new pick list" at the same moment, on PostgreSQL: each shipment
lands on one list only."""

from __future__ import annotations

import threading

import pytest
import requests

from shop.core.extensions import db
from tests.checkout_world import build_world, order_body
from tests.conftest import make_test_app
from tests.live_server import live_server

ORDERS = 20


@pytest.fixture
def busy_node(postgres):
    app = make_test_app(postgres.create("pick_race"))
    with app.app_context():
        db.create_all()
        world = build_world()
    client = app.test_client()
    for _ in range(ORDERS):
        order = client.post("/api/v1/orders", json=order_body("LAST-UNITS", 1)).get_json()
        paid = client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                           headers={"Authorization": f"Bearer {world['operator']}"})  # fmt: skip
        assert paid.status_code == 200
    with live_server(app) as base_url:
        yield base_url, world
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_two_concurrent_pick_lists_take_disjoint_shipments(busy_node):
    base_url, world = busy_node
    start = threading.Barrier(2)
    results = []

    def press(token):
        start.wait()
        results.append(requests.post(
            f"{base_url}/api/v1/warehouse/nodes/RU-WH/pick-lists", json={"max_shipments": 15},
            headers={"Authorization": f"Bearer {token}"}, timeout=60,
        ))  # fmt: skip

    threads = [threading.Thread(target=press, args=(world[k],)) for k in ("picker_ru", "operator")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) in ([201, 201], [201, 409])
    taken = [{s["id"] for s in r.json()["shipments"]} for r in results if r.status_code == 201]
    if len(taken) == 2:
        assert not taken[0] & taken[1]
    assert sum(len(t) for t in taken) == min(ORDERS, 15 * len(taken))
