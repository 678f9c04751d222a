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
from datetime import date
from functools import cache
from typing import Any

from flask import current_app

from catalog.money import Money, RateTable, UnknownCurrency
from orders import payment_methods
from orders.payment_amounts import ProviderAmount, payment_currency, provider_amount
from orders.payments.base import (
    PaymentAdapter,
    PaymentDeclined,
    PaymentError,
    PaymentLine,
    PaymentRequest,
    PaymentUnavailable,
)
from orders.payments.registry import available_adapters, load_adapter
from shop.core.errors import DomainError, register_problem_types

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


register_problem_types(
    {
        "payment_method_not_offered": "The chosen way to pay is not offered for this "
        "destination and currency; the cart's quote lists the `payment_methods` that are."
    }
)


class PaymentMethodNotOffered(DomainError):
    """The adapter is enabled, but the rules do not offer it for the destination."""

    status = 422
    code = "payment_method_not_offered"
    title = "Payment method not offered"


@dataclass(frozen=True)
class StartedPayment:
    adapter: str
    amount: Money  # in the payment's currency
    status: str  # requires_action | pending | succeeded | failed | unavailable
    reference: str | None = None
    next_action: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    # The order's own total when ``amount`` was converted into the provider's currency.
    order_amount: Money | None = None


@dataclass(frozen=True)
class PaymentDetails:
    """What a hosted payment page and a receipt need besides the amount (all optional):
    see ``PaymentRequest``."""

    lines: tuple[PaymentLine, ...] = ()
    order_amount: Money | None = None
    return_url: str | None = None
    notify_url: str | None = None
    client_ip: str | None = None
    device: str = "desktop"
    locale: str = "en"
    phone: str | None = None


def enabled_adapters() -> tuple[str, ...]:
    return tuple(current_app.config["PAYMENT_ADAPTERS"])


def adapter(name: str) -> PaymentAdapter:
    """The enabled adapter ``name`` (422 naming ``payment.adapter`` otherwise)."""
    settings = {key: current_app.config.get(key) for key in SETTINGS}
    return load_adapter(name, settings, enabled_adapters())


def payment_method_rules() -> tuple[payment_methods.PaymentMethodRule, ...]:
    """The shipped rows with the operator's (``PAYMENT_METHOD_RULES``, a file) over them."""
    path = current_app.config.get("PAYMENT_METHOD_RULES")
    if not path:
        return payment_methods.shipped_rules()
    return _merged_rules(str(path))


@cache
def _merged_rules(path: str) -> tuple[payment_methods.PaymentMethodRule, ...]:
    return payment_methods.merge_rules(
        payment_methods.shipped_rules(), payment_methods.rules_from_file(path)
    )


def adapter_currencies(name: str) -> tuple[str, ...]:
    """The currencies adapter ``name`` takes (empty: any), without building it."""
    found = available_adapters().get(name)
    return tuple(getattr(found, "currencies", ()) or ()) if found else ()


def offered_methods(destination: str, currency: str, on: date) -> tuple[str, ...]:
    """The enabled adapters the rules offer for ``destination`` and ``currency`` on ``on``."""
    return payment_methods.offered_adapters(
        payment_method_rules(), destination=destination, currency=currency, on=on,
        enabled=enabled_adapters(),
    )  # fmt: skip


def check_offered(name: str, destination: str, currency: str, on: date) -> None:
    """Refuse (422 naming ``payment.adapter``) a way to pay not offered there."""
    offered = offered_methods(destination, currency, on)
    if name in enabled_adapters() and name not in offered:
        raise PaymentMethodNotOffered(
            f"{name} is not offered for orders to {destination.upper()} in {currency}.",
            errors={"payment.adapter": [f"Not offered here; choose one of: {', '.join(offered)}."
                                        if offered else "No way to pay is offered here."]},
            offered=list(offered),
        )  # fmt: skip


def amount_for(name: str, total: Money, rates: RateTable) -> ProviderAmount:
    """The order's total as adapter ``name`` is paid it: converted at ``rates`` (the
    order's) when the adapter does not take the order's currency."""
    return provider_amount(total, payment_currency(total.currency, adapter_currencies(name)), rates)


def method_choices(
    destination: str, total: Money, rates: RateTable, on: date
) -> list[dict[str, Any]]:
    """The ways to pay a quote lists: adapter, label key, and the amount in the adapter's
    currency with the rate, when it is converted. A method whose currency no rate reaches
    is left out."""
    choices = []
    for name in offered_methods(destination, total.currency, on):
        try:
            paid = amount_for(name, total, rates)
        except UnknownCurrency:
            log.warning("%s not offered: no rate from %s", name, total.currency)
            continue
        choice: dict[str, Any] = {"adapter": name, "label": payment_methods.label_key(name),
                                  "currency": paid.amount.currency}  # fmt: skip
        if paid.converted:
            conversion = paid.as_json()
            choice.update(amount=conversion["amount"], rate=conversion["rate"])
        choices.append(choice)
    return choices


def start_payment(
    payments: PaymentAdapter,
    number: str,
    amount: Money,
    email: str,
    *,
    idempotency_key: str,
    details: PaymentDetails | None = None,
) -> StartedPayment:
    """Ask the adapter for the payment of ``amount`` (in a currency it takes), with the
    lines, return and notification addresses and the shopper's device in ``details``."""
    details = details or PaymentDetails()
    request = PaymentRequest(
        order_number=number,
        amount=amount,
        email=email,
        idempotency_key=f"order-{idempotency_key}",
        description=f"SCO Pavilion order {number}",
        metadata={"order_number": number},
        order_amount=details.order_amount,
        lines=details.lines,
        return_url=details.return_url,
        notify_url=details.notify_url,
        client_ip=details.client_ip,
        device=details.device,
        locale=details.locale,
        phone=details.phone,
    )
    order_amount = details.order_amount
    try:
        result = payments.create_payment(request)
    except PaymentUnavailable as outage:
        log.warning("order %s: %s unavailable: %s", number, payments.name, outage)
        return StartedPayment(
            payments.name, amount, "unavailable", None,
            {"type": "retry", "message": "The payment service did not answer; "
             "pay again in a moment.", "href": f"/api/v1/orders/{number}/pay"},
            str(outage), order_amount,
        )  # fmt: skip
    except PaymentDeclined as declined:
        return StartedPayment(
            payments.name, amount, "failed", None,
            {"type": "retry", "message": str(declined), "href": f"/api/v1/orders/{number}/pay"},
            str(declined), order_amount,
        )  # fmt: skip
    except (PaymentError, ValueError) as refused:
        # The provider refused the request itself (configuration, a state it did not
        # expect): the order still holds its goods; staff see the error on the payment.
        log.error("order %s: %s refused the payment: %s", number, payments.name, refused)
        return StartedPayment(
            payments.name, amount, "failed", None,
            {"type": "retry", "message": "The payment could not be started; try again or "
             "choose another way to pay.", "href": f"/api/v1/orders/{number}/pay"},
            str(refused), order_amount,
        )  # fmt: skip
    return StartedPayment(
        payments.name, amount, result.status, result.reference, dict(result.next_action),
        order_amount=order_amount,
    )  # fmt: skip


def abandon(payments: PaymentAdapter, started: StartedPayment) -> None:
    """Cancel a payment whose order was never written (best effort: an uncancelled
    PaymentIntent that no client ever got the secret of cannot be charged)."""
    if not started.reference:
        return
    try:
        payments.cancel(started.reference)
    except Exception:
        log.warning("could not cancel payment %s", started.reference, exc_info=True)


# What the shipping and duty lines of a receipt are called, in the shopper's language.
_LINE_NAMES = {
    "en": ("Shipping", "Duties and import taxes"),
    "ru": ("Доставка", "Пошлины и налоги при ввозе"),
    "zh": ("运费", "进口关税和税费"),
}


def line_names(lang: str) -> dict[str, str]:
    shipping, duties = _LINE_NAMES.get(lang, _LINE_NAMES["en"])
    return {"shipping_name": shipping, "duties_name": duties}


def site_base(request_host_url: str | None) -> str | None:
    """The shop's public address for links a provider follows back (``PUBLIC_URL``, else
    the address the shopper's request came to)."""
    base = current_app.config.get("PUBLIC_URL") or request_host_url or ""
    return base.rstrip("/") or None
