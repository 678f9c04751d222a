"""Carts, orders and what hangs off them: lines, history, payments, webhook events.

Money columns are NUMERIC with their currency beside them; every figure an
order was priced with (rates, duties and their inputs, the routing plan) is
kept on it, so an operator can explain a charge a year later.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orders.lifecycle import ORDER_STATUSES, UNSHIPPED_STATUSES
from shop.core.clock import utcnow
from shop.core.extensions import db

STATUSES = ORDER_STATUSES
__all__ = ["STATUSES", "UNSHIPPED_STATUSES", "Order", "OrderEvent", "OrderLine", "Payment"]


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customs_id_year", "customs_id_hash", "placed_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending_payment", index=True)
    currency: Mapped[str] = mapped_column(String(3))
    destination_country: Mapped[str] = mapped_column(String(2))
    # The shopper's secret for this order, as sha256: it is shown once, at checkout.
    token_hash: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    shipping_address: Mapped[dict] = mapped_column(JSON, default=dict)
    # China's real-name rule: the buyer's name, and the ID number only masked and as a
    # keyed hash (which is what the yearly allowance is counted by).
    customs_name: Mapped[str | None] = mapped_column(String(120))
    customs_id_masked: Mapped[str | None] = mapped_column(String(32))
    customs_id_hash: Mapped[str | None] = mapped_column(String(64))
    # The full number, Fernet-encrypted (orders.customs.id_vault), for the customs order
    # record only; NULL for orders placed before it was kept.
    customs_id_encrypted: Mapped[str | None] = mapped_column(String(255))
    goods_total: Mapped[Decimal] = mapped_column(Numeric(19, 4), default=Decimal(0))
    shipping_total: Mapped[Decimal] = mapped_column(Numeric(19, 4), default=Decimal(0))
    # None when no policy covers the destination: unknown, never a false zero.
    duties_total: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    duties_status: Mapped[str] = mapped_column(String(12), default="unknown")
    grand_total: Mapped[Decimal] = mapped_column(Numeric(19, 4), default=Decimal(0))
    # The customs value in CNY for China orders (the CBEC limits are counted in it).
    dutiable_value_cny: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    duties: Mapped[dict] = mapped_column(JSON, default=dict)
    exchange_rates: Mapped[list] = mapped_column(JSON, default=list)
    payment_adapter: Mapped[str] = mapped_column(String(40), default="manual")
    payment_status: Mapped[str] = mapped_column(String(20), default="pending")
    paid_amount: Mapped[Decimal] = mapped_column(Numeric(19, 4), default=Decimal(0))
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(19, 4), default=Decimal(0))
    placed_on: Mapped[date | None] = mapped_column(Date)
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
    # In the order's currency, converted once at the order's rates.
    unit_price_amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    unit_price_currency: Mapped[str] = mapped_column(String(3))
    # What customs' order record needs, as it was when the order was placed.
    hs_code: Mapped[str] = mapped_column(String(10), default="")
    origin_country: Mapped[str] = mapped_column(String(2), default="")
    weight_g: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderEvent(db.Model):
    """The order's history: every status change and money event, who, when and why."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # status | payment | refund | note
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(500), default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payment(db.Model):
    """One attempt to take the order's money through an adapter (a retry is a new row).

    ``status``: creating (row written, provider not yet asked) -> requires_action |
    pending -> succeeded | failed | canceled | unavailable (provider down: retry);
    refunds are rows of their own.
    """

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("adapter", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    adapter: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(120))
    amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    currency: Mapped[str] = mapped_column(String(3))
    # The order's own amount this payment stands for, when ``amount`` was converted to
    # the provider's currency at the order's rates (None: same currency as the order).
    order_amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    status: Mapped[str] = mapped_column(String(20))
    next_action: Mapped[dict] = mapped_column(JSON, default=dict)
    # For money recorded by an operator: the bank transfer's or receipt's reference.
    received_reference: Mapped[str] = mapped_column(String(120), default="")
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Refund(db.Model):
    """Money going back, written with the cancel that owes it (an outbox row): the
    adapter is called after commit, and a lost call is found again by its state."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    currency: Mapped[str] = mapped_column(String(3))
    # requested -> succeeded | pending (manual: an operator pays back) | failed
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    reference: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ProviderEvent(db.Model):
    """Webhook events already applied, by the provider's event id: a replay is ignored."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("adapter", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    adapter: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Cart(db.Model):
    """An anonymous cart: its id is public, its token (kept as sha256) is the shopper's."""

    __tablename__ = "carts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )

    lines: Mapped[list[CartLine]] = relationship(
        order_by="CartLine.id", cascade="all, delete-orphan"
    )


class CartLine(db.Model):
    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "sku_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
