"""A small shop for checkout tests: the seeded nodes, lanes and rates, a few SKUs with
known stock, and staff of two nodes. Call ``build_world()`` inside an app context."""

from __future__ import annotations

import copy
from decimal import Decimal

from sqlalchemy import select

from catalog.merchants import create_merchant
from catalog.models import Category, Merchant, Sku
from shop.core.extensions import db
from shop.seed import seed_reference_data
from tests import factories as f
from warehouse.models import Node
from warehouse.services import OnHandChange, create_staff, set_on_hand

RU_ADDRESS = {
    "country": "RU", "region": "Moscow", "city": "Moscow", "postal_code": "101000",
    "line1": "Tverskaya 1", "recipient": "Ivan Petrov", "phone": "+7 900 000 00 00",
}  # fmt: skip
CN_ADDRESS = {
    "country": "CN", "region": "Shandong", "city": "Qingdao", "postal_code": "266300",
    "line1": "Xianggang Rd 1", "recipient": "张三", "phone": "+86 138 0000 0000",
}  # fmt: skip
FAR_EAST_ADDRESS = {**RU_ADDRESS, "region": "Приморский край", "city": "Владивосток",
                    "postal_code": "690001"}  # fmt: skip
UZ_ADDRESS = {**RU_ADDRESS, "country": "UZ", "region": "Tashkent", "city": "Tashkent",
              "postal_code": "100000"}  # fmt: skip
VALID_ID = "11010519491231002X"
IDENTITY = {"name": "张三", "id_number": VALID_ID}

# SKU code -> (category, price, currency, {node: on hand})
STOCK = {
    "ALENKA-100": ("confectionery", "125.00", "RUB", {"RU-WH": 10, "CN-SFH": 5}),
    "HONEY-500": ("honey", "60.00", "CNY", {"CN-URC": 8}),
    "CRAB-1": ("seafood", "400.00", "CNY", {"RU-USS": 4}),
    "AMBER-BIG": ("crafts", "3000.00", "CNY", {"CN-SFH": 20}),
    "LAST-UNITS": ("confectionery", "50.00", "CNY", {"RU-WH": 20}),
}


def build_world() -> dict:
    seed_reference_data()
    nodes = dict(db.session.execute(select(Node.code, Node.id)).all())
    categories = {c.slug: c for c in db.session.scalars(select(Category))}
    made = create_merchant("Sladosti LLC", "RU")
    owner = db.session.get(Merchant, made.id)
    changes = []
    for code, (slug, price, currency, stock) in STOCK.items():
        f.product(owner, categories[slug], code, en=f"{code} goods",
                  skus=[(code, price, currency, {})])  # fmt: skip
        sku_id = db.session.scalar(select(Sku.id).where(Sku.code == code))
        changes += [OnHandChange(sku_id, nodes[n], units) for n, units in stock.items()]
    db.session.commit()
    set_on_hand(changes, reason="receipt", actor="test")
    db.session.commit()
    return {
        "merchant_token": made.token,
        "operator": create_staff("ops@example.com", None, "operator").token,
        "picker_ru": create_staff("ru@example.com", "RU-WH").token,
        "picker_sfh": create_staff("sfh@example.com", "CN-SFH").token,
        "nodes": nodes,
    }


def order_body(sku="ALENKA-100", quantity=2, *, address=None, currency="RUB", **extra) -> dict:
    body = {
        "lines": [{"sku": sku, "quantity": quantity}],
        "currency": currency,
        "email": "buyer@example.com",
        "shipping_address": copy.deepcopy(address or RU_ADDRESS),
        "payment": {"adapter": "manual"},
    }
    body.update(extra)
    return body


def cn_body(sku="ALENKA-100", quantity=2, **extra) -> dict:
    return order_body(sku, quantity, address=CN_ADDRESS, currency="CNY",
                      customs_identity=dict(IDENTITY), **extra)  # fmt: skip


def money(value: dict) -> Decimal:
    return Decimal(value["amount"])
