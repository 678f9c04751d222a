"""Paying by WeChat Pay end to end: the shop over real HTTP on PostgreSQL, the
``wechatpayv3`` SDK's real signing, response verification, certificate download and
notification decryption against the loopback fake (tests/fake_wechatpay.py).

The adapter-level tests at the end talk to the fake without the shop: H5, partial
refunds, and what the SDK refuses."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select

from catalog.money import Money
from orders.models import OrderEvent, ProviderEvent
from orders.payments.base import PaymentRejected, PaymentRequest, WebhookRejected
from orders.payments.wechatpay_adapter import WeChatPayAdapter
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests.checkout_world import cn_body
from tests.fake_wechatpay import FakeWeChatPay, new_rsa_key, private_pem
from tests.invariants import assert_invariants
from tests.live_server import served_world

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
APIV3_KEY = "pavilion-apiv3-key-0123456789abc"  # 32 characters
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


@pytest.fixture(scope="module")
def merchant_key():
    return new_rsa_key()


@pytest.fixture
def fake(merchant_key):
    with FakeWeChatPay(mchid=MCHID, appid=APPID, apiv3_key=APIV3_KEY, merchant_serial=SERIAL,
                       merchant_public_key=merchant_key.public_key()) as server:  # fmt: skip
        yield server


def settings(fake, merchant_key, **extra) -> dict:
    return {
        "WECHATPAY_MCHID": MCHID, "WECHATPAY_APPID": APPID,
        "WECHATPAY_PRIVATE_KEY": private_pem(merchant_key), "WECHATPAY_CERT_SERIAL_NO": SERIAL,
        "WECHATPAY_APIV3_KEY": APIV3_KEY, "WECHATPAY_API_BASE": fake.url,
        "WECHATPAY_TIMEOUT_SECONDS": 3, **extra,
    }  # fmt: skip


@pytest.fixture
def wechat_shop(postgres, fake, merchant_key):
    with served_world(postgres, "wechatpay", PAYMENT_ADAPTERS=("manual", "wechatpay"),
                      **settings(fake, merchant_key)) as (app, base_url, _world):  # fmt: skip
        app.config["PUBLIC_URL"] = base_url
        yield app, base_url


def wechat_order(base_url, **extra) -> dict:
    body = cn_body(payment={"adapter": "wechatpay"}, **extra)
    response = requests.post(f"{base_url}/api/v1/orders", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def read(base_url, order) -> dict:
    response = requests.get(f"{base_url}/api/v1/orders/{order['number']}",
                            headers={"X-Order-Token": order["token"]}, timeout=10)  # fmt: skip
    assert response.status_code == 200
    return response.json()


def wait_until(base_url, order, check, timeout=15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        document = read(base_url, order)
        if check(document):
            return document
        assert time.monotonic() < deadline, f"order never got there: {document}"
        time.sleep(0.2)


def reference_of(app, order) -> str:
    from orders.models import Order, Payment

    with app.app_context():
        reference = db.session.scalar(
            select(Payment.reference).join(Order, Order.id == Payment.order_id)
            .where(Order.number == order["number"]).order_by(Payment.id.desc()).limit(1)
        )  # fmt: skip
        db.session.remove()
    return reference


def post(base_url, headers, body) -> requests.Response:
    return requests.post(
        f"{base_url}/api/v1/payments/wechatpay/webhook", data=body, timeout=30,
        headers={**headers, "Content-Type": "application/json"},
    )  # fmt: skip


def fen(order) -> int:
    return int(Decimal(order["totals"]["grand_total"]["amount"]).scaleb(2))


def scalar(app, query):
    with app.app_context():
        value = db.session.scalar(query)
        db.session.remove()
    return value


# ------------------------------------------------------------------ through the shop


def test_a_native_payment_shows_a_qr_code_and_the_notification_makes_the_order_paid(
    wechat_shop, fake
):
    app, base_url = wechat_shop
    order = wechat_order(base_url)
    assert order["currency"] == "CNY"
    payment = order["payment"]
    assert payment["adapter"] == "wechatpay"
    assert payment["status"] == "requires_action"
    action = payment["next_action"]
    assert (action["type"], action["provider"]) == ("qr_code", "wechatpay")
    assert action["data"].startswith("weixin://wxpay/bizpayurl?pr=")
    reference = reference_of(app, order)
    sent = fake.transactions[reference].params
    assert sent["amount"] == {"total": fen(order), "currency": "CNY"}
    assert sent["attach"] == order["number"]
    assert sent["notify_url"] == f"{base_url}/api/v1/payments/wechatpay/webhook"
    assert ("GET", "/v3/certificates") in fake.requests  # downloaded and decrypted

    assert fake.pay(reference) == 204
    paid = read(base_url, order)
    assert paid["status"] == "paid"
    assert paid["payment"]["paid"] == order["totals"]["grand_total"]
    assert_invariants(app)


def test_cancelling_a_paid_order_refunds_it_at_wechat_pay(wechat_shop, fake):
    app, base_url = wechat_shop
    order = wechat_order(base_url)
    reference = reference_of(app, order)
    fake.pay(reference)
    cancelled = requests.post(
        f"{base_url}/api/v1/orders/{order['number']}/cancel", json={"reason": "changed mind"},
        headers={"X-Order-Token": order["token"]}, timeout=30,
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    deadline = time.monotonic() + 15
    while not fake.transactions[reference].refunds:
        assert time.monotonic() < deadline, "no refund reached WeChat Pay"
        time.sleep(0.2)
    (refund,) = fake.transactions[reference].refunds.values()
    assert refund["amount"]["refund"] == fen(order)
    assert fake.settle_refunds() == [204]  # REFUND.SUCCESS confirms it
    refunded = wait_until(base_url, order, lambda d: d["payment"]["status"] == "refunded")
    assert refunded["payment"]["refunded"] == order["totals"]["grand_total"]
    assert_invariants(app)


def test_two_partial_refunds_notified_one_by_one_add_up_once_each(wechat_shop, fake):
    """WeChat's REFUND.SUCCESS names one refund, not the running total: the shop adds
    them up, counts a repeated notice once, and confirms only the refund it names."""
    from orders.models import Order, Payment, Refund
    from orders.services.tasks import send_refund

    app, base_url = wechat_shop
    order = wechat_order(base_url)
    reference = reference_of(app, order)
    fake.pay(reference)
    with app.app_context():
        paid = db.session.scalar(select(Payment).where(Payment.reference == reference))
        refunds = [Refund(order_id=paid.order_id, payment_id=paid.id, amount=amount,
                          currency="CNY", status="requested", reason="goodwill")
                   for amount in (Decimal("10.00"), Decimal("5.00"))]  # fmt: skip
        db.session.add_all(refunds)
        db.session.commit()
        ids = [refund.id for refund in refunds]
        payment_id = paid.id
        db.session.remove()
    fake.notify = False
    with app.app_context():
        assert [send_refund(refund_id) for refund_id in ids] == ["pending", "pending"]
        db.session.remove()
    fake.notify = True
    fake.transactions[reference].refunds[f"refund-{ids[0]}"]["status"] = "SUCCESS"
    headers, body = fake.notification(reference, "REFUND.SUCCESS", refund_no=f"refund-{ids[0]}")
    for _ in range(2):  # delivered twice: counted once
        assert post(base_url, headers, body).status_code == 204
    with app.app_context():
        states = dict(db.session.execute(select(Refund.id, Refund.status)
                                         .where(Refund.id.in_(ids))).all())  # fmt: skip
        assert states == {ids[0]: "succeeded", ids[1]: "pending"}
        refunded = db.session.scalar(
            select(Order.refunded_amount).where(Order.number == order["number"])
        )
        assert refunded == Decimal("10.00")
        db.session.remove()
    assert fake.settle_refunds() == [204]  # the second one
    done = wait_until(
        base_url, order, lambda d: Decimal(d["payment"]["refunded"]["amount"]) == Decimal("15.00")
    )
    assert done["payment"]["status"] == "partially_refunded"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Refund)
                                 .where(Refund.payment_id == payment_id)) == 2  # fmt: skip
        db.session.remove()


def test_a_failed_payment_leaves_an_order_the_shopper_pays_again(wechat_shop, fake):
    app, base_url = wechat_shop
    order = wechat_order(base_url)
    first = reference_of(app, order)
    fake.fail(first)
    with app.app_context():
        from orders.payments_service import adapter

        result = adapter("wechatpay").status(first)
    assert (result.status, result.message) == ("failed", "银行返回失败")
    # What WeChat would say of it, signed: the order stays payable.
    stale = fake._transaction_json(fake.transactions[first])
    assert post(base_url, *fake.notification_about(stale)).status_code == 204
    document = read(base_url, order)
    assert (document["status"], document["payment"]["status"]) == ("pending_payment", "failed")

    again = requests.post(f"{base_url}/api/v1/orders/{order['number']}/pay",
                          headers={"X-Order-Token": order["token"]}, timeout=30)  # fmt: skip
    assert again.status_code == 200, again.text
    assert again.json()["payment"]["next_action"]["type"] == "qr_code"
    second = reference_of(app, order)
    assert second != first  # WeChat takes an out_trade_no once
    fake.pay(second)
    assert read(base_url, order)["status"] == "paid"
    assert_invariants(app)


def test_notifications_repeated_and_out_of_order_pay_the_order_once(wechat_shop, fake):
    app, base_url = wechat_shop
    order = wechat_order(base_url)
    reference = reference_of(app, order)
    unpaid = fake._transaction_json(fake.transactions[reference])
    fake.notify = False
    fake.pay(reference)
    success = fake.notification(reference)
    closed = fake.notification_about({**unpaid, "trade_state": "CLOSED"})
    for headers, body in (success, success, closed, success):
        assert post(base_url, headers, body).status_code == 204
    document = read(base_url, order)
    assert (document["status"], document["payment"]["status"]) == ("paid", "succeeded")
    recorded = select(ProviderEvent.outcome).order_by(ProviderEvent.outcome)
    with app.app_context():
        outcomes = list(db.session.scalars(recorded))
        db.session.remove()
    assert outcomes == ["ignored: order is paid", "paid"], outcomes  # replays leave no row
    became_paid = select(func.count(OrderEvent.id)).where(OrderEvent.to_status == "paid")
    assert scalar(app, became_paid) == 1
    assert_invariants(app)


def test_forged_notifications_are_refused_and_change_nothing(wechat_shop, fake):
    app, base_url = wechat_shop
    order = wechat_order(base_url)
    reference = reference_of(app, order)
    fake.notify = False
    fake.pay(reference)
    headers, body = fake.notification(reference)
    text = body.decode()
    stranger = new_rsa_key()
    forged = {
        "signed by another key": (fake.signed_headers(text, key=stranger), body),
        "an unknown serial": (fake.signed_headers(text, key=stranger, serial="7A3B" * 10), body),
        "tampered ciphertext, signed again": _tampered(fake, text),
        "a changed body, old signature": (headers, body.replace(b'"id": "', b'"id": "x')),
        "too old": (fake.signed_headers(text, timestamp=int(time.time()) - 600), body),
        "no signature": ({}, body),
    }
    for why, (forged_headers, forged_body) in forged.items():
        answer = post(base_url, forged_headers, forged_body)
        assert answer.status_code == 400, why
        assert answer.headers["Content-Type"] == "application/problem+json", why
    assert read(base_url, order)["status"] == "pending_payment"
    assert scalar(app, select(func.count(ProviderEvent.id))) == 0

    assert post(base_url, headers, body).status_code == 204
    assert read(base_url, order)["status"] == "paid"


def _tampered(fake, text: str):
    import base64
    import json

    notification = json.loads(text)
    sealed = bytearray(base64.b64decode(notification["resource"]["ciphertext"]))
    sealed[5] ^= 0x01
    notification["resource"]["ciphertext"] = base64.b64encode(bytes(sealed)).decode()
    changed = json.dumps(notification, ensure_ascii=False)
    return fake.signed_headers(changed), changed.encode()


def test_a_timeout_while_creating_leaves_the_order_pending_and_the_sweeper_settles_it(
    wechat_shop, fake
):
    from orders.services import sweep

    app, base_url = wechat_shop
    wechat_order(base_url)  # the client is built and has its certificates
    fake.delay, fake.delay_paths = 2.5, ("/v3/pay/transactions/",)
    app.config["WECHATPAY_TIMEOUT_SECONDS"] = 1
    try:
        order = wechat_order(base_url)
    finally:
        fake.delay, app.config["WECHATPAY_TIMEOUT_SECONDS"] = 0, 3
    assert order["status"] == "pending_payment"
    assert order["payment"]["status"] == "unavailable"
    assert order["payment"]["next_action"]["type"] == "retry"
    time.sleep(2)  # the fake finishes the prepay the shop gave up on
    timed_out = f"order-{order['number']}"
    assert fake.transactions[timed_out].trade_state == "NOTPAY"  # no one has its QR code

    again = requests.post(f"{base_url}/api/v1/orders/{order['number']}/pay",
                          headers={"X-Order-Token": order["token"]}, timeout=30)  # fmt: skip
    assert again.json()["payment"]["next_action"]["type"] == "qr_code"
    reference = reference_of(app, order)
    fake.notify = False  # the notification is lost
    fake.pay(reference)
    assert read(base_url, order)["status"] == "pending_payment"
    with app.app_context():
        done = sweep(utcnow() + timedelta(minutes=5))
    assert done["payments_reconciled"] >= 1
    assert read(base_url, order)["status"] == "paid"
    assert_invariants(app)


def test_an_expired_hold_closes_the_order_at_wechat_pay(wechat_shop, fake):
    from orders.services import sweep

    app, base_url = wechat_shop
    order = wechat_order(base_url)
    reference = reference_of(app, order)
    with app.app_context():
        done = sweep(utcnow() + timedelta(minutes=45))
    assert done["expired"] == 1
    assert read(base_url, order)["status"] == "expired"
    deadline = time.monotonic() + 10
    while fake.transactions[reference].trade_state != "CLOSED":
        assert time.monotonic() < deadline, "the WeChat Pay order was not closed"
        time.sleep(0.2)
    assert_invariants(app)


def test_many_deliveries_of_one_success_and_the_sweeper_at_once_pay_the_order_once(
    wechat_shop, fake
):
    from orders.services import sweep

    app, base_url = wechat_shop
    order = wechat_order(base_url)
    reference = reference_of(app, order)
    fake.notify = False
    fake.pay(reference)
    headers, body = fake.notification(reference)
    start = threading.Barrier(11)

    def deliver(_):
        start.wait()
        return post(base_url, headers, body).status_code

    def sweeper():
        start.wait()
        with app.app_context():
            sweep(utcnow() + timedelta(minutes=5))
            db.session.remove()

    with ThreadPoolExecutor(max_workers=11) as pool:
        swept = pool.submit(sweeper)
        answers = list(pool.map(deliver, range(10)))
        swept.result()

    assert answers == [204] * 10
    document = read(base_url, order)
    assert (document["status"], document["payment"]["paid"]) == (
        "paid", order["totals"]["grand_total"],
    )  # fmt: skip
    became_paid = select(func.count(OrderEvent.id)).where(OrderEvent.to_status == "paid")
    assert scalar(app, became_paid) == 1
    paid_outcomes = select(func.count(ProviderEvent.id)).where(ProviderEvent.outcome == "paid")
    assert scalar(app, paid_outcomes) == 1
    assert_invariants(app)


# ------------------------------------------------------------------ the adapter and the fake


def _request(number: str, amount: str, **extra) -> PaymentRequest:
    return PaymentRequest(order_number=number, amount=Money(Decimal(amount), "CNY"),
                          email="buyer@example.com", idempotency_key=f"order-{number}",
                          notify_url="http://127.0.0.1:9/api/v1/payments/wechatpay/webhook",
                          **extra)  # fmt: skip


def test_a_mobile_shopper_gets_the_h5_page_that_leads_back_to_the_order(fake, merchant_key):
    adapter = WeChatPayAdapter(settings(fake, merchant_key, SHOP_NAME="SCO Pavilion",
                                        PUBLIC_URL="https://shop.example"))  # fmt: skip
    result = adapter.create_payment(_request(
        "SCO-H5H5-0001", "60.00", device="mobile", client_ip="203.0.113.7",
        return_url="https://shop.example/orders/SCO-H5H5-0001?token=t",
    ))  # fmt: skip
    assert result.status == "requires_action"
    action = result.next_action
    assert (action["type"], action["provider"]) == ("redirect", "wechatpay")
    assert action["url"].startswith("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?")
    assert action["url"].endswith(
        "&redirect_url=https%3A%2F%2Fshop.example%2Forders%2FSCO-H5H5-0001%3Ftoken%3Dt"
    )
    sent = fake.transactions[result.reference]
    assert sent.kind == "MWEB"
    assert sent.params["scene_info"] == {
        "payer_client_ip": "203.0.113.7",
        "h5_info": {"type": "Wap", "app_name": "SCO Pavilion", "app_url": "https://shop.example"},
    }
    assert sent.params["amount"]["total"] == 6000


def test_partial_refunds_are_made_once_per_key_and_never_above_what_is_left(fake, merchant_key):
    adapter = WeChatPayAdapter(settings(fake, merchant_key))
    reference = adapter.create_payment(_request("SCO-REFU-0001", "100.00")).reference
    fake.notify = False
    fake.pay(reference)
    cny = lambda value: Money(Decimal(value), "CNY")  # noqa: E731

    first = adapter.refund(reference, cny("30.00"), idempotency_key="refund-1")
    assert (first.status, first.amount) == ("pending", cny("30.00"))
    retried = adapter.refund(reference, cny("30.00"), idempotency_key="refund-1")
    assert retried.reference == first.reference
    assert fake.transactions[reference].refunded() == 3000
    adapter.refund(reference, cny("50.00"), idempotency_key="refund-2")
    with pytest.raises(PaymentRejected) as too_much:
        adapter.refund(reference, cny("20.01"), idempotency_key="refund-3")
    assert too_much.value.code == "NOT_ENOUGH"
    with pytest.raises(PaymentRejected) as reused:
        adapter.refund(reference, cny("1.00"), idempotency_key="refund-1")
    assert reused.value.code == "INVALID_REQUEST"
    assert fake.transactions[reference].refunded() == 8000

    assert adapter.status(reference).provider_status == "REFUND"
    headers, body = fake.notification(reference, "REFUND.SUCCESS", refund_no="refund-2")
    event = adapter.parse_webhook(headers, body)
    assert (event.kind, event.reference, event.amount) == ("refunded", reference, cny("50.00"))


def test_the_same_out_trade_no_with_other_parameters_is_refused(fake, merchant_key):
    adapter = WeChatPayAdapter(settings(fake, merchant_key))
    first = adapter.create_payment(_request("SCO-SAME-0001", "10.00"))
    again = adapter.create_payment(_request("SCO-SAME-0001", "10.00"))
    assert again.next_action == first.next_action  # a retry: the same prepay
    with pytest.raises(PaymentRejected) as changed:
        adapter.create_payment(_request("SCO-SAME-0001", "11.00"))
    assert changed.value.code == "INVALID_REQUEST"
    adapter.cancel(first.reference)
    assert adapter.cancel(first.reference).status == "canceled"  # closing twice is fine
    assert adapter.status(first.reference).status == "canceled"
    with pytest.raises(PaymentRejected) as closed:
        adapter.create_payment(_request("SCO-SAME-0001", "10.00"))
    assert closed.value.code == "ORDER_CLOSED"


def test_a_paid_order_is_not_closed_and_captures_as_it_is(fake, merchant_key):
    adapter = WeChatPayAdapter(settings(fake, merchant_key))
    reference = adapter.create_payment(_request("SCO-PAID-0001", "10.00")).reference
    with pytest.raises(PaymentRejected):
        adapter.capture(reference)  # nothing is authorized before the shopper pays
    fake.notify = False
    fake.pay(reference)
    assert adapter.capture(reference).status == "succeeded"
    with pytest.raises(PaymentRejected) as paid:
        adapter.cancel(reference)
    assert paid.value.code == "ORDERPAID"


def test_a_wrong_merchant_key_is_refused_by_wechat_pay_and_the_order_waits(fake, merchant_key):
    from orders.payments.base import PaymentUnavailable

    adapter = WeChatPayAdapter(settings(fake, merchant_key))
    adapter.status("SCO-WARM-0001")  # certificates fetched with the right key
    wrong = WeChatPayAdapter(settings(fake, new_rsa_key()))
    with pytest.raises(PaymentUnavailable, match="cannot be used"):
        wrong.create_payment(_request("SCO-KEYS-0001", "10.00"))


def test_an_answer_not_signed_by_the_platform_is_not_believed(fake, merchant_key):
    from orders.payments.base import PaymentUnavailable

    adapter = WeChatPayAdapter(settings(fake, merchant_key))
    adapter.status("SCO-WARM-0002")
    fake.platform_key = new_rsa_key()  # someone in the middle answers
    with pytest.raises(PaymentUnavailable, match="verified"):
        adapter.create_payment(_request("SCO-MITM-0001", "10.00"))


def test_a_notification_with_a_bad_serial_does_not_make_the_shop_call_wechat_each_time(
    fake, merchant_key
):
    adapter = WeChatPayAdapter(settings(fake, merchant_key))
    reference = adapter.create_payment(_request("SCO-SERI-0001", "10.00")).reference
    headers, body = fake.notification(reference)
    calls = len(fake.requests)
    for serial in ("0ABC" * 5, "not-hex", "1234"):
        with pytest.raises(WebhookRejected):
            adapter.parse_webhook({**headers, "Wechatpay-Serial": serial}, body)
    assert len(fake.requests) == calls
