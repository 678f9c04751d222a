"""Goods that cannot reach the shopper's country are refused as such (issue #23, item 3).

Ordering goods held only at a node with no lane to the destination used to answer
``409 insufficient_stock … 0 available``, telling the shopper to wait for stock that
would never come. The answer is the routing reason: ``422 corridor_refuses`` naming
the destination and, per line, why. Through the JSON API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from orders.models import Order
from shop.core.extensions import db
from tests.checkout_world import FAR_EAST_ADDRESS, build_world, order_body
from warehouse.models import Node, StockLevel
from warehouse.services.routing_data import forget_routing_world


@pytest.fixture
def shop(app):
    with app.app_context():
        world = build_world()
    app.config["WORLD"] = world
    return app


def place(app, body):
    return app.test_client().post("/api/v1/orders", json=body)


def nothing_written(app) -> bool:
    with app.app_context():
        orders = db.session.scalar(select(func.count(Order.id)))
        reserved = db.session.scalar(select(func.coalesce(func.sum(StockLevel.reserved), 0)))
        return (orders, reserved) == (0, 0)


def deactivate(app, code):
    with app.app_context():
        db.session.execute(update(Node).where(Node.code == code).values(is_active=False))
        db.session.commit()
        forget_routing_world()


def test_goods_held_only_where_no_lane_reaches_russia_are_refused_not_short(shop):
    # HONEY-500 sits in Urumqi alone, and Urumqi's lanes go to China and Central Asia.
    response = place(shop, order_body("HONEY-500", 1))

    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "corridor_refuses"
    assert (problem["country"], problem["region"]) == ("RU", None)  # Moscow: no lane region
    assert problem["lines"] == [
        {"line": 1, "sku": "HONEY-500", "reasons": ["CN-URC: no lane to RU"]}
    ]
    assert problem["short_lines"] == []
    assert "available" not in str(problem["detail"])
    assert nothing_written(shop)


def test_a_region_no_lane_of_the_holding_node_serves_is_named(shop):
    # The crab is in Ussuriysk, whose Russian lane serves the Far East only.
    assert place(shop, order_body("CRAB-1", 1, address=FAR_EAST_ADDRESS)).status_code == 201
    response = place(shop, order_body("CRAB-1", 1))  # Moscow

    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert (problem["code"], problem["country"]) == ("corridor_refuses", "RU")
    assert problem["lines"][0]["reasons"] == ["RU-USS: no lane to RU"]


def test_a_refused_line_and_a_short_line_are_answered_together(shop):
    body = order_body("ALENKA-100", 16)  # 10 at RU-WH, the one node serving Moscow
    body["lines"].append({"sku": "HONEY-500", "quantity": 1})
    response = place(shop, body)

    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["code"] == "corridor_refuses"
    assert [line["sku"] for line in problem["lines"]] == ["HONEY-500"]
    assert [(s["sku"], s["wanted"], s["available"]) for s in problem["short_lines"]] == [
        ("ALENKA-100", 16, 10)
    ]
    assert nothing_written(shop)


def test_goods_short_where_a_lane_reaches_are_still_not_enough_stock(shop):
    response = place(shop, order_body("ALENKA-100", 16))  # CN-SFH's 5 cannot come to Russia

    assert response.status_code == 409, response.get_json()
    problem = response.get_json()
    assert problem["code"] == "insufficient_stock"
    assert problem["lines"] == [{"line": 1, "sku": "ALENKA-100", "wanted": 16, "available": 10}]


def test_stock_at_an_inactive_node_is_neither_a_refusal_nor_available(shop):
    deactivate(shop, "CN-URC")
    response = place(shop, order_body("HONEY-500", 1))

    assert response.status_code == 409, response.get_json()
    problem = response.get_json()
    assert problem["code"] == "insufficient_stock"
    assert problem["lines"] == [{"line": 1, "sku": "HONEY-500", "wanted": 1, "available": 0}]


def test_a_cart_quoted_for_russia_says_the_goods_cannot_go_there(shop):
    client = shop.test_client()
    made = client.post(
        "/api/v1/carts", json={"currency": "RUB", "lines": [{"sku": "HONEY-500", "quantity": 1}]}
    )
    assert made.status_code == 201, made.get_json()
    cart = made.get_json()
    quoted = client.get(
        f"/api/v1/carts/{cart['id']}?destination=RU", headers={"X-Cart-Token": cart["token"]}
    ).get_json()

    assert quoted["quote"]["deliverable"] is False
    problem = quoted["quote"]["problem"]
    assert (problem["code"], problem["country"]) == ("corridor_refuses", "RU")
    assert problem["lines"][0]["sku"] == "HONEY-500"


def test_the_problem_type_page_describes_the_refusal(shop):
    response = shop.test_client().get("/problems/corridor_refuses")

    assert response.status_code == 200
    assert "country" in response.get_data(as_text=True)
