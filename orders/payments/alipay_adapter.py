"""``alipay``: Alipay's web and mobile payment pages (CNY), with ``python-alipay-sdk``.

Flow: ``create_payment`` signs an ``alipay.trade.page.pay`` request (desktop) or an
``alipay.trade.wap.pay`` request (mobile) and hands the shopper's browser the gateway
URL that carries it (``next_action``: ``{"type": "redirect", "url": ...}``). Nothing is
sent to Alipay at this point: a page-pay trade is created by Alipay when the shopper's
browser opens that URL, so creating a payment never times out and needs no retry.
The shopper pays on Alipay's page, comes back to ``return_url``, and Alipay posts the
asynchronous notification (a form POST, RSA2-signed with Alipay's key) to
``notify_url``; ``parse_webhook`` verifies and maps it. ``status`` asks
``alipay.trade.query`` for the sweeper, ``cancel`` sends ``alipay.trade.close``,
``refund`` sends ``alipay.trade.refund`` with one ``out_request_no`` per refund.

Why ``python-alipay-sdk`` (fzlee/alipay) and not Alipay's own ``alipay-sdk-python``:
it is the one most Python shops use, and small enough to read in one sitting (one
module: RSA2 signing of the sorted parameters, verification of the synchronous answers
and of notifications) with pycryptodomex as its only crypto dependency. The official
package (pypi.org/project/alipay-sdk-python) is generated: a model class and a
request/response class for each of Alipay's API methods, with its own HTTP
client; it would do the same four calls with far more code to audit. Both install
the top-level package ``alipay``, so only one of them can be installed at a time.

What the SDK gives and where we step around it:

- The gateway is fixed by its ``debug`` flag (production or the sandbox); we set it
  from ``ALIPAY_GATEWAY`` on a subclass, which is how the tests point it at the
  loopback fake (``tests/fake_alipay.py``).
- Timeouts: its ``AliPayConfig(timeout=)`` goes to ``urlopen``; every server call is a
  GET of the gateway with the signed parameters in the query string.
- Its ``wap.pay`` helper sends ``product_code`` ``QUICK_WAP_PAY``; Alipay's documented
  code for the mobile page is ``QUICK_WAP_WAY``, which we pass explicitly.
- Keys: the SDK wants PEM; the console shows bare base64, which we accept too.

Settings read (see ``orders/payments/base.py``):

``ALIPAY_APP_ID``
    The app's id at Alipay's open platform. Required.
``ALIPAY_APP_PRIVATE_KEY``
    The app's RSA private key (PEM, or the bare base64 Alipay's key tool shows).
    Required: every request is signed with it (RSA2, SHA256withRSA).
``ALIPAY_PUBLIC_KEY``
    Alipay's public key (PEM or bare base64), which verifies Alipay's answers and
    notifications. Required.
``ALIPAY_GATEWAY``
    Default ``https://openapi.alipay.com/gateway.do``.
``ALIPAY_TIMEOUT_SECONDS``
    Per call (default 10).
``RESERVATION_TTL_MINUTES``
    The shop's hold on an unpaid order (default 30): the trade's ``time_expire``, so
    Alipay stops taking money when the shop stops holding the goods.
``PUBLIC_URL``
    The shop's public base URL: the notification address when the request carries no
    ``notify_url`` (``<PUBLIC_URL>/api/v1/payments/alipay/webhook``).

References: our ``out_trade_no`` is the order number in Alipay's alphabet (letters,
digits, ``_``), plus a suffix from the idempotency key for a second payment of the
same order (a retry after a decline, a re-planned price): Alipay refuses a second
trade with the same ``out_trade_no`` and different details, and a retry with the same
key must land on the same trade.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import logging
import re
import urllib.error
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from alipay import AliPay, AliPayConfig
from alipay.exceptions import AliPayException, AliPayValidationError

from catalog.money import Money
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
)

log = logging.getLogger(__name__)

DEFAULT_GATEWAY = "https://openapi.alipay.com/gateway.do"
DEFAULT_TIMEOUT_SECONDS = 10
DEFAULT_HOLD_MINUTES = 30
WEBHOOK_PATH = "/api/v1/payments/alipay/webhook"
BEIJING = timezone(timedelta(hours=8), "CST")  # Alipay's times are Beijing time
MAX_AMOUNT = Decimal("100000000")  # total_amount's documented range: [0.01, 100000000]
OUT_NO_LENGTH = 64  # out_trade_no and out_request_no
SUBJECT_LENGTH = 256

PRODUCT_CODES = {"desktop": "FAST_INSTANT_TRADE_PAY", "mobile": "QUICK_WAP_WAY"}

# trade_status -> the shop's payment status.
_PAYMENT_STATUS = {
    "WAIT_BUYER_PAY": "requires_action",
    "TRADE_SUCCESS": "succeeded",
    "TRADE_FINISHED": "succeeded",  # no refunds possible any more; still paid
    "TRADE_CLOSED": "canceled",  # unpaid and closed, or refunded in full
}

# Alipay's answer codes (the public ``code``; ``sub_code`` says more).
SUCCESS = "10000"
_UNAVAILABLE_CODES = {"20000"}  # service unavailable: try again
# The gateway cannot tell who we are, or the app may not call this API: the shop's
# keys or contract need an operator; the order waits rather than fails.
_CREDENTIAL_SUB_CODES = {
    "isv.invalid-signature",
    "isv.invalid-app-id",
    "isv.missing-signature",
    "isv.invalid-signature-type",
    "isv.insufficient-isv-permissions",
    "isv.insufficient-user-permissions",
    "isv.app-unbind-partner",
}
_UNAVAILABLE_SUB_CODES = {
    "ACQ.SYSTEM_ERROR",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH",  # the refund waits for money in the account
    "aop.ACQ.SYSTEM_ERROR",
    "isp.unknow-error",
}
# What a buyer's own account refused (barcode-style payments; the page handles these
# itself, but they can come back from a query-backed call).
_DECLINE_SUB_CODES = {
    "ACQ.BUYER_BALANCE_NOT_ENOUGH",
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH",
    "ACQ.BUYER_ENABLE_STATUS_FORBID",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR",
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR",
    "ACQ.PAYMENT_FAIL",
}


class _Gateway(AliPay):
    """The SDK's client with the gateway from the settings instead of its debug flag."""

    def __init__(self, gateway: str, **kwargs: Any):
        super().__init__(**kwargs)
        self._gateway = gateway

    def build_body(self, method: str, biz_content: Any = None, **kwargs: Any) -> dict[str, Any]:
        # The SDK stamps the server's local time; Alipay reads ``timestamp`` as Beijing
        # time, and shops run in UTC.
        data = super().build_body(method, biz_content, **kwargs)
        data["timestamp"] = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        return data


class AlipayAnswer(Exception):
    """Inside the adapter: a signed Alipay answer whose ``code`` is not success."""

    def __init__(self, content: Mapping[str, Any]):
        self.content = dict(content)
        self.code = str(content.get("code") or "")
        self.sub_code = str(content.get("sub_code") or "")
        super().__init__(f"{self.code} {self.sub_code}: {content.get('sub_msg') or ''}")


class AlipayAdapter(PaymentAdapter):
    name = "alipay"
    currencies = ("CNY",)

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        now: Callable[[], datetime] | None = None,
    ):
        super().__init__(settings)
        self.app_id = str(settings.get("ALIPAY_APP_ID") or "")
        if not self.app_id:
            raise PaymentConfigurationError("the alipay payment adapter needs ALIPAY_APP_ID")
        private_key = _key_text(settings.get("ALIPAY_APP_PRIVATE_KEY"), "PRIVATE KEY")
        public_key = _key_text(settings.get("ALIPAY_PUBLIC_KEY"), "PUBLIC KEY")
        if not private_key or not public_key:
            raise PaymentConfigurationError(
                "the alipay payment adapter needs ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY"
            )
        self.gateway = settings.get("ALIPAY_GATEWAY") or DEFAULT_GATEWAY
        timeout = float(settings.get("ALIPAY_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
        self.hold = timedelta(
            minutes=int(settings.get("RESERVATION_TTL_MINUTES") or DEFAULT_HOLD_MINUTES)
        )
        public_url = settings.get("PUBLIC_URL")
        self.default_notify_url = f"{public_url.rstrip('/')}{WEBHOOK_PATH}" if public_url else None
        self._now = now or (lambda: datetime.now(UTC))
        try:
            self.client = _Gateway(
                self.gateway,
                appid=self.app_id,
                app_private_key_string=private_key,
                alipay_public_key_string=public_key,
                sign_type="RSA2",
                config=AliPayConfig(timeout=timeout),
            )
        except (ValueError, IndexError, TypeError) as exc:
            raise PaymentConfigurationError(f"an Alipay key cannot be read: {exc}") from exc

    # -- payments ------------------------------------------------------------

    def create_payment(self, request: PaymentRequest) -> PaymentResult:
        """The signed payment-page URL for the order; no call to Alipay is made.

        The same idempotency key gives the same ``out_trade_no`` (and, for the same
        amount, the same trade at Alipay once the shopper opens it).
        """
        total = alipay_amount(request.amount)
        out_trade_no = out_trade_no_for(request.order_number, request.idempotency_key)
        biz: dict[str, Any] = {
            "product_code": PRODUCT_CODES[request.device],
            "time_expire": (self._now() + self.hold)
            .astimezone(BEIJING)
            .strftime("%Y-%m-%d %H:%M:%S"),
            # Echoed in the notification: the order even before the payment row is read.
            "passback_params": quote(request.order_number, safe=""),
        }
        goods = _goods_detail(request)
        if goods:
            biz["goods_detail"] = goods
        if request.device == "mobile" and request.return_url:
            biz["quit_url"] = request.return_url  # where "back" on the mobile page goes
        notify_url = request.notify_url or self.default_notify_url
        if not notify_url:
            log.warning(
                "alipay payment %s has no notify_url (set PAVILION_PUBLIC_URL): only the "
                "sweeper's trade.query will find it paid",
                out_trade_no,
            )
        build = (
            self.client.api_alipay_trade_wap_pay
            if request.device == "mobile"
            else self.client.api_alipay_trade_page_pay
        )
        signed = build(
            subject=_subject(request),
            out_trade_no=out_trade_no,
            total_amount=total,
            return_url=request.return_url,
            notify_url=notify_url,
            **biz,
        )
        log.info("alipay %s page for order %s: %s CNY", request.device, request.order_number,
                 total)  # fmt: skip
        return PaymentResult(
            reference=out_trade_no,
            status="requires_action",
            next_action={
                "type": "redirect",
                "url": f"{self.gateway}?{signed}",
                "provider": "alipay",
            },
            amount=Money(Decimal(total), "CNY"),
            provider_status="PAGE_SIGNED",
        )

    def status(self, reference: str) -> PaymentResult:
        """``alipay.trade.query``. A trade Alipay does not know yet is a page the shopper
        has not opened: still ``requires_action``."""
        try:
            trade = self._call("alipay.trade.query", {"out_trade_no": _reference(reference)})
        except AlipayAnswer as answer:
            if answer.sub_code == "ACQ.TRADE_NOT_EXIST":
                return PaymentResult(reference, "requires_action",
                                     provider_status="TRADE_NOT_EXIST")  # fmt: skip
            raise _port_error(answer) from answer
        return _trade_result(reference, trade)

    def capture(self, reference: str, amount: Money | None = None) -> PaymentResult:
        """There is no separate capture: a page-pay trade takes the money when the
        shopper pays (Alipay's pre-authorisation is another product). A paid trade is
        returned as it is; anything else is refused."""
        result = self.status(reference)
        if result.status == "succeeded":
            if amount is not None and result.amount is not None and amount != result.amount:
                raise PaymentRejected(
                    f"alipay trade {reference} took {result.amount}; a partial capture "
                    "does not exist, refund the difference instead",
                    code="no_partial_capture",
                )
            return result
        raise PaymentRejected(
            f"alipay trade {reference} is {result.provider_status}: page payments have no "
            "separate capture",
            code="no_separate_capture",
        )

    def cancel(self, reference: str) -> PaymentResult:
        """``alipay.trade.close``. A trade not created yet (the page was never opened)
        or closed already is fine; a paid one must be refunded instead.

        The signed page URL stays openable until its ``time_expire``; money that still
        arrives for a cancelled order is refunded by the shop."""
        reference = _reference(reference)
        try:
            closed = self._call("alipay.trade.close", {"out_trade_no": reference})
        except AlipayAnswer as answer:
            if answer.sub_code == "ACQ.TRADE_NOT_EXIST":
                return PaymentResult(reference, "canceled", provider_status="TRADE_NOT_EXIST")
            if answer.sub_code not in ("ACQ.TRADE_STATUS_ERROR", "ACQ.REASON_ILLEGAL_STATUS",
                                       "ACQ.REASON_TRADE_STATUS_INVALID"):  # fmt: skip
                raise _port_error(answer) from answer
            current = self.status(reference)
            if current.status == "canceled":
                return current
            raise PaymentRejected(
                f"alipay trade {reference} is {current.provider_status}: refund it instead "
                "of closing it",
                code=answer.sub_code,
            ) from answer
        log.info("alipay trade %s closed (%s)", reference, closed.get("trade_no"))
        return PaymentResult(reference, "canceled", provider_status="TRADE_CLOSED")

    def refund(self, reference: str, amount: Money, *, idempotency_key: str) -> RefundResult:
        """``alipay.trade.refund`` of ``amount`` (all or part), with ``out_request_no``
        from the idempotency key: the same key sent again refunds nothing more (Alipay
        answers ``fund_change`` ``N``; the refund is then confirmed with
        ``alipay.trade.fastpay.refund.query``)."""
        if not idempotency_key:
            raise ValueError("a refund needs an idempotency key")
        reference = _reference(reference)
        refund_amount = alipay_amount(amount)
        out_request_no = out_request_no_for(idempotency_key)
        try:
            answer = self._call(
                "alipay.trade.refund",
                {"out_trade_no": reference, "refund_amount": refund_amount,
                 "out_request_no": out_request_no},
            )  # fmt: skip
        except AlipayAnswer as refused:
            raise _port_error(refused) from refused
        status, note = "succeeded", ""
        if answer.get("fund_change") != "Y":
            # Alipay moved no money this time: the refund was made by an earlier try
            # of the same out_request_no, or is still on its way. Ask.
            status, note = self._refund_state(reference, out_request_no)
        log.info("alipay refund %s of %s: %s CNY, %s (refunded in all: %s)", out_request_no,
                 reference, refund_amount, status, answer.get("refund_fee"))  # fmt: skip
        return RefundResult(
            reference=out_request_no,
            amount=Money(Decimal(refund_amount), "CNY"),
            status=status,
            note=note,
        )

    # -- notifications -------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent | None:
        """Verify Alipay's asynchronous notification and map it.

        The body is a form; ``sign`` is Alipay's RSA2 signature over every other
        parameter but ``sign_type``, sorted by name and joined as ``k=v`` with ``&``
        (the SDK's ``verify``). Then ``app_id`` must be ours.

        Mapped: a refund (``refund_fee`` with ``gmt_refund``) -> ``refunded`` with the
        trade's refunded total; ``TRADE_SUCCESS``/``TRADE_FINISHED`` -> ``succeeded``;
        ``TRADE_CLOSED`` -> ``canceled``. ``WAIT_BUYER_PAY`` and others: ``None``.
        """
        fields = _form(body)
        signature = fields.pop("sign", "")
        if not signature:
            raise WebhookRejected("the Alipay notification carries no sign")
        if fields.get("sign_type", "RSA2") != "RSA2":
            raise WebhookRejected(f"sign_type {fields.get('sign_type')!r}, not RSA2")
        try:
            verified = self.client.verify(dict(fields), signature)
        except (AliPayException, ValueError, TypeError, binascii.Error) as exc:
            raise WebhookRejected(f"the Alipay signature cannot be checked: {exc}") from exc
        if not verified:
            raise WebhookRejected("the Alipay signature is not valid")
        if fields.get("app_id") != self.app_id:
            raise WebhookRejected(f"a notification for app {fields.get('app_id')!r}, not ours")
        return event_from_notification(fields)

    def webhook_answer(self, outcome: str) -> tuple[str, int, str]:
        """Alipay stops re-sending only on the bare text ``success``; every verified
        notification is answered so (a duplicate too: it was applied once already)."""
        return ("success", 200, "text/plain")

    # -- inside --------------------------------------------------------------

    def _call(self, method: str, biz_content: Mapping[str, Any]) -> dict[str, Any]:
        """One signed server call through the SDK; Alipay's own content out (the
        SDK has verified its signature), or ``AlipayAnswer`` for a signed refusal.
        Transport trouble and unsigned refusals become the port's errors here."""
        try:
            content = self.client.server_api(method, dict(biz_content))
        except AliPayValidationError as exc:
            log.error("alipay %s: the answer's signature is not Alipay's (check "
                      "ALIPAY_PUBLIC_KEY and ALIPAY_GATEWAY)", method)  # fmt: skip
            raise PaymentUnavailable(f"Alipay's answer to {method} is not signed by "
                                     "Alipay's key") from exc  # fmt: skip
        except AliPayException as exc:
            # Unsigned: the gateway refused the request itself (a bad signature, an
            # unknown app) before any business code ran.
            raise _port_error(AlipayAnswer(_unsigned_content(str(exc)))) from exc
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise PaymentUnavailable(f"Alipay answered {exc.code} to {method}") from exc
            raise PaymentRejected(f"Alipay answered {exc.code} to {method}",
                                  code=f"http_{exc.code}") from exc  # fmt: skip
        except (urllib.error.URLError, TimeoutError, ConnectionError,
                http.client.HTTPException) as exc:  # fmt: skip
            log.warning("alipay %s unavailable: %s", method, exc)
            raise PaymentUnavailable(f"Alipay did not answer {method}: {exc}") from exc
        except (ValueError, KeyError, AttributeError) as exc:  # an unreadable answer
            log.warning("alipay %s: unreadable answer: %s", method, exc)
            raise PaymentUnavailable(f"Alipay's answer to {method} cannot be read") from exc
        if str(content.get("code")) != SUCCESS:
            raise AlipayAnswer(content)
        return content

    def _refund_state(self, reference: str, out_request_no: str) -> tuple[str, str]:
        try:
            found = self._call(
                "alipay.trade.fastpay.refund.query",
                {"out_trade_no": reference, "out_request_no": out_request_no},
            )
        except AlipayAnswer as answer:
            raise _port_error(answer) from answer
        # Found with no refund_status (older accounts) or REFUND_SUCCESS: refunded.
        if found.get("refund_amount") and found.get("refund_status") in (
            None,
            "",
            "REFUND_SUCCESS",
        ):
            return "succeeded", "Alipay had made this refund already"
        return "pending", "Alipay has not confirmed this refund yet"


# -- pure parts (tested without a gateway) -------------------------------------------


def alipay_amount(money: Money) -> str:
    """``money`` as Alipay's ``total_amount``/``refund_amount``: yuan with two decimals,
    from the Decimal (CNY 18.5 -> ``"18.50"``). Another currency, more than two
    decimals, or an amount outside Alipay's range is a ``ValueError``: a charge is never
    silently different from the order's total."""
    if money.currency.upper() != "CNY":
        raise ValueError(f"Alipay takes CNY only, not {money.currency}")
    amount = Decimal(money.amount)
    cents = amount.scaleb(2)
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} CNY is not a whole number of fen")
    if not Decimal("0.01") <= amount <= MAX_AMOUNT:
        raise ValueError(f"{amount} CNY is outside Alipay's range 0.01-{MAX_AMOUNT}")
    return f"{amount.quantize(Decimal('0.01'))}"


def out_trade_no_for(order_number: str, idempotency_key: str) -> str:
    """The trade number for one payment of an order: the order number in Alipay's
    alphabet, then what the idempotency key adds after it (``order-<number>-pay-2`` ->
    ``<number>_pay_2``); too long or unrelated keys add a hash instead."""
    base = _alipay_alphabet(order_number)
    key = idempotency_key
    for prefix in ("order-", ""):
        if key.startswith(f"{prefix}{order_number}"):
            rest = key[len(prefix) + len(order_number) :]
            suffix = _alipay_alphabet(rest).strip("_")
            candidate = f"{base}_{suffix}" if suffix else base
            if len(candidate) <= OUT_NO_LENGTH:
                return candidate
            break
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{base[: OUT_NO_LENGTH - 17]}_{digest}"


def out_request_no_for(idempotency_key: str) -> str:
    """A refund's ``out_request_no``: the idempotency key when Alipay takes it as it is,
    a hash of it otherwise (the same key always gives the same number)."""
    if re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", idempotency_key):
        return idempotency_key
    return "r" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def event_from_notification(fields: Mapping[str, str]) -> PaymentEvent | None:
    """A verified notification (its form fields) as a ``PaymentEvent``."""
    notify_id = fields.get("notify_id")
    reference = fields.get("out_trade_no")
    if not notify_id or not reference:
        raise WebhookRejected("an Alipay notification without notify_id or out_trade_no")
    trade_status = fields.get("trade_status", "")
    passback = fields.get("passback_params")
    order_number = unquote(passback) if passback else None
    if fields.get("refund_fee") and fields.get("gmt_refund"):
        kind, amount, when = "refunded", _cny(fields.get("refund_fee")), fields.get("gmt_refund")
    elif trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        kind, amount = "succeeded", _cny(fields.get("total_amount"))
        when = fields.get("gmt_payment") or fields.get("notify_time")
    elif trade_status == "TRADE_CLOSED":
        kind, amount = "canceled", _cny(fields.get("total_amount"))
        when = fields.get("gmt_close") or fields.get("notify_time")
    else:
        return None
    return PaymentEvent(
        id=notify_id,
        kind=kind,
        reference=reference,
        order_number=order_number,
        amount=amount,
        provider_type=f"{fields.get('notify_type') or 'notification'}:{trade_status}",
        raw=dict(fields),
        occurred_at=_beijing_time(when),
    )


def _trade_result(reference: str, trade: Mapping[str, Any]) -> PaymentResult:
    provider_status = str(trade.get("trade_status") or "")
    return PaymentResult(
        reference=reference,
        status=_PAYMENT_STATUS.get(provider_status, "pending"),
        amount=_cny(trade.get("total_amount")),
        provider_status=provider_status,
    )


def _port_error(answer: AlipayAnswer) -> Exception:
    """A refusal from Alipay as the port's error."""
    text = f"Alipay refused: {answer}"
    if answer.code in _UNAVAILABLE_CODES or answer.sub_code in _UNAVAILABLE_SUB_CODES:
        log.warning("alipay unavailable: %s", answer)
        return PaymentUnavailable(text)
    if answer.code == "20001" or answer.sub_code in _CREDENTIAL_SUB_CODES:
        log.error("alipay refused the shop's credentials (check ALIPAY_APP_ID and the keys "
                  "at the open platform): %s", answer)  # fmt: skip
        return PaymentUnavailable(text)
    if answer.sub_code in _DECLINE_SUB_CODES:
        return PaymentDeclined(str(answer.content.get("sub_msg") or "Alipay declined the "
                               "payment."), code=answer.sub_code)  # fmt: skip
    return PaymentRejected(text, code=answer.sub_code or answer.code or None)


def _unsigned_content(message: str) -> dict[str, Any]:
    """The content of an unsigned answer from the SDK's exception text (which carries
    the raw answer)."""
    start = message.find("{")
    try:
        raw = json.loads(message[start : message.rfind("}") + 1]) if start >= 0 else {}
    except ValueError:
        raw = {}
    for value in raw.values() if isinstance(raw, dict) else ():
        if isinstance(value, dict) and "code" in value:
            return value
    return {"code": "", "sub_code": "", "sub_msg": message[:200]}


def _form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise WebhookRejected("the Alipay notification is not a url-encoded form") from exc
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          encoding="latin-1")  # fmt: skip
        charset = dict(pairs).get("charset") or "utf-8"
        fields = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
    except (LookupError, UnicodeDecodeError, ValueError) as exc:
        raise WebhookRejected(f"the Alipay notification cannot be read as {charset}") from exc
    if not fields:
        raise WebhookRejected("an empty Alipay notification")
    return dict(fields)


def _goods_detail(request: PaymentRequest) -> list[dict[str, Any]]:
    goods = []
    for number, line in enumerate(request.lines, 1):
        if line.unit_price.currency.upper() != "CNY":
            return []  # the lines are not in the payment's currency: send none
        goods.append({
            "goods_id": (line.sku or f"{line.kind}-{number}")[:32],
            "goods_name": line.name[:256] or line.kind,
            "quantity": line.quantity,
            "price": f"{Decimal(line.unit_price.amount).quantize(Decimal('0.01'))}",
        })  # fmt: skip
    return goods


def _subject(request: PaymentRequest) -> str:
    # Alipay's subject may not hold / = &.
    text = request.description or f"Order {request.order_number}"
    return re.sub(r"[/=&]", " ", text)[:SUBJECT_LENGTH].strip() or request.order_number


def _alipay_alphabet(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _reference(reference: str) -> str:
    if not reference or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", reference):
        raise ValueError(f"not an Alipay out_trade_no: {reference!r}")
    return reference


def _cny(value: Any) -> Money | None:
    if value in (None, ""):
        return None
    try:
        return Money(Decimal(str(value)), "CNY")
    except (InvalidOperation, ValueError):
        return None


def _beijing_time(value: str | None) -> datetime | None:
    if not value:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=BEIJING).astimezone(UTC)
        except ValueError:
            continue
    return None


def _key_text(value: Any, kind: str) -> str | None:
    """A key as PEM text: PEM as it is; bare base64 (as Alipay's console shows it)
    wrapped. The label is only a hint: the DER inside says what the key is."""
    if not value:
        return None
    text = str(value).strip()
    if text.startswith("-----BEGIN"):
        return text
    compact = "".join(text.split())
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PaymentConfigurationError(
            f"an Alipay {kind.lower()} is neither PEM nor base64"
        ) from exc
    lines = "\n".join(compact[i : i + 64] for i in range(0, len(compact), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----"
