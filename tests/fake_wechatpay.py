"""A loopback WeChat Pay APIv3 server for tests: a real HTTP server on 127.0.0.1 that
the ``wechatpayv3`` SDK talks to as it would to api.mch.weixin.qq.com.

Written from WeChat Pay's public merchant documentation (read through the search tool):

- Native prepay, ``POST /v3/pay/transactions/native``:
  https://pay.weixin.qq.com/docs/merchant/apis/native-payment/direct-jsons/native-prepay.html
  (now https://pay.weixin.qq.com/doc/v3/merchant/4012791877; ``out_trade_no`` 6-32 of
  ``[0-9A-Za-z_-|*]``, ``time_expire`` RFC 3339, ``notify_url`` without parameters,
  ``amount.total`` in fen; answers ``code_url``);
- H5 prepay, ``POST /v3/pay/transactions/h5``: https://pay.weixin.qq.com/doc/v3/merchant/4012791834
  (``scene_info.payer_client_ip`` and ``h5_info.type``; answers ``h5_url``, to which a
  ``redirect_url`` parameter may be added);
- query by out_trade_no, ``GET /v3/pay/transactions/out-trade-no/{no}?mchid=``:
  https://pay.weixin.qq.com/doc/v3/merchant/4013070356 (``trade_state`` SUCCESS, REFUND,
  NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR);
- close, ``POST /v3/pay/transactions/out-trade-no/{no}/close``: 204, no body;
- refund, ``POST /v3/refund/domestic/refunds``: https://pay.weixin.qq.com/doc/v3/merchant/4012587971
  (partial refunds with a new ``out_refund_no`` each, the same one to retry; ``amount.total``
  must be the order's); query refund: https://pay.weixin.qq.com/doc/v3/merchant/4013071041;
- platform certificates, ``GET /v3/certificates``, and the encrypted-resource format
  (AEAD_AES_256_GCM with the APIv3 key, 12-byte nonce, ``associated_data``):
  https://pay.weixin.qq.com/docs/merchant/development/interface-rules/certificate-callback-decryption.html;
- notifications: https://pay.wechatpay.cn/docs/merchant/products/notification/decryption.html
  (``id``, ``event_type``, ``resource_type`` encrypt-resource, ``resource``), signed like
  responses; the shop answers 200/204 (the notify-answer rule quoted from
  https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_3_5.shtml);
- request signatures: ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,
  signature=..,timestamp=..,serial_no=..`` over ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``
  with the merchant's key (SHA256withRSA); responses and notifications signed over
  ``TIMESTAMP\\nNONCE\\nBODY\\n`` with the platform key, in ``Wechatpay-Signature``,
  ``-Timestamp``, ``-Nonce``, ``-Serial``.

Error answers follow the documents' ``{"code", "message"}``: 401 SIGN_ERROR for a bad
signature; 400 PARAM_ERROR for bad fields; 400 INVALID_REQUEST for an ``out_trade_no`` or
``out_refund_no`` reused with other parameters; 400 ORDER_CLOSED; 400 ORDERPAID when
closing a paid order; 404 ORDER_NOT_EXIST; 403 NOT_ENOUGH for a refund above what is left.

Test controls: ``pay``/``fail`` (the shopper in WeChat), ``notification`` (a signed
notification to post yourself, or to tamper with), ``deliver`` (post one to the
notify URL), ``notify`` (False: notifications are lost), ``delay`` (seconds every answer
waits: timeouts), ``settle_refunds``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

CHINA = timezone(timedelta(hours=8))
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _nonce(length: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _sign(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def encrypt_resource(apiv3_key: str, plaintext: str, associated_data: str) -> dict[str, str]:
    """The encrypted-resource object: AES-256-GCM, the 16-byte tag after the ciphertext."""
    nonce = _nonce(12)
    sealed = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), plaintext.encode(), associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode(),
        "nonce": nonce,
        "associated_data": associated_data,
    }


@dataclass
class Transaction:
    out_trade_no: str
    kind: str  # NATIVE | MWEB (H5)
    params: dict[str, Any]
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str | None = None
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.params["amount"]["total"]

    def refunded(self) -> int:
        return sum(r["amount"]["refund"] for r in self.refunds.values() if r["status"] != "CLOSED")


class FakeWeChatPay:
    def __init__(self, *, mchid: str, appid: str, apiv3_key: str, merchant_serial: str,
                 merchant_public_key: rsa.RSAPublicKey):  # fmt: skip
        self.mchid, self.appid, self.apiv3_key = mchid, appid, apiv3_key
        self.merchant_serial = merchant_serial
        self.merchant_public_key = merchant_public_key
        self.platform_key = new_rsa_key()
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (fake)")])
        self.certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.platform_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(self.platform_key, hashes.SHA256())
        )  # fmt: skip
        self.platform_serial = format(self.certificate.serial_number, "X")
        self.transactions: dict[str, Transaction] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of each signed request
        self.delay = 0.0
        self.delay_paths: tuple[str, ...] = ("/",)  # the paths ``delay`` applies to
        self.notify = True
        self.deliveries: list[int] = []  # the shop's status codes
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeWeChatPay:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the shopper and WeChat's side, driven by tests -----------------------

    def pay(self, out_trade_no: str) -> int | None:
        """The shopper pays in WeChat; the success notification goes out (unless lost)."""
        with self._lock:
            transaction = self.transactions[out_trade_no]
            if transaction.trade_state not in ("NOTPAY", "USERPAYING"):
                raise AssertionError(f"{out_trade_no} is {transaction.trade_state}")
            transaction.trade_state = "SUCCESS"
            transaction.transaction_id = f"4200{secrets.randbelow(10**24):024d}"
            transaction.success_time = datetime.now(CHINA).isoformat(timespec="seconds")
        return self.deliver(*self.notification(out_trade_no)) if self.notify else None

    def fail(self, out_trade_no: str, why: str = "银行返回失败") -> None:
        """The shopper's bank refused (WeChat sends no notification for it)."""
        with self._lock:
            transaction = self.transactions[out_trade_no]
            transaction.trade_state = "PAYERROR"
            transaction.params["_desc"] = why

    def notification(self, out_trade_no: str, event_type: str = "TRANSACTION.SUCCESS", *,
                     refund_no: str | None = None) -> tuple[dict[str, str], bytes]:  # fmt: skip
        """A signed, encrypted notification (headers, body) about the transaction (or one
        of its refunds), as the shop would receive it."""
        with self._lock:
            transaction = self.transactions[out_trade_no]
            if refund_no is None:
                resource, original = self._transaction_json(transaction), "transaction"
            else:
                resource, original = self._refund_json(transaction, refund_no), "refund"
        return self.notification_about(resource, original, event_type)

    def notification_about(
        self, resource: dict[str, Any], original: str = "transaction",
        event_type: str = "TRANSACTION.SUCCESS",
    ) -> tuple[dict[str, str], bytes]:  # fmt: skip
        """A signed notification carrying ``resource`` as given (e.g. a stale state)."""
        body = {
            "id": str(uuid.uuid4()),
            "create_time": datetime.now(CHINA).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功" if event_type == "TRANSACTION.SUCCESS" else event_type,
            "resource": {
                "original_type": original,
                **encrypt_resource(self.apiv3_key, json.dumps(resource), original),
            },
        }
        text = json.dumps(body, ensure_ascii=False)
        return self.signed_headers(text), text.encode()

    def deliver(self, headers: dict[str, str], body: bytes, url: str | None = None) -> int:
        """Post a notification to the notify URL of the order it is about (or ``url``)."""
        if url is None:
            resource = self._decrypt(json.loads(body)["resource"])
            url = self.transactions[resource["out_trade_no"]].params["notify_url"]
        answer = requests.post(url, data=body, timeout=30,
                               headers={**headers, "Content-Type": "application/json"})  # fmt: skip
        self.deliveries.append(answer.status_code)
        return answer.status_code

    def settle_refunds(self) -> list[int]:
        """Every refund in PROCESSING succeeds; REFUND.SUCCESS goes to its notify URL."""
        codes = []
        for transaction in list(self.transactions.values()):
            for number, refund in list(transaction.refunds.items()):
                if refund["status"] != "PROCESSING":
                    continue
                refund["status"] = "SUCCESS"
                refund["success_time"] = datetime.now(CHINA).isoformat(timespec="seconds")
                if refund.get("notify_url") and self.notify:
                    headers, body = self.notification(
                        transaction.out_trade_no, "REFUND.SUCCESS", refund_no=number
                    )
                    codes.append(self.deliver(headers, body, refund["notify_url"]))
        return codes

    def signed_headers(
        self, text: str, *, key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None, timestamp: int | None = None,
    ) -> dict[str, str]:  # fmt: skip
        stamp, nonce = str(timestamp or int(time.time())), _nonce()
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": _sign(key or self.platform_key, f"{stamp}\n{nonce}\n{text}\n"),
            "Wechatpay-Serial": serial or self.platform_serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    # -- the API ------------------------------------------------------------

    def _route(self, method: str, url: str, body: str) -> tuple[int, Any]:
        path = urlsplit(url).path
        if method == "GET" and path == "/v3/certificates":
            return 200, self._certificates()
        payload: dict[str, Any] = {}
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                return _error(400, "PARAM_ERROR", "body is not JSON")
        if method == "POST" and path in ("/v3/pay/transactions/native", "/v3/pay/transactions/h5"):
            return self._prepay("NATIVE" if path.endswith("native") else "MWEB", payload)
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?", path)
        if match and method == "GET" and not match.group(2):
            return self._query(match.group(1), urlsplit(url).query)
        if match and method == "POST" and match.group(2):
            return self._close(match.group(1), payload)
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return self._refund(payload)
        match = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if match and method == "GET":
            for transaction in self.transactions.values():
                if match.group(1) in transaction.refunds:
                    return 200, self._refund_json(transaction, match.group(1))
            return _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return _error(404, "NOT_FOUND", f"no {method} {path}")

    def _certificates(self) -> dict[str, Any]:
        pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()
        return {"data": [{
            "serial_no": self.platform_serial,
            "effective_time": self.certificate.not_valid_before_utc.astimezone(CHINA).isoformat(),
            "expire_time": self.certificate.not_valid_after_utc.astimezone(CHINA).isoformat(),
            "encrypt_certificate": encrypt_resource(self.apiv3_key, pem, "certificate"),
        }]}  # fmt: skip

    def _prepay(self, kind: str, params: dict[str, Any]) -> tuple[int, Any]:
        problem = self._prepay_problem(kind, params)
        if problem:
            return _error(400, "PARAM_ERROR", problem)
        number = params["out_trade_no"]
        existing = self.transactions.get(number)
        if existing is not None:
            if existing.trade_state == "CLOSED":
                return _error(400, "ORDER_CLOSED", "订单已关闭")
            if existing.trade_state in ("SUCCESS", "REFUND"):
                return _error(400, "ORDERPAID", "该订单已支付")
            if existing.params != params or existing.kind != kind:
                return _error(400, "INVALID_REQUEST", "201 商户订单号重复")
        else:
            existing = Transaction(number, kind, params)
            self.transactions[number] = existing
        prepay = f"wx{abs(hash(number)) % 10**28:028d}"
        if kind == "NATIVE":
            return 200, {"code_url": f"weixin://wxpay/bizpayurl?pr={prepay[-9:]}"}
        return 200, {
            "h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay}"
            "&package=1037687096"
        }

    def _prepay_problem(self, kind: str, params: dict[str, Any]) -> str | None:
        if params.get("appid") != self.appid or params.get("mchid") != self.mchid:
            return "appid and mchid must be this merchant's"
        if not OUT_TRADE_NO.match(str(params.get("out_trade_no", ""))):
            return "out_trade_no must be 6-32 of [0-9A-Za-z_-|*]"
        if not 0 < len(str(params.get("description", ""))) <= 127:
            return "description must be 1-127 characters"
        notify = str(params.get("notify_url") or "")
        if not notify.startswith(("http://", "https://")) or "?" in notify:
            return "notify_url must be a URL without parameters"
        amount = params.get("amount") or {}
        if not isinstance(amount.get("total"), int) or amount["total"] <= 0:
            return "amount.total must be a positive integer (fen)"
        if amount.get("currency", "CNY") != "CNY":
            return "amount.currency must be CNY"
        if "time_expire" in params:
            try:
                expire = datetime.fromisoformat(params["time_expire"])
            except (TypeError, ValueError):
                return "time_expire must be RFC 3339"
            if expire.tzinfo is None or expire <= datetime.now(UTC):
                return "time_expire must be in the future, with its zone"
        if kind == "MWEB":
            scene = params.get("scene_info") or {}
            if not scene.get("payer_client_ip") or not (scene.get("h5_info") or {}).get("type"):
                return "scene_info.payer_client_ip and scene_info.h5_info.type are required"
        return None

    def _query(self, number: str, query: str) -> tuple[int, Any]:
        if query != f"mchid={self.mchid}":
            return _error(400, "PARAM_ERROR", "mchid is required")
        transaction = self.transactions.get(number)
        if transaction is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        self._expire(transaction)
        return 200, self._transaction_json(transaction)

    def _close(self, number: str, payload: dict[str, Any]) -> tuple[int, Any]:
        if payload.get("mchid") != self.mchid:
            return _error(400, "PARAM_ERROR", "mchid is required")
        transaction = self.transactions.get(number)
        if transaction is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        if transaction.trade_state in ("SUCCESS", "REFUND"):
            return _error(400, "ORDERPAID", "订单已支付")
        transaction.trade_state = "CLOSED"
        return 204, None

    def _refund(self, payload: dict[str, Any]) -> tuple[int, Any]:
        transaction = self.transactions.get(str(payload.get("out_trade_no")))
        if transaction is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        number = str(payload.get("out_refund_no") or "")
        amount = payload.get("amount") or {}
        refund = amount.get("refund")
        if not number or not isinstance(refund, int) or refund <= 0:
            return _error(400, "PARAM_ERROR", "out_refund_no and amount.refund are required")
        if amount.get("total") != transaction.total or amount.get("currency") != "CNY":
            return _error(400, "PARAM_ERROR", "amount.total is not the order's total")
        if transaction.trade_state not in ("SUCCESS", "REFUND"):
            return _error(400, "INVALID_REQUEST", "订单未支付")
        if number in transaction.refunds:
            if transaction.refunds[number]["amount"]["refund"] != refund:
                return _error(400, "INVALID_REQUEST", "退款单号已使用, 请求参数不一致")
            return 200, self._refund_json(transaction, number)
        if refund > transaction.total - transaction.refunded():
            return _error(403, "NOT_ENOUGH", "可退金额不足")
        transaction.refunds[number] = {
            "refund_id": f"5030{secrets.randbelow(10**24):024d}",
            "status": "PROCESSING", "amount": {"refund": refund},
            "notify_url": payload.get("notify_url"),
            "create_time": datetime.now(CHINA).isoformat(timespec="seconds"),
        }  # fmt: skip
        transaction.trade_state = "REFUND"
        return 200, self._refund_json(transaction, number)

    def _expire(self, transaction: Transaction) -> None:
        expire = transaction.params.get("time_expire")
        late = expire and datetime.fromisoformat(expire) <= datetime.now(UTC)
        if transaction.trade_state == "NOTPAY" and late:
            transaction.trade_state = "CLOSED"

    def _transaction_json(self, transaction: Transaction) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "appid": self.appid, "mchid": self.mchid,
            "out_trade_no": transaction.out_trade_no,
            "trade_type": transaction.kind, "trade_state": transaction.trade_state,
            "trade_state_desc": transaction.params.get("_desc", transaction.trade_state),
            "attach": transaction.params.get("attach", ""),
            "amount": {"total": transaction.total, "currency": "CNY"},
        }  # fmt: skip
        if transaction.transaction_id:
            answer.update(transaction_id=transaction.transaction_id, bank_type="OTHERS",
                          success_time=transaction.success_time,
                          payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})  # fmt: skip
            answer["amount"].update(payer_total=transaction.total, payer_currency="CNY")
        return answer

    def _refund_json(self, transaction: Transaction, number: str) -> dict[str, Any]:
        refund = transaction.refunds[number]
        return {
            "mchid": self.mchid, "out_trade_no": transaction.out_trade_no,
            "transaction_id": transaction.transaction_id, "out_refund_no": number,
            "refund_id": refund["refund_id"], "status": refund["status"],
            "refund_status": refund["status"], "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱", "create_time": refund["create_time"],
            "success_time": refund.get("success_time"),
            "amount": {"total": transaction.total, "refund": refund["amount"]["refund"],
                       "payer_total": transaction.total,
                       "payer_refund": refund["amount"]["refund"], "currency": "CNY"},
        }  # fmt: skip

    def _decrypt(self, resource: dict[str, str]) -> dict[str, Any]:
        plain = AESGCM(self.apiv3_key.encode()).decrypt(
            resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]),
            resource["associated_data"].encode(),
        )  # fmt: skip
        return json.loads(plain)

    def _authorized(self, method: str, url: str, body: str, header: str | None) -> bool:
        scheme, _, rest = (header or "").partition(" ")
        fields = dict(AUTH_FIELD.findall(rest))
        if scheme != "WECHATPAY2-SHA256-RSA2048" or fields.get("mchid") != self.mchid:
            return False
        if fields.get("serial_no") != self.merchant_serial:
            return False
        try:
            if abs(time.time() - int(fields.get("timestamp", ""))) > 300:
                return False
            text = f"{method}\n{url}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n"
            self.merchant_public_key.verify(
                base64.b64decode(fields.get("signature", "")), text.encode(),
                padding.PKCS1v15(), hashes.SHA256(),
            )  # fmt: skip
        except (ValueError, KeyError, InvalidSignature):
            return False
        return True

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if fake.delay and self.path.startswith(fake.delay_paths):
                    time.sleep(fake.delay)
                if not fake._authorized(self.command, self.path, body,
                                        self.headers.get("Authorization")):  # fmt: skip
                    status, answer = _error(401, "SIGN_ERROR", "签名错误")
                else:
                    with fake._lock:
                        fake.requests.append((self.command, urlsplit(self.path).path))
                        status, answer = fake._route(self.command, self.path, body)
                text = "" if answer is None else json.dumps(answer, ensure_ascii=False)
                self.send_response(status)
                if answer is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in fake.signed_headers(text).items():
                    self.send_header(name, value)
                self.send_header("Request-ID", str(uuid.uuid4()))
                data = text.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        return Handler


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str]]:
    return status, {"code": code, "message": message}
