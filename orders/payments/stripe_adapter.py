"""``stripe``: card payments through Stripe PaymentIntents, with the official SDK.

Flow: ``create_payment`` creates a PaymentIntent in the order's currency and
hands the shopper's client its ``client_secret`` and the publishable key
(``next_action``); the client confirms the card with Stripe.js; Stripe then
posts ``payment_intent.succeeded`` (or ``payment_failed``) to the shop's
webhook, which ``parse_webhook`` verifies and maps. ``status`` asks Stripe
directly, for a job that reconciles payments whose webhook never came.

Settings read (see ``orders/payments/base.py``): ``STRIPE_API_KEY``
(required), ``STRIPE_PUBLISHABLE_KEY``, ``STRIPE_WEBHOOK_SECRET``,
``STRIPE_API_BASE``, ``SHOP_NAME``; optional tuning:

``STRIPE_API_VERSION``
    Pin an API version; default: the version the installed SDK is built for.
``STRIPE_MAX_NETWORK_RETRIES``
    SDK retries of connection errors, 409 and retryable 5xx (default 2; the
    SDK adds an idempotency key to each retried POST).
``STRIPE_TIMEOUT_SECONDS``
    Per request (default 30; the SDK's own default is 80).
``STRIPE_CAPTURE_METHOD``
    ``manual`` to only authorize at checkout and ``capture`` later; default:
    Stripe's (capture at once).
``STRIPE_PAYMENT_METHOD_TYPES``
    e.g. ``["card"]`` or ``"card,alipay"``; default: the methods enabled in
    the Dashboard. Set it (``card``) to confirm saved cards on the server
    (``PaymentRequest.payment_method``): with Dashboard methods, Stripe
    wants a ``return_url`` for redirecting methods, which this adapter does
    not send.
``STRIPE_WEBHOOK_TOLERANCE_SECONDS``
    How old a signed webhook may be (default 300, Stripe's).

Each adapter has its own ``stripe.StripeClient``: nothing is set on the
``stripe`` module, so two shops (or a test server and the real one) can live
in one process.

What is deliberately not sent: ``description`` and ``receipt_email``. The
shop emails its own receipts (``shop.core.notify``), and the description travels
in ``metadata`` instead, which also keeps localstripe (which refuses both
parameters) usable in tests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe

from catalog.money import Money, UnknownCurrency
from orders.payments.base import (
    PaymentAdapter,
    PaymentConfigurationError,
    PaymentDeclined,
    PaymentEvent,
    PaymentRejected,
    PaymentRequest,
    PaymentResult,
    PaymentUnavailable,
    RefundResult,
    WebhookRejected,
    header_value,
)

log = logging.getLogger(__name__)

# Stripe's own minor units, which are not ISO 4217's everywhere
# (docs.stripe.com/currencies: zero-decimal, three-decimal, special cases).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
# Three decimals in the API, but the last digit must be 0 (amounts to 0.01).
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# Two decimals in the API, but card networks take whole units only since
# 2023-04-14: the amount must be a multiple of 100.
WHOLE_UNIT_CURRENCIES = frozenset({"ISK"})

DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MAX_NETWORK_RETRIES = 2
DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300
METADATA_VALUE_LIMIT = 500  # characters, Stripe's limit for a metadata value

# PaymentIntent.status -> the shop's payment status.
_PAYMENT_STATUS = {
    "requires_payment_method": "requires_action",
    "requires_confirmation": "requires_action",
    "requires_action": "requires_action",
    "processing": "pending",
    "requires_capture": "pending",  # authorized; the shop captures later
    "succeeded": "succeeded",
    "canceled": "canceled",
}
_REFUND_STATUS = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}
_EVENT_KINDS = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "canceled",
    "charge.refunded": "refunded",
}


class InvalidStripeAmount(ValueError):
    """The amount cannot be charged at Stripe exactly as it is."""


def stripe_exponent(currency: str) -> int:
    """Digits after the decimal point in Stripe's API amounts for ``currency``."""
    currency = currency.upper()
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_stripe_amount(money: Money) -> int:
    """``money`` as Stripe's integer amount: CNY 18.50 -> 1850, JPY 500 -> 500.

    Refuses what Stripe would round or reject (CNY 18.505, JPY 1.5,
    KWD 1.005, ISK 10.50) and anything not positive: a charge is never
    silently different from the order's total.
    """
    currency = money.currency.upper()
    exponent = stripe_exponent(currency)
    scaled = money.amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidStripeAmount(
            f"{money.amount} {currency} is not a whole number of Stripe's minor units "
            f"({exponent} decimals)"
        )
    minor = int(scaled)
    if minor <= 0:
        raise InvalidStripeAmount(f"a Stripe amount must be positive, not {money.amount}")
    if currency in THREE_DECIMAL_CURRENCIES and minor % 10:
        raise InvalidStripeAmount(f"Stripe takes {currency} to 0.01 only, not {money.amount}")
    if currency in WHOLE_UNIT_CURRENCIES and minor % 100:
        raise InvalidStripeAmount(f"Stripe takes whole {currency} only, not {money.amount}")
    return minor


def from_stripe_amount(amount: int, currency: str) -> Money:
    """Stripe's integer ``amount`` in ``currency`` (any case) as ``Money``."""
    return Money(Decimal(int(amount)).scaleb(-stripe_exponent(currency)), currency.upper())


class StripeAdapter(PaymentAdapter):
    name = "stripe"

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        http_client: stripe.HTTPClient | None = None,
    ):
        super().__init__(settings)
        api_key = settings.get("STRIPE_API_KEY")
        if not api_key:
            raise PaymentConfigurationError("the stripe payment adapter needs STRIPE_API_KEY")
        self.publishable_key: str | None = settings.get("STRIPE_PUBLISHABLE_KEY") or None
        self.webhook_secret: str | None = settings.get("STRIPE_WEBHOOK_SECRET") or None
        self.webhook_tolerance = int(
            settings.get("STRIPE_WEBHOOK_TOLERANCE_SECONDS") or DEFAULT_WEBHOOK_TOLERANCE_SECONDS
        )
        self.capture_method: str | None = settings.get("STRIPE_CAPTURE_METHOD") or None
        types = settings.get("STRIPE_PAYMENT_METHOD_TYPES") or None
        if isinstance(types, str):  # "card,alipay" from an environment variable
            types = [t.strip() for t in types.split(",") if t.strip()]
        self.payment_method_types: list[str] | None = list(types) if types else None
        api_base = settings.get("STRIPE_API_BASE")
        timeout = float(settings.get("STRIPE_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            stripe_version=settings.get("STRIPE_API_VERSION") or None,
            max_network_retries=_int_setting(
                settings, "STRIPE_MAX_NETWORK_RETRIES", DEFAULT_MAX_NETWORK_RETRIES
            ),
            http_client=http_client or stripe.RequestsClient(timeout=timeout),
        )
        if not self.webhook_secret:
            log.warning("STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks will be refused")

    # -- payments ------------------------------------------------------------

    def create_payment(self, request: PaymentRequest) -> PaymentResult:
        """A PaymentIntent for the order's total, created once per idempotency key.

        With ``request.payment_method`` it is confirmed at once (a declined
        card raises ``PaymentDeclined``); otherwise the result is
        ``requires_action`` and ``next_action`` carries the client secret.
        """
        params: dict[str, Any] = {
            "amount": to_stripe_amount(request.amount),
            "currency": request.amount.currency.lower(),
            "metadata": self._metadata(request),
        }
        if self.capture_method:
            params["capture_method"] = self.capture_method
        if self.payment_method_types:
            params["payment_method_types"] = self.payment_method_types
        if request.payment_method:
            params["payment_method"] = request.payment_method
            params["confirm"] = True
        intent = self._call(
            self.client.v1.payment_intents.create,
            params=params,
            options={"idempotency_key": request.idempotency_key},
        )
        log.info(
            "stripe payment intent %s for order %s: %s",
            intent["id"],
            request.order_number,
            intent["status"],
        )
        return self._result(intent)

    def status(self, reference: str) -> PaymentResult:
        return self._result(self._retrieve(reference))

    def capture(self, reference: str, amount: Money | None = None) -> PaymentResult:
        """Capture an authorized PaymentIntent (``STRIPE_CAPTURE_METHOD=manual``);
        one already captured is returned as it is."""
        intent = self._retrieve(reference)
        if intent["status"] == "succeeded":
            return self._result(intent)
        if intent["status"] != "requires_capture":
            raise PaymentRejected(
                f"payment {reference} is {intent['status']}, not awaiting capture",
                code="payment_intent_unexpected_state",
            )
        params: dict[str, Any] = {}
        if amount is not None:
            self._check_currency(intent, amount)
            params["amount_to_capture"] = to_stripe_amount(amount)
        captured = self._call(
            self.client.v1.payment_intents.capture,
            reference,
            params=params,
            options={
                "idempotency_key": f"pavilion-capture-{reference}-"
                f"{params.get('amount_to_capture', 'all')}"
            },
        )
        return self._result(captured)

    def cancel(self, reference: str) -> PaymentResult:
        """Cancel a PaymentIntent that has not succeeded; one already canceled is
        returned as it is. A succeeded one is refunded instead, not canceled."""
        intent = self._retrieve(reference)
        if intent["status"] == "canceled":
            return self._result(intent)
        if intent["status"] == "succeeded":
            raise PaymentRejected(
                f"payment {reference} has succeeded: refund it instead of canceling",
                code="payment_intent_unexpected_state",
            )
        canceled = self._call(
            self.client.v1.payment_intents.cancel,
            reference,
            options={"idempotency_key": f"pavilion-cancel-{reference}"},
        )
        return self._result(canceled)

    def refund(self, reference: str, amount: Money, *, idempotency_key: str) -> RefundResult:
        """Refund ``amount`` (all or part) of the PaymentIntent ``reference``.

        The same ``idempotency_key`` never refunds twice. The PaymentIntent is
        read first, so an amount in another currency is refused here rather
        than refunded as a different sum.
        """
        if not idempotency_key:
            raise ValueError("a refund needs an idempotency key")
        intent = self._retrieve(reference)
        self._check_currency(intent, amount)
        params: dict[str, Any] = {"payment_intent": reference, "amount": to_stripe_amount(amount)}
        order_number = (intent.get("metadata") or {}).get("order_number")
        if order_number:
            params["metadata"] = {"order_number": order_number}
        refund = self._call(
            self.client.v1.refunds.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        status = _REFUND_STATUS.get(refund.get("status") or "", "pending")
        log.info("stripe refund %s of %s: %s", refund["id"], reference, refund.get("status"))
        return RefundResult(
            reference=refund["id"],
            amount=from_stripe_amount(refund["amount"], refund["currency"]),
            status=status,
            note="" if status == "succeeded" else f"Stripe says {refund.get('status')}",
        )

    # -- webhooks ------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent | None:
        """Verify ``Stripe-Signature`` (HMAC-SHA256 with the endpoint secret, at
        most ``STRIPE_WEBHOOK_TOLERANCE_SECONDS`` old) and map the event.

        Mapped: ``payment_intent.succeeded`` / ``payment_failed`` / ``canceled``
        and ``charge.refunded`` (whose ``amount`` is the charge's total
        refunded so far, not this refund's). Other verified types: ``None``.
        """
        if not self.webhook_secret:
            raise PaymentConfigurationError("STRIPE_WEBHOOK_SECRET is not set")
        signature = header_value(headers, "Stripe-Signature")
        if not signature:
            raise WebhookRejected("no Stripe-Signature header")
        try:
            # The verifying half of stripe.Webhook.construct_event; its parsing
            # half builds an SDK Event (and crashes on a signed non-object
            # body), while the shop wants the plain dict.
            stripe.WebhookSignature.verify_header(
                body, signature, self.webhook_secret, tolerance=self.webhook_tolerance
            )
            raw = json.loads(body)
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(f"Stripe signature not valid: {exc.user_message}") from exc
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise WebhookRejected("the webhook body is not a JSON Stripe event") from exc
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("type"):
            raise WebhookRejected("the webhook body is not a Stripe event")
        return event_from_stripe(raw)

    # -- inside --------------------------------------------------------------

    def _metadata(self, request: PaymentRequest) -> dict[str, str]:
        metadata = {str(k): str(v)[:METADATA_VALUE_LIMIT] for k, v in request.metadata.items()}
        if request.description:
            metadata.setdefault("description", request.description[:METADATA_VALUE_LIMIT])
        metadata["order_number"] = request.order_number
        return metadata

    def _retrieve(self, reference: str) -> dict[str, Any]:
        if not reference or not reference.startswith("pi_"):
            raise ValueError(f"not a Stripe PaymentIntent id: {reference!r}")
        return self._call(self.client.v1.payment_intents.retrieve, reference)

    def _result(self, intent: Mapping[str, Any]) -> PaymentResult:
        provider_status = intent.get("status") or ""
        error = intent.get("last_payment_error") or {}
        status = _PAYMENT_STATUS.get(provider_status, "pending")
        if provider_status == "requires_payment_method" and error:
            status = "failed"  # the last card was declined; another may be tried
        next_action: dict[str, Any] = {}
        if status in ("requires_action", "failed"):
            next_action = {
                "type": "stripe_payment_intent",
                "client_secret": intent.get("client_secret"),
                "publishable_key": self.publishable_key,
                "payment_intent": intent["id"],
            }
            stripe_next = intent.get("next_action") or {}
            if stripe_next.get("type"):
                next_action["stripe_next_action"] = stripe_next["type"]
        return PaymentResult(
            reference=intent["id"],
            status=status,
            next_action=next_action,
            amount=_intent_amount(intent),
            provider_status=provider_status,
            message=error.get("message"),
        )

    @staticmethod
    def _check_currency(intent: Mapping[str, Any], amount: Money) -> None:
        currency = str(intent.get("currency", "")).upper()
        if amount.currency.upper() != currency:
            raise ValueError(
                f"payment {intent['id']} is in {currency}; an amount in {amount.currency} "
                "cannot be taken from it"
            )

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call the SDK and turn its errors into the port's; plain dicts out."""
        try:
            return method(*args, **kwargs).to_dict()
        except stripe.CardError as exc:
            raise PaymentDeclined(
                exc.user_message or "The card was declined.",
                code=exc.code,
                decline_code=_error_field(exc, "decline_code"),
            ) from exc
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            log.warning("stripe unavailable: %s", _describe(exc))
            raise PaymentUnavailable(f"Stripe is unavailable: {_describe(exc)}") from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            # The shop cannot pay until an operator fixes the key; the order
            # waits rather than fails.
            log.error("stripe refused the API key (check STRIPE_API_KEY): %s", _describe(exc))
            raise PaymentUnavailable(f"Stripe refused the shop's key: {_describe(exc)}") from exc
        except stripe.StripeError as exc:
            if exc.http_status is None or exc.http_status >= 500:
                log.warning("stripe unavailable: %s", _describe(exc))
                raise PaymentUnavailable(f"Stripe is unavailable: {_describe(exc)}") from exc
            raise PaymentRejected(f"Stripe refused: {_describe(exc)}", code=exc.code) from exc


def event_from_stripe(raw: Mapping[str, Any]) -> PaymentEvent | None:
    """A verified Stripe event (a parsed dict) as a ``PaymentEvent``; ``None``
    for types the shop does not act on."""
    provider_type = raw["type"]
    kind = _EVENT_KINDS.get(provider_type)
    if kind is None:
        return None
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise WebhookRejected(f"a {provider_type} event without its object")
    metadata = obj.get("metadata") or {}
    if kind == "refunded":
        reference = obj.get("payment_intent")
        if isinstance(reference, Mapping):  # expanded
            reference = reference.get("id")
        amount = _money_or_none(obj.get("amount_refunded"), obj.get("currency"))
    else:
        reference = obj.get("id")
        amount = _intent_amount(obj)
    created = raw.get("created")
    return PaymentEvent(
        id=str(raw["id"]),
        kind=kind,
        reference=reference,
        order_number=metadata.get("order_number"),
        amount=amount,
        provider_type=provider_type,
        raw=raw,
        occurred_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
    )


def _int_setting(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key)
    return default if value is None or value == "" else int(value)  # 0 is a valid setting


def _intent_amount(intent: Mapping[str, Any]) -> Money | None:
    amount = intent.get("amount")
    if intent.get("status") == "succeeded" and intent.get("amount_received"):
        amount = intent["amount_received"]
    return _money_or_none(amount, intent.get("currency"))


def _money_or_none(amount: Any, currency: Any) -> Money | None:
    if not isinstance(amount, int) or not isinstance(currency, str):
        return None
    try:
        return from_stripe_amount(amount, currency)
    except UnknownCurrency:
        return None


def _error_field(exc: stripe.StripeError, name: str) -> Any:
    error = exc.error
    if error is None:
        return None
    try:
        return error[name]
    except (KeyError, TypeError):
        return None


def _describe(exc: stripe.StripeError) -> str:
    parts = [type(exc).__name__]
    if exc.http_status:
        parts.append(str(exc.http_status))
    if exc.code:
        parts.append(exc.code)
    if exc.request_id:
        parts.append(f"request {exc.request_id}")
    lines = str(exc).splitlines()
    message = exc.user_message or (lines[0] if lines else "")
    return f"{' '.join(parts)}: {message}" if message else " ".join(parts)
