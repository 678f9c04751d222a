"""A merchant's own SKUs, one at a time: read, create, replace, patch, delete.

Every write goes through ``catalog.sku_upsert.upsert_skus`` (the bulk upload's
path), so one SKU and 10,000 pass the same rules. Reads and writes are scoped by
the calling merchant, so another merchant's SKU is indistinguishable from a
missing one (404).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from catalog.models import Category, Product, Sku, SkuChange
from catalog.money import Money
from catalog.ports import NodeStock, OpenOrdersPort, StockPort, port
from catalog.sku_upsert import (
    LANGS,
    IncomingRow,
    hide_products_without_live_skus,
    lock_merchant,
    upsert_skus,
)
from shop.core.auth import MerchantPrincipal
from shop.core.clock import as_utc, iso_utc, utcnow
from shop.core.errors import Conflict, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict


class SkuCodeTaken(Conflict):
    title = "SKU code in use"


# ------------------------------------------------------------------ reads


def _sku_document(
    sku: Sku, product: Product, category_slug: str, stock: Iterable[NodeStock]
) -> dict[str, Any]:
    levels = sorted(stock, key=lambda level: level.node)
    return {
        "sku": sku.code,
        "product_code": product.code,
        "product_id": product.id,
        "category": category_slug,
        "name": {lang: getattr(product, f"name_{lang}") for lang in LANGS},
        "description": {lang: getattr(product, f"description_{lang}") for lang in LANGS},
        "label": {lang: getattr(sku, f"label_{lang}") for lang in LANGS},
        "origin_country": product.origin_country,
        "hs_code": product.hs_code,
        "weight_g": sku.weight_g,
        "shelf_life_days": sku.shelf_life_days,
        "length_mm": sku.length_mm,
        "width_mm": sku.width_mm,
        "height_mm": sku.height_mm,
        "price": Money(Decimal(sku.price_amount), sku.price_currency).as_json(),
        "stock": {level.node: level.on_hand for level in levels},
        "reserved": {level.node: level.reserved for level in levels if level.reserved},
        "active": sku.is_active,
        "created_at": iso_utc(sku.created_at),
        "updated_at": iso_utc(sku.updated_at),
    }


def _stock_by_sku(sku_ids: Sequence[int]) -> dict[int, list[NodeStock]]:
    if not sku_ids:
        return {}
    return port(StockPort).counts(sku_ids)


def _own_skus():
    return (
        select(Sku, Product, Category.slug)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(Sku.deleted_at.is_(None))
    )


def list_merchant_skus(
    merchant: MerchantPrincipal,
    *,
    category: str | None = None,
    product_code: str | None = None,
    updated_since: datetime | None = None,
    active: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """The merchant's own SKUs, newest change last, with stock per node."""
    query = _own_skus().where(Product.merchant_id == merchant.merchant_id)
    if category:
        query = query.where(Category.slug == category)
    if product_code:
        query = query.where(Product.code == product_code.upper())
    if updated_since:
        query = query.where(Sku.updated_at >= as_utc(updated_since))
    if active is not None:
        query = query.where(Sku.is_active.is_(active))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(
        query.order_by(Sku.code).limit(per_page).offset((page - 1) * per_page)
    ).all()
    stock = _stock_by_sku([sku.id for sku, _, _ in rows])
    return {
        "items": [_sku_document(s, p, slug, stock.get(s.id, ())) for s, p, slug in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": -(-total // per_page),
    }


def get_merchant_sku(merchant: MerchantPrincipal, code: str) -> dict[str, Any]:
    found = db.session.execute(
        _own_skus().where(Product.merchant_id == merchant.merchant_id, Sku.code == code.upper())
    ).first()
    if found is None:
        raise NotFound(f"No SKU {code}.")
    sku, product, slug = found
    return _sku_document(sku, product, slug, _stock_by_sku([sku.id]).get(sku.id, ()))


# ------------------------------------------------------------------ writes


def create_sku(merchant: MerchantPrincipal, data: Mapping[str, Any]) -> dict[str, Any]:
    """POST: a new SKU (409 if the code is taken, 422 if invalid)."""
    code = str(data.get("sku") or "").strip().upper()
    if code and db.session.scalar(select(Sku.id).where(Sku.code == code, Sku.deleted_at.is_(None))):
        raise SkuCodeTaken(f"The SKU code {code} is already in use; PUT or PATCH it to change it.")
    return _write_one(merchant, data)


def put_sku(merchant: MerchantPrincipal, code: str, data: Mapping[str, Any]) -> tuple[dict, bool]:
    """PUT: replace the SKU (or create it); returns the document and whether it was created."""
    body_code = str(data.get("sku") or code).strip().upper()
    if body_code != code.upper():
        raise ValidationFailed(errors={"sku": ["Does not match the SKU code in the URL."]})
    existed = _owned_sku_id(merchant, code) is not None
    document = _write_one(merchant, {**data, "sku": code.upper()})
    return document, not existed


def patch_sku(merchant: MerchantPrincipal, code: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH: a JSON merge patch (RFC 7396) on the merchant's view of the SKU."""
    current = get_merchant_sku(merchant, code)
    if "sku" in patch and str(patch["sku"]).strip().upper() != current["sku"]:
        raise ValidationFailed(errors={"sku": ["A SKU code cannot be changed; create a new SKU."]})
    editable = {
        key: current[key]
        for key in (
            "sku", "product_code", "category", "name", "description", "label",
            "origin_country", "hs_code", "weight_g", "shelf_life_days", "price", "active",
            "length_mm", "width_mm", "height_mm",
        )
    }  # fmt: skip
    merged = merge_patch(editable, patch)
    return _write_one(merchant, merged)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _owned_sku_id(merchant: MerchantPrincipal, code: str) -> int | None:
    return db.session.scalar(
        select(Sku.id)
        .join(Product, Product.id == Sku.product_id)
        .where(
            Sku.code == code.upper(),
            Product.merchant_id == merchant.merchant_id,
            Sku.deleted_at.is_(None),
        )
    )


def _write_one(merchant: MerchantPrincipal, data: Mapping[str, Any]) -> dict[str, Any]:
    report = upsert_skus(merchant, [IncomingRow(1, data)])
    outcome = report.outcomes[0]
    if outcome.action == "failed":
        if outcome.code_taken:
            raise SkuCodeTaken(outcome.errors["sku"][0])
        raise ValidationFailed(errors=outcome.errors, warnings=outcome.warnings or None)
    document = get_merchant_sku(merchant, outcome.sku or "")
    document["warnings"] = outcome.warnings
    return document


@retry_on_conflict()
def delete_sku(merchant: MerchantPrincipal, code: str) -> None:
    """Delete a SKU, unless an unshipped order still needs it (409: deactivate it instead).

    The row stays (orders and the audit point at it) but is gone from every
    listing; a product left with no live SKU leaves the storefront.
    """
    sku_id = _owned_sku_id(merchant, code)
    if sku_id is None:
        raise NotFound(f"No SKU {code}.")
    try:
        lock_merchant(merchant.merchant_id)
        in_orders = port(OpenOrdersPort).unshipped_lines(sku_id)
        if in_orders:
            raise Conflict(
                f"SKU {code.upper()} is in {in_orders} unshipped order line(s); "
                'deactivate it instead (PATCH {"active": false}).',
                code="sku_in_unshipped_orders",
            )
        sku = db.session.get(Sku, sku_id)
        now = utcnow()
        sku.deleted_at, sku.is_active = now, False
        db.session.add(
            SkuChange(
                sku_id=sku.id,
                merchant_id=merchant.merchant_id,
                token_id=merchant.token_id,
                actor=merchant.actor,
                action="deleted",
                changes={"deleted_at": [None, now.isoformat()]},
            )
        )
        db.session.flush()
        hide_products_without_live_skus({sku.product_id})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
