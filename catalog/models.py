"""Catalog tables: categories, merchants, products, SKUs, exchange rates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.money import Money
from shop.core.clock import utcnow
from shop.core.extensions import db


class Localized:
    """Columns ``<field>_en``, ``<field>_ru``, ``<field>_zh``; English is the fallback."""

    def localized(self, field: str, lang: str) -> str:
        return getattr(self, f"{field}_{lang}", None) or getattr(self, f"{field}_en")


class Category(Localized, db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name_en: Mapped[str] = mapped_column(String(120))
    name_ru: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))
    # The HS chapters goods of this category usually fall in; merchant
    # uploads warn when an HS code lands elsewhere.
    hs_chapters: Mapped[list[str]] = mapped_column(JSON, default=list)


class Merchant(db.Model):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Demo accounts made by `seed`; `serve` reissues their credentials.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    seed_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Product(Localized, db.Model):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("merchant_id", "code"),
        Index("ix_products_category_active", "category_id", "is_active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    code: Mapped[str] = mapped_column(String(64))
    origin_country: Mapped[str] = mapped_column(String(2), index=True)
    hs_code: Mapped[str] = mapped_column(String(10))
    name_en: Mapped[str] = mapped_column(String(300))
    name_ru: Mapped[str | None] = mapped_column(String(300))
    name_zh: Mapped[str | None] = mapped_column(String(300))
    description_en: Mapped[str] = mapped_column(Text, default="")
    description_ru: Mapped[str | None] = mapped_column(Text)
    description_zh: Mapped[str | None] = mapped_column(Text)
    # Folded names, descriptions and codes (catalog.search): one LIKE per term
    # on any database, whatever the script.
    search_text: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    merchant: Mapped[Merchant] = relationship()
    category: Mapped[Category] = relationship()
    skus: Mapped[list[Sku]] = relationship(back_populates="product", order_by="Sku.id")


class Sku(Localized, db.Model):
    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("price_amount > 0", name="price_positive"),
        CheckConstraint("weight_g > 0", name="weight_positive"),
        CheckConstraint("shelf_life_days >= 0", name="shelf_life_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    # Globally unique: order lines name a SKU by its code alone.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label_en: Mapped[str | None] = mapped_column(String(120))
    label_ru: Mapped[str | None] = mapped_column(String(120))
    label_zh: Mapped[str | None] = mapped_column(String(120))
    # NUMERIC, never float: 4 places leave room for currencies with 3 minor digits.
    price_amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    price_currency: Mapped[str] = mapped_column(String(3))
    weight_g: Mapped[int] = mapped_column(Integer)
    shelf_life_days: Mapped[int] = mapped_column(Integer, default=0)
    # One unit's outer size as packed, in whole millimetres (carriers get centimetres,
    # rounded up, at their edge); NULL when the merchant gave none.
    length_mm: Mapped[int | None] = mapped_column(Integer)
    width_mm: Mapped[int | None] = mapped_column(Integer)
    height_mm: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Deleted SKUs stay as rows (orders, stock history and the audit point at
    # them) but vanish from every listing; their code stays taken.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )

    product: Mapped[Product] = relationship(back_populates="skus")

    @property
    def price(self) -> Money:
        return Money(Decimal(self.price_amount), self.price_currency)

    @property
    def dimensions_mm(self) -> tuple[int, int, int] | None:
        if self.length_mm and self.width_mm and self.height_mm:
            return (self.length_mm, self.width_mm, self.height_mm)
        return None

    def localized(self, field: str, lang: str) -> str | None:
        return getattr(self, f"{field}_{lang}", None) or getattr(self, f"{field}_en")


class ExchangeRate(db.Model):
    """1 ``base_currency`` = ``rate`` ``quote_currency`` from ``effective_on`` on.

    Rates are never edited: a new day or a correction is a new row.
    """

    __tablename__ = "exchange_rates"
    __table_args__ = (
        UniqueConstraint("base_currency", "quote_currency", "effective_on", "source"),
        CheckConstraint("rate > 0", name="rate_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    base_currency: Mapped[str] = mapped_column(String(3))
    quote_currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(24, 10))
    effective_on: Mapped[date] = mapped_column(Date, index=True)
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SkuChange(db.Model):
    """Who changed a SKU, when, and what: ``changes`` is ``{field: [before, after]}``.

    Price history is read from here; rows are only ever added.
    """

    __tablename__ = "sku_changes"
    __table_args__ = (Index("ix_sku_changes_sku_id_at", "sku_id", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    # The API token that made the change; NULL when an operator ran the CLI.
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(20))  # created | updated | deleted
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
