"""The records out: one order's record as customs sees it (in CNY, its goods lines),
its JSON, and ``Unreconciled``, the order that cannot have one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orders.customs.order_records.facts import ShipmentFacts
from orders.customs.order_records.reference import CNY, FEN, ceb_codes
from shop.core.clock import iso_utc

BUYER_ID_TYPE_PRC_ID_CARD = "1"
ORDER_TYPE_IMPORT = "I"


@dataclass(frozen=True)
class GoodsLine:
    gnum: int
    item_no: str
    item_name: str  # Chinese
    gmodel: str
    item_describe: str
    unit: str
    quantity: int
    price: Decimal  # CNY
    total_price: Decimal  # CNY
    country: str  # customs 3-digit code
    origin_country: str  # ISO alpha-2
    hs_code: str

    @property
    def note(self) -> str:
        return f"HS {self.hs_code}"

    def as_json(self) -> dict[str, Any]:
        return {
            "gnum": self.gnum,
            "item_no": self.item_no,
            "item_name": self.item_name,
            "gmodel": self.gmodel,
            "item_describe": self.item_describe,
            "hs_code": self.hs_code,
            "unit": self.unit,
            "quantity": self.quantity,
            "price": money_text(self.price),
            "total_price": money_text(self.total_price),
            "origin_country": self.origin_country,
            "country": self.country,
        }


@dataclass(frozen=True)
class OrderRecord:
    order_no: str
    order_status: str
    first_shipped_at: datetime
    buyer_reg_no: str
    buyer_name: str
    buyer_telephone: str
    buyer_id_number: str  # in full when available, else masked
    buyer_id_number_masked: str
    id_number_available: bool
    consignee: str
    consignee_telephone: str
    consignee_address: str
    goods: tuple[GoodsLine, ...]
    goods_value: Decimal
    freight: Decimal
    insurance: Decimal
    discount: Decimal
    tax_total: Decimal
    actual_paid: Decimal
    tax_status: str  # "assessed" (collected at checkout) | "not_assessed"
    shipments: tuple[ShipmentFacts, ...]
    pay_name: str | None = None
    pay_transaction_id: str | None = None
    conversion: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def customs_modes(self) -> list[str]:
        return sorted({s.customs_mode for s in self.shipments if s.customs_mode})

    @property
    def nodes(self) -> list[str]:
        return sorted({s.node for s in self.shipments})

    @property
    def note(self) -> str:
        parts = [
            "Corridor " + "+".join(self.customs_modes) + " from " + ", ".join(self.nodes) + "."
        ]
        if self.conversion:
            parts.append(
                f"Amounts converted from {self.conversion['from']} to CNY at the order's "
                f"rates (factor {self.conversion['factor']})."
            )
        if not self.id_number_available:
            parts.append("Full ID number not available: masked.")
        if self.tax_status != "assessed":
            parts.append("Tax not assessed at checkout.")
        return " ".join(parts)[:1000]

    def as_json(self) -> dict[str, Any]:
        return {
            "order_no": self.order_no,
            "order_status": self.order_status,
            "first_shipped_at": iso_utc(self.first_shipped_at),
            "order_type": ORDER_TYPE_IMPORT,
            "currency": CNY,
            "customs_currency": ceb_codes().currency_for(CNY),
            "goods_value": money_text(self.goods_value),
            "freight": money_text(self.freight),
            "insurance": money_text(self.insurance),
            "discount": money_text(self.discount),
            "tax_total": money_text(self.tax_total),
            "tax_status": self.tax_status,
            "actual_paid": money_text(self.actual_paid),
            "buyer": {
                "reg_no": self.buyer_reg_no,
                "name": self.buyer_name,
                "telephone": self.buyer_telephone,
                "id_type": BUYER_ID_TYPE_PRC_ID_CARD,
                "id_number": self.buyer_id_number,
                "id_number_masked": self.buyer_id_number_masked,
            },
            "id_number_available": self.id_number_available,
            "payment": {"name": self.pay_name, "transaction_id": self.pay_transaction_id},
            "consignee": {
                "name": self.consignee,
                "telephone": self.consignee_telephone,
                "address": self.consignee_address,
            },
            "customs_modes": self.customs_modes,
            "nodes": self.nodes,
            "shipments": [shipment_json(s) for s in self.shipments],
            "goods": [line.as_json() for line in self.goods],
            "conversion": self.conversion,
            "warnings": list(self.warnings),
        }

    def summary_json(self) -> dict[str, Any]:
        """The record as the admin page lists it: the ID masked, whatever is available."""
        return {
            "order_no": self.order_no,
            "first_shipped_at": iso_utc(self.first_shipped_at),
            "buyer_name": self.buyer_name,
            "buyer_id_number_masked": self.buyer_id_number_masked,
            "id_number_available": self.id_number_available,
            "customs_modes": self.customs_modes,
            "nodes": self.nodes,
            "goods_lines": len(self.goods),
            "actual_paid": money_text(self.actual_paid),
            "warnings": list(self.warnings),
        }


class Unreconciled(Exception):
    """An order whose figures do not add up, or that lacks what the record needs."""

    def __init__(self, order_no: str, reasons: tuple[str, ...]):
        super().__init__(f"{order_no}: " + " ".join(reasons))
        self.order_no = order_no
        self.reasons = reasons

    def as_json(self) -> dict[str, Any]:
        return {"order_no": self.order_no, "reasons": list(self.reasons)}


def money_text(amount: Decimal) -> str:
    """An amount as the record and the XML print it: to the fen, never in exponent form."""
    return str(amount.quantize(FEN))


def shipment_json(shipment: ShipmentFacts) -> dict[str, Any]:
    """A parcel of the order as the record's JSON lists it."""
    return {
        "id": shipment.id,
        "node": shipment.node,
        "customs_mode": shipment.customs_mode,
        "lane": shipment.lane,
        "status": shipment.status,
        "shipped_at": iso_utc(shipment.shipped_at),
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
    }
