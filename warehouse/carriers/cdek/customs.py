"""The international block of a CDEK order (pure): what a parcel that crosses a border
carries besides the domestic fields, per route.

DOMAIN (which fields each route needs, and where it is written)

| route | intl. block | recipient identity | item fields |
|---|---|---|---|
| RU -> RU (one country) | none | none | domestic only |
| RU -> CN (RU-USS, 9610) | yes | **required**: PRC resident ID | + customs |
| CN -> RU (CN depots) | yes | passport, tin if held (*verify*) | + customs |
| RU -> KZ, BY, KG, AM | yes (*) | tin (KZ: IIN) if held (*verify*) | + customs |
| CN -> KZ, KG, UZ, TJ | yes | as the destination's row | + customs |

- intl. block: ``date_invoice``, ``shipper_name``, ``shipper_address``,
  ``seller{name, inn, address, phone}``, ``recipient_currency``,
  ``items_cost_currency``.
- recipient identity: the PRC resident ID goes in ``recipient.passport_number``
  (China's real-name rule, DOMAIN.md); a passport in ``passport_number``, a tax
  number in ``tin``. "if held": sent when the order has it, not required.
- + customs, per item: ``feacn_code`` (the HS code, код ТН ВЭД), ``name_i18n``
  (English name), ``brand``, ``country_code`` (origin), ``weight_gross``.
- (*) CDEK treats another country as international even inside the EAEU, where
  no customs clearance happens.

Read on: api-docs.cdek.ru/33828802.html (Order Registration: the fields marked
"only for international orders of e-shop type", the seller block, the recipient's
passport_* and tin, and per item feacn_code = код ТН ВЭД, name_i18n, brand,
country_code, weight_gross); the per-destination identity rules are data in
``rules/international.json`` with their sources.

Why the shop is the seller of record (``seller``): CDEK takes one seller per order
while one parcel may hold several merchants' goods; the shopper pays the shop, and
the shop issues the invoice whose date is ``date_invoice``; for China the platform's
e-commerce enterprise (``CUSTOMS_ENTERPRISE_NAME``) is who the CBEC order record
names as seller. So the seller is the shop's own legal entity (``SELLER_OF_RECORD``),
not a merchant; merchants' details stay on their invoices to the shop.

The recipient's identity number goes only into the request body: nothing here logs it,
and ``masked_body`` is what may be logged or shown.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from warehouse.carriers.base import BookingRequest, CarrierRejected
from warehouse.carriers.customs import mask_number

IDENTITY_FIELDS_IN_RECIPIENT = ("passport_series", "passport_number", "tin")


@cache
def international_rules() -> dict[str, Any]:
    text = (
        resources.files("warehouse.carriers.cdek")
        .joinpath("rules/international.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def international_problems(request: BookingRequest) -> list[str]:
    """What keeps ``request`` from carrying a complete international block ([] when
    nothing does), each as "field: reason" (never with an ID number in it)."""
    customs = request.customs
    if customs is None:
        return ["customs: an international parcel needs its customs paperwork"]
    problems = [
        f"seller.{name}: the seller of record (SELLER_OF_RECORD) has no {name}"
        for name in customs.seller.missing()
    ]
    if not customs.shipper.name or not customs.shipper.address:
        problems.append("shipper: the shipper's name and address are required")
    rule = international_rules()["recipient_identity"].get(request.destination.country.upper())
    identity = customs.recipient_identity
    if rule and rule["required"] and (identity is None or identity.kind not in rule["kinds"]):
        kinds = " or ".join(rule["kinds"])
        problems.append(
            f"recipient.identity: parcels to {request.destination.country} need the "
            f"recipient's {kinds}, and the order holds none"
        )
    for item in request.parcel.items:
        if not item.hs_code:
            problems.append(f"items[{item.sku}].feacn_code: the item has no HS code")
    return problems


def international_fields(request: BookingRequest) -> dict[str, Any]:
    """The order-level fields of the block; ``CarrierRejected`` names what is missing."""
    problems = international_problems(request)
    if problems:
        raise CarrierRejected(
            "the parcel crosses a border and its customs paperwork is incomplete",
            errors=tuple(problems),
        )
    customs = request.customs
    seller: dict[str, Any] = {"name": customs.seller.name, "address": customs.seller.address}
    if customs.seller.tax_id:
        seller["inn"] = customs.seller.tax_id
    if customs.seller.phone:
        seller["phone"] = customs.seller.phone
    return {
        "date_invoice": customs.invoice_date.isoformat(),
        "shipper_name": customs.shipper.name,
        "shipper_address": customs.shipper.address,
        "seller": seller,
        "recipient_currency": customs.currency,
    }


def recipient_identity_fields(request: BookingRequest) -> dict[str, str]:
    """The recipient's document fields the destination takes, from the order's identity."""
    identity = request.customs.recipient_identity if request.customs else None
    if identity is None:
        return {}
    rules = international_rules()
    rule = rules["recipient_identity"].get(request.destination.country.upper())
    if rule is None or identity.kind not in rule["kinds"]:
        return {}
    number = "".join(identity.number.split())
    return {rules["identity_fields"][identity.kind]: number}


def item_fields(item) -> dict[str, Any]:
    """Per item: the HS code (CDEK's ``feacn_code``), the name in a foreign language,
    the brand and the country of origin, and the gross weight."""
    fields: dict[str, Any] = {"feacn_code": "".join(ch for ch in item.hs_code if ch.isdigit())}
    fields["name_i18n"] = item.name_i18n or item.name
    if item.brand:
        fields["brand"] = item.brand
    if item.origin_country:
        fields["country_code"] = item.origin_country
    fields["weight_gross"] = item.weight_g
    return fields


def masked_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the recipient's document numbers masked: for logs and answers."""
    shown = copy.deepcopy(body)
    recipient = shown.get("recipient") or {}
    for name in IDENTITY_FIELDS_IN_RECIPIENT:
        if recipient.get(name):
            recipient[name] = mask_number(str(recipient[name]))
    return shown
