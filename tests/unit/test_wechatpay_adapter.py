"""The WeChat Pay adapter's own rules, with no server: fen from Decimal, out_trade_no
from the idempotency key, settings, and notifications refused before any network call
(tests/integration/test_wechatpay_payments.py runs it against the loopback fake)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from catalog.money import Money
from orders.payments.base import (
    PaymentConfigurationError,
    PaymentLine,
    PaymentRequest,
    WebhookRejected,
)
from orders.payments.registry import available_adapters
from orders.payments.wechatpay_adapter import (
    WeChatPayAdapter,
    _goods_detail,
    _result,
    from_fen,
    out_trade_no_for,
    to_fen,
)

SETTINGS = {
    "WECHATPAY_MCHID": "1900000109",
    "WECHATPAY_APPID": "wxd678efh567hg6787",
    "WECHATPAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nnot parsed until used\n",
    "WECHATPAY_CERT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    "WECHATPAY_APIV3_KEY": "0123456789abcdef0123456789abcdef",
    "WECHATPAY_API_BASE": "http://127.0.0.1:9",  # nothing listens: no test may call it
}


def cny(value: str) -> Money:
    return Money(Decimal(value), "CNY")


def request(key: str = "order-SCO-ABCD-EFGH", **extra) -> PaymentRequest:
    return PaymentRequest(order_number="SCO-ABCD-EFGH", amount=cny("18.50"),
                          email="buyer@example.com", idempotency_key=key, **extra)  # fmt: skip


def test_the_adapter_is_installed_as_wechatpay_and_takes_cny_only():
    assert available_adapters()["wechatpay"] is WeChatPayAdapter
    assert WeChatPayAdapter.currencies == ("CNY",)


def test_amounts_are_whole_fen_from_decimal():
    assert to_fen(cny("18.50")) == 1850
    assert to_fen(cny("0.01")) == 1
    assert to_fen(cny("3000")) == 300000
    assert from_fen(1850) == cny("18.50")
    for refused in (cny("18.505"), cny("0"), cny("-1.00"), Money(Decimal("10"), "RUB")):
        with pytest.raises(ValueError, match="CNY"):
            to_fen(refused)


def test_a_payment_in_another_currency_is_refused_before_any_call():
    adapter = WeChatPayAdapter(SETTINGS)
    other = PaymentRequest(
        order_number="SCO-ABCD-EFGH", amount=Money(Decimal("100"), "RUB"),
        email="b@example.com", idempotency_key="order-SCO-ABCD-EFGH",
    )  # fmt: skip
    with pytest.raises(ValueError, match="CNY"):
        adapter.create_payment(other)


def test_each_idempotency_key_is_its_own_out_trade_no_and_stays_the_same():
    assert out_trade_no_for(request()) == "order-SCO-ABCD-EFGH"
    assert out_trade_no_for(request("order-SCO-ABCD-EFGH-pay-2")) == "order-SCO-ABCD-EFGH-pay-2"
    long_key = "order-" + "x" * 40
    derived = out_trade_no_for(request(long_key))
    assert derived == out_trade_no_for(request(long_key))
    assert derived != out_trade_no_for(request(long_key + "y"))
    assert 6 <= len(derived) <= 32
    assert derived.startswith("SCO-ABCD-EFGH-")
    odd = out_trade_no_for(request("order/with spaces+slashes"))
    assert odd.replace("-", "").isalnum()


@pytest.mark.parametrize(
    ("trade_state", "status"),
    [("SUCCESS", "succeeded"), ("REFUND", "succeeded"), ("NOTPAY", "requires_action"),
     ("USERPAYING", "requires_action"), ("CLOSED", "canceled"), ("REVOKED", "canceled"),
     ("PAYERROR", "failed")],
)  # fmt: skip
def test_trade_states_map_to_the_shops_payment_statuses(trade_state, status):
    transaction = {"trade_state": trade_state, "amount": {"total": 1850, "currency": "CNY"}}
    result = _result("order-SCO-ABCD-EFGH", transaction)
    assert (result.status, result.provider_status, result.amount) == (
        status, trade_state, cny("18.50"),
    )  # fmt: skip


def test_the_goods_list_is_sent_only_when_it_adds_up_to_the_total():
    lines = (PaymentLine("Honey", 2, cny("5.00"), category="honey", sku="HONEY-500"),
             PaymentLine("Shipping", 1, cny("8.50"), kind="shipping"))  # fmt: skip
    detail = _goods_detail(request(lines=lines), 1850)
    assert detail["cost_price"] == 1850
    assert [g["merchant_goods_id"] for g in detail["goods_detail"]] == ["HONEY-500", "shipping-2"]
    assert _goods_detail(request(lines=lines), 1900) is None
    assert _goods_detail(request(), 1850) is None


@pytest.mark.parametrize(
    "missing", ["WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_PRIVATE_KEY",
                "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_APIV3_KEY"],
)  # fmt: skip
def test_each_credential_is_required(missing):
    with pytest.raises(PaymentConfigurationError, match=missing):
        WeChatPayAdapter({**SETTINGS, missing: None})


def test_the_apiv3_key_is_32_bytes_and_a_public_key_comes_with_its_id():
    with pytest.raises(PaymentConfigurationError, match="32"):
        WeChatPayAdapter({**SETTINGS, "WECHATPAY_APIV3_KEY": "short"})
    with pytest.raises(PaymentConfigurationError, match="together"):
        WeChatPayAdapter({**SETTINGS, "WECHATPAY_PUBLIC_KEY": "MIIB..."})


def test_without_a_public_url_there_is_no_notify_url():
    with pytest.raises(PaymentConfigurationError, match="PUBLIC_URL"):
        WeChatPayAdapter(SETTINGS).create_payment(request())


def _headers(**changes) -> dict[str, str]:
    headers = {
        "Wechatpay-Signature": "c2lnbmF0dXJl",
        "Wechatpay-Timestamp": str(int(time.time())),
        "Wechatpay-Nonce": "n" * 32,
        "Wechatpay-Serial": "7A3B" * 10,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    headers.update(changes)
    return {name: value for name, value in headers.items() if value is not None}


@pytest.mark.parametrize(
    "headers",
    [
        _headers(**{"Wechatpay-Signature": None}),
        _headers(**{"Wechatpay-Serial": None}),
        _headers(**{"Wechatpay-Timestamp": str(int(time.time()) - 301)}),
        _headers(**{"Wechatpay-Timestamp": str(int(time.time()) + 3600)}),
        _headers(**{"Wechatpay-Timestamp": "yesterday"}),
    ],
    ids=["unsigned", "no serial", "stale", "from the future", "unreadable time"],
)
def test_notifications_unsigned_or_stale_are_refused_without_asking_wechat(headers):
    with pytest.raises(WebhookRejected):
        WeChatPayAdapter(SETTINGS).parse_webhook(headers, b'{"id": "x"}')


def test_a_notification_body_that_is_not_utf8_is_refused():
    with pytest.raises(WebhookRejected):
        WeChatPayAdapter(SETTINGS).parse_webhook(_headers(), b"\xff\xfe")


def test_wechat_pay_is_answered_204_without_a_body():
    assert WeChatPayAdapter(SETTINGS).webhook_answer("paid") == ("", 204, "application/json")
