"""The Alipay adapter: its pure parts (amounts, trade numbers, notification mapping)
and the SDK's real signing, HTTP and verification code against the loopback gateway
in tests/fake_alipay.py. No database, no Flask; the shop end to end is in
tests/integration/test_alipay_payments.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from catalog.money import Money
from orders.payments import available_adapters, clear_adapter_cache
from orders.payments.alipay_adapter import (
    BEIJING,
    AlipayAdapter,
    alipay_amount,
    out_request_no_for,
    out_trade_no_for,
)
from orders.payments.base import (
    PaymentConfigurationError,
    PaymentLine,
    PaymentRejected,
    PaymentRequest,
    PaymentUnavailable,
    WebhookRejected,
)
from tests.fake_alipay import FakeAlipay, new_key_pair

APP_ID = "2021000000000042"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def app_keys():
    _key, private_pem, public_pem = new_key_pair()
    return private_pem, public_pem


@pytest.fixture(scope="module")
def fake(app_keys):
    with FakeAlipay(APP_ID, app_keys[1]) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def healthy(request):
    yield
    if "fake" in request.fixturenames:
        gateway = request.getfixturevalue("fake")
        gateway.delay, gateway.outage, gateway.notify = 0.0, None, True


def settings(fake, app_keys, **extra):
    return {
        "ALIPAY_APP_ID": APP_ID, "ALIPAY_APP_PRIVATE_KEY": app_keys[0],
        "ALIPAY_PUBLIC_KEY": fake.public_key_pem, "ALIPAY_GATEWAY": fake.gateway,
        "ALIPAY_TIMEOUT_SECONDS": "2", **extra,
    }  # fmt: skip


@pytest.fixture
def adapter(fake, app_keys):
    return AlipayAdapter(settings(fake, app_keys))


_numbers = iter(range(1000, 10000))


def order_request(amount="123.40", **extra) -> PaymentRequest:
    number = f"SCO-TEST-{next(_numbers)}"
    fields = {"idempotency_key": f"order-{number}", "description": f"SCO Pavilion order {number}",
              "notify_url": None, **extra}  # fmt: skip
    return PaymentRequest(number, Money(Decimal(amount), "CNY"), "buyer@example.com", **fields)


def biz_of(url: str) -> tuple[dict, dict]:
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return query, json.loads(query["biz_content"])


def paid_trade(adapter, fake, amount="100.00"):
    started = adapter.create_payment(order_request(amount))
    assert fake.open_page(started.next_action["url"]).status_code == 200
    assert fake.pay(started.reference).status_code == 200
    return started.reference


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    ("amount", "text"),
    [("18.5", "18.50"), ("0.01", "0.01"), ("123", "123.00"), ("99999999.99", "99999999.99")],
)
def test_amounts_go_to_alipay_as_yuan_with_two_decimals(amount, text):
    assert alipay_amount(Money(Decimal(amount), "CNY")) == text


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("18.505", "CNY"), ("0", "CNY"), ("100000000.01", "CNY"), ("10.00", "USD"),
     ("10.00", "RUB")],
)  # fmt: skip
def test_an_amount_alipay_would_round_or_refuse_is_refused_here(amount, currency):
    with pytest.raises(ValueError, match="CNY"):
        alipay_amount(Money(Decimal(amount), currency))


def test_each_payment_of_an_order_has_its_own_stable_trade_number():
    number = "SCO-AB12-CD34"
    first = out_trade_no_for(number, f"order-{number}")
    assert first == "SCO_AB12_CD34"
    assert out_trade_no_for(number, f"order-{number}-2") == "SCO_AB12_CD34_2"
    assert out_trade_no_for(number, f"order-{number}-pay-3") == "SCO_AB12_CD34_pay_3"
    unrelated = out_trade_no_for(number, "some other key")
    assert unrelated.startswith("SCO_AB12_CD34_")
    assert unrelated != first
    assert unrelated == out_trade_no_for(number, "some other key")
    long = out_trade_no_for(number, f"order-{number}-" + "x" * 80)
    assert len(long) <= 64
    assert long.startswith("SCO_AB12_CD34_")


def test_a_refund_request_number_comes_from_the_idempotency_key():
    assert out_request_no_for("refund-17") == "refund-17"
    hashed = out_request_no_for("refund 17 / again")
    assert hashed == out_request_no_for("refund 17 / again")
    assert len(hashed) <= 64


def test_the_adapter_is_an_installed_plugin_taking_cny_only():
    clear_adapter_cache()
    try:
        assert available_adapters()["alipay"] is AlipayAdapter
    finally:
        clear_adapter_cache()
    assert AlipayAdapter.currencies == ("CNY",)


def test_the_adapter_needs_its_app_id_and_both_keys(fake, app_keys):
    for missing in ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY"):
        with pytest.raises(PaymentConfigurationError):
            AlipayAdapter({**settings(fake, app_keys), missing: None})
    with pytest.raises(PaymentConfigurationError):
        AlipayAdapter({**settings(fake, app_keys), "ALIPAY_PUBLIC_KEY": "not a key!"})


def test_keys_as_the_console_shows_them_bare_base64_work_too(fake, app_keys):
    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    bare_keys = {"ALIPAY_APP_PRIVATE_KEY": bare(app_keys[0]),
                 "ALIPAY_PUBLIC_KEY": bare(fake.public_key_pem)}  # fmt: skip
    adapter = AlipayAdapter({**settings(fake, app_keys), **bare_keys})
    assert adapter.status("NEVER_OPENED_1").status == "requires_action"


# ------------------------------------------------------------------ the payment page


def test_a_desktop_payment_is_a_signed_page_pay_url_the_gateway_accepts(fake, app_keys):
    adapter = AlipayAdapter(
        settings(fake, app_keys, RESERVATION_TTL_MINUTES=30, PUBLIC_URL="https://shop.example"),
        now=lambda: NOW,
    )
    request = order_request("88.80", return_url="https://shop.example/orders/x")
    started = adapter.create_payment(request)

    assert started.status == "requires_action"
    assert started.reference == request.order_number.replace("-", "_")
    assert started.next_action["type"] == "redirect"
    assert started.next_action["provider"] == "alipay"
    assert started.amount == Money(Decimal("88.80"), "CNY")
    query, biz = biz_of(started.next_action["url"])
    assert query["method"] == "alipay.trade.page.pay"
    assert query["notify_url"] == "https://shop.example/api/v1/payments/alipay/webhook"
    assert query["return_url"] == "https://shop.example/orders/x"
    assert biz["product_code"] == "FAST_INSTANT_TRADE_PAY"
    assert biz["total_amount"] == "88.80"
    assert biz["out_trade_no"] == started.reference
    # The trade closes when the shop's hold ends, in Beijing time.
    assert biz["time_expire"] == (NOW + timedelta(minutes=30)).astimezone(BEIJING).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    assert biz["passback_params"] == request.order_number
    stamped = datetime.strptime(query["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs(stamped - datetime.now(UTC)) < timedelta(minutes=1)  # Beijing time, not local

    page = fake.open_page(started.next_action["url"])
    assert page.status_code == 200
    assert "pay</button>" in page.text
    assert fake.trades[started.reference].total_amount == Decimal("88.80")


def test_a_mobile_payment_is_wap_pay_with_quick_wap_way_and_the_goods(adapter, fake):
    lines = (
        PaymentLine("Honey 500 g", 2, Money(Decimal("60.00"), "CNY"), sku="HONEY-500"),
        PaymentLine("Shipping", 1, Money(Decimal("20.00"), "CNY"), kind="shipping"),
    )
    request = order_request("140.00", device="mobile", lines=lines,
                            notify_url="https://s.example/hook")  # fmt: skip
    started = adapter.create_payment(request)
    query, biz = biz_of(started.next_action["url"])
    assert query["method"] == "alipay.trade.wap.pay"
    assert query["notify_url"] == "https://s.example/hook"
    assert biz["product_code"] == "QUICK_WAP_WAY"
    assert biz["goods_detail"] == [
        {"goods_id": "HONEY-500", "goods_name": "Honey 500 g", "quantity": 2, "price": "60.00"},
        {"goods_id": "shipping-2", "goods_name": "Shipping", "quantity": 1, "price": "20.00"},
    ]
    assert fake.open_page(started.next_action["url"]).status_code == 200


def test_a_tampered_payment_url_is_refused_by_the_gateway(adapter, fake):
    started = adapter.create_payment(order_request("50.00"))
    query, biz = biz_of(started.next_action["url"])
    biz["total_amount"] = "0.01"
    forged = f"{fake.gateway}?{urlencode({**query, 'biz_content': json.dumps(biz)})}"
    page = fake.open_page(forged)
    assert "isv.invalid-signature" in page.text
    assert started.reference not in fake.trades


def test_the_same_idempotency_key_gives_the_same_trade_and_another_amount_needs_another_key(
    adapter, fake
):
    request = order_request("30.00")
    first = adapter.create_payment(request)
    again = adapter.create_payment(request)
    assert again.reference == first.reference
    assert fake.open_page(first.next_action["url"]).status_code == 200
    assert "pay</button>" in fake.open_page(again.next_action["url"]).text
    # A re-planned price under the same trade number is refused by Alipay ...
    changed = PaymentRequest(request.order_number, Money(Decimal("31.00"), "CNY"), request.email,
                             idempotency_key=request.idempotency_key)  # fmt: skip
    assert (
        "ACQ.CONTEXT_INCONSISTENT"
        in fake.open_page(adapter.create_payment(changed).next_action["url"]).text
    )
    # ... so the shop's new idempotency key makes a new trade number.
    replanned = PaymentRequest(
        request.order_number, Money(Decimal("31.00"), "CNY"), request.email,
        idempotency_key=f"{request.idempotency_key}-2",
    )  # fmt: skip
    other = adapter.create_payment(replanned)
    assert other.reference == f"{first.reference}_2"
    assert "pay</button>" in fake.open_page(other.next_action["url"]).text


def test_a_payment_in_another_currency_is_refused(adapter):
    request = PaymentRequest("SCO-USD1-0001", Money(Decimal("10.00"), "USD"), "b@example.com",
                             idempotency_key="order-SCO-USD1-0001")  # fmt: skip
    with pytest.raises(ValueError, match="CNY only"):
        adapter.create_payment(request)


# ------------------------------------------------------------------ query, close, capture


def test_status_follows_the_trade_at_alipay(adapter, fake):
    started = adapter.create_payment(order_request("10.00"))
    assert adapter.status(started.reference).provider_status == "TRADE_NOT_EXIST"
    assert adapter.status(started.reference).status == "requires_action"
    fake.open_page(started.next_action["url"])
    assert adapter.status(started.reference).provider_status == "WAIT_BUYER_PAY"
    fake.pay(started.reference)
    paid = adapter.status(started.reference)
    assert (paid.status, paid.amount) == ("succeeded", Money(Decimal("10.00"), "CNY"))

    declined = adapter.create_payment(order_request("11.00"))
    fake.open_page(declined.next_action["url"])
    fake.decline(declined.reference)
    assert adapter.status(declined.reference).status == "canceled"


def test_cancel_closes_a_waiting_trade_and_is_harmless_twice_or_before_the_page(adapter, fake):
    never_opened = adapter.create_payment(order_request("12.00"))
    assert adapter.cancel(never_opened.reference).status == "canceled"

    waiting = adapter.create_payment(order_request("13.00"))
    fake.open_page(waiting.next_action["url"])
    assert adapter.cancel(waiting.reference).status == "canceled"
    assert fake.trades[waiting.reference].status == "TRADE_CLOSED"
    assert adapter.cancel(waiting.reference).status == "canceled"


def test_a_paid_trade_is_refunded_not_closed_and_has_no_separate_capture(adapter, fake):
    reference = paid_trade(adapter, fake)
    with pytest.raises(PaymentRejected):
        adapter.cancel(reference)
    assert adapter.capture(reference).status == "succeeded"

    waiting = adapter.create_payment(order_request("14.00"))
    with pytest.raises(PaymentRejected) as refused:
        adapter.capture(waiting.reference)
    assert refused.value.code == "no_separate_capture"


# ------------------------------------------------------------------ refunds


def test_partial_refunds_each_with_their_own_request_number_and_a_retry_refunds_once(adapter, fake):
    reference = paid_trade(adapter, fake, "100.00")
    first = adapter.refund(reference, Money(Decimal("30.00"), "CNY"), idempotency_key="refund-1")
    second = adapter.refund(reference, Money(Decimal("20.00"), "CNY"), idempotency_key="refund-2")
    retried = adapter.refund(reference, Money(Decimal("30.00"), "CNY"), idempotency_key="refund-1")

    assert [r.status for r in (first, second, retried)] == ["succeeded"] * 3
    assert (first.reference, second.reference) == ("refund-1", "refund-2")
    assert "already" in retried.note
    assert fake.trades[reference].refunded == Decimal("50.00")

    with pytest.raises(PaymentRejected) as too_much:
        adapter.refund(reference, Money(Decimal("50.01"), "CNY"), idempotency_key="refund-3")
    assert too_much.value.code == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    with pytest.raises(ValueError, match="CNY only"):
        adapter.refund(reference, Money(Decimal("1.00"), "RUB"), idempotency_key="refund-4")


def test_refunding_a_trade_that_does_not_exist_is_refused(adapter):
    with pytest.raises(PaymentRejected) as refused:
        adapter.refund("SCO_NONE_0000", Money(Decimal("1.00"), "CNY"), idempotency_key="r-1")
    assert refused.value.code == "ACQ.TRADE_NOT_EXIST"


# ------------------------------------------------------------------ trouble at the gateway


def test_a_gateway_slower_than_the_timeout_is_unavailable(fake, app_keys):
    adapter = AlipayAdapter(settings(fake, app_keys, ALIPAY_TIMEOUT_SECONDS="0.3"))
    fake.delay = 1.0
    with pytest.raises(PaymentUnavailable):
        adapter.status("SCO_SLOW_0001")


@pytest.mark.parametrize("outage", ["http_500", "system_error"])
def test_an_alipay_outage_is_unavailable(adapter, fake, outage):
    fake.outage = outage
    with pytest.raises(PaymentUnavailable):
        adapter.status("SCO_DOWN_0001")


def test_a_closed_port_is_unavailable(fake, app_keys):
    from tests.localstripe_server import free_port

    adapter = AlipayAdapter(
        settings(fake, app_keys, ALIPAY_GATEWAY=f"http://127.0.0.1:{free_port()}/gateway.do")
    )
    with pytest.raises(PaymentUnavailable):
        adapter.refund("SCO_DOWN_0002", Money(Decimal("1.00"), "CNY"), idempotency_key="r-2")


def test_requests_signed_with_a_key_alipay_does_not_know_are_refused(fake, app_keys):
    _key, other_private, _public = new_key_pair()
    adapter = AlipayAdapter(settings(fake, app_keys, ALIPAY_APP_PRIVATE_KEY=other_private))
    with pytest.raises(PaymentUnavailable, match=r"isv\.invalid-signature"):
        adapter.status("SCO_KEYS_0001")
    wrong_app = AlipayAdapter(settings(fake, app_keys, ALIPAY_APP_ID="2021000000000099"))
    with pytest.raises(PaymentUnavailable, match=r"isv\.invalid-app-id"):
        wrong_app.status("SCO_KEYS_0002")


def test_an_answer_not_signed_by_alipays_key_is_not_believed(fake, app_keys):
    _key, _private, someone_else = new_key_pair()
    adapter = AlipayAdapter(settings(fake, app_keys, ALIPAY_PUBLIC_KEY=someone_else))
    with pytest.raises(PaymentUnavailable, match="not signed"):
        adapter.status("SCO_KEYS_0003")


# ------------------------------------------------------------------ notifications


def test_a_signed_success_notification_becomes_a_succeeded_event(adapter, fake):
    reference = paid_trade(adapter, fake, "66.60")
    body = fake.signed_notification(reference)
    event = adapter.parse_webhook({"Content-Type": "application/x-www-form-urlencoded"}, body)

    fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert event.id == fields["notify_id"]
    assert (event.kind, event.reference) == ("succeeded", reference)
    assert event.amount == Money(Decimal("66.60"), "CNY")
    assert event.order_number == reference.replace("_", "-")
    assert event.occurred_at is not None
    assert event.occurred_at.tzinfo is not None
    assert adapter.webhook_answer("paid") == ("success", 200, "text/plain")
    assert adapter.webhook_answer("duplicate") == ("success", 200, "text/plain")


def test_closed_and_refunded_notifications_map_to_their_kinds(adapter, fake):
    reference = paid_trade(adapter, fake, "40.00")
    adapter.refund(reference, Money(Decimal("15.00"), "CNY"), idempotency_key="refund-a")
    adapter.refund(reference, Money(Decimal("5.00"), "CNY"), idempotency_key="refund-b")
    refunded = adapter.parse_webhook({}, fake.signed_notification(reference, refund="refund-b"))
    # The trade's refunded total, as the port's refunded events carry.
    assert (refunded.kind, refunded.amount) == ("refunded", Money(Decimal("20.00"), "CNY"))

    closing = adapter.create_payment(order_request("9.00"))
    fake.open_page(closing.next_action["url"])
    fake.decline(closing.reference)
    closed = adapter.parse_webhook({}, fake.signed_notification(closing.reference))
    assert closed.kind == "canceled"

    waiting = adapter.create_payment(order_request("8.00"))
    fake.open_page(waiting.next_action["url"])
    assert adapter.parse_webhook({}, fake.signed_notification(waiting.reference)) is None


@pytest.mark.parametrize(
    "forge",
    ["another_key", "tampered_amount", "no_sign", "other_app", "sign_type_rsa", "not_a_form"],
)
def test_a_notification_that_is_not_provably_alipays_is_rejected(adapter, fake, forge):
    reference = paid_trade(adapter, fake, "70.00")
    if forge == "another_key":
        other, _private, _public = new_key_pair()
        body = fake.signed_notification(reference, key=other)
    elif forge == "tampered_amount":
        body = fake.signed_notification(reference).replace(b"total_amount=70.00",
                                                           b"total_amount=0.01")  # fmt: skip
    elif forge == "no_sign":
        body = b"&".join(p for p in fake.signed_notification(reference).split(b"&")
                         if not p.startswith(b"sign="))  # fmt: skip
    elif forge == "other_app":  # properly signed by Alipay, but for another app
        body = fake.signed_notification(reference, app_id="2021000000000099")
    elif forge == "sign_type_rsa":
        body = fake.signed_notification(reference).replace(b"sign_type=RSA2", b"sign_type=RSA")
    else:
        body = '{"trade_status": "TRADE_SUCCESS"} 中'.encode()
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, body)
