"""What the database holds about an order, as plain data (``load`` reads it), so that
the builder is pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class LineFacts:
    sku: str
    quantity: int
    unit_price: Decimal  # order currency, as charged
    currency: str
    name_en: str  # as sold (the order line keeps it)
    name_zh: str | None  # the product's Chinese name now
    label_zh: str | None
    label_en: str | None
    category: str
    hs_code: str
    origin_country: str
    weight_g: int


@dataclass(frozen=True)
class ShipmentFacts:
    id: int
    node: str
    customs_mode: str | None
    lane: str | None
    status: str
    shipped_at: datetime | None
    carrier: str | None
    tracking_number: str | None


@dataclass(frozen=True)
class OrderFacts:
    """What the database holds about one order, as plain data: the builder is pure."""

    number: str
    status: str
    currency: str
    email: str
    shipping_address: dict[str, Any]
    customs_name: str | None
    id_masked: str | None
    id_encrypted: str | None
    goods_total: Decimal
    shipping_total: Decimal
    duties_total: Decimal | None
    duties_status: str
    duties_reason: str | None
    grand_total: Decimal
    paid_amount: Decimal
    exchange_rates: list[dict[str, str]]
    first_shipped_at: datetime
    lines: tuple[LineFacts, ...]
    shipments: tuple[ShipmentFacts, ...]
    pay_adapter: str | None = None
    pay_reference: str | None = None
