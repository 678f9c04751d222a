"""The Stripe adapter against a Stripe fake on loopback (localstripe), over real
HTTP: create, confirm like a client, ask the state, receive the signed
webhook, refund; and what an unreachable or failing Stripe looks like."""

from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from catalog.money import Money
from orders.payments import (
    PaymentDeclined,
    PaymentRequest,
    PaymentUnavailable,
)
from orders.payments.stripe_adapter import StripeAdapter
from tests import localstripe_server
from tests.localstripe_server import (
    WebhookReceiver,
    confirm_with_test_card,
    free_port,
    register_webhook,
)

# A localstripe server shared by the session (the fixture lives in tests/).
localstripe_url = localstripe_server.localstripe_url

WEBHOOK_SECRET = "whsec_pavilion_integration"


def settings(api_base: str, **overrides) -> dict:
    return {
        "STRIPE_API_KEY": "sk_test_pavilion",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_pavilion",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": api_base,
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "SHOP_NAME": "SCO Pavilion",
        **overrides,
    }


def order_payment(amount: str = "37.00", currency: str = "CNY", **fields) -> PaymentRequest:
    number = f"P-TEST-{uuid.uuid4().hex[:8].upper()}"
    return PaymentRequest(
        order_number=number,
        amount=Money(Decimal(amount), currency),
        email="buyer@example.com",
        idempotency_key=f"order-{number}",
        description=f"SCO Pavilion order {number}",
        **fields,
    )


@pytest.fixture
def adapter(localstripe_url):
    return StripeAdapter(settings(localstripe_url))


@pytest.fixture
def shopper_client(localstripe_url):
    """What the shopper's browser does with Stripe.js, done with the SDK."""
    return stripe.StripeClient(
        "sk_test_shopper", base_addresses={"api": localstripe_url}, max_network_retries=0
    )


def test_a_payment_is_created_confirmed_by_the_client_and_then_succeeded(adapter, shopper_client):
    request = order_payment("1299.00", "RUB")

    created = adapter.create_payment(request)
    assert created.status == "requires_action"
    assert created.next_action["type"] == "stripe_payment_intent"
    assert created.next_action["client_secret"].startswith(created.reference + "_secret_")
    assert created.next_action["publishable_key"] == "pk_test_pavilion"
    assert created.amount == Money(Decimal("1299.00"), "RUB")

    confirm_with_test_card(shopper_client, created.reference)

    now = adapter.status(created.reference)
    assert (now.status, now.provider_status, now.next_action) == ("succeeded", "succeeded", {})
    assert now.amount == Money(Decimal("1299.00"), "RUB")


def test_a_zero_decimal_currency_is_charged_in_whole_units(adapter, shopper_client):
    created = adapter.create_payment(order_payment("500", "JPY"))
    confirm_with_test_card(shopper_client, created.reference)

    intent = shopper_client.v1.payment_intents.retrieve(created.reference)
    assert (intent.amount, intent.currency) == (500, "jpy")


def test_the_succeeded_webhook_arrives_signed_and_names_the_order(
    localstripe_url, adapter, shopper_client
):
    request = order_payment()
    with WebhookReceiver() as receiver:
        register_webhook(
            localstripe_url,
            f"pavilion-{uuid.uuid4().hex[:8]}",
            receiver.url,
            WEBHOOK_SECRET,
            events=["payment_intent.succeeded"],
        )
        created = adapter.create_payment(request)
        confirm_with_test_card(shopper_client, created.reference)

        delivery = receiver.wait_for(
            lambda d: d.json()["data"]["object"]["id"] == created.reference
        )

    assert "Stripe-Signature" in delivery.headers
    event = adapter.parse_webhook(delivery.headers, delivery.body)
    assert event.kind == "succeeded"
    assert event.reference == created.reference
    assert event.order_number == request.order_number
    assert event.amount == Money(Decimal("37.00"), "CNY")
    assert event.id.startswith("evt_")

    forged = StripeAdapter(settings(localstripe_url, STRIPE_WEBHOOK_SECRET="whsec_other"))
    with pytest.raises(Exception, match="signature"):
        forged.parse_webhook(delivery.headers, delivery.body)


def test_a_succeeded_payment_is_refunded_in_part_and_then_in_full(adapter, shopper_client):
    created = adapter.create_payment(order_payment("37.00"))
    confirm_with_test_card(shopper_client, created.reference)

    part = adapter.refund(
        created.reference, Money(Decimal("12.00"), "CNY"), idempotency_key=f"{created.reference}-1"
    )
    rest = adapter.refund(
        created.reference, Money(Decimal("25.00"), "CNY"), idempotency_key=f"{created.reference}-2"
    )

    assert (part.status, part.amount) == ("succeeded", Money(Decimal("12.00"), "CNY"))
    assert part.reference.startswith("re_")
    assert (rest.status, rest.amount) == ("succeeded", Money(Decimal("25.00"), "CNY"))


def test_a_card_declined_at_confirmation_is_payment_declined(adapter):
    with pytest.raises(PaymentDeclined) as declined:
        adapter.create_payment(order_payment(payment_method="pm_card_chargeCustomerFail"))

    assert declined.value.code == "card_declined"
    assert "declined" in declined.value.message


def test_a_payment_confirmed_on_the_server_with_a_good_card_succeeds(adapter):
    result = adapter.create_payment(order_payment(payment_method="pm_card_visa"))

    assert (result.status, result.next_action) == ("succeeded", {})


def test_an_unpaid_payment_is_canceled_once_and_stays_canceled(adapter):
    created = adapter.create_payment(order_payment())

    assert adapter.cancel(created.reference).status == "canceled"
    assert adapter.cancel(created.reference).status == "canceled"
    assert adapter.status(created.reference).status == "canceled"


def test_stripe_unreachable_is_payment_unavailable():
    closed = f"http://127.0.0.1:{free_port()}"  # bound, released: nothing listens
    adapter = StripeAdapter(settings(closed))

    with pytest.raises(PaymentUnavailable, match="Stripe is unavailable"):
        adapter.create_payment(order_payment())


class FailingStripe:
    """A loopback server that answers every request with one status and a Stripe error."""

    def __init__(self, status: int, error_type: str = "api_error"):
        answer = json.dumps({"error": {"type": error_type, "message": "unavailable"}}).encode()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.parametrize(("status", "error_type"), [(503, "api_error"), (429, "rate_limit")])
def test_stripe_overloaded_or_failing_is_payment_unavailable_after_its_retries(status, error_type):
    with FailingStripe(status, error_type) as failing:
        adapter = StripeAdapter(settings(failing.url, STRIPE_MAX_NETWORK_RETRIES=1))

        with pytest.raises(PaymentUnavailable):
            adapter.create_payment(order_payment())

    assert failing.requests == (2 if status >= 500 else 1)  # the SDK retries 5xx only
