"""Fulfilment nodes, stock per SKU per node, and the staff who work there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models import Localized, Sku, utcnow
from shop.extensions import db


class Node(Localized, db.Model):
    """The Russian overseas warehouse or a border transshipment depot."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # warehouse | depot
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(120))
    name_ru: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))
    # Destination countries this node serves by default. The routing issue
    # replaces this list by lanes (legs, carriers, limits); until then it is
    # what "which nodes could ship it there" reads.
    ships_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class StockLevel(db.Model):
    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("sku_id", "node_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    sku: Mapped[Sku] = relationship()
    node: Mapped[Node] = relationship()

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Staff(db.Model):
    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("role IN ('picker', 'operator')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))
    role: Mapped[str] = mapped_column(String(20), default="picker")
    password_hash: Mapped[str] = mapped_column(String(256))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    node: Mapped[Node | None] = relationship()
