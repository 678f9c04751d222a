"""The CEB311-style XML message (pure): element names and order of China customs'
CEB311 order message as far as we know it, validated against our own schema
(``schemas/ceb311.xsd``); our additions in one element of another namespace."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from orders.customs.order_records.records import (
    BUYER_ID_TYPE_PRC_ID_CARD,
    ORDER_TYPE_IMPORT,
    OrderRecord,
    money_text,
)
from orders.customs.order_records.reference import (
    CHINA_TIME,
    CNY,
    CebCodes,
    CustomsParties,
    ExportWindow,
    ceb_codes,
)
from shop.core.clock import iso_utc

MESSAGE_VERSION = "1.0"
CEB_NAMESPACE = "http://www.chinaport.gov.cn/ceb"
EXTENSION_NAMESPACE = "urn:sco-pavilion:ceb311-extension:1"
GENERATOR = "SCO Pavilion customs order records (CEB311-style, not certified)"
# appType 1 = a new record; appStatus 2 = declared (1 would be "stored as draft").
APP_TYPE_NEW = "1"
APP_STATUS_DECLARED = "2"

ET.register_namespace("ceb", CEB_NAMESPACE)
ET.register_namespace("pav", EXTENSION_NAMESPACE)


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
            ("goodsValue", money_text(record.goods_value)),
            ("freight", money_text(record.freight)),
            ("discount", money_text(record.discount)),
            ("taxTotal", money_text(record.tax_total)),
            ("acturalPaid", money_text(record.actual_paid)),  # sic: customs' own spelling
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
                ("price", money_text(line.price)),
                ("totalPrice", money_text(line.total_price)),
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
                "insuredFee": money_text(record.insurance),
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
