"""A node's work through the staff API: nodes, receipts into bins, counts, pick lists,
packing and shipping by hand, and the node boundary on every one of them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from catalog.models import Sku
from orders.models import Order
from shop.core.extensions import db
from tests.checkout_world import build_world, order_body
from tests.sql_count import count_statements
from warehouse.fulfilment import close_finished_pick_lists
from warehouse.models import PickList, Shipment, StockBin, StockLevel, StockMovement
from warehouse.schemas import NodeListSchema, PickListSchema, ShipmentSummarySchema
from warehouse.services import ledger_mismatches


@pytest.fixture
def node_app(app):
    with app.app_context():
        world = build_world()
    app.config["WORLD"] = world
    return app


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def paid_order(app, sku="ALENKA-100", quantity=2):
    client = app.test_client()
    order = client.post("/api/v1/orders", json=order_body(sku, quantity)).get_json()
    paid = client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                       headers=bearer(app.config["WORLD"]["operator"]))  # fmt: skip
    assert paid.status_code == 200, paid.get_json()
    return order


def receive(app, token, lines, node="RU-WH", reference="DN-1"):
    return app.test_client().post(f"/api/v1/warehouse/nodes/{node}/receipts",
                                  json={"lines": lines, "reference": reference},
                                  headers=bearer(token))  # fmt: skip


def level(app, sku, node="RU-WH"):
    with app.app_context():
        return tuple(
            db.session.execute(
                select(StockLevel.on_hand, StockLevel.reserved)
                .join(Sku, Sku.id == StockLevel.sku_id)
                .where(Sku.code == sku, StockLevel.node_id == app.config["WORLD"]["nodes"][node])
            ).one()
        )


def bins(app, sku, node="RU-WH"):
    with app.app_context():
        return dict(
            db.session.execute(
                select(StockBin.bin, StockBin.on_hand)
                .join(Sku, Sku.id == StockBin.sku_id)
                .where(Sku.code == sku, StockBin.node_id == app.config["WORLD"]["nodes"][node])
            ).all()
        )


def balanced(app):
    with app.app_context():
        return ledger_mismatches() == []


# ------------------------------------------------------------------ nodes


def test_pickers_see_their_node_and_operators_all(node_app):
    world = node_app.config["WORLD"]
    paid_order(node_app)
    client = node_app.test_client()
    mine = client.get("/api/v1/warehouse/nodes", headers=bearer(world["picker_ru"])).get_json()
    NodeListSchema().load(mine)
    assert [n["code"] for n in mine["items"]] == ["RU-WH"]
    assert mine["items"][0]["shipments"]["ready_to_pick"] == 1
    everyone = client.get("/api/v1/warehouse/nodes", headers=bearer(world["operator"]))
    assert [n["code"] for n in everyone.get_json()["items"]] == [
        "CN-SFH", "CN-URC", "RU-USS", "RU-WH",
    ]  # fmt: skip
    assert client.get("/api/v1/warehouse/nodes").status_code == 401


# ------------------------------------------------------------------ stock in


def test_a_receipt_adds_units_into_bins_through_the_ledger(node_app):
    world = node_app.config["WORLD"]
    response = receive(node_app, world["picker_ru"], [
        {"sku": "ALENKA-100", "quantity": 5, "bin": "a-2-05"},
        {"sku": "ALENKA-100", "quantity": 3, "bin": "A-10-02"},
        {"sku": "LAST-UNITS", "quantity": 1, "bin": "B-1"},
    ])  # fmt: skip
    assert response.status_code == 201, response.get_json()
    item = next(i for i in response.get_json()["items"] if i["sku"] == "ALENKA-100")
    assert item["on_hand"] == 18
    assert [b["bin"] for b in item["bins"]] == ["A-2-05", "A-10-02"]  # walking order
    assert level(node_app, "ALENKA-100") == (18, 0)
    assert bins(node_app, "ALENKA-100") == {"A-2-05": 5, "A-10-02": 3}
    with node_app.app_context():
        rows = db.session.scalars(
            select(StockMovement).where(StockMovement.reason == "receipt",
                                        StockMovement.reference == "DN-1")
        ).all()  # fmt: skip
        assert sorted(r.bin for r in rows) == ["A-10-02", "A-2-05", "B-1"]
    assert balanced(node_app)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"sku": "NOPE", "quantity": 1, "bin": "A-1"}, "lines.1.sku"),
        ({"sku": "ALENKA-100", "quantity": 1, "bin": "shelf by the door"}, "lines.1.bin"),
        ({"sku": "ALENKA-100", "quantity": 0, "bin": "A-1"}, "lines.1.quantity"),
        ({"sku": "ALENKA-100", "quantity": "5", "bin": "A-1"}, "lines.1.quantity"),
    ],
)
def test_one_bad_receipt_line_refuses_the_receipt(node_app, line, field):
    world = node_app.config["WORLD"]
    good = {"sku": "ALENKA-100", "quantity": 5, "bin": "A-1-01"}
    response = receive(node_app, world["picker_ru"], [good, line])
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert level(node_app, "ALENKA-100") == (10, 0)
    assert bins(node_app, "ALENKA-100") == {}


def test_counted_differences_adjust_a_bin_with_a_reason(node_app):
    world = node_app.config["WORLD"]
    receive(node_app, world["picker_ru"], [{"sku": "ALENKA-100", "quantity": 5, "bin": "A-1"}])
    client = node_app.test_client()
    url = "/api/v1/warehouse/nodes/RU-WH/adjustments"
    no_reason = client.post(url, json={"lines": [{"sku": "ALENKA-100", "bin": "A-1",
                                                  "counted": 3}]},
                            headers=bearer(world["picker_ru"]))  # fmt: skip
    assert no_reason.status_code == 422
    assert "reason" in no_reason.get_json()["errors"]
    counted = client.post(url, json={"lines": [{"sku": "ALENKA-100", "bin": "A-1",
                                                "counted": 3}], "reason": "2 crushed"},
                          headers=bearer(world["picker_ru"]))  # fmt: skip
    assert counted.status_code == 200, counted.get_json()
    assert level(node_app, "ALENKA-100") == (13, 0)
    assert bins(node_app, "ALENKA-100") == {"A-1": 3}
    paid_order(node_app, quantity=12)  # 12 of 13 held
    zero = {"lines": [{"sku": "ALENKA-100", "bin": "A-1", "counted": 0}], "reason": "lost"}
    below = client.post(url, json=zero, headers=bearer(world["picker_ru"]))
    assert below.status_code == 409
    assert level(node_app, "ALENKA-100") == (13, 12)
    assert balanced(node_app)


# ------------------------------------------------------------------ pick lists, pack, ship


def test_a_pick_list_walks_the_bins_packs_and_ships(node_app):
    world = node_app.config["WORLD"]
    picker = bearer(world["picker_ru"])
    receive(node_app, world["picker_ru"], [
        {"sku": "ALENKA-100", "quantity": 1, "bin": "A-10-02"},
        {"sku": "ALENKA-100", "quantity": 2, "bin": "A-2-05"},
        {"sku": "LAST-UNITS", "quantity": 4, "bin": "A-1-01"},
    ])  # fmt: skip
    first = paid_order(node_app, "ALENKA-100", 2)
    second = paid_order(node_app, "ALENKA-100", 2)
    third = paid_order(node_app, "LAST-UNITS", 3)
    client = node_app.test_client()

    created = client.post("/api/v1/warehouse/nodes/RU-WH/pick-lists", json={}, headers=picker)
    assert created.status_code == 201, created.get_json()
    pick_list = created.get_json()
    PickListSchema().load(pick_list)
    assert pick_list["shipment_count"] == 3
    assert pick_list["unit_count"] == 7
    walk = [(line["bin"], line["sku"], line["quantity"]) for line in pick_list["lines"]]
    # A-1-01 < A-2-05 < A-10-02 < (no bin), compared naturally; 4 ALENKA wanted, 3 in bins.
    assert walk == [
        ("A-1-01", "LAST-UNITS", 3),
        ("A-2-05", "ALENKA-100", 2),
        ("A-10-02", "ALENKA-100", 1),
        (None, "ALENKA-100", 1),
    ]
    for line in pick_list["lines"]:
        assert sum(s["quantity"] for s in line["shipments"]) == line["quantity"]
    again = client.post("/api/v1/warehouse/nodes/RU-WH/pick-lists", json={}, headers=picker)
    assert again.status_code == 409
    assert again.get_json()["code"] == "nothing_to_pick"
    with node_app.app_context():
        assert set(db.session.scalars(select(Order.status))) == {"fulfilling"}

    pdf = client.get(f"/api/v1/warehouse/pick-lists/{pick_list['id']}.pdf", headers=picker)
    assert pdf.status_code == 200
    assert pdf.content_type == "application/pdf"
    assert pdf.data.startswith(b"%PDF")

    shipment_id = next(s["id"] for s in pick_list["shipments"])
    with node_app.app_context():
        number = db.session.scalar(
            select(Order.number).join(Shipment, Shipment.order_id == Order.id)
            .where(Shipment.id == shipment_id)
        )  # fmt: skip
    order = next(o for o in (first, second, third) if o["number"] == number)
    sku = order["lines"][0]["sku"]
    quantity = order["lines"][0]["quantity"]
    url = f"/api/v1/warehouse/shipments/{shipment_id}"
    wrong = client.post(f"{url}/pack", json={"weight_g": 400, "scanned": [sku, "EXTRA-1"]},
                        headers=picker)  # fmt: skip
    assert wrong.status_code == 422
    problem = wrong.get_json()
    assert problem["code"] == "scan_mismatch"
    assert problem["extra"] == {"EXTRA-1": 1}
    assert problem["missing"] == ({sku: quantity - 1} if quantity > 1 else {})
    early_ship = client.post(f"{url}/ship", json={"carrier": "manual", "tracking_number": "X1"},
                             headers=picker)  # fmt: skip
    assert early_ship.status_code == 409
    packed = client.post(f"{url}/pack", json={"weight_g": 400, "scanned": [sku] * quantity,
                         "dimensions_mm": {"length": 200, "width": 100, "height": 50}},
                         headers=picker)  # fmt: skip
    assert packed.status_code == 200, packed.get_json()
    ShipmentSummarySchema().load(packed.get_json())
    assert packed.get_json()["status"] == "packed"

    slip = client.get(f"{url}/packing-slip.pdf?lang=ru", headers=picker)
    assert slip.status_code == 200
    assert slip.data.startswith(b"%PDF")

    no_tracking = client.post(f"{url}/ship", json={"carrier": "manual"}, headers=picker)
    assert no_tracking.status_code == 422
    assert "tracking_number" in no_tracking.get_json()["errors"]
    unknown = client.post(f"{url}/ship", json={"carrier": "pigeon", "tracking_number": "X"},
                          headers=picker)  # fmt: skip
    assert unknown.status_code == 422
    before = level(node_app, sku)
    by_post = {"carrier": "manual", "tracking_number": "RR123456789CN",
               "carrier_name": "Russian Post"}  # fmt: skip
    shipped = client.post(f"{url}/ship", json=by_post, headers=picker)
    assert shipped.status_code == 200, shipped.get_json()
    assert shipped.get_json()["status"] == "shipped"
    assert level(node_app, sku) == (before[0] - quantity, before[1] - quantity)
    seen = client.get(f"/api/v1/orders/{number}",
                      headers={"X-Order-Token": order["token"]}).get_json()  # fmt: skip
    assert seen["status"] == "shipped"
    assert seen["shipments"][0]["tracking"] == {"carrier": "Russian Post",
                                                "number": "RR123456789CN"}  # fmt: skip
    assert balanced(node_app)


def test_the_node_boundary_holds_on_every_endpoint(node_app):
    world = node_app.config["WORLD"]
    paid_order(node_app)
    ru, sfh, ops = (bearer(world[k]) for k in ("picker_ru", "picker_sfh", "operator"))
    client = node_app.test_client()
    pick_list = client.post("/api/v1/warehouse/nodes/RU-WH/pick-lists", json={},
                            headers=ru).get_json()  # fmt: skip
    shipment_id = pick_list["shipments"][0]["id"]
    line = [{"sku": "ALENKA-100", "quantity": 1, "bin": "A-1"}]
    requests = [
        ("post", "/api/v1/warehouse/nodes/RU-WH/receipts", {"lines": line}),
        ("post", "/api/v1/warehouse/nodes/RU-WH/adjustments",
         {"lines": [{"sku": "ALENKA-100", "bin": "A-1", "counted": 1}], "reason": "count"}),
        ("post", "/api/v1/warehouse/nodes/RU-WH/pick-lists", {}),
        ("get", f"/api/v1/warehouse/pick-lists/{pick_list['id']}", None),
        ("get", f"/api/v1/warehouse/pick-lists/{pick_list['id']}.pdf", None),
        ("get", f"/api/v1/warehouse/shipments/{shipment_id}/packing-slip.pdf", None),
        ("post", f"/api/v1/warehouse/shipments/{shipment_id}/pack", {"weight_g": 300}),
        ("post", f"/api/v1/warehouse/shipments/{shipment_id}/ship",
         {"carrier": "manual", "tracking_number": "X"}),
        ("get", "/api/v1/warehouse/shipments?node=RU-WH", None),
    ]  # fmt: skip
    for method, url, body in requests:
        response = getattr(client, method)(url, json=body, headers=sfh)
        assert response.status_code == 404, (url, response.status_code)
        assert response.content_type == "application/problem+json"
    mine = client.get("/api/v1/warehouse/shipments", headers=sfh).get_json()
    assert mine["items"] == []
    # The operator may act anywhere; the picker of the node too.
    assert client.get(f"/api/v1/warehouse/pick-lists/{pick_list['id']}",
                      headers=ops).status_code == 200  # fmt: skip
    assert client.get("/api/v1/warehouse/shipments?node=RU-WH", headers=ru).get_json()["total"] == 1


# ------------------------------------------------------------------ review regressions


def _pick_one(app, token, max_shipments=1):
    created = app.test_client().post("/api/v1/warehouse/nodes/RU-WH/pick-lists",
                                     json={"max_shipments": max_shipments},
                                     headers=bearer(token))  # fmt: skip
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def _set_status(app, shipment_id, status):
    with app.app_context():
        db.session.execute(update(Shipment).where(Shipment.id == shipment_id).values(status=status))
        db.session.commit()


def _pick_list_status(app, pick_list_id):
    with app.app_context():
        return db.session.scalar(select(PickList.status).where(PickList.id == pick_list_id))


def _bin_ledger(app, sku, bin_code, node="RU-WH"):
    with app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(StockMovement.delta_on_hand), 0))
            .join(Sku, Sku.id == StockMovement.sku_id)
            .where(Sku.code == sku, StockMovement.bin == bin_code,
                   StockMovement.node_id == app.config["WORLD"]["nodes"][node])
        )  # fmt: skip


SHIP_BY_HAND = {"carrier": "manual", "tracking_number": "RR1CN"}


def test_a_parcel_waiting_for_its_booking_cannot_be_packed_or_shipped_by_hand(node_app):
    world = node_app.config["WORLD"]
    paid_order(node_app)
    shipment_id = _pick_one(node_app, world["picker_ru"])["shipments"][0]["id"]
    _set_status(node_app, shipment_id, "booking_requested")
    client = node_app.test_client()
    url = f"/api/v1/warehouse/shipments/{shipment_id}"
    for action, body in (("pack", {"weight_g": 400}), ("ship", SHIP_BY_HAND)):
        refused = client.post(f"{url}/{action}", json=body, headers=bearer(world["picker_ru"]))
        assert refused.status_code == 409, (action, refused.get_json())
        assert refused.get_json()["code"] == "illegal_transition"
        assert refused.get_json()["status_now"] == "booking_requested"
    with node_app.app_context():
        assert db.session.get(Shipment, shipment_id).status == "booking_requested"
    assert balanced(node_app)


def test_shipping_by_hand_ignores_a_carrier_service_in_the_body(node_app):
    world = node_app.config["WORLD"]
    picker = bearer(world["picker_ru"])
    paid_order(node_app)
    shipment_id = _pick_one(node_app, world["picker_ru"])["shipments"][0]["id"]
    client = node_app.test_client()
    url = f"/api/v1/warehouse/shipments/{shipment_id}"
    assert client.post(f"{url}/pack", json={"weight_g": 400}, headers=picker).status_code == 200
    shipped = client.post(f"{url}/ship", json={**SHIP_BY_HAND, "service": "EMS"}, headers=picker)
    assert shipped.status_code == 200, shipped.get_json()
    assert shipped.get_json()["status"] == "shipped"


def test_two_open_pick_lists_never_send_pickers_to_the_same_units(node_app):
    world = node_app.config["WORLD"]
    picker = bearer(world["picker_ru"])
    receive(node_app, world["picker_ru"], [{"sku": "LAST-UNITS", "quantity": 1, "bin": "A-1-1"}])
    paid_order(node_app, "LAST-UNITS", 1)
    paid_order(node_app, "LAST-UNITS", 1)
    first = _pick_one(node_app, world["picker_ru"])
    second = _pick_one(node_app, world["picker_ru"])
    assert [(line["bin"], line["quantity"]) for line in first["lines"]] == [("A-1-1", 1)]
    assert [(line["bin"], line["quantity"]) for line in second["lines"]] == [(None, 1)]
    client = node_app.test_client()
    for pick_list in (first, second):
        url = f"/api/v1/warehouse/shipments/{pick_list['shipments'][0]['id']}"
        assert client.post(f"{url}/pack", json={"weight_g": 100}, headers=picker).status_code == 200
        assert client.post(f"{url}/ship", json=SHIP_BY_HAND, headers=picker).status_code == 200
    assert bins(node_app, "LAST-UNITS") == {"A-1-1": 0}
    assert _bin_ledger(node_app, "LAST-UNITS", "A-1-1") == 0
    assert balanced(node_app)


def test_a_shipped_parcel_frees_its_bin_units_for_the_next_list(node_app):
    world = node_app.config["WORLD"]
    picker = bearer(world["picker_ru"])
    receive(node_app, world["picker_ru"], [{"sku": "LAST-UNITS", "quantity": 2, "bin": "A-1-1"}])
    paid_order(node_app, "LAST-UNITS", 1)
    paid_order(node_app, "LAST-UNITS", 1)
    paid_order(node_app, "LAST-UNITS", 1)
    first = _pick_one(node_app, world["picker_ru"], max_shipments=2)
    one, _ = (s["id"] for s in first["shipments"])
    client = node_app.test_client()
    url = f"/api/v1/warehouse/shipments/{one}"
    assert client.post(f"{url}/pack", json={"weight_g": 100}, headers=picker).status_code == 200
    assert client.post(f"{url}/ship", json=SHIP_BY_HAND, headers=picker).status_code == 200
    # One unit left A-1-1 with the shipped parcel, one is promised to the open list.
    third = _pick_one(node_app, world["picker_ru"])
    assert [(line["bin"], line["quantity"]) for line in third["lines"]] == [(None, 1)]


def test_a_bin_short_at_shipping_gives_what_it_holds_and_the_ledger_says_so(node_app):
    world = node_app.config["WORLD"]
    picker = bearer(world["picker_ru"])
    receive(node_app, world["picker_ru"], [{"sku": "LAST-UNITS", "quantity": 2, "bin": "A-1-1"}])
    paid_order(node_app, "LAST-UNITS", 2)
    shipment_id = _pick_one(node_app, world["picker_ru"])["shipments"][0]["id"]
    counted = node_app.test_client().post(
        "/api/v1/warehouse/nodes/RU-WH/adjustments", headers=picker,
        json={"lines": [{"sku": "LAST-UNITS", "counted": 1, "bin": "A-1-1"}], "reason": "damaged"},
    )  # fmt: skip
    assert counted.status_code == 200, counted.get_json()
    client = node_app.test_client()
    url = f"/api/v1/warehouse/shipments/{shipment_id}"
    assert client.post(f"{url}/pack", json={"weight_g": 100}, headers=picker).status_code == 200
    assert client.post(f"{url}/ship", json=SHIP_BY_HAND, headers=picker).status_code == 200
    assert bins(node_app, "LAST-UNITS") == {"A-1-1": 0}
    assert _bin_ledger(node_app, "LAST-UNITS", "A-1-1") == 0
    with node_app.app_context():
        shipped = sorted(
            (row.bin or "", row.delta_on_hand)
            for row in db.session.scalars(
                select(StockMovement).where(StockMovement.shipment_id == shipment_id,
                                            StockMovement.reason == "shipment")
            )
        )  # fmt: skip
    assert shipped == [("", -1), ("A-1-1", -1)]
    assert balanced(node_app)


def test_a_count_locks_the_stock_level_before_the_bin(node_app):
    world = node_app.config["WORLD"]
    receive(node_app, world["picker_ru"], [{"sku": "LAST-UNITS", "quantity": 2, "bin": "A-1-1"}])
    client = node_app.test_client()
    with node_app.app_context(), count_statements(db.engine) as statements:
        counted = client.post(
            "/api/v1/warehouse/nodes/RU-WH/adjustments", headers=bearer(world["picker_ru"]),
            json={"lines": [{"sku": "LAST-UNITS", "counted": 5, "bin": "A-1-1"}],
                  "reason": "found"},
        )  # fmt: skip
    assert counted.status_code == 200, counted.get_json()
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")
             and ("FROM stock_levels" in s or "FROM stock_bins" in s)]  # fmt: skip
    assert "FROM stock_levels" in reads[0], reads


def test_a_list_stays_open_while_a_parcel_waits_for_its_booking(node_app):
    world = node_app.config["WORLD"]
    picker = bearer(world["picker_ru"])
    paid_order(node_app)
    paid_order(node_app)
    pick_list = _pick_one(node_app, world["picker_ru"], max_shipments=2)
    booked, by_hand = (s["id"] for s in pick_list["shipments"])
    _set_status(node_app, booked, "booking_requested")
    client = node_app.test_client()
    url = f"/api/v1/warehouse/shipments/{by_hand}"
    assert client.post(f"{url}/pack", json={"weight_g": 100}, headers=picker).status_code == 200
    assert client.post(f"{url}/ship", json=SHIP_BY_HAND, headers=picker).status_code == 200
    assert _pick_list_status(node_app, pick_list["id"]) == "open"


def test_a_list_whose_last_parcels_were_cancelled_is_closed(node_app):
    world = node_app.config["WORLD"]
    paid_order(node_app)
    paid_order(node_app)
    pick_list = _pick_one(node_app, world["picker_ru"], max_shipments=2)
    for shipment in pick_list["shipments"]:
        _set_status(node_app, shipment["id"], "cancelled")
    with node_app.app_context():
        close_finished_pick_lists([pick_list["id"], None])
        db.session.commit()
    assert _pick_list_status(node_app, pick_list["id"]) == "done"


def test_a_list_with_a_parcel_still_being_picked_is_not_closed(node_app):
    world = node_app.config["WORLD"]
    paid_order(node_app)
    paid_order(node_app)
    pick_list = _pick_one(node_app, world["picker_ru"], max_shipments=2)
    _set_status(node_app, pick_list["shipments"][0]["id"], "cancelled")
    with node_app.app_context():
        close_finished_pick_lists([pick_list["id"]])
        db.session.commit()
    assert _pick_list_status(node_app, pick_list["id"]) == "open"


@pytest.mark.parametrize("path", ["/api/v1/warehouse/shipments", "/api/v1/warehouse/jobs"])
def test_a_page_number_past_the_last_possible_page_is_a_422(node_app, path):
    operator = bearer(node_app.config["WORLD"]["operator"])
    response = node_app.test_client().get(f"{path}?page=1000000000000000000", headers=operator)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "page" in response.get_json()["errors"]


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/warehouse/nodes/RU-WH/receipts"])
def test_json_nested_deeper_than_the_stack_is_malformed_not_a_crash(node_app, path):
    response = node_app.test_client().post(
        path, data="[" * 100_000 + "]" * 100_000,
        headers={**bearer(node_app.config["WORLD"]["picker_ru"]),
                 "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "malformed_json"
