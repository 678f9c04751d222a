"""The merchant's view of its orders, and what orders tell the catalog about a SKU.

A merchant sees only the orders that hold its SKUs, and in them only its own
lines. ``UnshippedOrderLines`` answers the catalog's ``OpenOrdersPort`` (a SKU
still in an order not shipped yet must not be deleted); ``shop.app`` connects it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from catalog.money import Money
from orders.models import UNSHIPPED_STATUSES, Order, OrderLine
from shop.core.auth import MerchantPrincipal
from shop.core.clock import as_utc, iso_utc
from shop.core.extensions import db


def list_merchant_orders(
    merchant: MerchantPrincipal,
    *,
    status: str | None = None,
    created_since: datetime | None = None,
    created_until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """Orders holding the merchant's SKUs, with only the merchant's own lines."""
    orders = (
        select(Order)
        .where(
            Order.id.in_(
                select(OrderLine.order_id).where(OrderLine.merchant_id == merchant.merchant_id)
            )
        )
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    if status:
        orders = orders.where(Order.status == status)
    if created_since:
        orders = orders.where(Order.created_at >= as_utc(created_since))
    if created_until:
        orders = orders.where(Order.created_at < as_utc(created_until))
    total = db.session.scalar(select(func.count()).select_from(orders.order_by(None).subquery()))
    page_rows = db.session.scalars(orders.limit(per_page).offset((page - 1) * per_page)).all()
    lines: dict[int, list[dict[str, Any]]] = {}
    if page_rows:
        for line in db.session.scalars(
            select(OrderLine)
            .where(
                OrderLine.order_id.in_([o.id for o in page_rows]),
                OrderLine.merchant_id == merchant.merchant_id,
            )
            .order_by(OrderLine.id)
        ):
            lines.setdefault(line.order_id, []).append(
                {
                    "sku": line.sku_code,
                    "name": line.product_name,
                    "quantity": line.quantity,
                    "unit_price": Money(
                        Decimal(line.unit_price_amount), line.unit_price_currency
                    ).as_json(),
                }
            )
    return {
        "items": [
            {
                "number": order.number,
                "status": order.status,
                "destination_country": order.destination_country,
                "created_at": iso_utc(order.created_at),
                "lines": lines.get(order.id, []),
            }
            for order in page_rows
        ],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": -(-total // per_page),
    }


class UnshippedOrderLines:
    """``catalog.ports.OpenOrdersPort`` over the order lines."""

    def unshipped_lines(self, sku_id: int) -> int:
        return db.session.scalar(
            select(func.count(OrderLine.id))
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.sku_id == sku_id, Order.status.in_(UNSHIPPED_STATUSES))
        )
