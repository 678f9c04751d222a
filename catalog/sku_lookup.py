"""SKUs looked up by code, for pages that show lines someone else recorded (an order
keeps its lines' names in English, for staff and customs papers)."""

from __future__ import annotations

from sqlalchemy import select

from catalog.models import Product, Sku
from shop.core.extensions import db


def names_in_language(sku_codes: list[str], lang: str) -> dict[str, str]:
    """Each SKU's product name in ``lang``, with the SKU's label when it has one:
    ``{"HON-1": "Altai honey (500 g)"}``. Codes of SKUs that no longer exist are left
    out."""
    if not sku_codes:
        return {}
    rows = db.session.execute(
        select(Sku, Product).join(Product, Product.id == Sku.product_id)
        .where(Sku.code.in_(sku_codes))
    ).all()  # fmt: skip
    names = {}
    for sku, product in rows:
        label = sku.localized("label", lang)
        name = product.localized("name", lang)
        names[sku.code] = f"{name} ({label})" if label else name
    # A read only: end its transaction rather than hold it open while the page renders.
    db.session.rollback()
    return names
