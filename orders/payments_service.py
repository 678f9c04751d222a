"""The shop's side of payment adapters: which are enabled, and calling them safely.

Adapters are plugins (``orders/payments``); this module builds their settings
from the app config and turns provider trouble into states the order keeps
(``unavailable``: retry later) instead of errors the shopper sees as a 500.
Every call here happens outside a database transaction: callers end theirs
first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from catalog.money import Money
from orders.payments.base import (
    PaymentAdapter,
    PaymentDeclined,
    PaymentError,
    PaymentRequest,
    PaymentUnavailable,
)
from orders.payments.registry import load_adapter

log = logging.getLogger(__name__)

SETTINGS = (
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_TIMEOUT_SECONDS",
    "STRIPE_MAX_NETWORK_RETRIES",
    "MANUAL_PAYMENT_INSTRUCTIONS",
    "SHOP_NAME",
    "YOOKASSA_SHOP_ID",
    "YOOKASSA_SECRET_KEY",
    "YOOKASSA_API_BASE",
    "YOOKASSA_NOTIFICATION_NETWORKS",
    "YOOKASSA_TAX_SYSTEM_CODE",
    "YOOKASSA_TIMEOUT_SECONDS",
    "PUBLIC_URL",
    "ALIPAY_APP_ID",
    "ALIPAY_APP_PRIVATE_KEY",
    "ALIPAY_PUBLIC_KEY",
    "ALIPAY_GATEWAY",
    "ALIPAY_TIMEOUT_SECONDS",
    # Alipay: the trade's time_expire follows the hold; the notify URL falls back on
    # the public URL when a payment request carries none.
    "RESERVATION_TTL_MINUTES",
    "WECHATPAY_MCHID",
    "WECHATPAY_APPID",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_CERT_SERIAL_NO",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_CERT_DIR",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_ID",
    "WECHATPAY_API_BASE",
    "WECHATPAY_TIMEOUT_SECONDS",
    # wechatpay: its notify URL and H5 site (PUBLIC_URL), and time_expire = the hold.
)


@dataclass(frozen=True)
class StartedPayment:
    adapter: str
    amount: Money
    status: str  # requires_action | pending | succeeded | failed | unavailable
    reference: str | None = None
    next_action: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def enabled_adapters() -> tuple[str, ...]:
    return tuple(current_app.config["PAYMENT_ADAPTERS"])


def adapter(name: str) -> PaymentAdapter:
    """The enabled adapter ``name`` (422 naming ``payment.adapter`` otherwise)."""
    settings = {key: current_app.config.get(key) for key in SETTINGS}
    return load_adapter(name, settings, enabled_adapters())


def start_payment(
    payments: PaymentAdapter, number: str, amount: Money, email: str, *, idempotency_key: str
) -> StartedPayment:
    request = PaymentRequest(
        order_number=number,
        amount=amount,
        email=email,
        idempotency_key=f"order-{idempotency_key}",
        description=f"SCO Pavilion order {number}",
        metadata={"order_number": number},
    )
    try:
        result = payments.create_payment(request)
    except PaymentUnavailable as outage:
        log.warning("order %s: %s unavailable: %s", number, payments.name, outage)
        return StartedPayment(
            payments.name, amount, "unavailable", None,
            {"type": "retry", "message": "The payment service did not answer; "
             "pay again in a moment.", "href": f"/api/v1/orders/{number}/pay"},
            str(outage),
        )  # fmt: skip
    except PaymentDeclined as declined:
        return StartedPayment(
            payments.name, amount, "failed", None,
            {"type": "retry", "message": str(declined), "href": f"/api/v1/orders/{number}/pay"},
            str(declined),
        )  # fmt: skip
    except (PaymentError, ValueError) as refused:
        # The provider refused the request itself (configuration, a state it did not
        # expect): the order still holds its goods; staff see the error on the payment.
        log.error("order %s: %s refused the payment: %s", number, payments.name, refused)
        return StartedPayment(
            payments.name, amount, "failed", None,
            {"type": "retry", "message": "The payment could not be started; try again or "
             "choose another way to pay.", "href": f"/api/v1/orders/{number}/pay"},
            str(refused),
        )  # fmt: skip
    return StartedPayment(
        payments.name, amount, result.status, result.reference, dict(result.next_action)
    )


def abandon(payments: PaymentAdapter, started: StartedPayment) -> None:
    """Cancel a payment whose order was never written (best effort: an uncancelled
    PaymentIntent that no client ever got the secret of cannot be charged)."""
    if not started.reference:
        return
    try:
        payments.cancel(started.reference)
    except Exception:
        log.warning("could not cancel payment %s", started.reference, exc_info=True)
