"""A loopback Alipay open-platform gateway for tests: a real HTTP server on 127.0.0.1.

Written from Alipay's public documentation (the pages read, several through mirrors of
opendocs.alipay.com that the search index holds), not from an SDK:

- alipay.trade.page.pay and alipay.trade.wap.pay: the shopper's browser opens the
  gateway URL; ``product_code`` ``FAST_INSTANT_TRADE_PAY`` / ``QUICK_WAP_WAY``;
  ``out_trade_no`` up to 64 letters, digits or ``_``; ``total_amount`` in yuan, two
  decimals, in [0.01, 100000000]; ``time_expire``:
  https://docs.open.alipay.com/api_1/alipay.trade.page.pay,
  https://5851388.com/o028r8t (opendocs 028r8t, page pay),
  https://www.5851388.com/m02np8y/pathhash=7c7ccead.html (wap pay 2.0),
  https://yq.aliyun.com/articles/710944 (the product codes).
- alipay.trade.query, and ``ACQ.TRADE_NOT_EXIST`` for a trade not created yet:
  https://global.alipay.com/docs/ac/solution_api/trade-query,
  https://developer.alibaba.com/docs/doc.htm?articleId=104634&docType=1&treeId=140,
  https://zhifubao.apifox.cn/api-126426144 (its error codes).
- alipay.trade.close: only a trade waiting for the buyer closes
  (``ACQ.TRADE_STATUS_ERROR``), ``ACQ.TRADE_NOT_EXIST``, a ``TRADE_CLOSED``
  notification: https://docs.open.alipay.com/api_1/alipay.trade.close,
  http://zhifubao.apifox.cn/api-126371943.
- alipay.trade.refund: one ``out_request_no`` per partial refund; the same one again
  moves no money (``fund_change`` ``N``); more than is left is
  ``ACQ.REASON_TRADE_REFUND_FEE_ERR``, a refund without ``out_request_no`` that is not
  the whole amount ``ACQ.REFUND_AMT_NOT_EQUAL_TOTAL``:
  https://global.alipay.com/docs/ac/solution_api/trade-refund,
  https://open.alitrip.com/docs/doc.htm?articleId=104636&docType=1&treeId=140,
  https://553668.com/manong/375725.html. alipay.trade.fastpay.refund.query confirms a
  refund (found: ``refund_amount``; not found: success without it).
- The asynchronous notification: a form POST to ``notify_url`` with ``notify_time``,
  ``notify_type``, ``notify_id``, ``app_id``, ``trade_status``, ``total_amount``,
  ``passback_params`` as sent; for refunds ``out_biz_no``, ``refund_fee`` and
  ``gmt_refund``; refund notifications go to the payment's notify URL; re-sent until
  the shop answers ``success``:
  https://developer.alibaba.com/docs/doc.htm?articleId=104630&docType=1&treeId=140,
  https://global.alipay.com/docs/ac/3rdpartryqrcode/standard_5,
  https://developer.aliyun.com/ask/311924.
- Signatures: a request is signed over every parameter but ``sign`` and empty ones,
  sorted by name and joined as ``k=v`` with ``&`` (RSA2 = SHA256withRSA, base64):
  http://static.kancloud.cn/s2981295/qing/932556 (a copy of docs.open.alipay.com's
  签名与验签 page); a notification over every parameter but ``sign`` and
  ``sign_type``; a synchronous answer over the exact JSON text of its
  ``<method>_response`` object, with ``sign`` beside it (the layout the SDK's verifier
  expects, after docs.open.alipay.com/200/106120 which it names). Gateway errors
  (``40001`` missing, ``40002`` invalid: ``isv.invalid-signature``,
  ``isv.invalid-app-id``) come unsigned, as in the example the SDK's docstring quotes;
  ``20000`` is the service being unavailable.

The fake holds its own RSA key pair (``public_key_pem`` is "Alipay's public key" for the
shop's settings) and knows the app's public key, with which it checks every request.

Switches: ``delay`` (seconds before answering a server call: a slow gateway, or past
the client's timeout), ``outage`` (``"http_500"`` or ``"system_error"``), ``notify``
(False: notifications are lost), ``notify_attempts``/``retry_delay``.

Test hooks: ``open_page(url)`` is the shopper's browser opening the payment URL;
``pay``/``decline`` press the cashier page's buttons (as a browser would, by POST);
``signed_notification`` builds a notification the way Alipay signs it (or with another
key, for forgeries).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BEIJING = timezone(timedelta(hours=8))
SELLER_ID = "2088000000000001"
PAGE_METHODS = {"alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY",
                "alipay.trade.wap.pay": "QUICK_WAP_WAY"}  # fmt: skip
SERVER_METHODS = ("alipay.trade.query", "alipay.trade.close", "alipay.trade.refund",
                  "alipay.trade.fastpay.refund.query")  # fmt: skip
AMOUNT = re.compile(r"\d{1,9}(\.\d{1,2})?")
OUT_NO = re.compile(r"[A-Za-z0-9_]{1,64}")


def new_key_pair() -> tuple[rsa.RSAPrivateKey, str, str]:
    """An RSA key, its private half as PKCS#8 PEM and its public half as PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()  # fmt: skip
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return key, private_pem, public_pem


def rsa2_sign(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signing_string(params: dict[str, str], *, drop: tuple[str, ...]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in drop and params[k])


def beijing(moment: datetime | None = None, *, millis: bool = False) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(BEIJING)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}" if millis else text


@dataclass
class Trade:
    out_trade_no: str
    trade_no: str
    method: str
    total_amount: Decimal
    subject: str
    notify_url: str | None
    return_url: str | None
    passback_params: str | None
    time_expire: datetime | None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "WAIT_BUYER_PAY"
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunds: dict[str, Decimal] = field(default_factory=dict)  # out_request_no -> amount

    @property
    def refunded(self) -> Decimal:
        return sum(self.refunds.values(), Decimal("0.00"))


class FakeAlipay:
    def __init__(self, app_id: str, app_public_key_pem: str, *, notify_attempts: int = 3,
                 retry_delay: float = 0.3):  # fmt: skip
        self.app_id = app_id
        self.app_public_key = serialization.load_pem_public_key(app_public_key_pem.encode())
        self.key, _, self.public_key_pem = new_key_pair()
        self.trades: dict[str, Trade] = {}
        self.requests: list[dict[str, str]] = []  # every verified gateway request
        self.deliveries: list[tuple[str, int | None, str]] = []  # (notify_id, status, body)
        self.delay = 0.0
        self.outage: str | None = None
        self.notify = True
        self.notify_attempts = notify_attempts
        self.retry_delay = retry_delay
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.gateway = f"{self.url}/gateway.do"

    # -- running -------------------------------------------------------------

    def __enter__(self) -> FakeAlipay:
        thread = threading.Thread(target=self._server.serve_forever,
                                  kwargs={"poll_interval": 0.05}, daemon=True)  # fmt: skip
        thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.wait_for_notifications()
        self._server.shutdown()
        self._server.server_close()

    def wait_for_notifications(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- the shopper's browser -----------------------------------------------

    def open_page(self, url: str) -> requests.Response:
        """The shopper's browser opens the payment URL the shop gave it."""
        return requests.get(url, timeout=10, allow_redirects=False)

    def pay(self, out_trade_no: str) -> requests.Response:
        """The shopper presses "pay" on the cashier page (the page must be open)."""
        return requests.post(f"{self.url}/cashier/pay", data={"out_trade_no": out_trade_no},
                             timeout=10, allow_redirects=False)  # fmt: skip

    def decline(self, out_trade_no: str) -> requests.Response:
        """The shopper gives up on the cashier page: Alipay closes the trade."""
        return requests.post(f"{self.url}/cashier/decline",
                             data={"out_trade_no": out_trade_no}, timeout=10)  # fmt: skip

    # -- notifications ---------------------------------------------------------

    def notification_fields(self, trade: Trade, *, refund: str | None = None) -> dict[str, str]:
        fields = {
            "notify_time": beijing(), "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex, "charset": "utf-8", "version": "1.0",
            "sign_type": "RSA2", "app_id": self.app_id, "auth_app_id": self.app_id,
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "seller_id": SELLER_ID, "trade_status": trade.status,
            "total_amount": f"{trade.total_amount}", "subject": trade.subject,
            "gmt_create": beijing(trade.created),
        }  # fmt: skip
        if trade.paid_at:
            fields.update(gmt_payment=beijing(trade.paid_at), buyer_id="2088102000000002",
                          receipt_amount=f"{trade.total_amount}",
                          buyer_pay_amount=f"{trade.total_amount}")  # fmt: skip
        if trade.closed_at:
            fields["gmt_close"] = beijing(trade.closed_at)
        if trade.passback_params:
            fields["passback_params"] = trade.passback_params
        if refund:
            fields.update(out_biz_no=refund, refund_fee=f"{trade.refunded}",
                          gmt_refund=beijing(millis=True))  # fmt: skip
        return fields

    def signed_notification(self, out_trade_no: str, *, key: rsa.RSAPrivateKey | None = None,
                            refund: str | None = None, **overrides: str) -> bytes:  # fmt: skip
        """The form body Alipay would post for the trade now (``overrides`` replace
        fields before signing; ``key`` signs with another key: a forgery)."""
        with self._lock:
            fields = self.notification_fields(self.trades[out_trade_no], refund=refund)
        fields.update(overrides)
        fields["sign"] = rsa2_sign(key or self.key,
                                   signing_string(fields, drop=("sign", "sign_type")))  # fmt: skip
        return urlencode(fields).encode()

    def _send_notification(self, trade: Trade, *, refund: str | None = None) -> None:
        if not self.notify or not trade.notify_url:
            return
        body = self.signed_notification(trade.out_trade_no, refund=refund)
        notify_id = dict(parse_qsl(body.decode()))["notify_id"]
        url = trade.notify_url

        def deliver() -> None:
            for attempt in range(self.notify_attempts):
                if attempt:
                    time.sleep(self.retry_delay)
                try:
                    answer = requests.post(
                        url,
                        data=body,
                        timeout=10,
                        headers={
                            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"
                        },
                    )
                    status, text = answer.status_code, answer.text
                except requests.RequestException as exc:
                    status, text = None, str(exc)
                with self._lock:
                    self.deliveries.append((notify_id, status, text))
                if text.strip() == "success":
                    return

        thread = threading.Thread(target=deliver, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- state changes -----------------------------------------------------------

    def _expire(self, trade: Trade) -> None:
        if (trade.status == "WAIT_BUYER_PAY" and trade.time_expire is not None
                and datetime.now(UTC) >= trade.time_expire):  # fmt: skip
            self._close(trade)

    def _close(self, trade: Trade) -> None:
        trade.status, trade.closed_at = "TRADE_CLOSED", datetime.now(UTC)
        self._send_notification(trade)

    # -- the gateway -------------------------------------------------------------

    def _gateway(self, params: dict[str, str]) -> tuple[int, str, str]:
        """(status, content type, body) for one gateway request."""
        method = params.get("method", "")
        problem = self._check_common(params)
        if method in PAGE_METHODS:
            if problem:
                return 200, "text/html; charset=utf-8", _error_page(problem[1], problem[2])
            return self._open_cashier(method, params)
        response_key = method.replace(".", "_") + "_response"
        if problem:
            code, sub_code, sub_msg = problem
            return (
                200,
                "application/json;charset=utf-8",
                json.dumps(
                    {
                        response_key if method in SERVER_METHODS else "error_response": {
                            "code": code,
                            "msg": "Invalid Arguments"
                            if code == "40002"
                            else "Missing Required Arguments",
                            "sub_code": sub_code,
                            "sub_msg": sub_msg,
                        }
                    }
                ),
            )
        if self.delay:
            time.sleep(self.delay)
        if self.outage == "http_500":
            return 500, "text/plain", "internal error"
        if self.outage == "system_error":
            content = {"code": "20000", "msg": "Service Currently Unavailable",
                       "sub_code": "isp.unknow-error", "sub_msg": "系统繁忙"}  # fmt: skip
        else:
            try:
                biz = json.loads(params.get("biz_content") or "{}")
            except ValueError:
                biz = None
            if not isinstance(biz, dict):
                content = _business_error("40002", "isv.invalid-parameter", "biz_content")
            else:
                with self._lock:
                    content = getattr(self, "_" + method.split(".", 1)[1].replace(".", "_"))(biz)
        # The signed text is exactly the JSON of the response object, sign beside it.
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        body = f'{{"{response_key}":{text},"sign":"{rsa2_sign(self.key, text)}"}}'
        return 200, "application/json;charset=utf-8", body

    def _check_common(self, params: dict[str, str]) -> tuple[str, str, str] | None:
        for name in ("method", "app_id", "sign", "sign_type", "timestamp", "version",
                     "charset"):  # fmt: skip
            if not params.get(name):
                return "40001", f"isv.missing-{name.replace('_', '-')}", f"缺少{name}参数"
        if params["method"] not in PAGE_METHODS and params["method"] not in SERVER_METHODS:
            return "40002", "isv.invalid-method", "不存在的方法名"
        if params["app_id"] != self.app_id:
            return "40002", "isv.invalid-app-id", "无效的AppID参数"
        if params["sign_type"] != "RSA2":
            return "40002", "isv.invalid-signature-type", "无效的签名类型"
        try:
            datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return "40002", "isv.invalid-timestamp", "非法的时间戳参数"
        try:
            self.app_public_key.verify(
                base64.b64decode(params["sign"], validate=True),
                signing_string(params, drop=("sign",)).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "40002", "isv.invalid-signature", "验签出错"
        if not params.get("biz_content"):
            return "40001", "isv.missing-biz-content", "缺少biz_content参数"
        with self._lock:
            self.requests.append(dict(params))
        return None

    def _open_cashier(self, method: str, params: dict[str, str]) -> tuple[int, str, str]:
        html = "text/html; charset=utf-8"
        try:
            biz = json.loads(params["biz_content"])
        except ValueError:
            return 200, html, _error_page("isv.invalid-parameter", "biz_content")
        out_trade_no, subject = str(biz.get("out_trade_no") or ""), biz.get("subject")
        amount_text = str(biz.get("total_amount") or "")
        if not OUT_NO.fullmatch(out_trade_no) or not subject or not AMOUNT.fullmatch(amount_text):
            return 200, html, _error_page("ACQ.INVALID_PARAMETER", "out_trade_no, subject "
                                          "or total_amount")  # fmt: skip
        amount = Decimal(amount_text)
        if not Decimal("0.01") <= amount <= Decimal("100000000"):
            return 200, html, _error_page("ACQ.TOTAL_FEE_EXCEED", "total_amount")
        if biz.get("product_code") != PAGE_METHODS[method]:
            return 200, html, _error_page("ACQ.INVALID_PARAMETER", "product_code")
        expire = None
        if biz.get("time_expire"):
            expire = datetime.strptime(biz["time_expire"], "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=BEIJING
            )
        with self._lock:
            trade = self.trades.get(out_trade_no)
            if trade is None:
                trade = Trade(
                    out_trade_no, f"2026{uuid.uuid4().int % 10**24:024d}", method, amount,
                    subject, params.get("notify_url"), params.get("return_url"),
                    biz.get("passback_params"), expire,
                )  # fmt: skip
                self.trades[out_trade_no] = trade
            elif trade.total_amount != amount or trade.subject != subject:
                return 200, html, _error_page("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            self._expire(trade)
            if trade.status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return 200, html, _error_page("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if trade.status == "TRADE_CLOSED":
                return 200, html, _error_page("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        page = (
            f"<!doctype html><title>Alipay cashier</title><h1>{escape(subject)}</h1>"
            f"<p>¥{amount}</p>"
            f'<form method="post" action="/cashier/pay"><input type="hidden" '
            f'name="out_trade_no" value="{escape(out_trade_no)}"><button>pay</button></form>'
            f'<form method="post" action="/cashier/decline"><input type="hidden" '
            f'name="out_trade_no" value="{escape(out_trade_no)}"><button>decline</button>'
            "</form>"
        )
        return 200, html, page

    def _cashier(self, action: str, out_trade_no: str) -> tuple[int, dict[str, str], str]:
        with self._lock:
            trade = self.trades.get(out_trade_no)
            if trade is None:
                return 404, {}, "no such trade"
            self._expire(trade)
            if trade.status != "WAIT_BUYER_PAY":
                return 409, {}, f"trade is {trade.status}"
            if action == "decline":
                self._close(trade)
                return 200, {}, "closed"
            trade.status, trade.paid_at = "TRADE_SUCCESS", datetime.now(UTC)
            self._send_notification(trade)
            if not trade.return_url:
                return 200, {}, "paid"
            back = {"method": f"{trade.method}.return", "app_id": self.app_id,
                    "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                    "total_amount": f"{trade.total_amount}", "seller_id": SELLER_ID,
                    "timestamp": beijing(), "charset": "utf-8", "version": "1.0",
                    "sign_type": "RSA2"}  # fmt: skip
            back["sign"] = rsa2_sign(self.key, signing_string(back, drop=("sign", "sign_type")))
            joiner = "&" if urlsplit(trade.return_url).query else "?"
            return 302, {"Location": f"{trade.return_url}{joiner}{urlencode(back)}"}, ""

    # -- the server calls ----------------------------------------------------------

    def _find(self, biz: dict[str, Any]) -> Trade | dict[str, Any]:
        out_trade_no = biz.get("out_trade_no")
        if not out_trade_no and not biz.get("trade_no"):
            return _business_error("40004", "ACQ.INVALID_PARAMETER", "out_trade_no")
        for trade in self.trades.values():
            if trade.out_trade_no == out_trade_no or trade.trade_no == biz.get("trade_no"):
                self._expire(trade)
                return trade
        return _business_error("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")

    def _trade_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._find(biz)
        if isinstance(trade, dict):
            return trade
        answer = {"code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                  "out_trade_no": trade.out_trade_no, "trade_status": trade.status,
                  "total_amount": f"{trade.total_amount}"}  # fmt: skip
        if trade.paid_at:
            answer.update(send_pay_date=beijing(trade.paid_at), buyer_user_id="2088102000000002",
                          receipt_amount=f"{trade.total_amount}")  # fmt: skip
        return answer

    def _trade_close(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._find(biz)
        if isinstance(trade, dict):
            return trade
        if trade.status != "WAIT_BUYER_PAY":
            return _business_error("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        self._close(trade)
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no}  # fmt: skip

    def _trade_refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._find(biz)
        if isinstance(trade, dict):
            return trade
        try:
            amount = Decimal(str(biz.get("refund_amount")))
        except InvalidOperation:
            return _business_error("40004", "ACQ.INVALID_PARAMETER", "refund_amount")
        if not AMOUNT.fullmatch(str(biz.get("refund_amount"))) or amount <= 0:
            return _business_error("40004", "ACQ.INVALID_PARAMETER", "refund_amount")
        request_no = biz.get("out_request_no") or trade.out_trade_no
        answer = {"code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                  "out_trade_no": trade.out_trade_no,
                  "buyer_user_id": "2088102000000002"}  # fmt: skip
        if request_no in trade.refunds:  # the same refund asked again: no money moves
            return {**answer, "fund_change": "N", "refund_fee": f"{trade.refunded}"}
        if trade.status not in ("TRADE_SUCCESS",) and not (
            trade.status == "TRADE_CLOSED" and trade.refunds
        ):
            return _business_error("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if not biz.get("out_request_no") and amount != trade.total_amount:
            return _business_error("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                                   "撤销或退款金额与订单金额不一致")  # fmt: skip
        if amount > trade.total_amount - trade.refunded:
            return _business_error("40004", "ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")
        trade.refunds[request_no] = amount
        if trade.refunded == trade.total_amount:
            trade.status, trade.closed_at = "TRADE_CLOSED", datetime.now(UTC)
        self._send_notification(trade, refund=request_no)
        return {**answer, "fund_change": "Y", "refund_fee": f"{trade.refunded}",
                "gmt_refund_pay": beijing()}  # fmt: skip

    def _trade_fastpay_refund_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._find(biz)
        if isinstance(trade, dict):
            return trade
        answer = {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no,
                  "trade_no": trade.trade_no}  # fmt: skip
        amount = trade.refunds.get(biz.get("out_request_no") or "")
        if amount is not None:  # not found: Success with no refund fields
            answer.update(
                out_request_no=biz["out_request_no"],
                refund_amount=f"{amount}",
                total_amount=f"{trade.total_amount}",
                refund_status="REFUND_SUCCESS",
            )
        return answer

    # -- HTTP --------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _params(self) -> dict[str, str]:
                query = urlsplit(self.path).query
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                return dict(parse_qsl(query, keep_blank_values=True)
                            + parse_qsl(body, keep_blank_values=True))  # fmt: skip

            def _answer(self, status: int, kind: str, body: str, headers=None) -> None:
                payload = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client stopped waiting (a timeout test)
                    pass

            def _route(self) -> None:
                path = urlsplit(self.path).path
                params = self._params()
                if path == "/gateway.do":
                    self._answer(*fake._gateway(params))
                elif path in ("/cashier/pay", "/cashier/decline"):
                    status, headers, text = fake._cashier(
                        path.rsplit("/", 1)[1], params.get("out_trade_no", "")
                    )
                    self._answer(status, "text/plain; charset=utf-8", text, headers)
                else:
                    self._answer(404, "text/plain", "not found")

            do_GET = do_POST = _route

            def log_message(self, format, *args):
                pass

        return Handler


def _business_error(code: str, sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": code, "msg": "Business Failed" if code == "40004" else "Invalid Arguments",
            "sub_code": sub_code, "sub_msg": sub_msg}  # fmt: skip


def _error_page(sub_code: str, message: str) -> str:
    return (f"<!doctype html><title>Alipay error</title><p class=error>{escape(sub_code)}: "
            f"{escape(message)}</p>")  # fmt: skip


@contextmanager
def running(app_id: str, app_public_key_pem: str, **options: Any) -> Iterator[FakeAlipay]:
    with FakeAlipay(app_id, app_public_key_pem, **options) as fake:
        yield fake
