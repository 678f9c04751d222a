"""China's single item above 5,000 CNY (财关税〔2018〕49号) as a shopper meets it: the quote
and the checkout summary show the full taxes before paying, the order stores them and
counts against the yearly allowance, and a buyer without room in it is refused with
nothing written. Runs on SQLite and PostgreSQL (the ``app`` fixture's backends)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from catalog.models import Category, Merchant, Sku
from orders.checkout import cbec_year_used
from orders.models import Order
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests import factories as f
from tests.api.test_storefront_shopping import (
    add_to_cart,
    checkout_form,
    post,
    shopper,
    text_of_testid,
)
from tests.checkout_world import CN_ADDRESS, build_world, cn_body, money
from warehouse.models import Shipment, StockLevel, StockMovement
from warehouse.services import OnHandChange, set_on_hand

VASE = "GZHEL-VASE"  # one unit: 6,000 CNY, HS 1806.32 (the factories' code): duty 8%


@pytest.fixture
def shop(app):
    with app.app_context():
        world = build_world()
        owner = db.session.scalar(select(Merchant))
        crafts = db.session.scalar(select(Category).where(Category.slug == "crafts"))
        f.product(owner, crafts, VASE, en="Gzhel vase", skus=[(VASE, "6000.00", "CNY", {})])
        db.session.commit()
        sku_id = db.session.scalar(select(Sku.id).where(Sku.code == VASE))
        changes = [OnHandChange(sku_id, world["nodes"]["CN-SFH"], 3)]
        set_on_hand(changes, reason="receipt", actor="test")
        db.session.commit()
    app.config["WORLD"] = world
    return app


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def full_taxes(dutiable: Decimal) -> Decimal:
    """Duty 8% of the dutiable value, VAT 13% of value + duty, nothing at 70%."""
    return cents(dutiable * Decimal("0.08") + dutiable * Decimal("1.08") * Decimal("0.13"))


def counts(app):
    with app.app_context():
        return {
            "orders": db.session.scalar(select(func.count(Order.id))),
            "shipments": db.session.scalar(select(func.count(Shipment.id))),
            "movements": db.session.scalar(select(func.count(StockMovement.id))),
            "reserved": db.session.scalar(select(func.coalesce(func.sum(StockLevel.reserved), 0))),
        }


def place(app, body):
    return app.test_client().post("/api/v1/orders", json=body)


def fill_the_allowance(app, orders):
    """``orders`` orders of one 3,000 CNY item each (plus shipping), still unpaid: they
    hold their goods, so they count against the buyer's allowance."""
    for _ in range(orders):
        placed = place(app, cn_body("AMBER-BIG", 1))
        assert placed.status_code == 201, placed.get_json()


def test_the_quote_shows_the_full_taxes_and_why(shop):
    client = shop.test_client()
    cart = client.post("/api/v1/carts", json={"currency": "CNY", "lines": [
        {"sku": VASE, "quantity": 1}]}).get_json()  # fmt: skip
    answer = client.get(
        f"/api/v1/carts/{cart['id']}?destination=CN", headers={"X-Cart-Token": cart["token"]}
    ).get_json()
    quote = answer["quote"]
    assert quote["deliverable"] is True, quote
    full = quote["duties"]["full_rate"]
    shipping = money(quote["totals"]["shipping"])
    dutiable = Decimal("6000.00") + shipping
    assert money(full["dutiable_value"]) == dutiable
    assert money(full["total"]) == full_taxes(dutiable) == money(quote["totals"]["duties"])
    assert money(full["tariff"]) == cents(dutiable * Decimal("0.08"))
    assert money(full["tariff"]) + money(full["vat"]) + money(full["consumption_tax"]) == money(
        full["total"]
    )
    assert full["tariff_rate"] == "0.08"
    assert full["tax_share"] == "1"
    assert "5,000.00 CNY per-order limit" in full["reason"]
    assert "财关税〔2018〕49号" in full["citation"]
    assert "not the reduced rate" in quote["duties"]["notice"]


def test_a_6000_cny_item_with_room_in_the_allowance_is_placed_with_full_taxes(shop):
    response = place(shop, cn_body(VASE, 1))
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    shipping = money(order["totals"]["shipping"])
    dutiable = Decimal("6000.00") + shipping
    assert order["totals"]["duties_status"] == "estimated"
    assert money(order["totals"]["duties"]) == full_taxes(dutiable)
    assert money(order["totals"]["grand_total"]) == Decimal("6000.00") + shipping + full_taxes(
        dutiable
    )
    shown = order["duties"]["assessment"]["full_rate"]
    assert money(shown["total"]) == full_taxes(dutiable)
    assert "customs duty" in order["duties"]["notice"]
    with shop.app_context():
        stored = db.session.scalar(select(Order).where(Order.number == order["number"]))
        assert stored.duties_total == full_taxes(dutiable)
        assert stored.duties["full_rate"]["rule"] == "single_item_over_limit"
        assert stored.duties["parcels"][0]["lines"][0]["tax_share"] == "1"
        # It counts against the allowance with its whole dutiable value, as any order.
        assert stored.dutiable_value_cny == dutiable
        used = cbec_year_used({"hash": stored.customs_id_hash}, utcnow())
        assert used == dutiable


def test_the_same_item_without_room_in_the_allowance_is_refused_and_nothing_is_written(shop):
    fill_the_allowance(shop, 7)  # 7 x (3,000 + shipping): about 21,100 CNY used
    with shop.app_context():
        used = db.session.scalar(select(func.sum(Order.dutiable_value_cny)))
    before = counts(shop)
    response = place(shop, cn_body(VASE, 1))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "customs_limit_exceeded"
    assert problem["scope"] == "annual"
    assert problem["rule"]["id"] == "single_item_over_limit"
    assert "财关税〔2018〕49号" in problem["rule"]["citation"]
    assert problem["limit"] == {"amount": "26000.00", "currency": "CNY"}
    assert money(problem["remaining"]) == cents(Decimal(26000) - used)
    assert money(problem["value"]) >= Decimal("6000.00")
    assert counts(shop) == before


def test_two_units_over_5000_cny_are_still_refused_and_told_to_split(shop):
    response = place(shop, cn_body(VASE, 2))
    assert response.status_code == 422
    assert response.get_json()["scope"] == "order"
    assert "split" in response.get_json()["detail"].lower()
    assert counts(shop)["orders"] == 0


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "Customs duty $"),  # the cart currency of an English shopper
        ("ru", "Таможенная пошлина"),
        ("zh", "关税 ¥"),
    ],
)
def test_the_checkout_summary_shows_the_full_taxes_in_the_shoppers_language(shop, lang, expected):
    client = shopper(shop, lang=lang)
    add_to_cart(client, sku=VASE, quantity=1)
    html = client.get("/checkout/summary?country=CN").get_data(as_text=True)
    amounts = text_of_testid(html, "full-rate-amounts")
    assert expected in amounts
    block = re.search(r'data-testid="full-rate"(.*?)</div>', html, re.S).group(1)
    assert "财关税〔2018〕49号" in block
    assert re.search(r"5[,\s]000", block)  # the per-order limit, as the locale writes it


def test_the_checkout_form_says_why_the_item_is_refused_when_the_allowance_is_full(shop):
    fill_the_allowance(shop, 7)
    before = counts(shop)
    client = shopper(shop)
    add_to_cart(client, sku=VASE, quantity=1)
    response = post(client, "/checkout", **checkout_form(CN_ADDRESS))
    assert response.status_code == 422
    summary = response.get_data(as_text=True).split('id="error-summary"')[1]
    assert "can go to China with full taxes only within the buyer&#39;s" in summary
    assert counts(shop) == before
