"""An order over a lane's parcel limit goes in several parcels from one node (issue #17,
item 5): 70 jars of honey (35 kg) to Moscow were refused with ``corridor_refuses``;
now RU-WH sends them in two CDEK parcels of its 30 kg lane. Through checkout
(``POST /api/v1/orders``), the order's view, the stock holds and a pick list, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from catalog.models import Sku
from shop.core.extensions import db
from tests.checkout_world import build_world, money, order_body
from tests.invariants import assert_invariants
from warehouse.models import Shipment, ShipmentLine, StockLevel, StockMovement
from warehouse.schemas import PickListSchema
from warehouse.services import ledger_mismatches
from warehouse.shipping import shipment_number

WHY = "RU-WH ships 70 × HONEY-500 in 2 parcels by lane RU-WH-RU (30 kg parcel limit)"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def shop(app):
    """The checkout world with 100 jars of honey (500 g each) in a bin at RU-WH."""
    with app.app_context():
        world = build_world()
        db.session.execute(update(Sku).where(Sku.code == "HONEY-500").values(weight_g=500))
        db.session.commit()
    app.config["WORLD"] = world
    received = app.test_client().post(
        "/api/v1/warehouse/nodes/RU-WH/receipts",
        json={"lines": [{"sku": "HONEY-500", "quantity": 100, "bin": "H-1-01"}],
              "reference": "DN-HONEY"},
        headers=bearer(world["picker_ru"]),
    )  # fmt: skip
    assert received.status_code in (200, 201), received.get_json()
    return app


def honey_held(app) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
    """RU-WH's reserved honey, and per shipment the units its lines and its ledger rows hold."""
    with app.app_context():
        sku_id = db.session.scalar(select(Sku.id).where(Sku.code == "HONEY-500"))
        node_id = app.config["WORLD"]["nodes"]["RU-WH"]
        reserved = db.session.scalar(
            select(StockLevel.reserved).where(
                StockLevel.sku_id == sku_id, StockLevel.node_id == node_id
            )
        )
        lines = db.session.execute(
            select(ShipmentLine.shipment_id, ShipmentLine.quantity)
            .where(ShipmentLine.sku_id == sku_id, ShipmentLine.reservation == "held")
            .order_by(ShipmentLine.shipment_id)
        ).all()
        ledger = db.session.execute(
            select(StockMovement.shipment_id, StockMovement.delta_reserved)
            .where(StockMovement.sku_id == sku_id, StockMovement.reason == "reservation")
            .order_by(StockMovement.shipment_id)
        ).all()
        return reserved, [tuple(row) for row in lines], [tuple(row) for row in ledger]


def test_70_jars_of_honey_to_moscow_go_in_two_parcels_from_one_node(shop):
    client = shop.test_client()
    world = shop.config["WORLD"]

    response = client.post("/api/v1/orders", json=order_body("HONEY-500", 70))

    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    shipments = order["shipments"]
    assert [(s["node"], s["lane"]) for s in shipments] == [("RU-WH", "RU-WH-RU")] * 2
    assert [[(li["sku"], li["quantity"]) for li in s["lines"]] for s in shipments] == [
        [("HONEY-500", 60)],
        [("HONEY-500", 10)],
    ]
    assert [s["weight_g"] for s in shipments] == [30000, 5000]
    assert [s["parcel"] for s in shipments] == [{"number": 1, "of": 2}, {"number": 2, "of": 2}]
    # Each parcel pays the lane's tariff for its own weight; the order pays both.
    assert money(shipments[0]["shipping"]) > money(shipments[1]["shipping"]) > 0
    assert money(order["totals"]["shipping"]) == sum(money(s["shipping"]) for s in shipments)

    # Stock is held exactly: 70 at RU-WH, as 60 + 10 on the two shipments and the ledger.
    ids = [s["id"] for s in shipments]
    reserved, lines, ledger = honey_held(shop)
    assert reserved == 70
    assert lines == [(ids[0], 60), (ids[1], 10)]
    assert ledger == [(ids[0], 60), (ids[1], 10)]
    with shop.app_context():
        assert ledger_mismatches() == []
        numbers = {shipment_number(order["number"], i) for i in ids}
        assert len(numbers) == 2  # each parcel is its own booking at the carrier
        assert db.session.scalar(select(Shipment.weight_g).where(Shipment.id == ids[0])) == 30000
    assert_invariants(shop)

    # Staff read why: the decision and each planned parcel say it.
    staff_view = client.get(
        f"/api/v1/orders/{order['number']}", headers=bearer(world["operator"])
    ).get_json()
    plan = staff_view["routing"][0]["plan"]
    assert plan["explanation"]["decision"] == f"{WHY}; it is the only way."
    assert [s["parcel"] for s in plan["shipments"]] == [
        {"number": 1, "of": 2, "why": WHY},
        {"number": 2, "of": 2, "why": WHY},
    ]


def test_a_pick_list_takes_both_parcels_and_names_which_box_is_which(shop):
    client = shop.test_client()
    world = shop.config["WORLD"]
    order = client.post("/api/v1/orders", json=order_body("HONEY-500", 70)).get_json()
    paid = client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                       headers=bearer(world["operator"]))  # fmt: skip
    assert paid.status_code == 200, paid.get_json()

    created = client.post(
        "/api/v1/warehouse/nodes/RU-WH/pick-lists", json={}, headers=bearer(world["picker_ru"])
    )

    assert created.status_code == 201, created.get_json()
    pick_list = created.get_json()
    PickListSchema().load(pick_list)
    ids = [s["id"] for s in order["shipments"]]
    assert pick_list["shipment_count"] == 2
    assert [(li["bin"], li["sku"], li["quantity"]) for li in pick_list["lines"]] == [
        ("H-1-01", "HONEY-500", 70)
    ]
    parts = sorted((p["shipment_id"], p["quantity"]) for p in pick_list["lines"][0]["shipments"])
    assert parts == [(ids[0], 60), (ids[1], 10)]
    assert [(s["id"], s["order_number"], s["parcel"]) for s in pick_list["shipments"]] == [
        (ids[0], order["number"], {"number": 1, "of": 2}),
        (ids[1], order["number"], {"number": 2, "of": 2}),
    ]
    assert_invariants(shop)


def test_one_jar_over_what_the_node_holds_is_still_short_not_split_elsewhere(shop):
    # 100 received: 101 wanted is a shortage at the one node serving Moscow.
    response = shop.test_client().post("/api/v1/orders", json=order_body("HONEY-500", 101))

    assert response.status_code == 409, response.get_json()
    assert response.get_json()["code"] == "insufficient_stock"
    reserved, lines, _ = honey_held(shop)
    assert (reserved, lines) == (0, [])
