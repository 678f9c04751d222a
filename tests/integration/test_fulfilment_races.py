"""Staff at one node acting at the same moment, over real HTTP, on PostgreSQL:
receipts of a SKU new to the node (and to the bin) all land."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select

from catalog.models import Sku
from shop.core.extensions import db
from tests.live_server import served_world
from warehouse.models import Node, StockBin, StockLevel
from warehouse.services import ledger_mismatches

RECEIPTS = 6


@pytest.fixture
def node(postgres):
    with served_world(postgres, "fulfilment_race") as served:
        yield served


def _at_once(count, send):
    start = threading.Barrier(count)
    results = [None] * count

    def run(position):
        start.wait()
        results[position] = send(position)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _stock(app, sku, node_code):
    with app.app_context():
        where = (Sku.code == sku, Node.code == node_code)
        level = db.session.scalar(
            select(StockLevel.on_hand).join(Sku, Sku.id == StockLevel.sku_id)
            .join(Node, Node.id == StockLevel.node_id).where(*where)
        )  # fmt: skip
        bins = dict(
            db.session.execute(
                select(StockBin.bin, StockBin.on_hand).join(Sku, Sku.id == StockBin.sku_id)
                .join(Node, Node.id == StockBin.node_id).where(*where)
            ).all()
        )  # fmt: skip
        return level, bins


def test_six_receipts_of_a_sku_new_to_the_node_all_land(node):
    app, base_url, world = node
    # HONEY-500 has no stock level at CN-SFH in the checkout world, and no bin anywhere.
    responses = _at_once(RECEIPTS, lambda n: requests.post(
        f"{base_url}/api/v1/warehouse/nodes/CN-SFH/receipts",
        json={"lines": [{"sku": "HONEY-500", "quantity": n + 1, "bin": "Z-9-9"}],
              "reference": f"DN-{n}"},
        headers={"Authorization": f"Bearer {world['operator']}"}, timeout=60,
    ))  # fmt: skip
    assert [r.status_code for r in responses] == [201] * RECEIPTS, [r.text for r in responses]
    total = sum(range(1, RECEIPTS + 1))
    assert _stock(app, "HONEY-500", "CN-SFH") == (total, {"Z-9-9": total})
    with app.app_context():
        assert ledger_mismatches() == []
