"""The benchmarks' databases: a fresh ``pavilion_bench_<random>`` on the server of
BENCH_POSTGRES_URL, migrated and seeded as an operator would, synthetic products on
top, and dropped at the end (only databases named so)."""

from __future__ import annotations

import os
import random
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_processes import BIN_DIR, run_checked

DEFAULT_ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/postgres"
# The demo seed's categories, which synthetic products are spread over.
CATEGORIES = (
    "confectionery",
    "honey",
    "grain-oil",
    "dairy",
    "seafood",
    "meat-sausage",
    "tea-coffee",
    "nuts-dried-fruit",
    "beverages",
    "beauty",
    "crafts",
)


def create_database(admin_url: str) -> str:
    """Create ``pavilion_bench_<random>``; returns its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shop.config import normalize_database_url

    admin = make_url(normalize_database_url(admin_url))
    name = f"pavilion_bench_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shop.config import normalize_database_url

    name = make_url(url).database
    if not name or not name.startswith("pavilion_bench_"):
        raise ValueError(f"refusing to drop {name!r}")
    engine = create_engine(
        make_url(normalize_database_url(admin_url)), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def production_env(url: str, workdir: Path) -> dict[str, str]:
    """The environment the shop runs in under a benchmark: production settings on the
    bench database, throwaway secrets, and no rate limits (every client is 127.0.0.1)."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DATABASE_URL": url,
        "PAVILION_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "PAVILION_ID_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PAVILION_RATE_LIMITS": "off",
        "LOG_LEVEL": "WARNING",
        "PAVILION_VAR_DIR": str(workdir / "var"),
    }


def migrate_and_seed(env: dict[str, str]) -> str:
    """The real migrations and the real demo seed, as an operator runs them."""
    flask = str(BIN_DIR / "flask")
    run_checked([flask, "--app", "wsgi", "db", "upgrade"], env, "flask db upgrade")
    out = run_checked([flask, "--app", "wsgi", "seed"], env, "flask seed")
    # The first line names what was created; the rest are demo credentials.
    return out.splitlines()[0] if out else ""


_ADJECTIVES = (
    ("Altai", "Алтайский", "阿尔泰"),
    ("Baikal", "Байкальский", "贝加尔"),
    ("Kazakh steppe", "Степной", "草原"),
    ("Pamir", "Памирский", "帕米尔"),
    ("Fergana", "Ферганский", "费尔干纳"),
    ("Tianshan", "Тяньшаньский", "天山"),
    ("Amur", "Амурский", "阿穆尔"),
    ("Mongolian", "Монгольский", "蒙古"),
    ("Kashmir", "Кашмирский", "克什米尔"),
    ("Silk Road", "Шёлковый", "丝路"),
    ("Golden", "Золотой", "金色"),
    ("Mountain", "Горный", "高山"),
)
_NOUNS = {
    "confectionery": ("chocolate", "шоколад", "巧克力"),
    "honey": ("honey", "мёд", "蜂蜜"),
    "grain-oil": ("buckwheat", "гречневый продел", "荞麦"),
    "dairy": ("cheese", "сыр", "奶酪"),
    "seafood": ("smoked fish", "копчёный омуль", "熏鱼"),
    "meat-sausage": ("sausage", "колбаса", "香肠"),
    "tea-coffee": ("green tea", "зелёный чай", "绿茶"),
    "nuts-dried-fruit": ("dried apricots", "курага", "杏干"),
    "beverages": ("birch sap", "берёзовый сок", "桦树汁"),
    "beauty": ("sea buckthorn cream", "облепиховый крем", "沙棘霜"),
    "crafts": ("carved box", "резная шкатулка", "雕花盒"),
}
_ORIGINS = ("CN", "RU", "KZ", "KG", "UZ", "TJ", "IN", "PK", "IR", "BY", "MN")
_COLUMNS = (
    "merchant_id",
    "category_id",
    "code",
    "origin_country",
    "hs_code",
    "name_en",
    "name_ru",
    "name_zh",
    "description_en",
    "description_ru",
    "description_zh",
    "search_text",
)


def add_synthetic_products(url: str, count: int, seed: int = 20261101) -> dict[str, int]:
    """Insert ``count`` products over the 11 categories, 1-3 SKUs each, stock on 0-2 nodes.

    Rows go in through bulk Core inserts on the app's own models; each
    product's ``search_text`` comes from ``shop.seed.product_search_text``.
    """
    from sqlalchemy import insert, select, text

    from catalog.models import Category, Merchant, Product, Sku
    from shop import create_app
    from shop.core.extensions import db
    from shop.seed import product_search_text
    from warehouse.models import Node, StockLevel

    rng = random.Random(seed)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    with app.app_context():
        try:
            categories = {c.slug: c for c in db.session.scalars(select(Category))}
            merchants = list(db.session.scalars(select(Merchant).order_by(Merchant.id)))
            node_ids = list(db.session.scalars(select(Node.id).order_by(Node.id)))
            rate_currencies = {"CNY"} | set(
                db.session.scalars(text("SELECT DISTINCT base_currency FROM exchange_rates"))
            )
            if not merchants or len(categories) < len(CATEGORIES):
                raise RuntimeError("the demo seed has no merchants or categories")
            products: list[dict[str, Any]] = []
            sku_specs: list[list[dict[str, Any]]] = []
            for i in range(count):
                slug = CATEGORIES[i % len(CATEGORIES)]
                category = categories[slug]
                merchant = merchants[rng.randrange(len(merchants))]
                adjective = _ADJECTIVES[rng.randrange(len(_ADJECTIVES))]
                noun = _NOUNS[slug]
                code = f"BENCH-{i + 1:05d}"
                product = Product(
                    merchant_id=merchant.id,
                    category_id=category.id,
                    code=code,
                    origin_country=_ORIGINS[rng.randrange(len(_ORIGINS))],
                    hs_code=f"{category.hs_chapters[0]}{rng.randrange(10000):04d}",
                    name_en=f"{adjective[0]} {noun[0]} no. {i + 1}",
                    name_ru=f"{adjective[1]} {noun[1]} № {i + 1}",
                    name_zh=f"{adjective[2]}{noun[2]} {i + 1}号",
                    description_en=f"Synthetic benchmark product {i + 1}: {noun[0]}.",
                    description_ru=f"Синтетический товар для замеров {i + 1}: {noun[1]}.",
                    description_zh=f"基准测试合成商品 {i + 1}：{noun[2]}。",
                )
                currency = merchant.currency if merchant.currency in rate_currencies else "CNY"
                skus = [
                    {
                        "code": f"{code}-{k + 1}",
                        "label_en": f"{(k + 1) * 250} g",
                        "label_ru": f"{(k + 1) * 250} г",
                        "label_zh": f"{(k + 1) * 250}克",
                        "price_amount": Decimal(rng.randrange(500, 500000)) / 100,
                        "price_currency": currency,
                        "weight_g": (k + 1) * 250 + 50,
                        "shelf_life_days": rng.choice((0, 90, 180, 365, 730)),
                    }
                    for k in range(rng.randint(1, 3))
                ]
                product.search_text = product_search_text(product, [s["code"] for s in skus])
                products.append({column: getattr(product, column) for column in _COLUMNS})
                sku_specs.append(skus)

            product_ids = db.session.scalars(
                insert(Product).returning(Product.id, sort_by_parameter_order=True), products
            ).all()
            sku_rows = [
                {**sku, "product_id": product_id}
                for product_id, skus in zip(product_ids, sku_specs, strict=True)
                for sku in skus
            ]
            sku_ids = db.session.scalars(
                insert(Sku).returning(Sku.id, sort_by_parameter_order=True), sku_rows
            ).all()
            stock_rows = [
                {"sku_id": sku_id, "node_id": node_id, "on_hand": rng.choice((0, 5, 40, 300))}
                for sku_id in sku_ids
                for node_id in rng.sample(node_ids, rng.randint(0, min(2, len(node_ids))))
            ]
            if stock_rows:
                db.session.execute(insert(StockLevel), stock_rows)
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            return {"products": len(product_ids), "SKUs": len(sku_ids), "stock": len(stock_rows)}
        finally:
            db.session.remove()
            db.engine.dispose()


def table_sizes(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.scalar(text(f"SELECT count(*) FROM {table}"))
                for table in ("products", "skus", "stock_levels")
            }
    finally:
        engine.dispose()


def postgres_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()
