"""Fixtures for fuzzing the API: a seeded pavilion of its own (the fuzzer writes), the
identities that may call each operation, and the schema the shop publishes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from sqlalchemy import select

from shop.core.extensions import db
from tests.conftest import make_test_app

OPENAPI_PATH = "/api/v1/openapi.json"


@dataclass(frozen=True)
class Identities:
    """Real credentials and objects of one seeded pavilion."""

    merchant_token: str
    merchant_sku: str
    operator_token: str
    picker_token: str
    picker_node: str
    cart_id: str
    cart_token: str
    cart_line_id: int
    order_number: str
    order_token: str
    order_to_cancel: str
    order_to_cancel_token: str
    shipment_id: int
    product_id: int


RU_ADDRESS = {
    "country": "RU", "region": "Moscow", "city": "Moscow", "postal_code": "101000",
    "line1": "Tverskaya 1", "recipient": "Ivan Petrov", "phone": "+7 900 000 00 00",
}  # fmt: skip


def _place_order(client, sku: str) -> dict:
    order = client.post(
        "/api/v1/orders",
        json={"lines": [{"sku": sku, "quantity": 1}], "currency": "RUB",
              "email": "fuzz@example.com", "shipping_address": RU_ADDRESS,
              "payment": {"adapter": "manual"}},
    )  # fmt: skip
    assert order.status_code == 201, order.get_json()
    return order.get_json()


def _seed_identities(app) -> Identities:
    """The demo pavilion, a merchant token, an operator and a picker, a cart and two
    orders placed through the API (one of them for the fuzzer to cancel)."""
    from catalog.merchants import issue_merchant_token
    from catalog.models import Merchant, Product, Sku
    from shop.seed import seed_demo_pavilion
    from warehouse.services import create_staff

    with app.app_context():
        db.create_all()
        seed_demo_pavilion()
        merchant_id = db.session.scalar(select(Merchant.id).order_by(Merchant.id))
        merchant_token = issue_merchant_token(merchant_id, "fuzz")
        merchant_sku = db.session.scalar(
            select(Sku.code).join(Product).where(Product.merchant_id == merchant_id)
            .order_by(Sku.id)
        )  # fmt: skip
        product_id = db.session.scalar(select(Product.id).order_by(Product.id))

    client = app.test_client()
    cart = client.post("/api/v1/carts", json={"lines": [{"sku": merchant_sku, "quantity": 1}]})
    assert cart.status_code == 201, cart.get_json()
    order = _place_order(client, merchant_sku)
    order_to_cancel = _place_order(client, merchant_sku)
    shipment = order["shipments"][0]
    with app.app_context():
        operator = create_staff("fuzz-operator@example.com", None, "operator")
        picker = create_staff("fuzz-picker@example.com", shipment["node"])
    return Identities(
        merchant_token=merchant_token,
        merchant_sku=merchant_sku,
        operator_token=operator.token,
        picker_token=picker.token,
        picker_node=shipment["node"],
        cart_id=cart.get_json()["id"],
        cart_token=cart.get_json()["token"],
        cart_line_id=cart.get_json()["lines"][0]["id"],
        order_number=order["number"],
        order_token=order["token"],
        order_to_cancel=order_to_cancel["number"],
        order_to_cancel_token=order_to_cancel["token"],
        shipment_id=shipment["id"],
        product_id=product_id,
    )


@pytest.fixture(scope="session")
def fuzz_app(request, backend, tmp_path_factory):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'pavilion.db'}"
    else:
        url = request.getfixturevalue("postgres").create("fuzz")
    app = make_test_app(url)
    app.config["FUZZ_IDENTITIES"] = _seed_identities(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def identities(fuzz_app) -> Identities:
    return fuzz_app.config["FUZZ_IDENTITIES"]


@pytest.fixture(scope="session")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi(OPENAPI_PATH, fuzz_app)
