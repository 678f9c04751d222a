"""China's cross-border order records (the platform's part of the "three documents").

For every order to mainland China whose first parcel left on a given China day
(Asia/Shanghai), the record a customs broker submits: the order number, the
platform's and the seller's customs codes, the goods (HS code, Chinese name,
quantity, unit, unit price, total, origin), freight, insurance, tax, discount,
what was actually paid, the buyer's real name and full PRC ID number, the payer,
the recipient and address, in CNY; plus the corridor (9610 direct purchase /
1210 bonded) and the node of each parcel.

The XML is **CEB311-style**: element names and order follow China customs' CEB311
order message (``CEB311Message`` / ``Order`` / ``OrderHead`` + ``OrderList`` /
``BaseTransfer``) as far as we know it, and it is validated against our own
schema (``schemas/ceb311.xsd``), not the customs' one. It is not certified: a
broker validates and signs it before submitting. Our additions live in one
element of another namespace after ``BaseTransfer``.

Money: each record is in CNY. An order priced in another currency is converted
with the rates the order itself stored at checkout (``Order.exchange_rates``),
each figure rounded to the fen, and the record says so (``conversion``).

Reconciliation: before an order is exported its figures must add up in its own
currency: the lines to its goods total, goods + freight + insurance + tax −
discount to its grand total, and what was paid must cover it. An order that does
not is reported in ``problems`` and left out of the XML, never exported quietly.

The full ID number is decrypted here and nowhere else; orders placed before it
was kept, or whose ciphertext the configured key cannot read, carry the masked
number and ``id_number_available: false``. The audit entry of an export names the
orders, never an ID number.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from catalog.models import Category, Product, Sku
from catalog.money import ExchangeRateQuote, RateTable, UnknownCurrency, round_to_currency
from orders.customs import id_vault
from orders.models import Order, OrderLine, Payment
from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import DomainError, register_problem_types
from shop.core.extensions import db
from warehouse.models import Node, Shipment

CHINA_TIME = ZoneInfo("Asia/Shanghai")
CNY = "CNY"
ZERO = Decimal(0)
FEN = Decimal("0.01")
MAX_WINDOW_DAYS = 31
MESSAGE_VERSION = "1.0"
CEB_NAMESPACE = "http://www.chinaport.gov.cn/ceb"
EXTENSION_NAMESPACE = "urn:sco-pavilion:ceb311-extension:1"
GENERATOR = "SCO Pavilion customs order records (CEB311-style, not certified)"
# Shipments that no longer carry goods: a re-routed parcel was replaced by others.
GONE_SHIPMENT_STATUSES = ("cancelled", "rerouted")
# appType 1 = a new record; appStatus 2 = declared (1 would be "stored as draft").
APP_TYPE_NEW = "1"
APP_STATUS_DECLARED = "2"
BUYER_ID_TYPE_PRC_ID_CARD = "1"
ORDER_TYPE_IMPORT = "I"

ET.register_namespace("ceb", CEB_NAMESPACE)
ET.register_namespace("pav", EXTENSION_NAMESPACE)

register_problem_types(
    {
        "customs_codes_not_configured": (
            "The platform's or the seller's customs codes are not set, so no valid order "
            "message can be made; `missing` names the settings."
        )
    }
)


class CustomsCodesNotConfigured(DomainError):
    status = 409
    code = "customs_codes_not_configured"
    title = "Customs codes not configured"


# ------------------------------------------------------------------ reference data


@dataclass(frozen=True)
class CebCodes:
    """China customs parameter codes (units, countries, currencies), as dated data."""

    version: str
    default_unit: str
    unit_by_category: dict[str, str]
    countries: dict[str, str]
    currencies: dict[str, str]

    def unit_for(self, category: str) -> str:
        return self.unit_by_category.get(category, self.default_unit)

    def country_for(self, iso_alpha2: str) -> str | None:
        return self.countries.get((iso_alpha2 or "").upper())

    def currency_for(self, iso_code: str) -> str:
        return self.currencies[iso_code]


@cache
def ceb_codes() -> CebCodes:
    raw = json.loads(
        resources.files("orders.customs").joinpath("rules/ceb_codes.json").read_text("utf-8")
    )
    return CebCodes(
        version=raw["version"],
        default_unit=raw["default_unit"],
        unit_by_category=dict(raw["unit_by_category"]),
        countries=dict(raw["countries"]),
        currencies=dict(raw["currencies"]),
    )


def schema_path():
    """Our XSD (it imports the extension's, beside it): for tests and brokers' tooling."""
    return resources.files("orders.customs").joinpath("schemas/ceb311.xsd")


@dataclass(frozen=True)
class CustomsParties:
    """Who the record names: the platform (电商平台) and the seller (电商企业)."""

    platform_code: str
    platform_name: str
    enterprise_code: str
    enterprise_name: str

    @classmethod
    def from_config(cls, config) -> CustomsParties:
        return cls(
            platform_code=(config.get("CUSTOMS_PLATFORM_CODE") or "").strip(),
            platform_name=(config.get("CUSTOMS_PLATFORM_NAME") or "").strip(),
            enterprise_code=(config.get("CUSTOMS_ENTERPRISE_CODE") or "").strip(),
            enterprise_name=(config.get("CUSTOMS_ENTERPRISE_NAME") or "").strip(),
        )

    def missing(self) -> list[str]:
        settings = {
            "PAVILION_CUSTOMS_PLATFORM_CODE": self.platform_code,
            "PAVILION_CUSTOMS_PLATFORM_NAME": self.platform_name,
            "PAVILION_CUSTOMS_ENTERPRISE_CODE": self.enterprise_code,
            "PAVILION_CUSTOMS_ENTERPRISE_NAME": self.enterprise_name,
        }
        return [name for name, value in settings.items() if not value]

    def as_json(self) -> dict[str, str]:
        return {
            "platform_code": self.platform_code,
            "platform_name": self.platform_name,
            "enterprise_code": self.enterprise_code,
            "enterprise_name": self.enterprise_name,
        }


# ------------------------------------------------------------------ the window


@dataclass(frozen=True)
class ExportWindow:
    """China days, first and last included."""

    first_day: date
    last_day: date

    def __post_init__(self):
        if self.last_day < self.first_day:
            raise ValueError("the window ends before it starts")

    @property
    def label(self) -> str:
        if self.first_day == self.last_day:
            return self.first_day.isoformat()
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: China midnight of the first day to that of the day after."""
        start = datetime.combine(self.first_day, time(0), tzinfo=CHINA_TIME)
        end = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=CHINA_TIME)
        return start.astimezone(UTC), end.astimezone(UTC)


# ------------------------------------------------------------------ facts in


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


# ------------------------------------------------------------------ records out


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
            "price": _money(self.price),
            "total_price": _money(self.total_price),
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
            "goods_value": _money(self.goods_value),
            "freight": _money(self.freight),
            "insurance": _money(self.insurance),
            "discount": _money(self.discount),
            "tax_total": _money(self.tax_total),
            "tax_status": self.tax_status,
            "actual_paid": _money(self.actual_paid),
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
            "shipments": [_shipment_json(s) for s in self.shipments],
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
            "actual_paid": _money(self.actual_paid),
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


# ------------------------------------------------------------------ the builder (pure)


def build_record(
    facts: OrderFacts,
    codes: CebCodes,
    decrypt: Callable[[str], str] | None,
) -> OrderRecord:
    """One order's record, or ``Unreconciled`` naming every reason it cannot be made.

    ``decrypt`` turns the stored ciphertext into the full ID number (None: show the
    masked one). The arithmetic is checked in the order's currency, where it must be
    exact, before anything is converted.
    """
    reasons: list[str] = []
    warnings: list[str] = []
    currency = facts.currency
    discount = ZERO  # the shop sells no discounts yet
    insurance = ZERO  # no insurance is sold: customs' insured fee is zero
    tax = facts.duties_total if facts.duties_total is not None else ZERO

    lines_sum = sum((line.unit_price * line.quantity for line in facts.lines), ZERO)
    if any(line.currency != currency for line in facts.lines):
        reasons.append(f"Some lines are not priced in the order currency {currency}.")
    if lines_sum != facts.goods_total:
        reasons.append(
            f"The lines add up to {_money(lines_sum)} {currency}, the order's goods total "
            f"is {_money(facts.goods_total)}."
        )
    expected = facts.goods_total + facts.shipping_total + insurance + tax - discount
    if expected != facts.grand_total:
        reasons.append(
            f"Goods + freight + insurance + tax - discount = {_money(expected)} {currency}, "
            f"but the order's grand total is {_money(facts.grand_total)}."
        )
    if facts.paid_amount < facts.grand_total:
        reasons.append(
            f"Paid {_money(facts.paid_amount)} {currency} of a grand total of "
            f"{_money(facts.grand_total)}."
        )
    if facts.duties_total is None:
        warnings.append(
            "Tax was not assessed at checkout"
            + (f" ({facts.duties_reason})" if facts.duties_reason else "")
            + ": the record declares 0 and customs will assess it."
        )
    if not facts.customs_name:
        reasons.append("The order has no buyer's real name (订购人).")
    if not facts.shipments:
        reasons.append("The order has no parcel left to clear.")
    for shipment in facts.shipments:
        if shipment.customs_mode not in ("9610", "1210"):
            reasons.append(
                f"Shipment {shipment.id} from {shipment.node} has no CBEC customs mode "
                "(9610 or 1210)."
            )
    if facts.status in ("cancelled", "refunded", "partially_refunded"):
        warnings.append(f"The order is {facts.status.replace('_', ' ')}.")

    try:
        factor, conversion_quotes = _factor_to_cny(currency, facts.exchange_rates)
    except UnknownCurrency:
        reasons.append(f"The order stored no exchange rate from {currency} to CNY.")
        factor, conversion_quotes = Decimal(1), []

    goods: list[GoodsLine] = []
    for gnum, line in enumerate(facts.lines, 1):
        country = codes.country_for(line.origin_country)
        if country is None:
            reasons.append(
                f"Line {gnum} ({line.sku}): origin {line.origin_country or '(none)'} has no "
                "customs country code in rules/ceb_codes.json."
            )
            country = "000"
        name_zh = (line.name_zh or "").strip()
        if not name_zh:
            warnings.append(
                f"Line {gnum} ({line.sku}) has no Chinese name: the English one is used."
            )
        price = _cny(line.unit_price * factor)
        goods.append(
            GoodsLine(
                gnum=gnum,
                item_no=line.sku,
                item_name=(name_zh or line.name_en)[:255],
                gmodel=_model(line)[:255],
                item_describe=line.name_en[:1000],
                unit=codes.unit_for(line.category),
                quantity=line.quantity,
                price=price,
                total_price=price * line.quantity,
                country=country,
                origin_country=line.origin_country,
                hs_code=line.hs_code,
            )
        )
    if reasons:
        raise Unreconciled(facts.number, tuple(reasons))

    goods_value = sum((line.total_price for line in goods), ZERO)
    freight = _cny(facts.shipping_total * factor)
    tax_total = _cny(tax * factor)
    actual_paid = goods_value + freight + insurance + tax_total - discount
    conversion = None
    if currency != CNY:
        # Each figure is rounded to the fen on its own, so their sum may differ from the
        # converted grand total by those roundings (half a fen each, at most).
        converted_total = _cny(facts.grand_total * factor)
        difference = actual_paid - converted_total
        roundings = sum(line.quantity for line in goods) + 2
        if abs(difference) > FEN / 2 * roundings:
            raise Unreconciled(
                facts.number,
                (f"Converted to CNY the figures add up to {_money(actual_paid)}, the grand "
                 f"total converts to {_money(converted_total)}.",),
            )  # fmt: skip
        conversion = {
            "from": currency,
            "to": CNY,
            "factor": _exact(factor),
            "rates": conversion_quotes,
            "order_grand_total": {"amount": _money(facts.grand_total), "currency": currency},
            "order_grand_total_in_cny": _money(converted_total),
            "rounding_difference": _money(difference),
            "method": "the order's own rates; each unit price, the freight and the tax "
            "rounded half up to the fen; totals are sums of the rounded figures",
        }
    _assert_adds_up(facts.number, goods, goods_value, freight, insurance, tax_total, discount,
                    actual_paid)  # fmt: skip

    id_available = False
    id_number = facts.id_masked or ""
    if facts.id_encrypted and decrypt is not None:
        try:
            id_number = decrypt(facts.id_encrypted)
            id_available = True
        except id_vault.UndecryptableIdNumber:
            warnings.append(
                "The stored ID number cannot be decrypted with the configured key: masked."
            )
    elif not facts.id_encrypted:
        warnings.append(
            "The order was placed before full ID numbers were kept: the ID is masked; "
            "ask the buyer for it before submitting."
        )
    if not id_number:
        raise Unreconciled(facts.number, ("The order has no buyer's ID number.",))

    address = facts.shipping_address or {}
    phone = (address.get("phone") or "").strip()
    return OrderRecord(
        order_no=facts.number,
        order_status=facts.status,
        first_shipped_at=facts.first_shipped_at,
        buyer_reg_no=(facts.email or facts.number)[:60],
        buyer_name=(facts.customs_name or "")[:60],
        buyer_telephone=phone[:60] or "-",
        buyer_id_number=id_number,
        buyer_id_number_masked=facts.id_masked or "",
        id_number_available=id_available,
        consignee=(address.get("recipient") or facts.customs_name or "")[:100],
        consignee_telephone=phone[:60] or "-",
        consignee_address=_address_line(address)[:255],
        goods=tuple(goods),
        goods_value=goods_value,
        freight=freight,
        insurance=insurance,
        discount=discount,
        tax_total=tax_total,
        actual_paid=actual_paid,
        tax_status="assessed" if facts.duties_total is not None else "not_assessed",
        shipments=facts.shipments,
        pay_name=_pay_name(facts.pay_adapter),
        pay_transaction_id=(facts.pay_reference or None),
        conversion=conversion,
        warnings=tuple(warnings),
    )


def _assert_adds_up(number, goods, goods_value, freight, insurance, tax, discount, paid) -> None:
    """The identity customs checks on every record; a failure here is a bug, not data."""
    if sum((line.total_price for line in goods), ZERO) != goods_value:
        raise AssertionError(f"{number}: goods lines do not add up to goodsValue")
    if any(line.price * line.quantity != line.total_price for line in goods):
        raise AssertionError(f"{number}: a line's price x qty is not its total")
    if goods_value + freight + insurance + tax - discount != paid:
        raise AssertionError(f"{number}: goods + freight + insurance + tax - discount != paid")


def _factor_to_cny(currency: str, stored: list[dict[str, str]]) -> tuple[Decimal, list[dict]]:
    if currency == CNY:
        return Decimal(1), []
    table = RateTable(
        [
            ExchangeRateQuote(
                base=quote["base"],
                quote=quote["quote"],
                rate=Decimal(str(quote["rate"])),
                effective_on=date.fromisoformat(quote["effective_on"]),
                source=quote.get("source", ""),
            )
            for quote in stored or []
        ]
    )
    conversion = table.conversion(currency, CNY)
    return conversion.factor, [quote.as_json() for quote in conversion.quotes]


def _model(line: LineFacts) -> str:
    """规格型号: the SKU's own label (in Chinese if it has one), else its weight."""
    label = (line.label_zh or line.label_en or "").strip()
    if label:
        return label
    return f"{line.weight_g}克" if line.weight_g else line.sku


def _address_line(address: dict[str, Any]) -> str:
    # Chinese order: province, city, street; the postcode last.
    parts = [address.get(key) for key in ("region", "city", "line1", "line2", "postal_code")]
    return " ".join(str(part).strip() for part in parts if part and str(part).strip()) or "-"


def _pay_name(adapter: str | None) -> str | None:
    names = {"stripe": "Stripe", "manual": "Bank transfer / cash (manual)"}
    if not adapter:
        return None
    return names.get(adapter, adapter)


def _cny(amount: Decimal) -> Decimal:
    return round_to_currency(amount, CNY)


def _money(amount: Decimal) -> str:
    return str(amount.quantize(FEN))


def _exact(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _shipment_json(shipment: ShipmentFacts) -> dict[str, Any]:
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


# ------------------------------------------------------------------ CEB311-style XML (pure)


def _ceb(name: str) -> str:
    return f"{{{CEB_NAMESPACE}}}{name}"


def _pav(name: str) -> str:
    return f"{{{EXTENSION_NAMESPACE}}}{name}"


# What XML 1.0 cannot carry at all, escaped or not (C0 controls but tab, LF and CR;
# surrogates; U+FFFE/U+FFFF). ElementTree would write them as they are, and the
# broker would get a message that does not parse.
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: Any) -> str:
    """``value`` as text an XML 1.0 document can hold (``<`` and ``&`` are escaped by
    the serializer; characters XML cannot hold are dropped)."""
    return _NOT_XML_CHARS.sub("", str(value))


def _text(parent: ET.Element, name: str, value: Any) -> None:
    text = "" if value is None else xml_safe(value)
    if text == "":
        return
    ET.SubElement(parent, _ceb(name)).text = text


def _guid() -> str:
    return str(uuid.uuid4()).upper()


def to_ceb311_xml(
    records: Iterable[OrderRecord],
    parties: CustomsParties,
    window: ExportWindow,
    *,
    generated_at: datetime,
    message_guid: str | None = None,
    codes: CebCodes | None = None,
) -> bytes:
    """One ``CEB311Message`` holding an ``Order`` per record, UTF-8 with a declaration."""
    codes = codes or ceb_codes()
    records = list(records)
    app_time = generated_at.astimezone(CHINA_TIME).strftime("%Y%m%d%H%M%S")
    cny = codes.currency_for(CNY)
    root = ET.Element(
        _ceb("CEB311Message"), {"guid": message_guid or _guid(), "version": MESSAGE_VERSION}
    )
    for record in records:
        order = ET.SubElement(root, _ceb("Order"))
        head = ET.SubElement(order, _ceb("OrderHead"))
        for name, value in (
            ("guid", _guid()),
            ("appType", APP_TYPE_NEW),
            ("appTime", app_time),
            ("appStatus", APP_STATUS_DECLARED),
            ("orderType", ORDER_TYPE_IMPORT),
            ("orderNo", record.order_no),
            ("ebpCode", parties.platform_code),
            ("ebpName", parties.platform_name),
            ("ebcCode", parties.enterprise_code),
            ("ebcName", parties.enterprise_name),
            ("goodsValue", _money(record.goods_value)),
            ("freight", _money(record.freight)),
            ("discount", _money(record.discount)),
            ("taxTotal", _money(record.tax_total)),
            ("acturalPaid", _money(record.actual_paid)),  # sic: customs' own spelling
            ("currency", cny),
            ("buyerRegNo", record.buyer_reg_no),
            ("buyerName", record.buyer_name),
            ("buyerTelephone", record.buyer_telephone),
            ("buyerIdType", BUYER_ID_TYPE_PRC_ID_CARD),
            ("buyerIdNumber", record.buyer_id_number),
            ("payName", record.pay_name),
            ("payTransactionId", (record.pay_transaction_id or "")[:60]),
            ("consignee", record.consignee),
            ("consigneeTelephone", record.consignee_telephone),
            ("consigneeAddress", record.consignee_address),
            ("note", record.note),
        ):
            _text(head, name, value)
        for line in record.goods:
            item = ET.SubElement(order, _ceb("OrderList"))
            for name, value in (
                ("gnum", line.gnum),
                ("itemNo", line.item_no),
                ("itemName", line.item_name),
                ("gmodel", line.gmodel),
                ("itemDescribe", line.item_describe),
                ("unit", line.unit),
                ("qty", line.quantity),
                ("price", _money(line.price)),
                ("totalPrice", _money(line.total_price)),
                ("currency", cny),
                ("country", line.country),
                ("note", line.note),
            ):
                _text(item, name, value)
    transfer = ET.SubElement(root, _ceb("BaseTransfer"))
    _text(transfer, "copCode", parties.enterprise_code)
    _text(transfer, "copName", parties.enterprise_name)
    _text(transfer, "dxpMode", "DXP")
    extension = ET.SubElement(
        root,
        _pav("Extension"),
        {
            "generator": GENERATOR,
            "codesVersion": codes.version,
            "windowFrom": window.first_day.isoformat(),
            "windowTo": window.last_day.isoformat(),
            "timezone": str(CHINA_TIME),
        },
    )
    for record in records:
        route = ET.SubElement(
            extension,
            _pav("OrderRoute"),
            {
                "orderNo": record.order_no,
                "customsModes": " ".join(record.customs_modes),
                "insuredFee": _money(record.insurance),
                "idNumberAvailable": "true" if record.id_number_available else "false",
                "taxStatus": record.tax_status,
            },
        )
        for shipment in record.shipments:
            attributes = {
                "id": str(shipment.id),
                "node": shipment.node,
                "customsMode": shipment.customs_mode or "",
                "status": shipment.status,
            }
            optional = {
                "lane": shipment.lane,
                "shippedAt": iso_utc(shipment.shipped_at),
                "carrier": shipment.carrier,
                "trackingNumber": shipment.tracking_number,
            }
            attributes |= {key: value for key, value in optional.items() if value}
            # Carrier names and tracking numbers come from carriers' answers.
            safe = {key: xml_safe(value) for key, value in attributes.items()}
            ET.SubElement(route, _pav("Shipment"), safe)
        if record.conversion:
            conversion = ET.SubElement(
                route,
                _pav("Conversion"),
                {
                    "from": record.conversion["from"],
                    "to": CNY,
                    "factor": record.conversion["factor"],
                    "orderGrandTotal": record.conversion["order_grand_total"]["amount"],
                    "roundingDifference": record.conversion["rounding_difference"],
                },
            )
            for quote in record.conversion["rates"]:
                ET.SubElement(
                    conversion,
                    _pav("Rate"),
                    {
                        "base": quote["base"],
                        "quote": quote["quote"],
                        "rate": quote["rate"],
                        "effectiveOn": quote["effective_on"],
                        "source": quote["source"],
                    },
                )
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------ reading (one query set)


def load_order_facts(window: ExportWindow) -> list[OrderFacts]:
    """Orders to CN whose first parcel was handed over in the window; four queries
    whatever the number of orders (orders, lines, shipments, payments)."""
    start, end = window.utc_bounds()
    first_shipped = (
        select(Shipment.order_id, func.min(Shipment.shipped_at).label("first_shipped_at"))
        .where(Shipment.shipped_at.is_not(None))
        .group_by(Shipment.order_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Order, first_shipped.c.first_shipped_at)
        .join(first_shipped, first_shipped.c.order_id == Order.id)
        .where(
            Order.destination_country == "CN",
            first_shipped.c.first_shipped_at >= start,
            first_shipped.c.first_shipped_at < end,
        )
        .order_by(first_shipped.c.first_shipped_at, Order.number)
    ).all()
    if not rows:
        return []
    order_ids = [order.id for order, _ in rows]
    lines: dict[int, list[LineFacts]] = {}
    for line, name_zh, label_zh, label_en, slug in db.session.execute(
        select(OrderLine, Product.name_zh, Sku.label_zh, Sku.label_en, Category.slug)
        .join(Sku, Sku.id == OrderLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(OrderLine.order_id.in_(order_ids))
        .order_by(OrderLine.order_id, OrderLine.id)
    ):
        lines.setdefault(line.order_id, []).append(
            LineFacts(
                sku=line.sku_code,
                quantity=line.quantity,
                unit_price=Decimal(line.unit_price_amount),
                currency=line.unit_price_currency,
                name_en=line.product_name,
                name_zh=name_zh,
                label_zh=label_zh,
                label_en=label_en,
                category=slug,
                hs_code=line.hs_code,
                origin_country=line.origin_country,
                weight_g=line.weight_g,
            )
        )
    shipments: dict[int, list[ShipmentFacts]] = {}
    for shipment, node in db.session.execute(
        select(Shipment, Node.code)
        .join(Node, Node.id == Shipment.node_id)
        .where(
            Shipment.order_id.in_(order_ids),
            Shipment.status.not_in(GONE_SHIPMENT_STATUSES),
        )
        .order_by(Shipment.order_id, Shipment.id)
    ):
        shipments.setdefault(shipment.order_id, []).append(
            ShipmentFacts(
                id=shipment.id,
                node=node,
                customs_mode=shipment.customs_mode,
                lane=shipment.lane_code,
                status=shipment.status,
                shipped_at=_aware(shipment.shipped_at),
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
            )
        )
    payments: dict[int, Payment] = {}
    for payment in db.session.scalars(
        select(Payment)
        .where(Payment.order_id.in_(order_ids), Payment.status == "succeeded")
        .order_by(Payment.order_id, Payment.id)
    ):
        payments[payment.order_id] = payment  # the latest that took the money
    facts = []
    for order, first_shipped_at in rows:
        payment = payments.get(order.id)
        duties = order.duties or {}
        facts.append(
            OrderFacts(
                number=order.number,
                status=order.status,
                currency=order.currency,
                email=order.email,
                shipping_address=dict(order.shipping_address or {}),
                customs_name=order.customs_name,
                id_masked=order.customs_id_masked,
                id_encrypted=order.customs_id_encrypted,
                goods_total=Decimal(order.goods_total),
                shipping_total=Decimal(order.shipping_total),
                duties_total=Decimal(order.duties_total)
                if order.duties_total is not None
                else None,
                duties_status=order.duties_status,
                duties_reason=duties.get("reason"),
                grand_total=Decimal(order.grand_total),
                paid_amount=Decimal(order.paid_amount),
                exchange_rates=list(order.exchange_rates or []),
                first_shipped_at=_aware(first_shipped_at),
                lines=tuple(lines.get(order.id, [])),
                shipments=tuple(shipments.get(order.id, [])),
                pay_adapter=payment.adapter if payment else order.payment_adapter,
                pay_reference=(payment.received_reference or payment.reference)
                if payment
                else None,
            )
        )
    return facts


def _aware(moment):
    # SQLite hands back naive datetimes for timezone-aware columns; they are UTC here.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


# ------------------------------------------------------------------ the use case


@dataclass
class CustomsExport:
    window: ExportWindow
    parties: CustomsParties
    generated_at: datetime
    records: list[OrderRecord] = field(default_factory=list)
    problems: list[Unreconciled] = field(default_factory=list)
    xml: bytes | None = None  # made on demand: it needs the customs codes configured

    def as_json(self) -> dict[str, Any]:
        return {
            "format": "customs-order-records/1",
            "message_type": "CEB311-style (validated against our own schema, not certified)",
            "window": {
                "from": self.window.first_day.isoformat(),
                "to": self.window.last_day.isoformat(),
                "timezone": str(CHINA_TIME),
                "by": "the China day the order's first parcel was handed to the carrier",
            },
            "generated_at": iso_utc(self.generated_at),
            "parties": self.parties.as_json(),
            "missing_settings": self.parties.missing(),
            "codes_version": ceb_codes().version,
            "records": [record.as_json() for record in self.records],
            "problems": [problem.as_json() for problem in self.problems],
            "totals": {
                "orders": len(self.records),
                "actual_paid": _money(sum((r.actual_paid for r in self.records), ZERO)),
                "currency": CNY,
            },
        }

    def summary_json(self) -> dict[str, Any]:
        """For the admin page: masked IDs only."""
        return {
            "window": self.as_json()["window"],
            "records": [record.summary_json() for record in self.records],
            "problems": [problem.as_json() for problem in self.problems],
        }

    def to_xml(self) -> bytes:
        missing = self.parties.missing()
        if missing:
            raise CustomsCodesNotConfigured(
                "Set " + ", ".join(missing) + " to the codes customs registered for the "
                "platform and the seller; the XML message cannot be made without them.",
                missing=missing,
            )
        return to_ceb311_xml(self.records, self.parties, self.window,
                             generated_at=self.generated_at)  # fmt: skip


def build_export(window: ExportWindow, *, reveal_id_numbers: bool) -> CustomsExport:
    """Read and build; nothing written. ``reveal_id_numbers`` decrypts the full IDs."""
    config = current_app.config
    export = CustomsExport(
        window=window, parties=CustomsParties.from_config(config), generated_at=utcnow()
    )
    decrypt = id_vault.decrypt_id if reveal_id_numbers else None
    codes = ceb_codes()
    for facts in load_order_facts(window):
        try:
            export.records.append(build_record(facts, codes, decrypt))
        except Unreconciled as problem:
            export.problems.append(problem)
    return export


def export_order_records(actor: StaffPrincipal, window: ExportWindow, output: str) -> CustomsExport:
    """The operator's export (``output``: json or xml): built, audited and committed.

    The audit entry names the window, the orders exported and those held back, and
    the format, never an ID number. The XML is made before the audit is written, so
    an export that could not be produced is not recorded as one.
    """
    if output not in ("json", "xml"):
        raise ValueError(f"unknown output {output!r}")
    export = build_export(window, reveal_id_numbers=True)
    if output == "xml":
        export.xml = export.to_xml()
    audit.record(
        actor,
        "customs.export",
        "customs_orders",
        window.label,
        after={
            "orders": [record.order_no for record in export.records],
            "held_back": [problem.order_no for problem in export.problems],
            "format": output,
            "masked_only": [r.order_no for r in export.records if not r.id_number_available],
        },
    )
    db.session.commit()
    return export
