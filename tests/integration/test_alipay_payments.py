"""Paying by Alipay end to end on PostgreSQL: orders placed through the Flask test
client, the adapter's SDK signing its calls to the loopback gateway of
tests/fake_alipay.py, and the gateway's signed notifications posted over real HTTP to
the shop's webhook (the app is served on loopback for that). Every scenario ends with
the shared invariants (tests/invariants.py)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import requests
from sqlalchemy import func, select

from catalog.money import Money
from orders.models import Order, OrderEvent, Payment, ProviderEvent, Refund
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests.checkout_world import build_world, cn_body
from tests.conftest import make_test_app
from tests.fake_alipay import FakeAlipay, new_key_pair
from tests.invariants import assert_invariants
from tests.live_server import live_server

APP_ID = "2021000000000777"
WEBHOOK = "/api/v1/payments/alipay/webhook"


@pytest.fixture(scope="module")
def app_keys():
    _key, private_pem, public_pem = new_key_pair()
    return private_pem, public_pem


@pytest.fixture
def alipay_shop(postgres, app_keys):
    """(app, fake gateway, base URL): the shop offers Alipay, its gateway is the fake,
    and the notify URL (from PUBLIC_URL) is the shop served on loopback."""
    with FakeAlipay(APP_ID, app_keys[1], retry_delay=0.2) as fake:
        app = make_test_app(
            postgres.create("alipay"),
            PAYMENT_ADAPTERS=("manual", "alipay"),
            ALIPAY_APP_ID=APP_ID,
            ALIPAY_APP_PRIVATE_KEY=app_keys[0],
            ALIPAY_PUBLIC_KEY=fake.public_key_pem,
            ALIPAY_GATEWAY=fake.gateway,
            ALIPAY_TIMEOUT_SECONDS="1",
            SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 30, "max_overflow": 10, "pool_timeout": 60},
        )
        with app.app_context():
            db.create_all()
            build_world()
        with live_server(app) as base_url:
            app.config["PUBLIC_URL"] = base_url
            yield app, fake, base_url
            fake.wait_for_notifications()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def place(app, **extra) -> dict:
    body = cn_body(payment={"adapter": "alipay"}, **extra)
    response = app.test_client().post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.get_json()


def read(app, order) -> dict:
    response = app.test_client().get(f"/api/v1/orders/{order['number']}",
                                     headers={"X-Order-Token": order["token"]})  # fmt: skip
    assert response.status_code == 200
    return response.get_json()


def wait_until(app, order, check, timeout=15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        document = read(app, order)
        if check(document):
            return document
        assert time.monotonic() < deadline, f"never got there: {document}"
        time.sleep(0.1)


def trade_of(order) -> str:
    """The out_trade_no inside the payment URL the shopper got."""
    query = parse_qs(order["payment"]["next_action"]["url"].split("?", 1)[1])
    return json.loads(query["biz_content"][0])["out_trade_no"]


def open_and_pay(fake, order) -> str:
    page = fake.open_page(order["payment"]["next_action"]["url"])
    assert "pay</button>" in page.text, page.text
    reference = trade_of(order)
    paid = fake.pay(reference)
    # Alipay sends the shopper back to the return_url the shop gave (the order page).
    assert paid.status_code == 302, paid.text
    assert f"/orders/{order['number']}?" in paid.headers["Location"]
    return reference


def post_notification(base_url, body: bytes) -> requests.Response:
    return requests.post(f"{base_url}{WEBHOOK}", data=body, timeout=30,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip


def scalar(app, statement):
    with app.app_context():
        try:
            return db.session.scalar(statement)
        finally:
            db.session.remove()


def became_paid(app, number) -> int:
    return scalar(
        app,
        select(func.count(OrderEvent.id))
        .join(Order, Order.id == OrderEvent.order_id)
        .where(Order.number == number, OrderEvent.to_status == "paid"),
    )


def sweep_at(app, minutes: float) -> dict:
    from orders.services import sweep

    with app.app_context():
        try:
            return sweep(utcnow() + timedelta(minutes=minutes))
        finally:
            db.session.remove()


# ------------------------------------------------------------------ paying


def test_a_chinese_shopper_pays_on_alipays_page_and_the_notification_pays_the_order(
    alipay_shop,
):
    app, fake, _base_url = alipay_shop
    order = place(app)
    payment = order["payment"]
    assert (order["currency"], payment["adapter"]) == ("CNY", "alipay")
    assert payment["status"] == "requires_action"
    action = payment["next_action"]
    assert action["type"] == "redirect"
    assert action["provider"] == "alipay"
    assert action["url"].startswith(fake.gateway)

    reference = open_and_pay(fake, order)
    paid = wait_until(app, order, lambda d: d["status"] == "paid")
    assert paid["payment"]["status"] == "succeeded"
    assert paid["payment"]["paid"] == order["totals"]["grand_total"]
    assert fake.trades[reference].total_amount == Decimal(order["totals"]["grand_total"]["amount"])
    fake.wait_for_notifications()
    # Alipay got the bare "success" it wants, so it sent the notification once.
    assert [(s, t) for _id, s, t in fake.deliveries] == [(200, "success")], fake.deliveries
    assert became_paid(app, order["number"]) == 1
    assert_invariants(app)


def test_a_closed_trade_leaves_the_order_payable_by_a_new_trade(alipay_shop):
    app, fake, _base_url = alipay_shop
    order = place(app)
    first = trade_of(order)
    fake.open_page(order["payment"]["next_action"]["url"])
    assert fake.decline(first).status_code == 200  # Alipay closes it and notifies
    closed = wait_until(app, order, lambda d: d["payment"]["status"] == "canceled")
    assert closed["status"] == "pending_payment"

    retried = app.test_client().post(f"/api/v1/orders/{order['number']}/pay",
                                     headers={"X-Order-Token": order["token"]})  # fmt: skip
    assert retried.status_code == 200, retried.text
    again = {**order, "payment": retried.get_json()["payment"]}
    second = open_and_pay(fake, again)
    assert second != first
    wait_until(app, order, lambda d: d["status"] == "paid")
    assert fake.trades[first].status == "TRADE_CLOSED"
    assert_invariants(app)


def test_notifications_repeated_and_out_of_order_pay_the_order_once(alipay_shop):
    app, fake, base_url = alipay_shop
    # Success first, then the same notification again, then a late "closed".
    early = place(app)
    reference = open_and_pay(fake, early)
    wait_until(app, early, lambda d: d["status"] == "paid")
    fake.wait_for_notifications()
    success = fake.signed_notification(reference)
    for body in (
        success,
        success,
        fake.signed_notification(reference, trade_status="TRADE_CLOSED"),
    ):
        answer = post_notification(base_url, body)
        assert (answer.status_code, answer.text) == (200, "success")
    document = read(app, early)
    assert (document["status"], document["payment"]["status"]) == ("paid", "succeeded")
    assert became_paid(app, early["number"]) == 1

    # "Closed" first (an older fact delivered late), then the success: paid.
    fake.notify = False
    late = place(app)
    late_reference = open_and_pay(fake, late)
    closed_first = fake.signed_notification(late_reference, trade_status="TRADE_CLOSED")
    assert post_notification(base_url, closed_first).text == "success"
    assert post_notification(base_url, fake.signed_notification(late_reference)).text == "success"
    assert read(app, late)["status"] == "paid"
    assert_invariants(app)


@pytest.mark.parametrize("forgery", ["another_key", "tampered_amount", "another_app"])
def test_a_forged_notification_is_refused_and_changes_nothing(alipay_shop, forgery):
    app, fake, base_url = alipay_shop
    fake.notify = False
    order = place(app)
    reference = open_and_pay(fake, order)  # paid at Alipay, but this notification is not it
    if forgery == "another_key":
        other, _private, _public = new_key_pair()
        body = fake.signed_notification(reference, key=other)
    elif forgery == "tampered_amount":
        total = order["totals"]["grand_total"]["amount"]
        body = fake.signed_notification(reference).replace(
            f"total_amount={total}".encode(), b"total_amount=0.01"
        )
    else:
        body = fake.signed_notification(reference, app_id="2021000000000999")
    answer = post_notification(base_url, body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert read(app, order)["status"] == "pending_payment"
    assert scalar(app, select(func.count(ProviderEvent.id))) == 0
    assert_invariants(app)


# ------------------------------------------------------------------ the sweeper


def test_a_query_that_times_out_is_settled_by_a_later_sweep(alipay_shop):
    app, fake, _base_url = alipay_shop
    fake.notify = False  # the notification is lost
    order = place(app)
    open_and_pay(fake, order)

    fake.delay = 2.0  # longer than ALIPAY_TIMEOUT_SECONDS
    assert sweep_at(app, 5)["payments_reconciled"] == 0
    assert read(app, order)["status"] == "pending_payment"

    fake.delay = 0.0
    assert sweep_at(app, 6)["payments_reconciled"] == 1
    paid = read(app, order)
    assert (paid["status"], paid["payment"]["status"]) == ("paid", "succeeded")
    assert_invariants(app)


def test_an_expired_hold_closes_the_trade_at_alipay(alipay_shop):
    app, fake, _base_url = alipay_shop
    opened = place(app)  # the shopper opened Alipay's page and left
    fake.open_page(opened["payment"]["next_action"]["url"])
    never_opened = place(app)  # the shopper never went to Alipay

    done = sweep_at(app, 45)
    assert done["expired"] == 2
    assert read(app, opened)["status"] == "expired"
    assert fake.trades[trade_of(opened)].status == "TRADE_CLOSED"
    assert trade_of(never_opened) not in fake.trades  # nothing to close; its URL expires
    with app.app_context():
        statuses = db.session.scalars(select(Payment.status)).all()
        db.session.remove()
    assert sorted(statuses) == ["canceled", "canceled"]
    fake.wait_for_notifications()  # the TRADE_CLOSED notification changes nothing
    assert read(app, opened)["status"] == "expired"
    assert_invariants(app)


# ------------------------------------------------------------------ refunds


def test_partial_refunds_then_a_cancel_refund_the_order_exactly_once(alipay_shop):
    from orders.payments.alipay_adapter import AlipayAdapter
    from orders.payments_service import SETTINGS
    from orders.services.tasks import send_refund

    app, fake, base_url = alipay_shop
    order = place(app)
    reference = open_and_pay(fake, order)
    wait_until(app, order, lambda d: d["status"] == "paid")
    total = Decimal(order["totals"]["grand_total"]["amount"])

    with app.app_context():
        paid = db.session.scalar(select(Payment).where(Payment.reference == reference))
        refunds = [Refund(order_id=paid.order_id, payment_id=paid.id, amount=amount,
                          currency="CNY", status="requested", reason="goodwill")
                   for amount in (Decimal("10.00"), Decimal("5.00"))]  # fmt: skip
        db.session.add_all(refunds)
        db.session.commit()
        ids = [refund.id for refund in refunds]
        adapter = AlipayAdapter({key: app.config.get(key) for key in SETTINGS})
        # Alipay's refund notifications come after both refunds are sent (the shop marks
        # a requested refund done when a notification's refunded total covers it).
        fake.notify = False
        # The first refund's answer was lost once: Alipay made it, the shop did not hear.
        adapter.refund(
            reference, Money(Decimal("10.00"), "CNY"), idempotency_key=f"refund-{ids[0]}"
        )
        assert [send_refund(refund_id) for refund_id in ids] == ["succeeded", "succeeded"]
        assert send_refund(ids[0]) == "nothing to do"  # a retried task sends nothing
        db.session.remove()
    assert fake.trades[reference].refunded == Decimal("15.00")
    fake.notify = True
    notice = fake.signed_notification(reference, refund=f"refund-{ids[1]}")
    assert post_notification(base_url, notice).text == "success"
    partly = wait_until(app, order, lambda d: d["payment"]["status"] == "partially_refunded")
    assert partly["status"] in ("paid", "partially_refunded")

    cancelled = app.test_client().post(f"/api/v1/orders/{order['number']}/cancel",
                                       json={"reason": "changed my mind"},
                                       headers={"X-Order-Token": order["token"]})  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    refunded = wait_until(app, order, lambda d: d["payment"]["status"] == "refunded")
    assert Decimal(refunded["payment"]["refunded"]["amount"]) == total
    assert fake.trades[reference].refunded == total
    assert fake.trades[reference].status == "TRADE_CLOSED"
    fake.wait_for_notifications()
    assert Decimal(read(app, order)["payment"]["refunded"]["amount"]) == total
    assert_invariants(app)


# ------------------------------------------------------------------ exactly once


def test_twenty_success_notifications_at_once_and_the_sweeper_pay_the_order_once(alipay_shop):
    from orders.services.tasks import reconcile_payments

    app, fake, base_url = alipay_shop
    fake.notify = False  # the test delivers them
    order = place(app)
    reference = open_and_pay(fake, order)
    body = fake.signed_notification(reference)

    def sweeper():
        with app.app_context():
            try:
                return reconcile_payments(utcnow() + timedelta(minutes=5))
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=21) as pool:
        reconciled = pool.submit(sweeper)
        answers = list(pool.map(lambda _: post_notification(base_url, body), range(20)))
        reconciled = reconciled.result()

    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 20
    assert reconciled in (0, 1)
    document = read(app, order)
    assert (document["status"], document["payment"]["status"]) == ("paid", "succeeded")
    assert document["payment"]["paid"] == order["totals"]["grand_total"]
    assert became_paid(app, order["number"]) == 1
    outcomes = scalar(
        app, select(func.count(ProviderEvent.id)).where(ProviderEvent.outcome == "paid")
    )
    assert outcomes == 1
    assert scalar(app, select(func.count(Payment.id)).where(Payment.status == "succeeded")) == 1
    assert_invariants(app)
