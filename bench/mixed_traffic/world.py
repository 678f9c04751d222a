"""The world the soak's traffic runs in: the seeded shop's SKUs, merchants, staff
and tokens, and the SKUs that can be ordered to each destination."""

from __future__ import annotations

import contextlib
import json
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bench_processes import log

from mixed_traffic.recording import Client

PROBE_SKUS = 80  # stocked SKUs tried once per destination before the run
RU_ADDRESS = {
    "country": "RU", "region": "Moscow", "city": "Moscow", "postal_code": "101000",
    "line1": "Tverskaya 1", "recipient": "Ivan Petrov", "phone": "+7 900 000 00 00",
}  # fmt: skip
CN_ADDRESS = {
    "country": "CN", "region": "Shandong", "city": "Qingdao", "postal_code": "266300",
    "line1": "Xianggang Rd 1", "recipient": "张三", "phone": "+86 138 0000 0000",
}  # fmt: skip
CN_NAMES = ("张三", "李四", "王五", "赵六", "刘洋", "陈静")


def prc_id(rng: random.Random) -> str:
    """A valid PRC resident ID number nobody has used in this run (almost surely):
    China's yearly CBEC allowance is per person, so each order brings its own."""
    from orders.customs.prc_id import check_character

    born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
    first17 = f"110105{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_character(first17)


@dataclass
class World:
    """What the traffic needs to know about the seeded shop."""

    product_ids: list[int]
    categories: list[str]
    countries: list[str]
    ru_skus: list[str] = field(default_factory=list)
    cn_skus: list[str] = field(default_factory=list)
    sku_merchant: dict[str, int] = field(default_factory=dict)
    merchant_tokens: dict[int, str] = field(default_factory=dict)
    uploader_token: str = ""
    operator_token: str = ""
    upload_rows: list[list[str]] = field(default_factory=list)
    new_orders: deque[str] = field(default_factory=lambda: deque(maxlen=5000))


def prepare_world(url: str, secret_key: str) -> tuple[World, list[str]]:
    """Accounts and tokens through the shop's services; the stocked SKUs to probe."""
    from sqlalchemy import select, text

    from catalog.merchants import create_merchant, issue_merchant_token
    from catalog.models import Category, Product
    from shop import create_app
    from shop.core.extensions import db
    from warehouse.services import create_staff

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test", "SECRET_KEY": secret_key}
    )
    with app.app_context():
        try:
            product_ids = list(
                db.session.scalars(select(Product.id).where(Product.is_active).order_by(Product.id))
            )
            categories = list(db.session.scalars(select(Category.slug).order_by(Category.id)))
            countries = sorted(set(db.session.scalars(select(Product.origin_country))))
            stocked = db.session.execute(
                text(
                    "SELECT DISTINCT s.code, p.merchant_id FROM skus s "
                    "JOIN products p ON p.id = s.product_id "
                    "JOIN stock_levels sl ON sl.sku_id = s.id "
                    "WHERE s.is_active AND p.is_active AND s.deleted_at IS NULL "
                    "AND sl.on_hand - sl.reserved > 0 ORDER BY s.code"
                )
            ).all()
            world = World(product_ids, categories, countries)
            world.sku_merchant = dict(stocked)
            for merchant_id in sorted(set(world.sku_merchant.values())):
                world.merchant_tokens[merchant_id] = issue_merchant_token(merchant_id, "soak")
            world.uploader_token = create_merchant("Soak LLC", "RU").token
            world.operator_token = create_staff("soak-operator@example.com", None, "operator").token
        finally:
            db.session.remove()
            db.engine.dispose()
    step = max(1, len(stocked) // PROBE_SKUS)
    return world, [code for code, _ in stocked][::step][:PROBE_SKUS]


def order_body(rng: random.Random, skus: list[str], destination: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": [{"sku": code, "quantity": 1} for code in skus],
        "email": f"soak{rng.randrange(10**6)}@example.com",
        "payment": {"adapter": "manual"},
    }
    if destination == "CN":
        body["currency"] = "CNY"
        body["shipping_address"] = {**CN_ADDRESS, "recipient": rng.choice(CN_NAMES)}
        body["customs_identity"] = {
            "name": body["shipping_address"]["recipient"],
            "id_number": prc_id(rng),
        }
    else:
        body["currency"] = "RUB"
        body["shipping_address"] = dict(RU_ADDRESS)
    return body


def probe_skus(client: Client, world: World, candidates: list[str], rng: random.Random) -> None:
    """Keep the SKUs one order of one unit to each destination accepts."""
    for destination, kept in (("RU", world.ru_skus), ("CN", world.cn_skus)):
        refusals: Counter[str] = Counter()
        for code in candidates:
            status, raw = client.request(
                "checkout", "POST", "/api/v1/orders", order_body(rng, [code], destination)
            )
            if status == 201:
                kept.append(code)
                continue
            with contextlib.suppress(ValueError, AttributeError):
                refusals[f"{status} {json.loads(raw).get('code')}"] += 1
        if refusals:
            log(f"refused to {destination}: " + ", ".join(f"{k} x{n}" for k, n in refusals.items()))
