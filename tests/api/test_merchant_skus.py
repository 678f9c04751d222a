"""The merchant SKU API: CRUD, validation, tenant boundaries, audit (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from catalog.merchants import create_merchant
from catalog.models import Sku, SkuChange
from orders.models import Order, OrderLine
from shop.core.auth import ApiToken, issue_token
from shop.core.extensions import db
from shop.seed import seed_reference_data
from warehouse.services import create_staff

PROBLEM = "application/problem+json"


def alenka(**overrides):
    row = {
        "sku": "RU-ALENKA-100",
        "product_code": "ALENKA",
        "category": "confectionery",
        "name": {"en": "Alenka milk chocolate", "ru": "Шоколад «Алёнка»", "zh": "爱莲巧牛奶巧克力"},
        "description": {"en": "Classic Russian milk chocolate.", "ru": "Классика."},
        "origin_country": "RU",
        "hs_code": "180632",
        "weight_g": 100,
        "shelf_life_days": 365,
        "price": {"amount": "125.00", "currency": "RUB"},
        "stock": {"RU-WH": 400, "CN-SFH": 120},
    }
    row.update(overrides)
    return row


class Shop:
    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        with app.app_context():
            seed_reference_data()
            self.a = create_merchant("Sladosti LLC", "RU")
            self.b = create_merchant("Rakhat Trade", "KZ")
            self.staff = create_staff("picker@example.com", "RU-WH")

    def headers(self, who):
        token = {"a": self.a.token, "b": self.b.token, "staff": self.staff.token}[who]
        return {"Authorization": f"Bearer {token}"}

    def call(self, method, path, who="a", **kwargs):
        headers = self.headers(who) if who else {}
        return self.client.open(f"/api/v1/merchant{path}", method=method, headers=headers, **kwargs)


@pytest.fixture
def shop(app):
    return Shop(app)


def test_create_then_read_a_sku(shop):
    created = shop.call("POST", "/skus", json=alenka())
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["sku"] == "RU-ALENKA-100"
    assert body["price"] == {"amount": "125.00", "currency": "RUB"}
    assert body["stock"] == {"CN-SFH": 120, "RU-WH": 400}
    assert body["warnings"] == {}
    fetched = shop.call("GET", "/skus/ru-alenka-100").get_json()
    assert fetched["name"]["zh"] == "爱莲巧牛奶巧克力"
    # and shoppers see it
    listing = shop.client.get("/api/v1/products?q=alenka&currency=RUB").get_json()
    assert listing["items"][0]["price"] == {"amount": "125.00", "currency": "RUB"}


def test_missing_chinese_name_is_a_warning_not_an_error(shop):
    row = alenka(name={"en": "Alenka", "ru": "Алёнка"})
    body = shop.call("POST", "/skus", json=row).get_json()
    assert "name.zh" in body["warnings"]


def test_invalid_fields_are_422_each_named(shop):
    row = alenka(category="toys", hs_code="999999", price={"amount": "-1", "currency": "XXX1"})
    row["stock"] = {"NOWHERE": 5}
    response = shop.call("POST", "/skus", json=row)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    errors = response.get_json()["errors"]
    assert {"category", "hs_code", "price.amount", "price.currency", "stock.NOWHERE"} <= set(errors)


@pytest.mark.parametrize("field", ["merchant_id", "reserved", "approved", "id"])
def test_fields_a_merchant_does_not_own_are_refused(shop, field):
    response = shop.call("POST", "/skus", json=alenka(**{field: 1}))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_duplicate_code_is_409(shop):
    shop.call("POST", "/skus", json=alenka())
    again = shop.call("POST", "/skus", json=alenka())
    assert again.status_code == 409
    assert again.mimetype == PROBLEM
    taken = shop.call("POST", "/skus", who="b", json=alenka(product_code="OTHER"))
    assert taken.status_code == 409


def test_put_creates_then_replaces(shop):
    created = shop.call("PUT", "/skus/RU-ALENKA-100", json=alenka())
    assert created.status_code == 201
    replaced = shop.call("PUT", "/skus/RU-ALENKA-100", json=alenka(weight_g=105))
    assert replaced.status_code == 200
    assert replaced.get_json()["weight_g"] == 105
    mismatch = shop.call("PUT", "/skus/RU-ALENKA-100", json=alenka(sku="RU-OTHER"))
    assert mismatch.status_code == 422


def test_patch_is_a_merge_patch(shop):
    shop.call("POST", "/skus", json=alenka())
    patched = shop.call(
        "PATCH",
        "/skus/RU-ALENKA-100",
        json={"price": {"amount": "130"}, "description": {"ru": None}, "stock": {"RU-WH": 390}},
    )
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["price"] == {"amount": "130.00", "currency": "RUB"}
    assert body["description"]["ru"] is None
    assert body["stock"] == {"CN-SFH": 120, "RU-WH": 390}
    renamed = shop.call("PATCH", "/skus/RU-ALENKA-100", json={"sku": "RU-NEW"})
    assert renamed.status_code == 422


def test_patch_can_deactivate_and_the_storefront_hides_it(shop):
    shop.call("POST", "/skus", json=alenka())
    assert shop.call("PATCH", "/skus/RU-ALENKA-100", json={"active": False}).status_code == 200
    assert shop.client.get("/api/v1/products?q=alenka").get_json()["items"] == []
    listed = shop.call("GET", "/skus?active=false").get_json()
    assert [s["sku"] for s in listed["items"]] == ["RU-ALENKA-100"]


def test_deleting_the_last_sku_hides_the_product(shop):
    shop.call("POST", "/skus", json=alenka())
    shop.call("POST", "/skus", json=alenka(sku="RU-ALENKA-200", weight_g=200))
    assert shop.call("DELETE", "/skus/RU-ALENKA-100").status_code == 204
    assert shop.call("GET", "/skus/RU-ALENKA-100").status_code == 404
    assert len(shop.client.get("/api/v1/products?q=alenka").get_json()["items"]) == 1
    assert shop.call("DELETE", "/skus/RU-ALENKA-200").status_code == 204
    assert shop.client.get("/api/v1/products?q=alenka").get_json()["items"] == []


def _order_with(app, sku_code, merchant_id, status="paid", number="PV-TEST-1"):
    with app.app_context():
        sku = db.session.scalar(select(Sku).where(Sku.code == sku_code))
        order = Order(number=number, status=status, currency="CNY", destination_country="CN")
        db.session.add(order)
        db.session.flush()
        db.session.add(
            OrderLine(
                order_id=order.id, sku_id=sku.id, merchant_id=merchant_id, sku_code=sku_code,
                product_name="Alenka", quantity=2, unit_price_amount=11, unit_price_currency="CNY",
            )
        )  # fmt: skip
        db.session.commit()


def test_a_sku_in_an_unshipped_order_cannot_be_deleted_but_can_be_deactivated(shop):
    shop.call("POST", "/skus", json=alenka())
    _order_with(shop.app, "RU-ALENKA-100", shop.a.id)
    refused = shop.call("DELETE", "/skus/RU-ALENKA-100")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "sku_in_unshipped_orders"
    assert shop.call("PATCH", "/skus/RU-ALENKA-100", json={"active": False}).status_code == 200


def test_stock_below_reserved_units_is_refused(shop):
    shop.call("POST", "/skus", json=alenka())
    with shop.app.app_context():
        from warehouse.models import StockLevel

        level = db.session.scalars(select(StockLevel).where(StockLevel.on_hand == 400)).one()
        level.reserved = 50
        db.session.commit()
    response = shop.call("PATCH", "/skus/RU-ALENKA-100", json={"stock": {"RU-WH": 10}})
    assert response.status_code == 422
    assert "stock.RU-WH" in response.get_json()["errors"]


def test_listing_filters_and_pages(shop):
    for n in range(3):
        shop.call("POST", "/skus", json=alenka(sku=f"RU-ALENKA-{n}", weight_g=100 + n))
    honey = alenka(sku="RU-HONEY-1", product_code="HONEY", category="honey", hs_code="040900")
    shop.call("POST", "/skus", json=honey)
    page = shop.call("GET", "/skus?per_page=2").get_json()
    assert (page["total"], page["pages"], len(page["items"])) == (4, 2, 2)
    assert shop.call("GET", "/skus?category=honey").get_json()["total"] == 1
    assert shop.call("GET", "/skus?product_code=alenka").get_json()["total"] == 3
    later = shop.call("GET", "/skus?updated_since=2999-01-01T00:00:00Z").get_json()
    assert later["total"] == 0
    assert shop.call("GET", "/skus?per_page=501").status_code == 422
    assert shop.call("GET", "/skus?colour=red").status_code == 422


def test_every_change_is_audited_with_the_token(shop):
    shop.call("POST", "/skus", json=alenka())
    shop.call("PATCH", "/skus/RU-ALENKA-100", json={"price": {"amount": "130.00"}})
    shop.call("DELETE", "/skus/RU-ALENKA-100")
    with shop.app.app_context():
        changes = db.session.scalars(select(SkuChange).order_by(SkuChange.id)).all()
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.merchant_id == shop.a.id))
        assert [c.action for c in changes] == ["created", "updated", "deleted"]
        assert changes[1].changes["price_amount"] == ["125", "130"]
        assert {c.token_id for c in changes} == {token_id}
        assert changes[1].actor == f"token:{token_id}"


# ----------------------------------------------------------------- tenants

SKU_PATH = "/skus/RU-ALENKA-100"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", SKU_PATH, None),
        ("PATCH", SKU_PATH, {"weight_g": 1}),
        ("DELETE", SKU_PATH, None),
    ],
)
def test_another_merchants_sku_is_404_exactly_like_a_missing_one(shop, method, path, body):
    shop.call("POST", "/skus", json=alenka())
    kwargs = {"json": body} if body is not None else {}
    theirs = shop.call(method, path, who="b", **kwargs)
    missing = shop.call(method, "/skus/RU-NOTHING", who="b", **kwargs)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json()["detail"].replace("RU-ALENKA-100", "X") == missing.get_json()[
        "detail"
    ].replace("RU-NOTHING", "X")
    assert shop.call("GET", SKU_PATH).get_json()["weight_g"] == 100  # unchanged for its owner


def test_another_merchant_cannot_take_over_a_code_through_put_or_bulk(shop):
    shop.call("POST", "/skus", json=alenka())
    assert shop.call("PUT", SKU_PATH, who="b", json=alenka()).status_code == 409
    bulk = shop.call("POST", "/skus/bulk", who="b", json=[alenka()])
    assert bulk.status_code == 422
    assert shop.call("GET", SKU_PATH).get_json()["price"]["amount"] == "125.00"
    assert shop.call("GET", "/skus", who="b").get_json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/skus"),
        ("POST", "/skus"),
        ("GET", SKU_PATH),
        ("PUT", SKU_PATH),
        ("PATCH", SKU_PATH),
        ("DELETE", SKU_PATH),
        ("POST", "/skus/bulk"),
        ("GET", "/orders"),
    ],
)
def test_every_merchant_endpoint_refuses_missing_bad_and_staff_tokens(shop, method, path):
    anonymous = shop.call(method, path, who=None, json={})
    assert anonymous.status_code == 401
    assert anonymous.mimetype == PROBLEM
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    bad = shop.client.open(
        f"/api/v1/merchant{path}", method=method, headers={"Authorization": "Bearer pvm_nope"}
    )
    assert bad.status_code == 401
    assert shop.call(method, path, who="staff", json={}).status_code == 403


def test_revoked_tokens_and_suspended_merchants_are_refused(shop):
    assert shop.call("GET", "/skus").status_code == 200
    with shop.app.app_context():
        from catalog.merchants import revoke_merchant_tokens
        from catalog.models import Merchant

        revoke_merchant_tokens(shop.a.id)
        assert shop.call("GET", "/skus").status_code == 401
        second = issue_token(merchant_id=shop.b.id)
        db.session.get(Merchant, shop.b.id).is_active = False
        db.session.commit()
    response = shop.client.get(
        "/api/v1/merchant/skus", headers={"Authorization": f"Bearer {second}"}
    )
    assert response.status_code == 401


def test_tokens_are_stored_hashed_and_several_work(shop):
    with shop.app.app_context():
        from catalog.merchants import issue_merchant_token

        extra = issue_merchant_token(shop.a.id, "ERP")
        hashes = set(db.session.scalars(select(ApiToken.token_hash)))
    assert shop.a.token not in hashes
    assert extra not in hashes
    response = shop.client.get(
        "/api/v1/merchant/skus", headers={"Authorization": f"Bearer {extra}"}
    )
    assert response.status_code == 200
    assert shop.call("GET", "/skus").status_code == 200


def test_merchant_orders_show_only_own_lines(shop):
    shop.call("POST", "/skus", json=alenka())
    kz = alenka(sku="KZ-RAKHAT-1", product_code="RAKHAT", origin_country="KZ",
                price={"amount": "790.00", "currency": "KZT"})  # fmt: skip
    assert shop.call("POST", "/skus", who="b", json=kz).status_code == 201
    _order_with(shop.app, "RU-ALENKA-100", shop.a.id, number="PV-1")
    _order_with(shop.app, "KZ-RAKHAT-1", shop.b.id, status="shipped", number="PV-2")
    a_orders = shop.call("GET", "/orders").get_json()
    assert [o["number"] for o in a_orders["items"]] == ["PV-1"]
    assert a_orders["items"][0]["lines"][0]["sku"] == "RU-ALENKA-100"
    assert shop.call("GET", "/orders?status=shipped", who="b").get_json()["total"] == 1
    assert shop.call("GET", "/orders?status=paid", who="b").get_json()["total"] == 0
    assert shop.call("GET", "/orders?status=lost").status_code == 422
