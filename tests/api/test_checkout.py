"""Checkout and orders through the API: placing, reading, cancelling, paying by hand,
idempotency, expiry, and the cross-border rules as a shopper meets them."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from catalog.models import Sku
from orders.expiry import expire_reservations
from orders.models import Order, OrderEvent, Payment, Refund
from orders.schemas import OrderOutSchema
from shop.core.clock import utcnow
from shop.core.extensions import db
from shop.core.idempotency import IdempotencyRecord
from tests.checkout_world import (
    FAR_EAST_ADDRESS,
    UZ_ADDRESS,
    VALID_ID,
    build_world,
    cn_body,
    money,
    order_body,
)
from warehouse.models import RoutingDecision, Shipment, StockLevel, StockMovement
from warehouse.services import ledger_mismatches


@pytest.fixture
def shop(app):
    with app.app_context():
        world = build_world()
    app.config["WORLD"] = world
    return app


def place(app, body, **headers):
    return app.test_client().post("/api/v1/orders", json=body, headers=headers)


def view(app, number, token=None, staff=None):
    headers = {}
    if token:
        headers["X-Order-Token"] = token
    if staff:
        headers["Authorization"] = f"Bearer {staff}"
    return app.test_client().get(f"/api/v1/orders/{number}", headers=headers)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def stock(app, sku, node):
    with app.app_context():
        level = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .where(Sku.code == sku, StockLevel.node_id == app.config["WORLD"]["nodes"][node])
        ).one()
        return tuple(level)


def counts(app):
    with app.app_context():
        return {
            "orders": db.session.scalar(select(func.count(Order.id))),
            "shipments": db.session.scalar(select(func.count(Shipment.id))),
            "movements": db.session.scalar(select(func.count(StockMovement.id))),
            "reserved": db.session.scalar(select(func.coalesce(func.sum(StockLevel.reserved), 0))),
        }


def balanced(app):
    with app.app_context():
        return ledger_mismatches() == []


# ------------------------------------------------------------------ placing


def test_an_order_to_russia_is_placed_held_and_priced(shop):
    response = place(shop, order_body())
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    OrderOutSchema().load(order)
    assert response.headers["Location"] == f"/api/v1/orders/{order['number']}"
    assert order["status"] == "pending_payment"
    assert order["number"].startswith("SCO-")
    assert len(order["token"]) >= 24
    [shipment] = order["shipments"]
    assert shipment["node"] == "RU-WH"
    assert shipment["status"] == "awaiting_payment"
    assert shipment["lines"] == [{"sku": "ALENKA-100", "quantity": 2, "reservation": "held"}]
    totals = order["totals"]
    assert money(totals["goods"]) == Decimal("250.00")
    assert money(totals["shipping"]) > 0
    assert totals["duties_status"] == "estimated"  # EAEU rules: within the duty-free allowance
    assert money(totals["duties"]) == 0
    assert money(totals["grand_total"]) == sum(
        money(totals[k]) for k in ("goods", "shipping", "duties")
    )
    assert {v["currency"] for v in totals.values() if isinstance(v, dict)} == {"RUB"}
    assert order["payment"]["adapter"] == "manual"
    assert order["payment"]["next_action"]["type"] == "bank_transfer"
    assert order["duties"]["policy"].startswith("EAEU")
    assert order["reservation_expires_at"]
    assert "routing" not in order
    assert "history" not in order
    assert stock(shop, "ALENKA-100", "RU-WH") == (10, 2)
    assert balanced(shop)


def test_a_china_order_ships_from_suifenhe_with_cbec_taxes_and_a_masked_id(shop):
    response = place(shop, cn_body())
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    [shipment] = order["shipments"]
    assert shipment["node"] == "CN-SFH"
    assert shipment["customs_mode"] == "1210"
    duties = order["duties"]
    assert duties["status"] == "estimated"
    assert duties["policy"] == "CN-CBEC"
    # 13% goods: (0 + 13%) / (1 - 0) x 70% = 9.1% of goods + shipping.
    dutiable = money(order["totals"]["goods"]) + money(order["totals"]["shipping"])
    # 35.00 x 9.1% = 3.185, rounded half up once.
    assert money(order["totals"]["duties"]) == (dutiable * Decimal("0.091")).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert order["customs_identity"] == {"name": "张三", "id_number": "1101**********002X"}
    assert VALID_ID not in response.get_data(as_text=True)
    with shop.app_context():
        row = db.session.scalar(select(Order))
        stored = json.dumps(
            {c.name: str(getattr(row, c.name)) for c in Order.__table__.columns},
            ensure_ascii=False,
        )
        assert VALID_ID not in stored
        assert row.customs_id_hash
        assert row.dutiable_value_cny


@pytest.mark.parametrize(
    ("identity", "field"),
    [
        (None, "customs_identity.id_number"),
        ({"name": "张三", "id_number": "110105194912310021"}, "customs_identity.id_number"),
        ({"name": "张三", "id_number": "11010519490230002X"}, "customs_identity.id_number"),
        ({"name": " ", "id_number": VALID_ID}, "customs_identity.name"),
    ],
)
def test_china_needs_a_valid_customs_identity_and_nothing_is_written_without(shop, identity, field):
    before = counts(shop)
    body = cn_body()
    if identity is None:
        del body["customs_identity"]
    else:
        body["customs_identity"] = identity
    response = place(shop, body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in response.get_json()["errors"]
    assert counts(shop) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["lines"][0].update(sku="NO-SUCH"), "lines.0.sku"),
        (lambda b: b.pop("email"), "email"),
        (lambda b: b.update(email="not-an-email"), "email"),
        (lambda b: b["payment"].update(adapter="bitcoin"), "payment.adapter"),
        (lambda b: b.update(cart_id="abc"), "lines"),
        (lambda b: b.update(currency="XXX1"), "currency"),
        (lambda b: b.update(currency="ZZZ"), "currency"),
        (lambda b: b["lines"][0].update(quantity=0), "lines"),
        (lambda b: b.update(coupon="FREE"), "coupon"),
        (lambda b: b["shipping_address"].pop("city"), "shipping_address"),
        (lambda b: b["shipping_address"].update(country="QQ"), "shipping_address"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(shop, change, field):
    before = counts(shop)
    body = order_body()
    change(body)
    response = place(shop, body)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert response.content_type == "application/problem+json"
    assert any(name == field or name.startswith(field + ".") for name in problem["errors"]), (
        problem["errors"]
    )
    assert counts(shop) == before


def test_malformed_json_is_a_400(shop):
    response = shop.test_client().post(
        "/api/v1/orders", data="{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"


def test_not_enough_stock_is_a_409_naming_the_line_and_nothing_is_held(shop):
    before = counts(shop)
    response = place(shop, order_body("ALENKA-100", 16))  # 10 at RU-WH, and RU-WH only for RU
    assert response.status_code == 409
    problem = response.get_json()
    assert problem["code"] == "insufficient_stock"
    assert problem["lines"][0]["sku"] == "ALENKA-100"
    assert counts(shop) == before


def test_a_destination_no_lane_reaches_is_a_422(shop):
    response = place(shop, order_body(address={**UZ_ADDRESS, "country": "IN"}))
    assert response.status_code == 422
    assert response.get_json()["code"] == "no_lane_to_destination"


def test_a_far_east_region_name_opens_the_ussuriysk_lane(shop):
    response = place(shop, order_body("CRAB-1", 1, address=FAR_EAST_ADDRESS))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["shipments"][0]["node"] == "RU-USS"
    # Moscow is not in the Ussuriysk lane's regions: nothing else holds the crab.
    refused = place(shop, order_body("CRAB-1", 1))
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["code"] == "corridor_refuses"
    assert refused.get_json()["country"] == "RU"


def test_over_5000_cny_a_china_order_must_be_split(shop):
    response = place(shop, cn_body("AMBER-BIG", 2))
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "customs_limit_exceeded"
    assert problem["scope"] == "order"
    assert "split" in problem["detail"].lower()
    assert counts(shop)["orders"] == 0


def test_the_yearly_26000_cny_allowance_counts_paid_orders_of_the_same_id(shop):
    operator = shop.config["WORLD"]["operator"]
    for _ in range(8):  # 8 x ~3,000 CNY (+ shipping) paid
        placed = place(shop, cn_body("AMBER-BIG", 1))
        assert placed.status_code == 201, placed.get_json()
        paid = shop.test_client().post(
            f"/api/v1/orders/{placed.get_json()['number']}/mark-paid", json={},
            headers=bearer(operator),
        )  # fmt: skip
        assert paid.status_code == 200, paid.get_json()
    over = place(shop, cn_body("AMBER-BIG", 1))
    assert over.status_code == 422
    assert over.get_json()["scope"] == "annual"
    # Another person has their own allowance.
    other = cn_body("AMBER-BIG", 1)
    other["customs_identity"]["id_number"] = "110101199003074477"
    assert place(shop, other).status_code == 201


def test_a_destination_without_customs_rules_gets_unknown_duties_not_zero(shop):
    response = place(shop, order_body("HONEY-500", 1, address=UZ_ADDRESS, currency="USD"))
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert order["shipments"][0]["node"] == "CN-URC"
    assert order["totals"]["duties"] is None
    assert order["totals"]["duties_status"] == "unknown"
    assert "delivery" in order["duties"]["notice"].lower()
    assert money(order["totals"]["grand_total"]) == money(order["totals"]["goods"]) + money(
        order["totals"]["shipping"]
    )


def test_two_lines_held_at_two_depots_make_two_shipments(shop):
    body = cn_body()
    body["lines"] = [{"sku": "AMBER-BIG", "quantity": 1}, {"sku": "HONEY-500", "quantity": 1}]
    response = place(shop, body)
    assert response.status_code == 201, response.get_json()
    nodes = sorted(s["node"] for s in response.get_json()["shipments"])
    assert nodes == ["CN-SFH", "CN-URC"]


# ------------------------------------------------------------------ reading


def test_the_order_is_read_with_its_token_or_by_staff_of_its_node(shop):
    world = shop.config["WORLD"]
    order = place(shop, order_body()).get_json()
    number, token = order["number"], order["token"]
    assert view(shop, number, token).status_code == 200
    by_query = shop.test_client().get(f"/api/v1/orders/{number}?token={token}")
    assert by_query.status_code == 200
    assert view(shop, number, "wrong-token").status_code == 404
    assert view(shop, number).status_code == 404
    assert view(shop, "SCO-0000-0000", token).status_code == 404
    assert view(shop, number, staff=world["picker_sfh"]).status_code == 404  # not their node
    staff_view = view(shop, number, staff=world["picker_ru"])
    assert staff_view.status_code == 200
    document = staff_view.get_json()
    OrderOutSchema().load(document)
    [plan] = document["routing"]
    assert plan["kind"] == "plan"
    assert plan["plan"]["explanation"]["decision"]
    assert document["history"][0]["to"] == "pending_payment"
    assert view(shop, number, staff=world["operator"]).status_code == 200
    assert view(shop, number, staff="not-a-token").status_code == 401
    merchant_token = world["merchant_token"]
    assert view(shop, number, staff=merchant_token).status_code == 403


def test_merchants_see_the_order_with_their_skus(shop):
    number = place(shop, order_body()).get_json()["number"]
    listing = shop.test_client().get(
        "/api/v1/merchant/orders", headers=bearer(shop.config["WORLD"]["merchant_token"])
    )
    assert listing.status_code == 200
    assert [o["number"] for o in listing.get_json()["items"]] == [number]


# ------------------------------------------------------------------ cancelling and paying


def test_the_shopper_cancels_an_unpaid_order_and_the_stock_comes_back(shop):
    order = place(shop, order_body()).get_json()
    client = shop.test_client()
    url = f"/api/v1/orders/{order['number']}/cancel"
    assert client.post(url, json={}).status_code == 404  # no token: no order
    response = client.post(url, json={"reason": "changed my mind"},
                           headers={"X-Order-Token": order["token"]})  # fmt: skip
    assert response.status_code == 200, response.get_json()
    cancelled = response.get_json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["shipments"][0]["status"] == "cancelled"
    assert stock(shop, "ALENKA-100", "RU-WH") == (10, 0)
    again = client.post(url, json={}, headers={"X-Order-Token": order["token"]})
    assert again.status_code == 409
    assert again.get_json()["code"] == "illegal_transition"
    assert balanced(shop)
    with shop.app_context():
        reasons = db.session.scalars(select(OrderEvent.reason)).all()
        assert "changed my mind" in reasons


def test_an_operator_marks_a_manual_order_paid_once(shop):
    world = shop.config["WORLD"]
    order = place(shop, order_body()).get_json()
    url = f"/api/v1/orders/{order['number']}/mark-paid"
    client = shop.test_client()
    assert client.post(url, json={}).status_code == 401
    assert client.post(url, json={}, headers=bearer(world["picker_ru"])).status_code == 403
    short = client.post(url, json={"amount": "1.00"}, headers=bearer(world["operator"]))
    assert short.status_code == 422
    assert "amount" in short.get_json()["errors"]
    paid = client.post(url, json={"reference": "BANK-42"}, headers=bearer(world["operator"]))
    assert paid.status_code == 200, paid.get_json()
    document = paid.get_json()
    assert document["status"] == "paid"
    assert document["payment"]["status"] == "succeeded"
    assert money(document["payment"]["paid"]) == money(document["totals"]["grand_total"])
    assert document["shipments"][0]["status"] == "ready_to_pick"
    assert document["reservation_expires_at"] is None
    again = client.post(url, json={"reference": "BANK-42"}, headers=bearer(world["operator"]))
    assert again.status_code == 200
    assert again.get_json()["status"] == "paid"
    with shop.app_context():
        assert db.session.scalar(select(func.count(Payment.id)).where(Payment.status ==
                                 "succeeded")) == 1  # fmt: skip
    # Paid stock stays held for the picker; nothing expires it.
    assert stock(shop, "ALENKA-100", "RU-WH") == (10, 2)
    with shop.app_context():
        assert expire_reservations(utcnow() + timedelta(hours=2)) == 0


def test_cancelling_a_paid_manual_order_owes_a_refund(shop):
    world = shop.config["WORLD"]
    order = place(shop, order_body()).get_json()
    client = shop.test_client()
    client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                headers=bearer(world["operator"]))  # fmt: skip
    response = client.post(f"/api/v1/orders/{order['number']}/cancel", json={},
                           headers={"X-Order-Token": order["token"]})  # fmt: skip
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    with shop.app_context():
        refund = db.session.scalar(select(Refund))
        # Bank transfers go back by hand: the refund waits for an operator.
        assert refund.status == "pending"
        assert refund.amount == Decimal(order["totals"]["grand_total"]["amount"])
    assert stock(shop, "ALENKA-100", "RU-WH") == (10, 0)
    assert balanced(shop)


def test_an_unpaid_order_expires_and_cannot_be_paid_afterwards(shop):
    world = shop.config["WORLD"]
    order = place(shop, order_body()).get_json()
    with shop.app_context():
        # A bank transfer takes days: a manual order holds its goods for three of them.
        assert expire_reservations(utcnow() + timedelta(minutes=31)) == 0
        assert expire_reservations(utcnow() + timedelta(days=3, minutes=1)) == 1
    assert stock(shop, "ALENKA-100", "RU-WH") == (10, 0)
    document = view(shop, order["number"], order["token"]).get_json()
    assert document["status"] == "expired"
    assert document["shipments"][0]["status"] == "cancelled"
    late = shop.test_client().post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                                   headers=bearer(world["operator"]))  # fmt: skip
    assert late.status_code == 409
    assert balanced(shop)


def test_pay_again_returns_the_live_payment(shop):
    order = place(shop, order_body()).get_json()
    response = shop.test_client().post(f"/api/v1/orders/{order['number']}/pay",
                                       headers={"X-Order-Token": order["token"]})  # fmt: skip
    assert response.status_code == 200
    assert response.get_json()["payment"]["next_action"]["type"] == "bank_transfer"
    with shop.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 1


# ------------------------------------------------------------------ idempotency


def test_the_same_idempotency_key_and_body_give_the_first_order_again(shop):
    first = place(shop, order_body(), **{"Idempotency-Key": "order-1"})
    second = place(shop, order_body(), **{"Idempotency-Key": "order-1"})
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == second.get_json()
    assert counts(shop)["orders"] == 1
    other = place(shop, order_body(quantity=3), **{"Idempotency-Key": "order-1"})
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert counts(shop)["orders"] == 1
    assert place(shop, order_body(), **{"Idempotency-Key": "order-2"}).status_code == 201


def test_a_failed_request_gives_its_key_back(shop):
    refused = place(shop, order_body(quantity=50), **{"Idempotency-Key": "k"})
    assert refused.status_code == 409
    with shop.app_context():
        assert db.session.scalar(select(func.count(IdempotencyRecord.id))) == 0


def test_an_overlong_idempotency_key_is_a_400(shop):
    response = place(shop, order_body(), **{"Idempotency-Key": "k" * 300})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["errors"]


def test_cancel_with_an_idempotency_key_replays(shop):
    order = place(shop, order_body()).get_json()
    headers = {"X-Order-Token": order["token"], "Idempotency-Key": "cancel-1"}
    url = f"/api/v1/orders/{order['number']}/cancel"
    first = shop.test_client().post(url, json={}, headers=headers)
    second = shop.test_client().post(url, json={}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"


# ------------------------------------------------------------------ webhooks


def test_webhooks_for_unknown_adapters_are_404_and_unsigned_ones_400(shop):
    client = shop.test_client()
    assert client.post("/api/v1/payments/bitcoin/webhook", data=b"{}").status_code == 404
    response = client.post("/api/v1/payments/manual/webhook", data=b"{}")
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_webhook"


# ------------------------------------------------------------------ carts


def test_a_cart_is_quoted_for_a_destination_and_checked_out(shop):
    client = shop.test_client()
    made = client.post("/api/v1/carts", json={"currency": "CNY",
                       "lines": [{"sku": "ALENKA-100", "quantity": 1}]})  # fmt: skip
    assert made.status_code == 201, made.get_json()
    cart = made.get_json()
    token = {"X-Cart-Token": cart["token"]}
    url = f"/api/v1/carts/{cart['id']}"
    added = client.post(f"{url}/lines", json={"sku": "ALENKA-100", "quantity": 2}, headers=token)
    assert added.status_code == 201
    [line] = added.get_json()["lines"]
    assert line["quantity"] == 3
    quoted = client.get(f"{url}?destination=CN", headers=token).get_json()
    assert quoted["quote"]["deliverable"] is True
    assert quoted["quote"]["shipments"][0]["node"] == "CN-SFH"
    assert quoted["quote"]["totals"]["duties_status"] == "estimated"
    assert quoted["quote"]["duties"]["notice"]
    patched = client.patch(f"{url}/lines/{line['id']}", json={"quantity": 2}, headers=token)
    assert patched.get_json()["lines"][0]["quantity"] == 2
    assert client.get(url).status_code == 404  # no token
    assert client.get(url, headers={"X-Cart-Token": "nope"}).status_code == 404
    nowhere = client.get(f"{url}?destination=IN", headers=token).get_json()
    assert nowhere["quote"]["deliverable"] is False
    assert nowhere["quote"]["problem"]["code"] == "no_lane_to_destination"

    body = cn_body()
    del body["lines"]
    body["cart_id"] = cart["id"]
    placed = client.post("/api/v1/orders", json=body, headers=token)
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert order["lines"][0]["quantity"] == 2
    # Checking out with the cart's lines matches what the cart quoted.
    assert order["totals"] == client.get(f"/api/v1/orders/{order['number']}",
                                         headers={"X-Order-Token": order["token"]}
                                         ).get_json()["totals"]  # fmt: skip
    assert client.get(url, headers=token).status_code == 404  # the cart became the order


def test_cart_lines_can_be_removed_and_unknown_skus_refused(shop):
    client = shop.test_client()
    cart = client.post("/api/v1/carts", json={}).get_json()
    token = {"X-Cart-Token": cart["token"]}
    url = f"/api/v1/carts/{cart['id']}"
    refused = client.post(f"{url}/lines", json={"sku": "NOPE", "quantity": 1}, headers=token)
    assert refused.status_code == 422
    line = client.post(f"{url}/lines", json={"sku": "HONEY-500", "quantity": 1},
                       headers=token).get_json()["lines"][0]  # fmt: skip
    emptied = client.delete(f"{url}/lines/{line['id']}", headers=token)
    assert emptied.status_code == 200
    assert emptied.get_json()["lines"] == []
    assert client.delete(f"{url}/lines/999", headers=token).status_code == 404
    body = order_body()
    del body["lines"]
    body["cart_id"] = cart["id"]
    empty = client.post("/api/v1/orders", json=body, headers=token)
    assert empty.status_code == 422
    assert "cart_id" in empty.get_json()["errors"]
    assert client.delete(url, headers=token).status_code == 204
    assert client.get(url, headers=token).status_code == 404


def test_the_routing_decision_is_kept_with_the_order(shop):
    place(shop, order_body())
    with shop.app_context():
        decision = db.session.scalar(select(RoutingDecision))
        assert decision.kind == "plan"
        assert decision.reason == "checkout"
        assert decision.explanation["shipments"][0]["node"] == "RU-WH"


DUMMY_PLUGIN = Path(__file__).parents[1] / "plugins" / "dummy_payment"


@pytest.fixture
def instant_payments(shop, monkeypatch):
    """An installed adapter (the test plugin) whose payments settle at once."""
    from orders.payments.registry import clear_adapter_cache

    monkeypatch.syspath_prepend(str(DUMMY_PLUGIN))
    clear_adapter_cache()
    shop.config["PAYMENT_ADAPTERS"] = ("manual", "dummy")
    yield shop
    clear_adapter_cache()


def test_a_payment_that_settles_at_checkout_makes_the_order_paid_at_once(instant_payments):
    body = order_body(payment={"adapter": "dummy"})
    response = place(instant_payments, body)
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert order["status"] == "paid"
    assert order["payment"]["status"] == "succeeded"
    assert money(order["payment"]["paid"]) == money(order["totals"]["grand_total"])
    assert order["shipments"][0]["status"] == "ready_to_pick"
    with instant_payments.app_context():
        # Nothing expires a paid order's goods.
        assert expire_reservations(utcnow() + timedelta(days=30)) == 0
    assert stock(instant_payments, "ALENKA-100", "RU-WH") == (10, 2)


def test_a_picker_cannot_cancel_an_order_that_ships_from_another_node_too(shop):
    world = shop.config["WORLD"]
    body = cn_body()
    body["lines"] = [{"sku": "AMBER-BIG", "quantity": 1}, {"sku": "HONEY-500", "quantity": 1}]
    order = place(shop, body).get_json()  # CN-SFH and CN-URC
    url = f"/api/v1/orders/{order['number']}/cancel"
    refused = shop.test_client().post(url, json={}, headers=bearer(world["picker_sfh"]))
    assert refused.status_code == 403
    allowed = shop.test_client().post(url, json={}, headers=bearer(world["operator"]))
    assert allowed.status_code == 200


def test_an_order_committed_before_its_answer_failed_is_not_made_twice(shop, monkeypatch):
    from orders import services

    real_get_order = services.get_order
    calls = {"n": 0}

    def fails_twice(*args, **kwargs):
        # The answer fails after the commit, and so does the same request's own attempt
        # to answer from what it committed: the shopper sees a 500 and retries.
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("connection lost while answering")
        return real_get_order(*args, **kwargs)

    monkeypatch.setattr(services, "get_order", fails_twice)
    first = place(shop, order_body(), **{"Idempotency-Key": "lost-answer"})
    assert first.status_code == 500
    retry = place(shop, order_body(), **{"Idempotency-Key": "lost-answer"})
    assert retry.status_code == 201, retry.get_json()
    assert counts(shop)["orders"] == 1
    order = retry.get_json()
    assert view(shop, order["number"], order["token"]).status_code == 200
    replay = place(shop, order_body(), **{"Idempotency-Key": "lost-answer"})
    assert replay.get_json()["token"] == order["token"]
    with shop.app_context():
        stored = db.session.scalar(select(IdempotencyRecord.response_body))
        assert order["token"] not in stored  # the secret is derived, never kept


def test_a_key_whose_request_died_is_taken_over_after_its_lease(shop):
    with shop.app_context():
        db.session.add(
            IdempotencyRecord(
                scope="dead", key="k", request_hash="x", state="started",
                created_at=utcnow() - timedelta(minutes=10),
                expires_at=utcnow() + timedelta(hours=23),
            )
        )  # fmt: skip
        db.session.commit()
    shop.config["IDEMPOTENCY_WAIT_SECONDS"] = 0.2
    client = shop.test_client()
    first = client.post("/api/v1/orders", json=order_body(), headers={"Idempotency-Key": "k2"})
    assert first.status_code == 201
    with shop.app_context():
        record = db.session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "k2"))
        # A claim the first request never finished, from long ago: taken over.
        record.state = "started"
        record.created_at = utcnow() - timedelta(minutes=10)
        db.session.commit()
    again = client.post("/api/v1/orders", json=order_body(), headers={"Idempotency-Key": "k2"})
    assert again.status_code == 201
    assert again.get_json()["number"] == first.get_json()["number"]  # recovered, not remade
    assert counts(shop)["orders"] == 1


def test_unpaid_orders_count_against_the_yearly_allowance_too(shop):
    """Orders still waiting for payment become paid without a new check: they count."""
    for _ in range(8):  # 8 x ~3,000 CNY, none paid yet
        assert place(shop, cn_body("AMBER-BIG", 1)).status_code == 201
    over = place(shop, cn_body("AMBER-BIG", 1))
    assert over.status_code == 422
    assert over.get_json()["scope"] == "annual"
