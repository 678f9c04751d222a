"""How orders read to a shopper on the checkout and order pages: status labels, the
nodes' names, delivery windows, and the bank-transfer instructions the operator set.
Every label is English text translated through the storefront's ``.po`` files."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from flask import current_app

from shop.core.clock import utcnow
from shop.storefront.context import BABEL_LOCALES, format_money, gettext, ngettext, prefs

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
    "manual": "Bank transfer to the shop's bank account",
    "stripe": "Card (Stripe)",
    "yookassa": "YooKassa: bank card (Mir) or SBP",
    "alipay": "Alipay",
    "wechatpay": "WeChat Pay",
}
# The provider's own name, for "Pay with …".
PROVIDER_NAMES = {
    "yookassa": "YooKassa",
    "alipay": "Alipay",
    "wechatpay": "WeChat Pay",
    "stripe": "Stripe",
}
# A browser on a phone: the provider's mobile page instead of a QR code to scan.
MOBILE_BROWSER = re.compile(r"Mobi|Android|iPhone|iPad|iPod|HarmonyOS|MicroMessenger|AlipayClient")


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


def device_of(user_agent: str | None) -> str:
    """``mobile`` for a phone's or tablet's browser (or WeChat's and Alipay's own), else
    ``desktop``: no script needed to tell a QR code from a mobile payment page."""
    return "mobile" if user_agent and MOBILE_BROWSER.search(user_agent) else "desktop"


def conversion_note(amount: dict[str, str] | None, rate: dict[str, Any] | None) -> str:
    """``≈ 1 234,57 ₽ at 1 CNY = 12,3457 RUB, rates of 4 Dec 2026``: what a provider that
    takes another currency is paid, and the order's rate behind it; empty when the payment
    is in the order's currency."""
    if not amount or not rate:
        return ""
    locale = BABEL_LOCALES[prefs().lang]
    shown_rate = format_decimal(Decimal(rate["rate"]), format="#,##0.0000", locale=locale)
    rates_of = rate.get("rates_of")
    when = ""
    if rates_of:
        when = format_date(date.fromisoformat(rates_of), format="medium", locale=locale)
    if when:
        return gettext(
            "≈ {amount} at 1 {base} = {rate} {quote}, rates of {date}",
            amount=format_money(amount), base=rate["from"], rate=shown_rate,
            quote=rate["to"], date=when,
        )  # fmt: skip
    return gettext(
        "≈ {amount} at 1 {base} = {rate} {quote}",
        amount=format_money(amount), base=rate["from"], rate=shown_rate, quote=rate["to"],
    )  # fmt: skip


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
