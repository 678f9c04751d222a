"""Catalog use cases: the reads shoppers make. No Flask request objects here.

Each read is a constant number of SQL statements whatever the page size:
one for the rates in force, one for the page (with its total as a window
count), and for a product one more for its SKUs with their stock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import Numeric, and_, bindparam, case, func, literal, select

from catalog.models import Category, ExchangeRate, Merchant, Product, Sku
from catalog.money import (
    ExchangeRateQuote,
    Money,
    RateTable,
    UnknownCurrency,
    half_minor_unit,
    is_currency_code,
)
from catalog.ports import DeliveryPort, StockPort, port
from catalog.search import like_pattern, search_terms
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_name

# Without ?currency=, prices follow the language: a Chinese page shows yuan,
# a Russian one roubles, an English one dollars.
DEFAULT_CURRENCY_BY_LANGUAGE = {"zh": "CNY", "ru": "RUB", "en": "USD"}

SORTS = ("name", "-name", "price", "-price", "newest")


def today_utc() -> date:
    return datetime.now(UTC).date()


def load_rate_table(on: date | None = None) -> RateTable:
    """The latest rate of each currency pair in force on ``on`` (default today, UTC)."""
    on = on or today_utc()
    latest = (
        select(
            ExchangeRate.base_currency,
            ExchangeRate.quote_currency,
            func.max(ExchangeRate.effective_on).label("effective_on"),
        )
        .where(ExchangeRate.effective_on <= on)
        .group_by(ExchangeRate.base_currency, ExchangeRate.quote_currency)
        .subquery()
    )
    rows = db.session.execute(
        select(ExchangeRate)
        .join(
            latest,
            and_(
                ExchangeRate.base_currency == latest.c.base_currency,
                ExchangeRate.quote_currency == latest.c.quote_currency,
                ExchangeRate.effective_on == latest.c.effective_on,
            ),
        )
        .order_by(ExchangeRate.id)
    ).scalars()
    # With two sources on one day the later row wins (order by id).
    return RateTable(
        [
            ExchangeRateQuote(
                r.base_currency, r.quote_currency, Decimal(r.rate), r.effective_on, r.source
            )
            for r in rows
        ]
    )


PAGE_STATEMENTS_KEPT = 64


@dataclass
class _CachedRates:
    loaded_at: float
    on: date
    table: RateTable
    page_statements: dict[Any, Any] = field(default_factory=dict)


def current_rates() -> _CachedRates:
    """Today's rates, kept per app for PAVILION_RATES_CACHE_SECONDS.

    Rates change once a day, yet every catalog read needs them: keeping them
    a few seconds saves a query and the conversion SQL on each request. A
    new rate is seen by every worker within that time (catalog responses
    are cacheable for longer than that anyway).
    """
    cache: dict[str, _CachedRates] = current_app.extensions.setdefault("pavilion.rates", {})
    ttl = current_app.config.get("RATES_CACHE_SECONDS", 0)
    today, now = today_utc(), time.monotonic()
    cached = cache.get("current")
    if cached is None or cached.on != today or now - cached.loaded_at >= ttl:
        cached = cache["current"] = _CachedRates(now, today, load_rate_table(today))
    return cached


def forget_cached_rates() -> None:
    """Call after changing rates, so this process sees them at once."""
    current_app.extensions.get("pavilion.rates", {}).clear()


def resolve_currency(requested: str | None, lang: str, rates: RateTable) -> str:
    currency = (requested or DEFAULT_CURRENCY_BY_LANGUAGE[lang]).upper()
    if not is_currency_code(currency):
        raise ValidationFailed(
            errors={"currency": [f"{currency} is not an ISO 4217 currency code."]}
        )
    if currency not in rates.currencies():
        raise ValidationFailed(
            f"No exchange rate reaches {currency}.",
            errors={"currency": [f"No exchange rate reaches {currency}."]},
        )
    return currency


def _price_in(currency: str, rates: RateTable):
    """SQL for a SKU's price converted to ``currency`` at the table's rates.

    A CASE over the (few) currencies merchants price in, with each factor
    as an exact NUMERIC literal, so that filtering and sorting by price in
    the shopper's currency happen in the database.
    """
    factors = {}
    for source in sorted(rates.currencies() | {currency}):
        try:
            factors[source] = rates.conversion(source, currency).factor
        except UnknownCurrency:
            continue
    whens = {source: literal(factor, Numeric()) for source, factor in factors.items()}
    return Sku.price_amount * case(whens, value=Sku.price_currency, else_=None)


@dataclass(frozen=True)
class ProductQuery:
    lang: str
    currency: str | None = None
    category: str | None = None
    country: str | None = None
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    page: int = 1
    per_page: int = 24
    sort: str = "name"


def list_categories(lang: str) -> dict[str, Any]:
    """The categories in shelf order, localized, with the number of products on sale."""
    on_sale = (
        select(Product.category_id, func.count(Product.id).label("products"))
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(
            Product.is_active.is_(True),
            Merchant.is_active.is_(True),
            Product.id.in_(select(Sku.product_id).where(Sku.is_active.is_(True))),
        )
        .group_by(Product.category_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Category, func.coalesce(on_sale.c.products, 0))
        .outerjoin(on_sale, on_sale.c.category_id == Category.id)
        .order_by(Category.position, Category.id)
    ).all()
    items = [
        {
            "slug": category.slug,
            "name": category.localized("name", lang),
            "names": {"en": category.name_en, "ru": category.name_ru, "zh": category.name_zh},
            "product_count": count,
        }
        for category, count in rows
    ]
    return {"items": items, "total": len(items), "lang": lang}


@dataclass(frozen=True)
class _PageShape:
    """What decides the SQL of a catalog page; the values go in as parameters."""

    lang: str
    currency: str
    sort: str
    by_category: bool
    by_country: bool
    search_terms: int
    min_price: bool
    max_price: bool
    in_stock: bool | None


def _product_page_statement(shape: _PageShape, price):
    """The SELECT of one catalog page, with bind parameters for every value.

    Built once per shape and rates snapshot (see ``current_rates``): building
    SQLAlchemy expressions costs more Python time than PostgreSQL needs to
    run the query.
    """
    # Correlated subqueries, evaluated only for the products the filters
    # keep, instead of aggregating every SKU and stock row of the catalog.
    lowest_price = (
        select(func.min(price))
        .where(Sku.product_id == Product.id, Sku.is_active.is_(True))
        .correlate(Product)
        .scalar_subquery()
    )
    available = (
        port(StockPort)
        .available_units(and_(Sku.product_id == Product.id, Sku.is_active.is_(True)))
        .correlate(Product)
    )
    has_active_sku = (
        select(Sku.id).where(Sku.product_id == Product.id, Sku.is_active.is_(True)).exists()
    )
    name = func.coalesce(getattr(Product, f"name_{shape.lang}"), Product.name_en)
    # Sorting by the labels lets the database reuse the selected values.
    name_column, price_column = name.label("name"), lowest_price.label("price")

    statement = (
        select(
            Product.id,
            Product.code,
            name_column,
            Product.origin_country,
            Product.hs_code,
            Category.slug.label("category_slug"),
            getattr(Category, f"name_{shape.lang}").label("category_name"),
            Merchant.id.label("merchant_id"),
            Merchant.name.label("merchant_name"),
            price_column,
            available.label("available"),
            func.count().over().label("total"),
        )
        .join(Category, Category.id == Product.category_id)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(Product.is_active.is_(True), Merchant.is_active.is_(True), has_active_sku)
    )
    if shape.by_category:
        statement = statement.where(Category.slug == bindparam("category"))
    if shape.by_country:
        statement = statement.where(Product.origin_country == bindparam("country"))
    for n in range(shape.search_terms):
        statement = statement.where(Product.search_text.like(bindparam(f"term_{n}"), escape="\\"))
    if shape.min_price:
        statement = statement.where(lowest_price >= bindparam("min_price", type_=Numeric()))
    if shape.max_price:
        statement = statement.where(lowest_price < bindparam("max_price", type_=Numeric()))
    if shape.in_stock is True:
        statement = statement.where(available > 0)
    elif shape.in_stock is False:
        statement = statement.where(available <= 0)

    order = {
        "name": [name_column.asc()],
        "-name": [name_column.desc()],
        "price": [price_column.asc()],
        "-price": [price_column.desc()],
        "newest": [Product.created_at.desc()],
    }[shape.sort]
    return statement.order_by(*order, Product.id.asc())


def list_products(query: ProductQuery) -> dict[str, Any]:
    """One page of products on sale, filtered, sorted and priced in one currency."""
    cached = current_rates()
    currency = resolve_currency(query.currency, query.lang, cached.table)
    terms = search_terms(query.q or "")
    shape = _PageShape(
        lang=query.lang,
        currency=currency,
        sort=query.sort,
        by_category=bool(query.category),
        by_country=bool(query.country),
        search_terms=len(terms),
        min_price=query.min_price is not None,
        max_price=query.max_price is not None,
        in_stock=query.in_stock,
    )
    statements = cached.page_statements
    statement = statements.pop(shape, None)
    if statement is None:
        # Shapes are thousands in theory (language × currency × sort × filters) and few
        # in use; each kept one also holds a compiled form in SQLAlchemy's cache, so keep
        # the most recently used few (the soak run showed memory growing without a bound).
        if len(statements) >= PAGE_STATEMENTS_KEPT:
            del statements[next(iter(statements))]
        statement = _product_page_statement(shape, _price_in(currency, cached.table))
    statements[shape] = statement  # (re)inserted last: the dict is in order of use

    params: dict[str, Any] = {f"term_{n}": like_pattern(term) for n, term in enumerate(terms)}
    if query.category:
        params["category"] = query.category
    if query.country:
        params["country"] = query.country.upper()
    # Filter on the price as shown (rounded half up), not the raw product.
    if query.min_price is not None:
        params["min_price"] = query.min_price - half_minor_unit(currency)
    if query.max_price is not None:
        params["max_price"] = query.max_price + half_minor_unit(currency)
    page_statement = statement.limit(bindparam("limit")).offset(bindparam("offset"))
    params.update(limit=query.per_page, offset=(query.page - 1) * query.per_page)
    rows = db.session.execute(page_statement, params).all()

    if rows:
        total = rows[0].total
    elif query.page == 1:
        total = 0
    else:  # past the last page: the window count has no row to ride on
        total = db.session.scalar(
            select(func.count()).select_from(statement.order_by(None).subquery()), params
        )
    if total == 0 and query.category:
        _require_category(query.category)

    items = [
        {
            "id": row.id,
            "code": row.code,
            "name": row.name,
            "category": {"slug": row.category_slug, "name": row.category_name},
            "origin_country": {
                "code": row.origin_country,
                "name": country_name(row.origin_country, query.lang),
            },
            "merchant": {"id": row.merchant_id, "name": row.merchant_name},
            "price": Money(Decimal(row.price), currency).as_json()
            if row.price is not None
            else None,
            "in_stock": row.available > 0,
        }
        for row in rows
    ]
    return {
        "items": items,
        "page": query.page,
        "per_page": query.per_page,
        "total": total,
        "pages": -(-total // query.per_page),
        "lang": query.lang,
        "currency": currency,
    }


def _require_category(slug: str) -> None:
    if db.session.scalar(select(Category.id).where(Category.slug == slug)) is None:
        raise ValidationFailed(errors={"category": [f"No category {slug!r}."]})


def get_product(product_id: int, lang: str, currency: str | None, destination: str | None = None):
    """A product on sale with its SKUs, prices in ``currency`` and, per
    destination country, which nodes hold stock that can ship there."""
    rates = current_rates().table
    currency = resolve_currency(currency, lang, rates)
    found = db.session.execute(
        select(Product, Category, Merchant)
        .join(Category, Category.id == Product.category_id)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(Product.id == product_id, Product.is_active.is_(True), Merchant.is_active.is_(True))
    ).first()
    if found is None:
        raise NotFound(f"No product {product_id}.")
    product, category, merchant = found

    skus_of_product = (
        select(Sku).where(Sku.product_id == product.id, Sku.is_active.is_(True)).order_by(Sku.id)
    )
    stock_rows = db.session.execute(port(StockPort).with_stock_by_node(skus_of_product)).all()
    if not stock_rows:
        raise NotFound(f"No product {product_id}.")

    skus: dict[int, dict[str, Any]] = {}
    sku_rows: dict[int, Sku] = {}
    stock: dict[tuple[str, str], int] = {}
    quotes_used: dict[tuple[str, str], ExchangeRateQuote] = {}
    for sku, node_code, available in stock_rows:
        entry = skus.get(sku.id)
        if entry is None:
            conversion = rates.conversion(sku.price_currency, currency)
            for quote in conversion.quotes:
                quotes_used[(quote.base, quote.quote)] = quote
            sku_rows[sku.id] = sku
            entry = skus[sku.id] = {
                "sku": sku.code,
                "label": sku.localized("label", lang),
                "price": Money(conversion.apply(sku.price.amount), currency).as_json(),
                "merchant_price": sku.price.as_json(),
                "weight_g": sku.weight_g,
                "shelf_life_days": sku.shelf_life_days,
                "available": 0,
            }
        if node_code and available and available > 0:
            entry["available"] += available
            stock[(node_code, sku.code)] = available

    product_destinations: dict[str, dict[str, Any]] = {}
    for sku_id, entry in skus.items():
        entry["in_stock"] = entry["available"] > 0
        entry["availability"] = delivery_by_country(
            product, category.slug, sku_rows[sku_id], stock, rates, currency, destination
        )
        for option in entry["availability"]:
            summary = product_destinations.setdefault(
                option["country"],
                {"country": option["country"], "deliverable": False, "nodes": set()},
            )
            summary["deliverable"] = summary["deliverable"] or option["deliverable"]
            summary["nodes"].update(option["nodes"])

    sku_list = list(skus.values())
    cheapest = min(sku_list, key=lambda s: Decimal(s["price"]["amount"]))
    return {
        "id": product.id,
        "code": product.code,
        "name": product.localized("name", lang),
        "description": product.localized("description", lang),
        "names": {"en": product.name_en, "ru": product.name_ru, "zh": product.name_zh},
        "category": {"slug": category.slug, "name": category.localized("name", lang)},
        "origin_country": {
            "code": product.origin_country,
            "name": country_name(product.origin_country, lang),
        },
        "hs_code": product.hs_code,
        "merchant": {"id": merchant.id, "name": merchant.name, "country": merchant.country},
        "price": cheapest["price"],
        "in_stock": any(s["in_stock"] for s in sku_list),
        "skus": sku_list,
        "availability": [
            {**summary, "nodes": sorted(summary["nodes"])}
            for _, summary in sorted(product_destinations.items())
        ],
        "exchange_rates": [q.as_json() for _, q in sorted(quotes_used.items())],
        "lang": lang,
        "currency": currency,
    }


def delivery_by_country(
    product: Product,
    category_slug: str,
    sku: Sku,
    stock: dict[tuple[str, str], int],
    rates: RateTable,
    currency: str,
    only: str | None = None,
) -> list[dict[str, Any]]:
    """For each destination a lane serves: can one unit of ``sku`` get there, from
    which node, when and at what shipping cost (the warehouse plans it, through
    ``catalog.ports.DeliveryPort``)."""
    options = port(DeliveryPort).options(product, category_slug, sku, stock, rates, currency, only)
    return [option.as_json() for option in options]
