"""How orders read to a shopper on the checkout and order pages: status labels, the
nodes' names, delivery windows, and the bank-transfer instructions the operator set.
Every label is English text translated through the storefront's ``.po`` files."""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Any

from babel.dates import format_date
from flask import current_app

from shop.core.clock import utcnow
from shop.storefront.context import BABEL_LOCALES, gettext, ngettext, prefs

# The nodes of the seeded pavilion, as a shopper reads them; others show their code.
NODE_NAMES = {
    "RU-WH": "Russian overseas warehouse",
    "RU-USS": "Ussuriysk depot (Russia)",
    "CN-SFH": "Suifenhe depot (China)",
    "CN-URC": "Urumqi depot (China)",
}
ORDER_STATUS_LABELS = {
    "pending_payment": "Awaiting payment",
    "paid": "Paid",
    "fulfilling": "Being prepared",
    "partially_shipped": "Partly shipped",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
    "partially_refunded": "Partly refunded",
    "expired": "Expired: not paid in time",
}
SHIPMENT_STATUS_LABELS = {
    "awaiting_payment": "Awaiting payment",
    "ready_to_pick": "Waiting to be packed",
    "picking": "Being picked",
    "packed": "Packed",
    "booking_requested": "Being handed to the carrier",
    "shipped": "Parcel shipped",
    "in_transit": "On its way",
    "delivered": "Parcel delivered",
    "returned": "Parcel returned",
    "cancelled": "Parcel cancelled",
    "rerouted": "Moved to another warehouse",
}
PAYMENT_STATUS_LABELS = {
    "creating": "Payment being set up",
    "requires_action": "Waiting for your payment",
    "pending": "Waiting for your payment",
    "succeeded": "Payment received",
    "failed": "Payment failed",
    "canceled": "Payment cancelled",
    "unavailable": "The payment service did not answer",
}
PAYMENT_METHOD_LABELS = {
    "manual": "Bank transfer or cash on delivery",
    "stripe": "Card (Stripe)",
}


def label_for(labels: dict[str, str], value: str | None) -> str:
    if value in labels:
        return gettext(labels[value])
    return (value or "").replace("_", " ")


def node_name(code: str) -> str:
    return gettext(NODE_NAMES[code]) if code in NODE_NAMES else code


def delivery_window(delivery: dict[str, Any] | None) -> str:
    """``3–7 days (by 12 Dec 2026)`` in the shopper's language; empty when unknown."""
    delivery = delivery or {}
    if not delivery.get("by"):
        return ""
    today = utcnow().date()
    latest = date.fromisoformat(delivery["by"])
    earliest = date.fromisoformat(delivery["from"]) if delivery.get("from") else latest
    low, high = max((earliest - today).days, 0), max((latest - today).days, 0)
    shown = format_date(latest, format="medium", locale=BABEL_LOCALES[prefs().lang])
    if high <= 0:
        return gettext("by {date}", date=shown)
    if low == high:  # "3 days", not "3–3 days"
        return ngettext("{n} day (by {date})", "{n} days (by {date})", high, date=shown)
    return gettext("{low}–{high} days (by {date})", low=low, high=high, date=shown)


def configured_instructions() -> str | None:
    """The bank-transfer instructions the operator configured, per language if given as
    ``{"en": …, "ru": …, "zh": …}``; None when there are none."""
    configured = current_app.config.get("MANUAL_PAYMENT_INSTRUCTIONS")
    if isinstance(configured, str) and configured.strip().startswith("{"):
        with contextlib.suppress(ValueError):  # not JSON after all: the text itself
            configured = json.loads(configured)
    if isinstance(configured, dict):
        configured = configured.get(prefs().lang) or configured.get("en")
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    return None
