"""``yookassa``: payments in roubles through YooKassa (bank cards, Mir included, on
YooKassa's hosted page), two-stage, with the 54-FZ receipt, through the official SDK.

Flow: ``create_payment`` creates a payment with ``capture: false`` and a redirect
confirmation; the shopper pays on YooKassa's page and comes back to ``return_url``
(the order page). The money is then held (``waiting_for_capture``): YooKassa posts
``payment.waiting_for_capture`` and ``parse_webhook`` turns it into an ``authorized``
event, on which the shop captures the payment while the order can still be paid (or
cancels the hold when it cannot). ``payment.succeeded`` follows the capture;
``payment.canceled`` a decline or a hold that YooKassa let expire.

Notifications carry no signature: ``parse_webhook`` never trusts the body, it reads
the payment (or refund) back from the API and builds the event from what the API says;
``trusted_senders`` gives the networks YooKassa documents as the notifications' senders
(https://yookassa.ru/developers/using-api/webhooks), or the operator's list.

Settings read (see ``orders/payments/base.py``):

``YOOKASSA_SHOP_ID``, ``YOOKASSA_SECRET_KEY``
    HTTP Basic credentials (shopId and secret key). Required.
``YOOKASSA_API_BASE``
    Another API address (a test server). Default ``https://api.yookassa.ru/v3``.
``YOOKASSA_NOTIFICATION_NETWORKS``
    A list (or a JSON text) of CIDR networks notifications may come from; default
    ``DOCUMENTED_NETWORKS``.
``YOOKASSA_TAX_SYSTEM_CODE``
    1-6, the shop's tax system on receipts (only when its fiscal setup needs it).
``YOOKASSA_TIMEOUT_SECONDS``
    How long one call may take (default 10).
``PUBLIC_URL``
    The shop's public base URL: the order page a shopper comes back to when the caller
    gives no ``return_url``.

The SDK's ``Configuration`` is one set of class attributes for the whole process,
and its ``ApiClient`` reads it when built: two adapters with different shops (or the
real API and a test server) would overwrite each other's credentials between two
calls. So each adapter has its own ``ShopApiClient`` (the SDK's client with the
configuration given to it, not read from the global one) and nothing is ever set on
``Configuration``. The SDK's request models are not used for bodies: its ``Amount``
converts values through ``float``; the bodies here are plain JSON built from
``Decimal``. The SDK's ``ApiClient`` also sends without a timeout, so ours passes one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

import requests
from yookassa.client import ApiClient
from yookassa.domain.common import UserAgent
from yookassa.domain.exceptions import (
    ApiError,
    ForbiddenError,
    InternalServerError,
    ResponseProcessingError,
    TooManyRequestsError,
    UnauthorizedError,
)

from catalog.money import Money
from orders.payments.base import (
    PaymentAdapter,
    PaymentConfigurationError,
    PaymentEvent,
    PaymentRejected,
    PaymentRequest,
    PaymentResult,
    PaymentUnavailable,
    RefundResult,
    WebhookRejected,
)
from orders.payments.yookassa_receipts import (
    DESCRIPTION_LIMIT,
    ReceiptMismatch,
    customer,
    receipt_items,
    receipt_rules,
    refund_items,
    rub_value,
)

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.yookassa.ru/v3"
DEFAULT_TIMEOUT_SECONDS = 10.0
# The senders of HTTP notifications, as https://yookassa.ru/developers/using-api/webhooks
# lists them (the SDK's SecurityHelper carries narrower IPv6 networks inside the /32).
DOCUMENTED_NETWORKS = (
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11/32",
    "77.75.156.35/32",
    "77.75.154.128/25",
    "2a02:5180::/32",
)
METADATA_VALUE_LIMIT = 512  # characters; YooKassa takes up to 16 keys of up to 32

# YooKassa's payment.status -> the shop's payment status.
_PAYMENT_STATUS = {
    "pending": "requires_action",  # the shopper has yet to pay on YooKassa's page
    "waiting_for_capture": "pending",  # held; the shop captures it
    "succeeded": "succeeded",
    "canceled": "canceled",
}
_EVENT_KIND = {
    "waiting_for_capture": "authorized",
    "succeeded": "succeeded",
    "canceled": "canceled",
}
# What a notification may claim, given what the API says now: the claimed status or
# one that can only come after it (a late notification is real, a claim ahead is not).
_PLAUSIBLE = {
    "payment.waiting_for_capture": {"waiting_for_capture", "succeeded", "canceled"},
    "payment.succeeded": {"succeeded"},
    "payment.canceled": {"canceled"},
}
_LOCALES = {"ru": "ru_RU", "en": "en_US"}


class ShopApiClient(ApiClient):
    """The SDK's API client with one adapter's own endpoint, credentials and timeout.

    ``ApiClient.__init__`` is not called: it copies the process-global
    ``Configuration``. The SDK's header building (Basic auth, ``YM-User-Agent``) and
    its mapping of error answers to exceptions are used as they are.
    """

    def __init__(self, endpoint: str, shop_id: str, secret_key: str, timeout: float):
        self.configuration = None
        self.endpoint = endpoint.rstrip("/")
        self.shop_id = str(shop_id)
        self.shop_password = secret_key
        self.auth_token = None
        self.timeout = timeout
        self.max_attempts = 0
        self.user_agent = UserAgent()

    def request(self, method="", path="", query_params=None, headers=None, body=None):
        """One call; ``PaymentUnavailable`` when YooKassa cannot be reached in time."""
        try:
            answer = requests.request(
                method,
                self.endpoint + path,
                params=query_params,
                json=body,
                headers=self.prepare_request_headers(headers),
                timeout=(min(self.timeout, 5.0), self.timeout),
            )
        except requests.RequestException as exc:
            raise PaymentUnavailable(f"YooKassa did not answer: {type(exc).__name__}") from exc
        if answer.status_code == 200:
            try:
                return answer.json()
            except ValueError as exc:
                raise PaymentUnavailable("YooKassa answered something not JSON") from exc
        try:
            answer.json()
        except ValueError:
            raise PaymentUnavailable(f"YooKassa answered HTTP {answer.status_code}") from None
        self._ApiClient__handle_error(answer)  # the SDK's exception per status


class YooKassaAdapter(PaymentAdapter):
    name = "yookassa"
    currencies = ("RUB",)
    held_statuses = frozenset({"waiting_for_capture"})

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        shop_id, secret = settings.get("YOOKASSA_SHOP_ID"), settings.get("YOOKASSA_SECRET_KEY")
        if not shop_id or not secret:
            raise PaymentConfigurationError(
                "the yookassa payment adapter needs YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY"
            )
        timeout = float(settings.get("YOOKASSA_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
        self.client = ShopApiClient(
            settings.get("YOOKASSA_API_BASE") or DEFAULT_API_BASE, shop_id, secret, timeout
        )
        code = settings.get("YOOKASSA_TAX_SYSTEM_CODE")
        self.tax_system_code = int(code) if code not in (None, "") else None
        if self.tax_system_code is not None and not 1 <= self.tax_system_code <= 6:
            raise PaymentConfigurationError("YOOKASSA_TAX_SYSTEM_CODE must be 1 to 6")
        self.public_url = (settings.get("PUBLIC_URL") or "").rstrip("/") or None
        self.networks = _networks(settings.get("YOOKASSA_NOTIFICATION_NETWORKS"))

    # -- payments ------------------------------------------------------------

    def create_payment(self, request: PaymentRequest) -> PaymentResult:
        """A two-stage payment with its receipt, made once per idempotency key; the
        shopper is sent to ``next_action.url`` to pay."""
        self._check_rub(request.amount)
        return_url = request.return_url or (
            f"{self.public_url}/orders/{request.order_number}" if self.public_url else None
        )
        if not return_url:
            raise PaymentConfigurationError("YooKassa needs a return URL: set PAVILION_PUBLIC_URL")
        description = request.description or f"Order {request.order_number}"
        confirmation = {"type": "redirect", "return_url": return_url}
        if request.locale in _LOCALES:
            confirmation["locale"] = _LOCALES[request.locale]
        body: dict[str, Any] = {
            "amount": {"value": rub_value(request.amount), "currency": "RUB"},
            "capture": False,
            "confirmation": confirmation,
            "description": description[:DESCRIPTION_LIMIT],
            "metadata": self._metadata(request),
            "receipt": self._receipt(request),
        }
        if request.client_ip:
            body["client_ip"] = request.client_ip
        payment = self._call("POST", "/payments", body, key=request.idempotency_key)
        log.info(
            "yookassa payment %s for order %s: %s",
            payment.get("id"),
            request.order_number,
            payment.get("status"),
        )
        return self._result(payment)

    def status(self, reference: str) -> PaymentResult:
        return self._result(self._payment(reference))

    def find_payment(self, order_number: str, since: datetime) -> PaymentResult | None:
        """The newest payment for ``order_number`` created since ``since`` (YooKassa's
        list cannot filter by metadata: the page of recent payments is searched)."""
        found = self._call(
            "GET",
            "/payments",
            query={
                "created_at.gte": since.astimezone(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "limit": "100",
            },
        )
        mine = [
            p
            for p in found.get("items", [])
            if (p.get("metadata") or {}).get("order_number") == order_number
        ]
        if not mine:
            return None
        return self._result(max(mine, key=lambda p: p.get("created_at") or ""))

    def capture(self, reference: str, amount: Money | None = None) -> PaymentResult:
        """Take the held money (all of it: a partial capture would need a receipt of
        what is taken, which the shop does not make); one captured already is returned."""
        payment = self._payment(reference)
        if payment["status"] == "succeeded":
            return self._result(payment)
        if payment["status"] != "waiting_for_capture":
            raise PaymentRejected(
                f"payment {reference} is {payment['status']}, not held",
                code="invalid_payment_status",
            )
        held = _money(payment.get("amount"))
        if amount is not None and (held is None or amount.amount != held.amount):
            raise ValueError(f"only the whole held amount ({held}) can be captured")
        captured = self._call(
            "POST",
            f"/payments/{reference}/capture",
            {"amount": payment["amount"]},
            key=f"pavilion-capture-{reference}",
        )
        return self._result(captured)

    def cancel(self, reference: str) -> PaymentResult:
        """Release a held payment. One already canceled is returned as it is; one the
        shopper has not paid yet cannot be canceled at YooKassa (it expires there by
        itself, and if it is paid still, it arrives held and is cancelled then)."""
        payment = self._payment(reference)
        status = payment["status"]
        if status in ("canceled", "pending"):
            return self._result(payment)
        if status == "succeeded":
            raise PaymentRejected(
                f"payment {reference} has succeeded: refund it instead",
                code="invalid_payment_status",
            )
        canceled = self._call(
            "POST", f"/payments/{reference}/cancel", {}, key=f"pavilion-cancel-{reference}"
        )
        return self._result(canceled)

    def refund(self, reference: str, amount: Money, *, idempotency_key: str) -> RefundResult:
        """Give back ``amount`` (all or part) of a succeeded payment, with a refund
        receipt of the paid items it covers. One key never refunds twice."""
        if not idempotency_key:
            raise ValueError("a refund needs an idempotency key")
        self._check_rub(amount)
        payment = self._payment(reference)
        body: dict[str, Any] = {
            "payment_id": reference,
            "amount": {"value": rub_value(amount), "currency": "RUB"},
            "receipt": self._refund_receipt(payment, amount),
        }
        order_number = (payment.get("metadata") or {}).get("order_number")
        if order_number:
            body["description"] = f"Refund for order {order_number}"[:DESCRIPTION_LIMIT]
        refund = self._call("POST", "/refunds", body, key=idempotency_key)
        status = {"succeeded": "succeeded", "canceled": "failed"}.get(
            refund.get("status"), "pending"
        )
        log.info("yookassa refund %s of %s: %s", refund.get("id"), reference, refund.get("status"))
        return RefundResult(
            reference=refund["id"],
            amount=_money(refund.get("amount")) or amount,
            status=status,
            note="" if status == "succeeded" else f"YooKassa says {refund.get('status')}",
        )

    # -- notifications -------------------------------------------------------

    def trusted_senders(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return self.networks

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent | None:
        """Read a notification and believe only the API: the payment (or refund) it
        names is fetched back, and the event is what that object's status says.

        Refused (``WebhookRejected``): a body that is not a notification, an object
        YooKassa does not know, or a claim the object's status contradicts (the body
        says succeeded, the API says pending). The event id is ``<object id>:<status>``,
        so a repeated or late notification of the same state is a duplicate.
        """
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("the notification is not JSON") from exc
        obj = raw.get("object") if isinstance(raw, dict) else None
        event = raw.get("event") if isinstance(raw, dict) else None
        if (
            raw.get("type") != "notification"
            or not isinstance(event, str)
            or not isinstance(obj, dict)
            or not isinstance(obj.get("id"), str)
        ):
            raise WebhookRejected("the body is not a YooKassa notification")
        if event.startswith("payment."):
            return self._payment_event(event, obj["id"])
        if event == "refund.succeeded":
            return self._refund_event(event, obj["id"])
        return None

    def _payment_event(self, event: str, payment_id: str) -> PaymentEvent | None:
        payment = self._verified(self._payment, payment_id)
        status = payment.get("status")
        if event in _PLAUSIBLE and status not in _PLAUSIBLE[event]:
            raise WebhookRejected(
                f"the notification says {event}; YooKassa says payment {payment_id} is {status}"
            )
        kind = _EVENT_KIND.get(status)
        if kind is None:
            return None
        return PaymentEvent(
            id=f"{payment_id}:{status}",
            kind=kind,
            reference=payment_id,
            order_number=(payment.get("metadata") or {}).get("order_number"),
            amount=_money(payment.get("amount")),
            provider_type=f"payment.{status}",
            raw=payment,
            occurred_at=_time(payment.get("captured_at")),
        )

    def _refund_event(self, event: str, refund_id: str) -> PaymentEvent | None:
        refund = self._verified(lambda r: self._call("GET", f"/refunds/{_id(r)}"), refund_id)
        if refund.get("status") != "succeeded":
            raise WebhookRejected(
                f"the notification says {event}; YooKassa says refund "
                f"{refund_id} is {refund.get('status')}"
            )
        payment = self._verified(self._payment, str(refund.get("payment_id") or ""))
        return PaymentEvent(
            # The port's refunded amount is the payment's total refunded so far.
            id=f"{refund_id}:succeeded",
            kind="refunded",
            reference=payment["id"],
            order_number=(payment.get("metadata") or {}).get("order_number"),
            amount=_money(payment.get("refunded_amount")),
            provider_type=event,
            raw=refund,
            occurred_at=_time(refund.get("created_at")),
        )

    @staticmethod
    def _verified(fetch, object_id: str) -> dict[str, Any]:
        try:
            return fetch(object_id)
        except PaymentRejected as exc:
            raise WebhookRejected(f"YooKassa does not know {object_id}: {exc}") from exc
        except (PaymentUnavailable, ValueError) as exc:
            # Not verified now; YooKassa sends it again until it gets a 200.
            raise WebhookRejected(f"could not read {object_id} back from YooKassa: {exc}") from exc

    # -- inside --------------------------------------------------------------

    def _receipt(self, request: PaymentRequest) -> dict[str, Any]:
        try:
            items = receipt_items(
                request.lines, request.amount, fallback_name=f"Order {request.order_number}"
            )
        except ReceiptMismatch as exc:
            raise ValueError(f"order {request.order_number}: {exc}") from exc
        if not request.lines:
            log.warning(
                "order %s: no payment lines; one receipt item for the whole amount",
                request.order_number,
            )
        receipt: dict[str, Any] = {
            "customer": customer(request.email, request.phone),
            "items": items,
        }
        if self.tax_system_code is not None:
            receipt["tax_system_code"] = self.tax_system_code
        return receipt

    def _refund_receipt(self, payment: Mapping[str, Any], amount: Money) -> dict[str, Any]:
        """The refund's receipt: the items of the payment's own receipt, as far as the
        refund reaches. Without one (a shop whose receipts another cash register makes),
        one item for the amount at the default VAT code."""
        metadata = payment.get("metadata") or {}
        found = self._call("GET", "/receipts", query={"payment_id": payment["id"]})
        paid = [
            i
            for r in found.get("items", [])
            if r.get("type") == "payment"
            for i in r.get("items", [])
        ]
        try:
            items = refund_items(paid, amount) if paid else None
        except ReceiptMismatch:
            items = None
        if items is None:
            rules = receipt_rules()
            items = [
                {
                    "description": f"Refund for order {metadata.get('order_number', '')}",
                    "quantity": 1,
                    "amount": {"value": rub_value(amount), "currency": "RUB"},
                    "vat_code": rules.default_vat,
                    "payment_subject": "commodity",
                    "payment_mode": rules.payment_mode,
                }
            ]
        receipt: dict[str, Any] = {
            "customer": customer(metadata.get("receipt_email"), metadata.get("receipt_phone")),
            "items": items,
        }
        if self.tax_system_code is not None:
            receipt["tax_system_code"] = self.tax_system_code
        return receipt

    @staticmethod
    def _metadata(request: PaymentRequest) -> dict[str, str]:
        metadata = {
            str(k)[:32]: str(v)[:METADATA_VALUE_LIMIT]
            for k, v in list(request.metadata.items())[:12]
        }
        metadata["order_number"] = request.order_number
        # The refund receipt goes to the same buyer; the payment is where it is kept.
        metadata["receipt_email"] = request.email[:METADATA_VALUE_LIMIT]
        if request.phone:
            metadata["receipt_phone"] = request.phone[:METADATA_VALUE_LIMIT]
        return metadata

    def _payment(self, reference: str) -> dict[str, Any]:
        return self._call("GET", f"/payments/{_id(reference)}")

    def _result(self, payment: Mapping[str, Any]) -> PaymentResult:
        provider_status = payment.get("status") or ""
        status = _PAYMENT_STATUS.get(provider_status, "pending")
        url = (payment.get("confirmation") or {}).get("confirmation_url")
        if status == "requires_action" and not url:
            status = "pending"
        reason = (payment.get("cancellation_details") or {}).get("reason")
        return PaymentResult(
            reference=payment["id"],
            status=status,
            next_action={"type": "redirect", "url": url, "provider": "yookassa"}
            if status == "requires_action"
            else {},
            amount=_money(payment.get("amount")),
            provider_status=provider_status,
            message=reason,
        )

    @staticmethod
    def _check_rub(amount: Money) -> None:
        if amount.currency != "RUB":
            raise ValueError(f"YooKassa takes RUB here, not {amount.currency}")

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call through the SDK's client, its errors turned into the port's."""
        headers = {"Idempotence-Key": key} if key else None
        try:
            return self.client.request(method, path, query, headers, body)
        except (UnauthorizedError, ForbiddenError) as exc:
            # The shop cannot take money until an operator fixes the keys; the order waits.
            log.error("yookassa refused the shop's credentials: %s", _describe(exc))
            raise PaymentUnavailable(f"YooKassa refused the shop's key: {_describe(exc)}") from exc
        except (TooManyRequestsError, InternalServerError, ResponseProcessingError) as exc:
            log.warning("yookassa unavailable: %s", _describe(exc))
            raise PaymentUnavailable(f"YooKassa is unavailable: {_describe(exc)}") from exc
        except ApiError as exc:
            content = exc.content or {}
            raise PaymentRejected(
                f"YooKassa refused: {_describe(exc)}", code=content.get("code")
            ) from exc


def _networks(setting: Any) -> tuple[IPv4Network | IPv6Network, ...]:
    listed = setting
    if isinstance(listed, str):
        listed = json.loads(listed) if listed.strip() else None
    try:
        return tuple(ip_network(n, strict=False) for n in (listed or DOCUMENTED_NETWORKS))
    except (TypeError, ValueError) as exc:
        raise PaymentConfigurationError(f"YOOKASSA_NOTIFICATION_NETWORKS: {exc}") from exc


def _id(reference: str) -> str:
    """An object id as YooKassa makes them (letters, digits, dashes), safe in a path."""
    if not reference or not all(c.isalnum() or c in "-_" for c in reference):
        raise ValueError(f"not a YooKassa id: {reference!r}")
    return reference


def _money(amount: Any) -> Money | None:
    if not isinstance(amount, Mapping):
        return None
    try:
        return Money(Decimal(str(amount["value"])), str(amount["currency"]))
    except (KeyError, InvalidOperation, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _describe(exc: ApiError) -> str:
    content = exc.content or {}
    parts = [
        str(type(exc).HTTP_CODE or ""),
        content.get("code") or "",
        content.get("description") or "",
    ]
    if content.get("parameter"):
        parts.append(f"(parameter {content['parameter']})")
    return " ".join(p for p in parts if p) or type(exc).__name__
