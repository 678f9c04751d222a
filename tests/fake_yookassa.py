"""A fake YooKassa API v3 on loopback for tests: real HTTP, one thread per request.

Use the fixture from a test module (an assignment, so ruff sees no unused import)::

    from tests import fake_yookassa as fake_yookassa_module

    fake_yookassa = fake_yookassa_module.fake_yookassa

    def test_something(fake_yookassa):
        adapter = YooKassaAdapter(fake_yookassa.settings())

Written from YooKassa's public documentation, read for this purpose:

- https://yookassa.ru/developers/using-api/basics (HTTP Basic auth with shopId and
  secret key, 401 otherwise; the ``Idempotence-Key`` header every POST must carry, a
  repeated key answering the first result, a key reused with other parameters refused;
  errors as ``{"type": "error", "code", "description", "parameter"}``)
- https://yookassa.ru/developers/payments/payment-process (creating a payment, two-stage
  payments: ``capture: false``, ``waiting_for_capture``, capture and cancel; statuses
  pending -> waiting_for_capture -> succeeded | canceled, ``cancellation_details``)
- https://yookassa.ru/developers/payments/smart-payment (the redirect confirmation,
  ``confirmation_url`` on YooKassa's hosted page)
- https://yookassa.ru/developers/using-api/webhooks (notifications: ``type:
  notification``, ``event`` and the ``object`` as it was; events payment.succeeded,
  payment.waiting_for_capture, payment.canceled, refund.succeeded; the sender networks)
- https://yookassa.ru/developers/54fz/parameters-values (receipt fields: vat_code 1-12,
  tax_system_code 1-6, payment_subject, payment_mode)

What it serves:

- ``POST /v3/payments``: RUB only (this fake shop has no other currency in its
  contract); amount a string with at most 2 decimals; ``confirmation.type redirect``
  with ``return_url``; ``description`` up to 128 characters; the ``receipt`` (customer
  e-mail or phone; items with description, quantity, ``amount`` per unit in the
  payment's currency, vat_code, payment_subject, payment_mode) whose items must add up
  to the amount exactly. The payment starts ``pending`` with a ``confirmation_url``.
- ``GET /v3/payments/{id}``, ``GET /v3/payments`` (``created_at.gte``, ``limit``).
- ``POST /v3/payments/{id}/capture`` (only ``waiting_for_capture``; an amount up to the
  held one) and ``/cancel`` (only ``waiting_for_capture``).
- ``POST /v3/refunds`` (only a ``succeeded`` payment; not above what is left; the
  receipt's items must add up to the refund), ``GET /v3/refunds/{id}``.
- ``GET /v3/receipts?payment_id=``: the receipts registered for a payment and its refunds.

Driving it (the shopper and YooKassa's side):

- ``pay(payment_id)``: the shopper pays; a two-stage payment becomes
  ``waiting_for_capture`` (``capture: true`` ones ``succeeded``), and a notification goes.
- ``decline(payment_id, reason)``: ``canceled`` with ``cancellation_details``.
- ``expire_hold(payment_id)``: a held payment not captured in time, ``canceled`` with
  reason ``expired_on_capture``.
- ``notify(event, payment_or_refund_id)``: post a notification (again) to
  ``webhook_url``; ``auto_notify = False`` stops the automatic ones.
- ``slow_create(seconds)``: the next ``POST /payments`` creates the payment and then
  waits ``seconds`` before answering (the answer is lost when the client gives up).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

SHOP_ID = "506751"
SECRET_KEY = "test_pavilion_fake_secret"  # a test fixture, not a credential
PAYMENT_EVENTS = {
    "waiting_for_capture": "payment.waiting_for_capture",
    "succeeded": "payment.succeeded",
    "canceled": "payment.canceled",
}


class Refused(Exception):
    def __init__(self, status: int, code: str, description: str, parameter: str | None = None):
        super().__init__(description)
        self.status, self.code, self.description, self.parameter = (
            status,
            code,
            description,
            parameter,
        )


@dataclass
class Sent:
    event: str
    object_id: str
    status: int | None
    answer: Any


@dataclass
class FakeState:
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)


class FakeYooKassa:
    def __init__(self):
        self.state = FakeState()
        self.lock = threading.RLock()
        self.webhook_url: str | None = None
        self.auto_notify = True
        self.sent: list[Sent] = []
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self._create_delay = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v3"

    def start(self) -> FakeYooKassa:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "YOOKASSA_SHOP_ID": SHOP_ID,
            "YOOKASSA_SECRET_KEY": SECRET_KEY,
            "YOOKASSA_API_BASE": self.url,
            "YOOKASSA_TIMEOUT_SECONDS": 3,
            "YOOKASSA_NOTIFICATION_NETWORKS": ["127.0.0.1/32"],
            "PUBLIC_URL": "https://shop.example",
            **overrides,
        }

    # -- switches and the shopper ------------------------------------------------

    def slow_create(self, seconds: float) -> None:
        self._create_delay = seconds

    def payment(self, payment_id: str) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.state.payments[payment_id]))

    def pay(self, payment_id: str) -> Sent | None:
        with self.lock:
            payment = self._existing(payment_id)
            assert payment["status"] == "pending", payment["status"]
            payment["paid"] = True
            payment["payment_method"] = {
                "type": "bank_card",
                "id": payment_id,
                "saved": False,
                "card": {"card_type": "Mir", "last4": "0001"},
            }
            payment.pop("confirmation", None)
            if payment["_capture"]:
                self._succeed(payment, payment["amount"])
            else:
                payment["status"] = "waiting_for_capture"
                payment["expires_at"] = _now()
        return self._announce(payment_id, wait=True)

    def decline(self, payment_id: str, reason: str = "insufficient_funds") -> Sent | None:
        with self.lock:
            payment = self._existing(payment_id)
            assert payment["status"] == "pending", payment["status"]
            self._cancel(payment, "payment_network", reason)
        return self._announce(payment_id, wait=True)

    def expire_hold(self, payment_id: str) -> Sent | None:
        with self.lock:
            payment = self._existing(payment_id)
            assert payment["status"] == "waiting_for_capture", payment["status"]
            self._cancel(payment, "yoo_money", "expired_on_capture")
        return self._announce(payment_id, wait=True)

    def notify(self, event: str, object_id: str) -> Sent:
        """Post a notification of ``object_id`` as it is now, the way YooKassa does."""
        with self.lock:
            objects = self.state.refunds if event.startswith("refund.") else self.state.payments
            obj = _public(objects[object_id])
        body = {"type": "notification", "event": event, "object": obj}
        try:
            answer = requests.post(self.webhook_url, json=body, timeout=30)
            sent = Sent(event, object_id, answer.status_code, _json_or_text(answer))
        except requests.RequestException as exc:
            sent = Sent(event, object_id, None, str(exc))
        with self.lock:
            self.sent.append(sent)
        return sent

    # -- the API ------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, raw: bytes):
        if not _authorized(headers.get("Authorization")):
            raise Refused(401, "invalid_credentials", "Basic auth with shopId and secret key")
        body = None
        if method == "POST":
            key = headers.get("Idempotence-Key")
            if not key:
                raise Refused(400, "invalid_request", "Idempotence-Key header is missing")
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise Refused(400, "invalid_request", "the body is not JSON") from None
            fingerprint = hashlib.sha256(
                f"{path}\n{json.dumps(body, sort_keys=True)}".encode()
            ).hexdigest()
            with self.lock:
                self.requests.append((method, path, body))
                if key in self.state.keys:
                    seen, status, answer = self.state.keys[key]
                    if seen != fingerprint:
                        raise Refused(
                            400,
                            "invalid_request",
                            "Idempotence key duplicated with other parameters",
                            "Idempotence-Key",
                        )
                    return status, answer
                status, answer, after = self._post(path, body)
                self.state.keys[key] = (fingerprint, status, answer)
            for announce in after:
                announce()
            if path == "/payments" and self._create_delay:
                delay, self._create_delay = self._create_delay, 0.0
                time.sleep(delay)
            return status, answer
        with self.lock:
            self.requests.append((method, path, None))
            return 200, self._get(path, query)

    def _post(self, path: str, body: dict[str, Any]):
        parts = path.strip("/").split("/")
        if parts == ["payments"]:
            payment = self._create(body)
            return 200, _public(payment), []
        if parts[0] == "payments" and len(parts) == 3 and parts[2] in ("capture", "cancel"):
            payment = self._existing(parts[1])
            if payment["status"] != "waiting_for_capture":
                raise Refused(
                    400,
                    "invalid_request",
                    f"Payment is in {payment['status']} "
                    "status; only waiting_for_capture can be "
                    f"{parts[2]}d",
                    "payment_id",
                )
            if parts[2] == "capture":
                amount = body.get("amount") or payment["amount"]
                value = _amount(amount, "amount")
                if (
                    value > Decimal(payment["amount"]["value"])
                    or amount.get("currency") != payment["amount"]["currency"]
                ):
                    raise Refused(400, "invalid_request", "capture above the held amount", "amount")
                self._succeed(payment, {"value": _str(value), "currency": "RUB"})
            else:
                self._cancel(payment, "merchant", "canceled_by_merchant")
            return 200, _public(payment), [lambda: self._announce(payment["id"])]
        if parts == ["refunds"]:
            refund = self._refund(body)
            return 200, _public(refund), [lambda: self._announce_refund(refund["id"])]
        raise Refused(404, "not_found", f"no such method POST {path}")

    def _get(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if parts[0] == "payments" and len(parts) == 2:
            return _public(self._existing(parts[1]))
        if parts == ["payments"]:
            since = (query.get("created_at.gte") or [""])[0]
            limit = int((query.get("limit") or ["10"])[0])
            found = [_public(p) for p in self.state.payments.values() if p["created_at"] >= since][
                ::-1
            ][:limit]
            return {"type": "list", "items": found}
        if parts[0] == "refunds" and len(parts) == 2:
            if parts[1] not in self.state.refunds:
                raise Refused(404, "not_found", "refund not found", "refund_id")
            return _public(self.state.refunds[parts[1]])
        if parts == ["receipts"]:
            wanted = (query.get("payment_id") or [""])[0]
            return {
                "type": "list",
                "items": [r for r in self.state.receipts if r["payment_id"] == wanted],
            }
        raise Refused(404, "not_found", f"no such method GET {path}")

    # -- the rules ------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        amount = body.get("amount") or {}
        value = _amount(amount, "amount")
        if amount.get("currency") != "RUB":
            raise Refused(400, "invalid_request", "this shop takes RUB only", "amount.currency")
        confirmation = body.get("confirmation") or {}
        if confirmation.get("type") != "redirect" or not confirmation.get("return_url"):
            raise Refused(
                400,
                "invalid_request",
                "a redirect confirmation needs return_url",
                "confirmation.return_url",
            )
        if len(body.get("description") or "") > 128:
            raise Refused(
                400, "invalid_request", "description is over 128 characters", "description"
            )
        if len(body.get("metadata") or {}) > 16:
            raise Refused(400, "invalid_request", "more than 16 metadata keys", "metadata")
        receipt = body.get("receipt")
        if receipt is not None:
            _check_receipt(receipt, value, "RUB")
        payment_id = f"{uuid.uuid4().hex[:8]}-000f-5000-8000-{uuid.uuid4().hex[:12]}"
        payment = {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": {"value": _str(value), "currency": "RUB"},
            "recipient": {"account_id": SHOP_ID, "gateway_id": "100500"},
            "description": body.get("description"),
            "created_at": _now(),
            "confirmation": {
                "type": "redirect",
                "return_url": confirmation["return_url"],
                "confirmation_url": f"https://yoomoney.ru/checkout/payments/v2/"
                f"contract?orderId={payment_id}",
            },
            "test": True,
            "refundable": False,
            "metadata": body.get("metadata") or {},
            "_capture": bool(body.get("capture", False)),
        }
        if receipt is not None:
            payment["receipt_registration"] = "pending"
            self._receipt("payment", payment_id, receipt)
        self.state.payments[payment_id] = payment
        return payment

    def _refund(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._existing(body.get("payment_id") or "")
        if payment["status"] != "succeeded":
            raise Refused(
                400, "invalid_request", "only a succeeded payment can be refunded", "payment_id"
            )
        amount = body.get("amount") or {}
        value = _amount(amount, "amount")
        if amount.get("currency") != payment["amount"]["currency"]:
            raise Refused(
                400,
                "invalid_request",
                "the refund's currency is not the payment's",
                "amount.currency",
            )
        refunded = Decimal(payment.get("refunded_amount", {}).get("value", "0"))
        if value > Decimal(payment["amount"]["value"]) - refunded:
            raise Refused(
                400,
                "invalid_request",
                "the refund is above what is left of the payment",
                "amount.value",
            )
        receipt = body.get("receipt")
        if receipt is not None:
            _check_receipt(receipt, value, "RUB")
        refund = {
            "id": f"{uuid.uuid4().hex[:8]}-0015-5000-9000-{uuid.uuid4().hex[:12]}",
            "payment_id": payment["id"],
            "status": "succeeded",
            "created_at": _now(),
            "amount": {"value": _str(value), "currency": "RUB"},
            "description": body.get("description"),
        }
        payment["refunded_amount"] = {"value": _str(refunded + value), "currency": "RUB"}
        if receipt is not None:
            self._receipt("refund", payment["id"], receipt, refund_id=refund["id"])
        self.state.refunds[refund["id"]] = refund
        return refund

    def _receipt(self, kind: str, payment_id: str, receipt: dict[str, Any], **extra) -> None:
        self.state.receipts.append(
            {
                "id": uuid.uuid4().hex,
                "type": kind,
                "payment_id": payment_id,
                "status": "succeeded",
                "items": receipt["items"],
                "tax_system_code": receipt.get("tax_system_code"),
                "customer": receipt.get("customer"),
                **extra,
            }
        )

    def _existing(self, payment_id: str) -> dict[str, Any]:
        if payment_id not in self.state.payments:
            raise Refused(404, "not_found", "payment not found", "payment_id")
        return self.state.payments[payment_id]

    @staticmethod
    def _succeed(payment: dict[str, Any], amount: dict[str, Any]) -> None:
        payment.update(
            status="succeeded",
            paid=True,
            captured_at=_now(),
            refundable=True,
            amount=amount,
            income_amount=amount,
        )
        payment.pop("expires_at", None)

    @staticmethod
    def _cancel(payment: dict[str, Any], party: str, reason: str) -> None:
        payment.update(status="canceled", cancellation_details={"party": party, "reason": reason})
        payment.pop("confirmation", None)
        payment.pop("expires_at", None)

    def _announce(self, payment_id: str, *, wait: bool = False) -> Sent | None:
        if not (self.auto_notify and self.webhook_url):
            return None
        event = PAYMENT_EVENTS[self.state.payments[payment_id]["status"]]
        if wait:
            return self.notify(event, payment_id)
        threading.Thread(target=self.notify, args=(event, payment_id), daemon=True).start()
        return None

    def _announce_refund(self, refund_id: str) -> None:
        if self.auto_notify and self.webhook_url:
            threading.Thread(
                target=self.notify, args=("refund.succeeded", refund_id), daemon=True
            ).start()


def _check_receipt(receipt: dict[str, Any], value: Decimal, currency: str) -> None:
    who = receipt.get("customer") or {}
    if not who.get("email") and not who.get("phone"):
        raise Refused(
            400, "invalid_request", "the receipt needs customer.email or phone", "receipt.customer"
        )
    items = receipt.get("items") or []
    if not items:
        raise Refused(400, "invalid_request", "the receipt has no items", "receipt.items")
    total = Decimal(0)
    for item in items:
        if not item.get("description") or len(item["description"]) > 128:
            raise Refused(
                400,
                "invalid_request",
                "item description 1-128 characters",
                "receipt.items.description",
            )
        if item.get("amount", {}).get("currency") != currency:
            raise Refused(400, "invalid_request", "item currency", "receipt.items.amount")
        if item.get("vat_code") not in range(1, 13):
            raise Refused(400, "invalid_request", "vat_code 1-12", "receipt.items.vat_code")
        if not item.get("payment_subject") or not item.get("payment_mode"):
            raise Refused(
                400, "invalid_request", "payment_subject and payment_mode", "receipt.items"
            )
        quantity = Decimal(str(item.get("quantity", 0)))
        if quantity <= 0:
            raise Refused(400, "invalid_request", "quantity", "receipt.items.quantity")
        total += _amount(item["amount"], "receipt.items.amount") * quantity
    if receipt.get("tax_system_code") not in (None, 1, 2, 3, 4, 5, 6):
        raise Refused(400, "invalid_request", "tax_system_code 1-6", "receipt.tax_system_code")
    if total != value:
        raise Refused(
            400, "invalid_request", f"the receipt's items add up to {total}, not {value}", "receipt"
        )


def _amount(amount: dict[str, Any], parameter: str) -> Decimal:
    raw = amount.get("value")
    if not isinstance(raw, str):
        raise Refused(400, "invalid_request", "amount.value must be a string", parameter)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise Refused(400, "invalid_request", "amount.value is not a number", parameter) from None
    if value <= 0 or value != value.quantize(Decimal("0.01")):
        raise Refused(400, "invalid_request", "amount.value: positive, 2 decimals", parameter)
    return value


def _authorized(header: str | None) -> bool:
    expected = base64.b64encode(f"{SHOP_ID}:{SECRET_KEY}".encode()).decode()
    return header == f"Basic {expected}"


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps({k: v for k, v in obj.items() if not k.startswith("_")}))


def _str(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_or_text(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text


def _handler(fake: FakeYooKassa):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            split = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not split.path.startswith("/v3/"):
                status, answer = 404, {"type": "error", "code": "not_found"}
            else:
                try:
                    status, answer = fake.handle(
                        self.command, split.path[3:], parse_qs(split.query), self.headers, raw
                    )
                except Refused as refused:
                    status = refused.status
                    answer = {
                        "type": "error",
                        "id": uuid.uuid4().hex,
                        "code": refused.code,
                        "description": refused.description,
                    }
                    if refused.parameter:
                        answer["parameter"] = refused.parameter
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up waiting
                pass

        do_GET = do_POST = _serve

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture
def fake_yookassa():
    fake = FakeYooKassa().start()
    try:
        yield fake
    finally:
        fake.stop()
