"""Paying by Stripe end to end: the shop over real HTTP, the official SDK against
localstripe on loopback, webhooks signed by localstripe (or by us, for the event types
localstripe never sends), and refunds on cancel."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
import requests
import stripe

from shop.core.extensions import db
from tests import localstripe_server
from tests.checkout_world import RU_ADDRESS, build_world, order_body
from tests.conftest import make_test_app
from tests.invariants import assert_invariants
from tests.live_server import live_server

localstripe_url = localstripe_server.localstripe_url

SECRET = "whsec_pavilion_test"
API_KEY = "sk_test_pavilion"


@pytest.fixture
def stripe_shop(postgres, localstripe_url):
    app = make_test_app(
        postgres.create("stripe_checkout"),
        PAYMENT_ADAPTERS=("manual", "stripe"),
        STRIPE_API_KEY=API_KEY,
        STRIPE_API_BASE=localstripe_url,
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_PUBLISHABLE_KEY="pk_test_pavilion",
        STRIPE_MAX_NETWORK_RETRIES=0,
        STRIPE_TIMEOUT_SECONDS=3,
    )
    with app.app_context():
        db.create_all()
        build_world()
    with live_server(app) as base_url:
        localstripe_server.register_webhook(
            localstripe_url, f"pavilion-{uuid.uuid4().hex[:8]}",
            f"{base_url}/api/v1/payments/stripe/webhook", SECRET,
        )  # fmt: skip
        yield app, base_url
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def stripe_client(localstripe_url):
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url})


# Stripe is offered outside Russia and China (orders/rules/payment_methods.json, #18).
KZ_ADDRESS = {**RU_ADDRESS, "country": "KZ", "region": "Almaty", "city": "Almaty",
              "postal_code": "050000"}  # fmt: skip


def stripe_order(base_url, **extra):
    body = order_body(payment={"adapter": "stripe"}, **{"address": KZ_ADDRESS, **extra})
    response = requests.post(f"{base_url}/api/v1/orders", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def offer_stripe_in(app, tmp_path, *countries: str) -> None:
    """A test-local payment-method rule (PAVILION_PAYMENT_METHOD_RULES) offering Stripe
    where the shipped rules do not, for tests about something else than the offer."""
    rules = tmp_path / "payment_methods.json"
    rules.write_text(json.dumps({"rules": [{
        "id": f"stripe-{'-'.join(countries).lower()}-test", "adapter": "stripe",
        "countries": list(countries), "currencies": None, "valid_from": "2020-01-01",
        "reason": "a test of late Stripe payments", "source": "this test"}]}))  # fmt: skip
    app.config["PAYMENT_METHOD_RULES"] = str(rules)


def read(base_url, order):
    response = requests.get(f"{base_url}/api/v1/orders/{order['number']}",
                            headers={"X-Order-Token": order["token"]}, timeout=10)  # fmt: skip
    assert response.status_code == 200
    return response.json()


def wait_until(base_url, order, check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        document = read(base_url, order)
        if check(document):
            return document
        if time.monotonic() > deadline:
            raise AssertionError(f"order never got there: {json.dumps(document)[:800]}")
        time.sleep(0.2)


def signed_post(base_url, event: dict, secret: str = SECRET):
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                         hashlib.sha256).hexdigest()  # fmt: skip
    return requests.post(
        f"{base_url}/api/v1/payments/stripe/webhook", data=body, timeout=10,
        headers={"Stripe-Signature": f"t={timestamp},v1={signature}",
                 "Content-Type": "application/json"},
    )  # fmt: skip


def event(kind: str, obj: dict) -> dict:
    return {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind,
            "created": int(time.time()), "data": {"object": obj}}  # fmt: skip


def test_a_card_payment_confirmed_at_stripe_makes_the_order_paid(stripe_shop, stripe_client):
    _app, base_url = stripe_shop
    order = stripe_order(base_url)
    payment = order["payment"]
    assert payment["adapter"] == "stripe"
    assert payment["status"] == "requires_action"
    action = payment["next_action"]
    assert action["client_secret"]
    assert action["publishable_key"] == "pk_test_pavilion"
    intent = stripe_client.v1.payment_intents.retrieve(action["payment_intent"])
    assert intent.amount == int(order["totals"]["grand_total"]["amount"].replace(".", ""))
    assert intent.currency.upper() == "RUB"
    assert intent.metadata["order_number"] == order["number"]

    localstripe_server.confirm_with_test_card(stripe_client, action["payment_intent"])
    paid = wait_until(base_url, order, lambda d: d["status"] == "paid")
    assert paid["payment"]["status"] == "succeeded"
    assert paid["payment"]["paid"] == order["totals"]["grand_total"]
    assert paid["shipments"][0]["status"] == "ready_to_pick"

    # A late failure for the same PaymentIntent never un-pays the order.
    late = signed_post(base_url, event("payment_intent.payment_failed", {
        "id": action["payment_intent"], "object": "payment_intent", "status":
        "requires_payment_method", "amount": intent.amount, "currency": "rub",
        "metadata": {"order_number": order["number"]}}))  # fmt: skip
    assert late.status_code == 200
    assert read(base_url, order)["status"] == "paid"


def test_forged_and_replayed_webhooks(stripe_shop):
    _app, base_url = stripe_shop
    order = stripe_order(base_url)
    intent_id = order["payment"]["next_action"]["payment_intent"]
    succeeded = event("payment_intent.succeeded", {
        "id": intent_id, "object": "payment_intent", "status": "succeeded",
        "amount": int(order["totals"]["grand_total"]["amount"].replace(".", "")),
        "currency": "rub", "metadata": {"order_number": order["number"]}})  # fmt: skip
    forged = signed_post(base_url, succeeded, secret="whsec_somebody_else")
    assert forged.status_code == 400
    assert forged.headers["Content-Type"] == "application/problem+json"
    unsigned = requests.post(f"{base_url}/api/v1/payments/stripe/webhook",
                             data=json.dumps(succeeded), timeout=10)  # fmt: skip
    assert unsigned.status_code == 400
    assert read(base_url, order)["status"] == "pending_payment"

    first = signed_post(base_url, succeeded)
    assert first.status_code == 200
    assert first.json()["outcome"] == "paid"
    replay = signed_post(base_url, succeeded)
    assert replay.status_code == 200
    assert replay.json()["outcome"] == "duplicate"
    assert read(base_url, order)["payment"]["paid"] == order["totals"]["grand_total"]


def test_cancelling_a_paid_order_refunds_it_in_full_at_stripe(stripe_shop, stripe_client):
    _app, base_url = stripe_shop
    order = stripe_order(base_url)
    intent_id = order["payment"]["next_action"]["payment_intent"]
    localstripe_server.confirm_with_test_card(stripe_client, intent_id)
    wait_until(base_url, order, lambda d: d["status"] == "paid")

    cancelled = requests.post(
        f"{base_url}/api/v1/orders/{order['number']}/cancel", json={"reason": "too slow"},
        headers={"X-Order-Token": order["token"]}, timeout=30,
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    # The refund is sent after the response, in the background.
    refunded = wait_until(base_url, order, lambda d: d["payment"]["status"] == "refunded")
    assert refunded["payment"]["refunded"] == order["totals"]["grand_total"]
    refunds = stripe_client.v1.refunds.list(params={"payment_intent": intent_id})
    assert sum(r.amount for r in refunds.data) == int(
        order["totals"]["grand_total"]["amount"].replace(".", "")
    )
    # Stripe's charge.refunded arriving afterwards changes nothing more.
    late = signed_post(base_url, event("charge.refunded", {
        "id": "ch_x", "object": "charge", "payment_intent": intent_id,
        "amount": sum(r.amount for r in refunds.data),
        "amount_refunded": sum(r.amount for r in refunds.data), "currency": "rub",
        "refunded": True, "metadata": {"order_number": order["number"]}}))  # fmt: skip
    assert late.status_code == 200
    again = read(base_url, order)
    assert again["payment"]["refunded"] == order["totals"]["grand_total"]
    assert again["status"] == "cancelled"


def test_a_stripe_outage_leaves_an_order_the_shopper_pays_later(stripe_shop, stripe_client):
    app, base_url = stripe_shop
    working_base = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{localstripe_server.free_port()}"
    try:
        order = stripe_order(base_url)
    finally:
        app.config["STRIPE_API_BASE"] = working_base
    assert order["status"] == "pending_payment"
    assert order["payment"]["status"] == "unavailable"
    assert order["payment"]["next_action"]["type"] == "retry"
    assert order["shipments"][0]["lines"][0]["reservation"] == "held"

    retried = requests.post(f"{base_url}/api/v1/orders/{order['number']}/pay",
                            headers={"X-Order-Token": order["token"]}, timeout=30)  # fmt: skip
    assert retried.status_code == 200, retried.text
    payment = retried.json()["payment"]
    assert payment["status"] == "requires_action"
    localstripe_server.confirm_with_test_card(
        stripe_client, payment["next_action"]["payment_intent"]
    )
    wait_until(base_url, order, lambda d: d["status"] == "paid")
    assert_invariants(app)


@pytest.fixture
def stripe_shop_without_webhook(postgres, localstripe_url):
    """The shop as above, but Stripe's webhooks never reach it (lost, or misconfigured)."""
    app = make_test_app(
        postgres.create("stripe_lost_webhook"),
        PAYMENT_ADAPTERS=("stripe",), STRIPE_API_KEY=API_KEY, STRIPE_API_BASE=localstripe_url,
        STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_MAX_NETWORK_RETRIES=0, STRIPE_TIMEOUT_SECONDS=3,
    )  # fmt: skip
    with app.app_context():
        db.create_all()
        build_world()
    with live_server(app) as base_url:
        yield app, base_url
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_sweeper_finds_a_payment_whose_webhook_was_lost(
    stripe_shop_without_webhook, stripe_client
):
    from datetime import timedelta

    from orders.services import sweep
    from shop.core.clock import utcnow

    app, base_url = stripe_shop_without_webhook
    paid_order = stripe_order(base_url)
    unpaid_order = stripe_order(base_url)
    localstripe_server.confirm_with_test_card(
        stripe_client, paid_order["payment"]["next_action"]["payment_intent"]
    )
    assert read(base_url, paid_order)["status"] == "pending_payment"  # no webhook came
    with app.app_context():
        # Past the hold's end: the paid order is found paid first, so it never expires;
        # the unpaid one expires and its PaymentIntent is cancelled at Stripe.
        done = sweep(utcnow() + timedelta(minutes=45))
    assert done["expired"] == 1
    assert read(base_url, paid_order)["status"] == "paid"
    assert read(base_url, unpaid_order)["status"] == "expired"
    intent = stripe_client.v1.payment_intents.retrieve(
        unpaid_order["payment"]["next_action"]["payment_intent"]
    )
    assert intent.status == "canceled"


def test_paying_again_withdraws_the_first_payment_intent(stripe_shop, stripe_client):
    _app, base_url = stripe_shop
    order = stripe_order(base_url)
    first = order["payment"]["next_action"]["payment_intent"]
    declined = {
        "id": first, "object": "payment_intent", "status": "requires_payment_method",
        "amount": 1, "currency": "rub", "metadata": {"order_number": order["number"]},
    }  # fmt: skip
    failed = signed_post(base_url, event("payment_intent.payment_failed", declined))
    assert failed.json()["outcome"] == "payment failed"
    shopper = {"X-Order-Token": order["token"]}
    pay_url = f"{base_url}/api/v1/orders/{order['number']}/pay"
    retried = requests.post(pay_url, headers=shopper, timeout=30).json()
    second = retried["payment"]["next_action"]["payment_intent"]
    assert second != first
    # The shopper's old tab can no longer charge the first one.
    deadline = time.monotonic() + 10
    while stripe_client.v1.payment_intents.retrieve(first).status != "canceled":
        assert time.monotonic() < deadline, "the first PaymentIntent was not cancelled"
        time.sleep(0.2)
    localstripe_server.confirm_with_test_card(stripe_client, second)
    paid = wait_until(base_url, order, lambda d: d["status"] == "paid")
    assert paid["payment"]["paid"] == order["totals"]["grand_total"]
