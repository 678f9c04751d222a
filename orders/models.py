"""Orders and their lines, as far as merchants and stock need them today.

The checkout issue builds carts, totals, shipments and payments on these
tables; merchant order listings and the "SKU in an unshipped order" rule
already read them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models import utcnow
from shop.extensions import db

# Until one of these, an order still needs its goods: its SKUs stay.
UNSHIPPED_STATUSES = ("pending_payment", "paid", "picking", "packed")
STATUSES = (*UNSHIPPED_STATUSES, "shipped", "delivered", "cancelled", "refunded", "expired")


class Order(db.Model):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending_payment", index=True)
    currency: Mapped[str] = mapped_column(String(3))
    destination_country: Mapped[str] = mapped_column(String(2))
    # Unpaid orders hold stock until then; the expiry job releases it.
    reservation_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id")


class OrderLine(db.Model):
    __tablename__ = "order_lines"
    __table_args__ = (Index("ix_order_lines_merchant_order", "merchant_id", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    # Denormalized so that a merchant's order listing is one indexed read.
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sku_code: Mapped[str] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    unit_price_currency: Mapped[str] = mapped_column(String(3))

    order: Mapped[Order] = relationship(back_populates="lines")
