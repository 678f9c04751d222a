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

from orders.customs.order_records.build import build_record
from orders.customs.order_records.ceb311_xml import (
    CEB_NAMESPACE,
    EXTENSION_NAMESPACE,
    to_ceb311_xml,
    xml_safe,
)
from orders.customs.order_records.export import (
    CustomsCodesNotConfigured,
    CustomsExport,
    build_export,
    export_order_records,
)
from orders.customs.order_records.facts import LineFacts, OrderFacts, ShipmentFacts
from orders.customs.order_records.load import load_order_facts
from orders.customs.order_records.records import GoodsLine, OrderRecord, Unreconciled
from orders.customs.order_records.reference import (
    CHINA_TIME,
    CNY,
    MAX_WINDOW_DAYS,
    CebCodes,
    CustomsParties,
    ExportWindow,
    ceb_codes,
    schema_path,
)

__all__ = [
    "CEB_NAMESPACE",
    "CHINA_TIME",
    "CNY",
    "EXTENSION_NAMESPACE",
    "MAX_WINDOW_DAYS",
    "CebCodes",
    "CustomsCodesNotConfigured",
    "CustomsExport",
    "CustomsParties",
    "ExportWindow",
    "GoodsLine",
    "LineFacts",
    "OrderFacts",
    "OrderRecord",
    "ShipmentFacts",
    "Unreconciled",
    "build_export",
    "build_record",
    "ceb_codes",
    "export_order_records",
    "load_order_facts",
    "schema_path",
    "to_ceb311_xml",
    "xml_safe",
]
