"""Small, explicit catalogs for tests that need exact figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from catalog.models import Category, ExchangeRate, Merchant, Product, Sku
from shop.core.extensions import db
from shop.seed import product_search_text
from warehouse.models import Lane, LaneLeg, Node, StockLevel


def category(
    slug="confectionery", en="Chocolate and sweets", ru="Шоколад и сладости", zh="巧克力与糖果"
):
    row = Category(slug=slug, position=1, name_en=en, name_ru=ru, name_zh=zh, hs_chapters=["18"])
    db.session.add(row)
    db.session.flush()
    return row


def node(code="RU-WH", ships_to=("RU", "KZ"), country="RU", priority=10, active=True, days=(2, 5)):
    """A node and one lane from it to ``ships_to`` (one leg, priced in CNY)."""
    row = Node(
        code=code,
        kind="warehouse",
        country=country,
        city="City",
        name_en=code,
        name_ru=code,
        name_zh=code,
        priority=priority,
        is_active=active,
    )
    db.session.add(row)
    db.session.flush()
    if ships_to:
        db.session.add(
            Lane(
                code=f"{code}-LANE",
                node_id=row.id,
                countries=list(ships_to),
                timezone="Asia/Shanghai",
                legs=[
                    LaneLeg(
                        position=1, carrier="manual", service="test", transit_days_min=days[0],
                        transit_days_max=days[1], cost_base=Decimal(10), cost_per_kg=Decimal(2),
                        cost_currency="CNY",
                    )
                ],
            )
        )  # fmt: skip
        db.session.flush()
    return row


def merchant(name="Sladosti LLC", country="RU", currency="RUB", active=True):
    row = Merchant(name=name, country=country, currency=currency, is_active=active)
    db.session.add(row)
    db.session.flush()
    return row


def rate(base, quote, value, on=date(2026, 11, 1), source="test"):
    row = ExchangeRate(
        base_currency=base,
        quote_currency=quote,
        rate=Decimal(value),
        effective_on=on,
        source=source,
    )
    db.session.add(row)
    db.session.flush()
    return row


def product(
    owner,
    in_category,
    code,
    *,
    en,
    ru=None,
    zh=None,
    country="RU",
    skus=(),
    description_en="",
    active=True,
):
    """``skus``: tuples (code, amount, currency, {node: on_hand}) or with a 5th item, reserved."""
    row = Product(
        merchant_id=owner.id,
        category_id=in_category.id,
        code=code,
        origin_country=country,
        hs_code="180632",
        name_en=en,
        name_ru=ru,
        name_zh=zh,
        description_en=description_en,
        is_active=active,
    )
    row.search_text = product_search_text(row, [s[0] for s in skus])
    db.session.add(row)
    db.session.flush()
    for sku_code, amount, currency, stock, *rest in skus:
        sku = Sku(
            product_id=row.id,
            code=sku_code,
            price_amount=Decimal(amount),
            price_currency=currency,
            weight_g=100,
            shelf_life_days=365,
            label_en=f"{sku_code} pack",
        )
        db.session.add(sku)
        db.session.flush()
        reserved = rest[0] if rest else {}
        for held_at, on_hand in stock.items():
            db.session.add(
                StockLevel(
                    sku_id=sku.id,
                    node_id=held_at.id,
                    on_hand=on_hand,
                    reserved=reserved.get(held_at, 0),
                )
            )
    db.session.flush()
    return row
