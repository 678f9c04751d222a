"""``wechatpay``: WeChat Pay APIv3 (China, CNY), Native (a QR code) and H5 (a mobile page),
through the ``wechatpayv3`` SDK.

Flow: ``create_payment`` places a prepay order whose ``out_trade_no`` is the payment's
reference; a desktop shopper gets ``code_url`` to draw as a QR code and scan with WeChat,
a mobile one ``h5_url`` to open (with ``redirect_url`` back to the order page). WeChat
posts ``TRANSACTION.SUCCESS`` to the notify URL; ``parse_webhook`` checks its signature
with the platform certificate (or platform public key) named by ``Wechatpay-Serial`` and
decrypts the resource with the APIv3 key. ``status`` queries by ``out_trade_no`` for the
sweeper, ``cancel`` closes the order, ``refund`` asks for a (partial) domestic refund.

Settings read: ``WECHATPAY_MCHID``, ``WECHATPAY_APPID``, ``WECHATPAY_PRIVATE_KEY`` (the
merchant API certificate's PKCS#8 PEM key), ``WECHATPAY_CERT_SERIAL_NO``,
``WECHATPAY_APIV3_KEY`` (32 characters), ``WECHATPAY_CERT_DIR``, ``WECHATPAY_PUBLIC_KEY``
and ``WECHATPAY_PUBLIC_KEY_ID`` (accounts that verify with WeChat Pay's public key
instead of platform certificates), ``WECHATPAY_API_BASE``, ``WECHATPAY_TIMEOUT_SECONDS``;
and the shop's ``PUBLIC_URL`` (the notify URL when the request names none, and the H5
site), ``RESERVATION_TTL_MINUTES`` (``time_expire``: how long the order holds its goods)
and ``SHOP_NAME``.

About the SDK (``wechatpayv3.core.Core``), which this module works around:

- its constructor downloads the platform certificates (``GET /v3/certificates``) from
  the hard-coded production host unless a public key is given, so it is built here
  lazily, on the first call that needs it, pointed at ``WECHATPAY_API_BASE`` before it
  downloads anything, and kept per settings in this process: loading the adapter for
  every request costs nothing;
- it raises plain ``Exception`` (a failed response signature, no certificate) and lets
  ``requests`` errors through; ``_call`` turns both into the port's errors;
- a notification signed with an unknown serial makes it download the certificates
  again: a forger could make the shop call WeChat per forged request, so a refresh is
  allowed once a minute at most;
- it does not check the age of a signed notification: ``parse_webhook`` does (5 min);
- it can log request headers and bodies at debug level: no logger is given to it.

``capture`` does not apply: Native and H5 payments are taken in one step when the
shopper confirms in WeChat (there is no authorization to capture later), so ``capture``
answers a succeeded payment as it is and refuses any other.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from wechatpayv3.core import Core
from wechatpayv3.type import RequestType

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
    header_value,
)

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
DEFAULT_TIMEOUT_SECONDS = 10
DEFAULT_HOLD_MINUTES = 30
NOTIFICATION_TOLERANCE_SECONDS = 300
CERTIFICATE_REFRESH_SECONDS = 60
WEBHOOK_PATH = "/api/v1/payments/wechatpay/webhook"
CHINA_TIME = timezone(timedelta(hours=8))
# out_trade_no: 6 to 32 of these, unique per merchant (the prepay pages).
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")

# trade_state -> the shop's payment status.
_TRADE_STATES = {
    "SUCCESS": "succeeded",
    "REFUND": "succeeded",  # paid, then (partly) refunded
    "NOTPAY": "requires_action",
    "USERPAYING": "requires_action",
    "CLOSED": "canceled",
    "REVOKED": "canceled",
    "PAYERROR": "failed",
}
_EVENT_KINDS = {"succeeded": "succeeded", "canceled": "canceled", "failed": "failed"}
_REFUND_STATES = {
    "SUCCESS": "succeeded",
    "PROCESSING": "pending",
    "ABNORMAL": "pending",  # the shopper's account refused it: the merchant must act
    "CLOSED": "failed",
}
# Codes that mean "not now": try again later, the order stays payable.
_RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "BANK_ERROR"})
# Codes that mean the shop's credentials are wrong: an operator must fix them.
_CREDENTIAL_CODES = frozenset(
    {"SIGN_ERROR", "NO_AUTH", "MCH_NOT_EXISTS", "APPID_MCHID_NOT_MATCH", "RULE_LIMIT"}
)


def to_fen(money: Money) -> int:
    """CNY ``money`` as WeChat's integer fen: 18.50 -> 1850. Refuses fractions of a fen,
    amounts that are not positive, and other currencies (``ValueError``)."""
    if money.currency != "CNY":
        raise ValueError(f"WeChat Pay takes CNY only, not {money.currency}")
    scaled = money.amount.scaleb(2)
    if scaled != scaled.to_integral_value() or scaled <= 0:
        raise ValueError(f"{money.amount} CNY is not a positive whole number of fen")
    return int(scaled)


def from_fen(fen: int) -> Money:
    return Money(Decimal(int(fen)).scaleb(-2), "CNY")


def out_trade_no_for(request: PaymentRequest) -> str:
    """The ``out_trade_no`` of a payment: its idempotency key when WeChat takes it as one.

    WeChat refuses an ``out_trade_no`` used before with other parameters and any reuse
    after it was closed, so each payment of an order (a re-plan, a retry) needs its own;
    the idempotency key is exactly that. Otherwise the order number and a digest of the
    key, which is stable for the key too."""
    key = request.idempotency_key
    if OUT_TRADE_NO.match(key):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    prefix = re.sub(r"[^0-9A-Za-z_\-]", "", request.order_number)[:19]
    return f"{prefix}-{digest[: 31 - len(prefix)]}" if prefix else digest[:32]


class _Core(Core):
    """The SDK's core, pointed at ``api_base`` before it downloads certificates, with
    one certificate download at a time and the time of the last one kept."""

    def __init__(self, *, api_base: str, **kwargs: Any):
        self._api_base = api_base
        self._refresh_lock = threading.Lock()
        self.last_refresh = 0.0
        super().__init__(**kwargs)
        self._gate_way = api_base

    def _init_certificates(self) -> None:
        self._gate_way = self._api_base
        super()._init_certificates()

    def _update_certificates(self) -> None:
        with self._refresh_lock:
            self.last_refresh = time.monotonic()
            super()._update_certificates()

    def knows_serial(self, serial: str) -> bool:
        if self._public_key_id and serial == self._public_key_id:
            return True
        try:
            number = int(serial, 16)
        except ValueError:
            return False
        return any(cert.serial_number == number for cert in list(self._certificates))


_CLIENTS: dict[tuple, _Core] = {}
_CLIENTS_LOCK = threading.Lock()


class WeChatPayAdapter(PaymentAdapter):
    name = "wechatpay"
    currencies = ("CNY",)

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        required = ("WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_PRIVATE_KEY",
                    "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_APIV3_KEY")  # fmt: skip
        missing = [key for key in required if not settings.get(key)]
        if missing:
            raise PaymentConfigurationError(f"the wechatpay adapter needs {', '.join(missing)}")
        self.mchid = str(settings["WECHATPAY_MCHID"])
        self.appid = str(settings["WECHATPAY_APPID"])
        self.apiv3_key = str(settings["WECHATPAY_APIV3_KEY"])
        if len(self.apiv3_key.encode()) != 32:
            raise PaymentConfigurationError("WECHATPAY_APIV3_KEY must be 32 characters")
        public_key = settings.get("WECHATPAY_PUBLIC_KEY") or None
        public_key_id = settings.get("WECHATPAY_PUBLIC_KEY_ID") or None
        if (public_key is None) != (public_key_id is None):
            raise PaymentConfigurationError(
                "WECHATPAY_PUBLIC_KEY and WECHATPAY_PUBLIC_KEY_ID go together"
            )
        self.api_base = (settings.get("WECHATPAY_API_BASE") or DEFAULT_API_BASE).rstrip("/")
        self.timeout = float(settings.get("WECHATPAY_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
        self.hold = timedelta(
            minutes=int(settings.get("RESERVATION_TTL_MINUTES") or DEFAULT_HOLD_MINUTES)
        )
        self.public_url = (settings.get("PUBLIC_URL") or "").rstrip("/") or None
        self._core_args = {
            "mchid": self.mchid,
            "cert_serial_no": str(settings["WECHATPAY_CERT_SERIAL_NO"]),
            "private_key": str(settings["WECHATPAY_PRIVATE_KEY"]),
            "apiv3_key": self.apiv3_key,
            "cert_dir": settings.get("WECHATPAY_CERT_DIR") or None,
            "timeout": self.timeout,
            "public_key": public_key,
            "public_key_id": public_key_id,
        }
        fingerprint = hashlib.sha256(
            json.dumps({**self._core_args, "api_base": self.api_base}, sort_keys=True).encode()
        )
        self._client_key = (self.api_base, self.mchid, fingerprint.hexdigest())

    # -- payments ------------------------------------------------------------

    def create_payment(self, request: PaymentRequest) -> PaymentResult:
        """A Native (desktop: QR code) or H5 (mobile: a payment page) prepay order.

        The same idempotency key gives the same ``out_trade_no``; WeChat answers a
        repeated prepay with the same parameters with the same order."""
        total = to_fen(request.amount)
        out_trade_no = out_trade_no_for(request)
        body: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": (request.description or f"Order {request.order_number}")[:127],
            "out_trade_no": out_trade_no,
            # Whole minutes, so a retry a few seconds later sends the same parameters.
            "time_expire": _rfc3339(_next_minute(datetime.now(UTC) + self.hold)),
            "attach": request.order_number[:128],
            "notify_url": self._notify_url(request),
            "amount": {"total": total, "currency": "CNY"},
        }
        detail = _goods_detail(request, total)
        if detail:
            body["detail"] = detail
        mobile = request.device == "mobile" and request.client_ip
        if request.device == "mobile" and not request.client_ip:
            log.warning("order %s: no client address for H5, a QR code instead",
                        request.order_number)  # fmt: skip
        if mobile:
            h5_info: dict[str, str] = {"type": "Wap"}
            if self.settings.get("SHOP_NAME"):
                h5_info["app_name"] = str(self.settings["SHOP_NAME"])[:64]
            if self.public_url:
                h5_info["app_url"] = self.public_url
            body["scene_info"] = {"payer_client_ip": request.client_ip, "h5_info": h5_info}
            answer = self._call(RequestType.POST, "/v3/pay/transactions/h5", body)
            url = answer.get("h5_url")
            if not url:
                raise PaymentUnavailable("WeChat Pay answered the H5 prepay without h5_url")
            if request.return_url:
                joiner = "&" if "?" in url else "?"
                url += f"{joiner}redirect_url={quote(request.return_url, safe='')}"
            next_action = {"type": "redirect", "url": url, "provider": "wechatpay"}
        else:
            answer = self._call(RequestType.POST, "/v3/pay/transactions/native", body)
            if not answer.get("code_url"):
                raise PaymentUnavailable("WeChat Pay answered the Native prepay without code_url")
            next_action = {"type": "qr_code", "data": answer["code_url"], "provider": "wechatpay"}
        log.info("wechatpay %s prepay %s for order %s", "H5" if mobile else "Native",
                 out_trade_no, request.order_number)  # fmt: skip
        return PaymentResult(
            reference=out_trade_no, status="requires_action", next_action=next_action,
            amount=request.amount, provider_status="NOTPAY",
        )  # fmt: skip

    def status(self, reference: str) -> PaymentResult:
        """Where the order stands at WeChat (query by ``out_trade_no``). One WeChat
        never received is ``canceled``: no money can come through it."""
        try:
            transaction = self._query(reference)
        except PaymentRejected as refused:
            if refused.code == "ORDER_NOT_EXIST":
                return PaymentResult(reference, "canceled", provider_status="ORDER_NOT_EXIST")
            raise
        return _result(reference, transaction)

    def capture(self, reference: str, amount: Money | None = None) -> PaymentResult:
        """Nothing to capture: Native and H5 payments are taken when the shopper pays."""
        result = self.status(reference)
        if result.status != "succeeded":
            raise PaymentRejected(
                f"WeChat Pay payment {reference} is {result.provider_status}; Native and H5 "
                "payments have no authorization to capture",
                code="not_capturable",
            )
        return result

    def cancel(self, reference: str) -> PaymentResult:
        """Close the order at WeChat; closing a closed (or never created) one is fine. A
        paid one is refused: refund it instead."""
        try:
            self._call(
                RequestType.POST,
                f"/v3/pay/transactions/out-trade-no/{quote(reference, safe='')}/close",
                {"mchid": self.mchid},
            )
        except PaymentRejected as refused:
            if refused.code == "ORDERPAID":
                raise PaymentRejected(
                    f"WeChat Pay order {reference} is paid: refund it instead of closing",
                    code="ORDERPAID",
                ) from refused
            if refused.code not in ("ORDER_CLOSED", "ORDER_NOT_EXIST"):
                raise
        return PaymentResult(reference, "canceled", provider_status="CLOSED")

    def refund(self, reference: str, amount: Money, *, idempotency_key: str) -> RefundResult:
        """Refund ``amount`` (all or part) of the paid order ``reference``.

        ``out_refund_no`` is the idempotency key, so a retried call is the same refund at
        WeChat, never a second one. The order is queried first for its total, which
        WeChat wants with every refund."""
        if not idempotency_key or not OUT_REFUND_NO.match(idempotency_key):
            raise ValueError(f"not a WeChat Pay out_refund_no: {idempotency_key!r}")
        fen = to_fen(amount)
        transaction = self._query(reference)
        total = (transaction.get("amount") or {}).get("total")
        if not isinstance(total, int):
            raise PaymentUnavailable(f"WeChat Pay did not say the total of {reference}")
        body: dict[str, Any] = {
            "out_trade_no": reference,
            "out_refund_no": idempotency_key,
            "amount": {"refund": fen, "total": total, "currency": "CNY"},
        }
        notify_url = self._notify_url(None, required=False)
        if notify_url:
            body["notify_url"] = notify_url
        answer = self._call(RequestType.POST, "/v3/refund/domestic/refunds", body)
        provider_status = str(answer.get("status") or "")
        status = _REFUND_STATES.get(provider_status, "pending")
        log.info("wechatpay refund %s of %s: %s", idempotency_key, reference, provider_status)
        note = ""
        if provider_status == "ABNORMAL":
            note = "WeChat Pay could not pay it back to the shopper's account; handle it in "
            note += "the merchant platform"
        elif status == "pending":
            note = "WeChat Pay is processing the refund; its notification confirms it"
        refunded = (answer.get("amount") or {}).get("refund")
        return RefundResult(
            reference=str(answer.get("refund_id") or idempotency_key),
            amount=from_fen(refunded) if isinstance(refunded, int) else amount,
            status=status,
            note=note,
        )

    # -- notifications -------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent | None:
        """Verify a notification (signature by the platform key named by
        ``Wechatpay-Serial``, at most 5 minutes old), decrypt its resource and map it.

        ``TRANSACTION.*`` maps by the transaction's ``trade_state``; ``REFUND.SUCCESS``
        is ``refunded`` with that refund's amount and ``refund_reference`` (WeChat does
        not say how much was refunded in all). Other verified types: ``None``."""
        names = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce",
                 "Wechatpay-Serial", "Wechatpay-Signature-Type")  # fmt: skip
        given = {name: header_value(headers, name) for name in names}
        if not all(given[name] for name in names[:4]):
            raise WebhookRejected("not a signed WeChat Pay notification (headers missing)")
        given["Wechatpay-Signature-Type"] = (
            given["Wechatpay-Signature-Type"] or "WECHATPAY2-SHA256-RSA2048"
        )
        try:
            age = abs(time.time() - int(given["Wechatpay-Timestamp"]))
            text = body.decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("unreadable WeChat Pay notification") from exc
        if age > NOTIFICATION_TOLERANCE_SECONDS:
            raise WebhookRejected("the WeChat Pay notification is too old (or from the future)")
        core = self._client()
        serial = given["Wechatpay-Serial"]
        if not core.knows_serial(serial) and (
            time.monotonic() - core.last_refresh < CERTIFICATE_REFRESH_SECONDS
        ):
            raise WebhookRejected(f"no WeChat Pay platform certificate {serial[:40]}")
        try:
            verified = core.callback(given, text)
        except requests.RequestException as exc:
            raise PaymentUnavailable(f"WeChat Pay certificates unavailable: {exc}") from exc
        except Exception as exc:  # the SDK's own refusals are plain Exceptions
            raise WebhookRejected(f"WeChat Pay notification refused: {exc}") from exc
        if not verified or not isinstance(verified.get("resource"), dict):
            raise WebhookRejected(
                "the WeChat Pay notification's signature or ciphertext is not valid"
            )
        return self._event(verified)

    def webhook_answer(self, outcome: str) -> tuple[str, int, str] | None:
        # WeChat Pay takes 200 or 204 as received and wants no body.
        return "", 204, "application/json"

    # -- inside --------------------------------------------------------------

    def _event(self, notification: Mapping[str, Any]) -> PaymentEvent | None:
        resource = notification["resource"]
        event_type = str(notification.get("event_type") or "")
        event_id = notification.get("id")
        if not event_id:
            raise WebhookRejected("a WeChat Pay notification without an id")
        if resource.get("mchid") not in (None, self.mchid):
            raise WebhookRejected("a WeChat Pay notification for another merchant")
        reference = resource.get("out_trade_no")
        amounts = resource.get("amount") or {}
        refund_reference = None
        if event_type.startswith("TRANSACTION."):
            kind = _EVENT_KINDS.get(_TRADE_STATES.get(str(resource.get("trade_state")), ""))
            fen = amounts.get("total")
            occurred = resource.get("success_time")
        elif event_type == "REFUND.SUCCESS":
            kind, fen, occurred = "refunded", amounts.get("refund"), resource.get("success_time")
            # One refund's amount, not the running total: name the refund so the shop
            # counts it once. out_refund_no is the shop's own key (refund-<id>), known
            # before the refund call, so even a notification that overtakes it matches.
            refund_reference = str(resource.get("out_refund_no") or resource.get("refund_id"))
        else:
            if event_type.startswith("REFUND."):
                log.warning("wechatpay refund %s of %s: %s", resource.get("out_refund_no"),
                            reference, event_type)  # fmt: skip
            return None
        if kind is None:
            return None
        return PaymentEvent(
            id=str(event_id), kind=kind, reference=reference,
            order_number=resource.get("attach") or None,
            amount=from_fen(fen) if isinstance(fen, int) else None,
            provider_type=event_type, raw=dict(notification),
            occurred_at=_parse_time(occurred or notification.get("create_time")),
            refund_reference=refund_reference,
        )  # fmt: skip

    def _notify_url(self, request: PaymentRequest | None, *, required: bool = True) -> str | None:
        if request is not None and request.notify_url:
            return request.notify_url
        if self.public_url:
            return self.public_url + WEBHOOK_PATH
        if required:
            raise PaymentConfigurationError(
                "wechatpay needs PAVILION_PUBLIC_URL (or a notify_url) for its notifications"
            )
        return None

    def _query(self, reference: str) -> dict[str, Any]:
        if not reference:
            raise ValueError("a WeChat Pay payment needs its out_trade_no")
        path = f"/v3/pay/transactions/out-trade-no/{quote(reference, safe='')}"
        return self._call(RequestType.GET, f"{path}?mchid={quote(self.mchid, safe='')}")

    def _client(self) -> _Core:
        core = _CLIENTS.get(self._client_key)
        if core is not None:
            return core
        with _CLIENTS_LOCK:
            core = _CLIENTS.get(self._client_key)
            if core is None:
                core = self._build_core()
                _CLIENTS[self._client_key] = core
        return core

    def _build_core(self) -> _Core:
        try:
            return _Core(api_base=self.api_base, **self._core_args)
        except requests.RequestException as exc:
            log.warning("wechatpay unavailable (certificates): %s", exc)
            raise PaymentUnavailable(f"WeChat Pay is unavailable: {type(exc).__name__}") from exc
        except Exception as exc:  # the SDK raises plain Exceptions for keys and certificates
            log.error("wechatpay cannot start (check the WECHATPAY_* settings): %s", exc)
            raise PaymentUnavailable(f"WeChat Pay cannot be used now: {exc}") from exc

    def _call(self, method: RequestType, path: str, body: dict | None = None) -> dict[str, Any]:
        """One signed call; its answer's signature checked by the SDK; the port's errors."""
        core = self._client()
        try:
            code, text = core.request(path, method=method, data=body)
        except requests.RequestException as exc:
            log.warning("wechatpay unavailable: %s %s: %s", method.value, path, exc)
            raise PaymentUnavailable(f"WeChat Pay is unavailable: {type(exc).__name__}") from exc
        except Exception as exc:  # an answer whose signature did not verify
            log.error("wechatpay answer to %s %s refused: %s", method.value, path, exc)
            raise PaymentUnavailable(f"WeChat Pay's answer could not be verified: {exc}") from exc
        answer = _json_object(text)
        if 200 <= code < 300:
            return answer
        error_code = str(answer.get("code") or "")
        message = f"WeChat Pay {code} {error_code}: {answer.get('message') or ''}".strip()
        if code >= 500 or code == 429 or error_code in _RETRYABLE_CODES:
            log.warning("wechatpay unavailable: %s %s: %s", method.value, path, message)
            raise PaymentUnavailable(message)
        if code == 401 or error_code in _CREDENTIAL_CODES:
            # The order waits for an operator to fix the credentials rather than fails.
            log.error("wechatpay refused the shop's credentials: %s", message)
            raise PaymentUnavailable(message)
        raise PaymentRejected(message, code=error_code or str(code))


def _result(reference: str, transaction: Mapping[str, Any]) -> PaymentResult:
    trade_state = str(transaction.get("trade_state") or "")
    total = (transaction.get("amount") or {}).get("total")
    status = _TRADE_STATES.get(trade_state, "pending")
    return PaymentResult(
        reference=reference, status=status,
        amount=from_fen(total) if isinstance(total, int) else None,
        provider_status=trade_state,
        message=transaction.get("trade_state_desc") if status == "failed" else None,
    )  # fmt: skip


def _goods_detail(request: PaymentRequest, total: int) -> dict[str, Any] | None:
    """The lines as WeChat's goods list, when each is a whole number of fen and they add
    up to the total (otherwise nothing: the list is optional)."""
    if not request.lines:
        return None
    goods = []
    try:
        for number, line in enumerate(request.lines, 1):
            goods.append({
                "merchant_goods_id": (line.sku or f"{line.kind}-{number}")[:32],
                "goods_name": line.name[:256],
                "quantity": line.quantity,
                "unit_price": to_fen(line.unit_price),
            })  # fmt: skip
    except ValueError:
        return None
    if sum(item["quantity"] * item["unit_price"] for item in goods) != total:
        return None
    return {"cost_price": total, "goods_detail": goods}


def _json_object(text: Any) -> dict[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(CHINA_TIME).isoformat(timespec="seconds")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
