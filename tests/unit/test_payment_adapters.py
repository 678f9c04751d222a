"""Payment adapters without a payment provider: the manual adapter, the plugin
registry, Stripe's minor units, webhook signatures and event mapping, and how
Stripe's answers become the port's errors (an HTTP client stand-in at the
SDK's edge). The same adapter against a Stripe fake server is in
tests/integration/test_stripe_localstripe.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from catalog.money import Money
from orders.payments import (
    PaymentAdapterLoadError,
    PaymentConfigurationError,
    PaymentDeclined,
    PaymentRejected,
    PaymentRequest,
    PaymentUnavailable,
    UnknownPaymentAdapter,
    WebhookRejected,
    available_adapters,
    clear_adapter_cache,
    load_adapter,
)
from orders.payments.manual import ManualAdapter
from orders.payments.stripe_adapter import (
    InvalidStripeAmount,
    StripeAdapter,
    from_stripe_amount,
    stripe_exponent,
    to_stripe_amount,
)

DUMMY_PLUGIN = Path(__file__).parents[1] / "plugins" / "dummy_payment"
WEBHOOK_SECRET = "whsec_unit_test_secret"
STRIPE_SETTINGS = {
    "STRIPE_API_KEY": "sk_test_unit",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_unit",
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "STRIPE_API_BASE": "http://127.0.0.1:9",  # never reached by these tests
    "STRIPE_MAX_NETWORK_RETRIES": 0,
    "SHOP_NAME": "SCO Pavilion",
}


def cny(amount: str) -> Money:
    return Money(Decimal(amount), "CNY")


def payment_request(**overrides) -> PaymentRequest:
    fields = {
        "order_number": "P-20261101-0001",
        "amount": cny("37.00"),
        "email": "buyer@example.com",
        "idempotency_key": "order-P-20261101-0001",
        "description": "SCO Pavilion order P-20261101-0001",
    }
    return PaymentRequest(**{**fields, **overrides})


# ---------------------------------------------------------------------------
# manual


def test_a_manual_payment_waits_for_a_bank_transfer_quoting_the_order_number():
    adapter = ManualAdapter({"SHOP_NAME": "SCO Pavilion"})

    result = adapter.create_payment(payment_request())

    assert result.status == "pending"
    assert result.reference == "manual:P-20261101-0001"
    assert result.next_action["type"] == "bank_transfer"
    assert result.next_action["amount"] == {"amount": "37.00", "currency": "CNY"}
    assert result.next_action["reference"] == "P-20261101-0001"
    assert "P-20261101-0001" in result.next_action["instructions"]
    assert "37.00 CNY" in result.next_action["instructions"]
    json.dumps(result.next_action)  # goes to the client as is
    assert adapter.create_payment(payment_request()) == result  # asking again: same payment


def test_manual_instructions_come_from_the_settings_unchanged():
    bank = {
        "en": "Bank of Qingdao, account 6222 0000 1234",
        "ru": "Банк Циндао, счёт 6222 0000 1234",
    }
    adapter = ManualAdapter({"MANUAL_PAYMENT_INSTRUCTIONS": bank, "SHOP_NAME": "SCO Pavilion"})

    assert adapter.create_payment(payment_request()).next_action["instructions"] == bank


def test_an_operator_confirms_cancels_and_refunds_manual_payments_by_hand():
    adapter = ManualAdapter({})
    reference = adapter.create_payment(payment_request()).reference

    assert adapter.capture(reference).status == "succeeded"
    assert adapter.cancel(reference).status == "canceled"
    refund = adapter.refund(reference, cny("10.00"), idempotency_key="refund-1")
    assert refund.status == "pending"
    assert refund.amount == cny("10.00")
    assert "by hand" in refund.note
    assert adapter.refund(reference, cny("10.00"), idempotency_key="refund-1") == refund


def test_manual_payments_have_no_webhooks_and_no_provider_to_ask():
    adapter = ManualAdapter({})

    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, b"{}")
    with pytest.raises(NotImplementedError):
        adapter.status("manual:P-1")
    with pytest.raises(ValueError, match="not a manual payment reference"):
        adapter.capture("pi_123")


def test_a_payment_request_refuses_what_cannot_be_charged():
    with pytest.raises(ValueError, match="positive"):
        payment_request(amount=cny("0"))
    with pytest.raises(ValueError, match="idempotency key"):
        payment_request(idempotency_key="")
    with pytest.raises(TypeError):
        payment_request(amount=Decimal("37.00"))


# ---------------------------------------------------------------------------
# registry


@pytest.fixture
def fresh_registry():
    clear_adapter_cache()
    yield
    clear_adapter_cache()


@pytest.mark.usefixtures("fresh_registry")
def test_the_shipped_adapters_are_found_by_their_entry_points():
    adapters = available_adapters()

    assert adapters["manual"] is ManualAdapter
    assert adapters["stripe"] is StripeAdapter
    assert available_adapters() == adapters  # loaded once, then kept


@pytest.mark.usefixtures("fresh_registry")
def test_load_adapter_builds_an_enabled_adapter_with_the_settings():
    adapter = load_adapter("manual", {"SHOP_NAME": "Pavilion"}, enabled=("manual", "stripe"))

    assert isinstance(adapter, ManualAdapter)
    assert adapter.shop_name == "Pavilion"


@pytest.mark.usefixtures("fresh_registry")
@pytest.mark.parametrize("name", ["stripe", "alipay"])
def test_an_adapter_not_installed_or_not_enabled_is_a_422_on_payment_adapter(name):
    with pytest.raises(UnknownPaymentAdapter) as refused:
        load_adapter(name, STRIPE_SETTINGS, enabled={"manual"})

    error = refused.value
    assert (error.status, error.code) == (422, "unknown_payment_adapter")
    assert error.errors == {"payment.adapter": ["Must be one of: manual."]}
    assert name in error.detail


@pytest.mark.usefixtures("fresh_registry")
def test_the_refusal_reads_as_problem_json():
    from shop import create_app
    from shop.errors import handle_domain_error

    app = create_app({"PAVILION_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.test_request_context("/api/v1/orders", method="POST"):
        try:
            load_adapter("bitcoin", {}, enabled={"manual", "stripe"})
        except UnknownPaymentAdapter as error:
            response = handle_domain_error(error)

    body = response.get_json()
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert body["code"] == "unknown_payment_adapter"
    assert body["errors"] == {"payment.adapter": ["Must be one of: manual, stripe."]}
    assert body["invalid_params"][0]["name"] == "payment.adapter"


@pytest.mark.usefixtures("fresh_registry")
def test_an_adapter_installed_by_another_package_is_found_and_needs_enabling(monkeypatch):
    monkeypatch.syspath_prepend(str(DUMMY_PLUGIN))

    assert "dummy" in available_adapters()
    with pytest.raises(UnknownPaymentAdapter):
        load_adapter("dummy", {}, enabled={"manual", "stripe"})

    dummy = load_adapter("dummy", {}, enabled={"manual", "dummy"})
    result = dummy.create_payment(payment_request())
    assert type(dummy).__name__ == "DummyAdapter"
    assert (result.reference, result.status) == ("dummy-1", "succeeded")


@pytest.mark.usefixtures("fresh_registry")
def test_a_broken_plugin_says_which_it_is_and_hides_no_other(monkeypatch, tmp_path):
    info = tmp_path / "broken_payment-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-payment\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pavilion.payments]\nbroken = no_such_module:Adapter\nnotanadapter = json:dumps\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    assert {"manual", "stripe"} <= set(available_adapters())
    assert "broken" not in available_adapters()
    with pytest.raises(PaymentAdapterLoadError, match=r"'broken' \(no_such_module:Adapter\)"):
        load_adapter("broken", {}, enabled={"broken"})
    with pytest.raises(PaymentAdapterLoadError, match="not a PaymentAdapter"):
        load_adapter("notanadapter", {}, enabled={"notanadapter"})


def test_the_stripe_adapter_needs_its_api_key():
    with pytest.raises(PaymentConfigurationError, match="STRIPE_API_KEY"):
        StripeAdapter({"STRIPE_API_KEY": None, "STRIPE_API_BASE": None})


# ---------------------------------------------------------------------------
# Stripe's minor units


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("18.50", "CNY", 1850),
        ("1299.00", "RUB", 129900),
        ("4500", "KZT", 450000),
        ("0.99", "USD", 99),
        ("18.500", "CNY", 1850),  # more digits, same amount
        ("500", "JPY", 500),
        ("12000", "KRW", 12000),
        ("5.120", "KWD", 5120),
        ("1000", "ISK", 100000),
    ],
)
def test_amounts_go_to_stripe_in_its_minor_units(amount, currency, minor):
    money = Money(Decimal(amount), currency)

    assert to_stripe_amount(money) == minor
    assert from_stripe_amount(minor, currency.lower()) == money


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("18.505", "CNY"),  # half a fen
        ("1.5", "JPY"),  # zero-decimal at Stripe
        ("5.124", "KWD"),  # three decimals, but the last must be 0
        ("10.50", "ISK"),  # whole krónur only
        ("0", "CNY"),
        ("-5.00", "CNY"),
    ],
)
def test_an_amount_stripe_would_round_or_refuse_is_refused_here(amount, currency):
    with pytest.raises(InvalidStripeAmount):
        to_stripe_amount(Money(Decimal(amount), currency))


def test_stripe_decimals_are_stripes_not_iso_4217():
    assert stripe_exponent("ISK") == 2  # ISO: 0
    assert stripe_exponent("UGX") == 0
    assert stripe_exponent("KZT") == 2
    assert stripe_exponent("kwd") == 3


@given(
    minor=st.integers(min_value=1, max_value=99_999_999),
    currency=st.sampled_from(["CNY", "RUB", "KZT", "USD", "JPY", "KRW", "UZS", "INR"]),
)
def test_minor_units_round_trip(minor, currency):
    assert to_stripe_amount(from_stripe_amount(minor, currency)) == minor


# ---------------------------------------------------------------------------
# Stripe webhooks


def stripe_signature(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """The ``Stripe-Signature`` header, computed the way Stripe documents it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj: dict, event_id: str = "evt_1Pavilion") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": 1796112000,
            "livemode": False,
            "api_version": "2026-10-28.endive",
            "data": {"object": obj},
        }
    ).encode()


def payment_intent(status: str = "succeeded", **fields) -> dict:
    return {
        "id": "pi_3Pavilion",
        "object": "payment_intent",
        "amount": 3700,
        "amount_received": 3700 if status == "succeeded" else 0,
        "currency": "cny",
        "status": status,
        "metadata": {"order_number": "P-20261101-0001"},
        **fields,
    }


@pytest.fixture
def stripe_adapter():
    return StripeAdapter(STRIPE_SETTINGS)


def test_a_signed_payment_intent_succeeded_becomes_a_succeeded_event(stripe_adapter):
    body = stripe_event("payment_intent.succeeded", payment_intent())

    event = stripe_adapter.parse_webhook({"Stripe-Signature": stripe_signature(body)}, body)

    assert event.id == "evt_1Pavilion"
    assert event.kind == "succeeded"
    assert event.reference == "pi_3Pavilion"
    assert event.order_number == "P-20261101-0001"
    assert event.amount == cny("37.00")
    assert event.provider_type == "payment_intent.succeeded"
    assert event.raw["data"]["object"]["id"] == "pi_3Pavilion"
    assert event.occurred_at.timestamp() == 1796112000


def test_the_signature_header_is_found_whatever_its_case(stripe_adapter):
    body = stripe_event("payment_intent.succeeded", payment_intent())

    event = stripe_adapter.parse_webhook({"stripe-signature": stripe_signature(body)}, body)

    assert event.kind == "succeeded"


def test_one_matching_signature_among_several_is_enough_while_secrets_roll(stripe_adapter):
    body = stripe_event("payment_intent.succeeded", payment_intent())
    old = stripe_signature(body, secret="whsec_old").split(",v1=")[1]

    event = stripe_adapter.parse_webhook(
        {"Stripe-Signature": f"{stripe_signature(body)},v1={old}"}, body
    )

    assert event.kind == "succeeded"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body: {}, id="no signature"),
        pytest.param(lambda body: {"Stripe-Signature": ""}, id="empty signature"),
        pytest.param(
            lambda body: {"Stripe-Signature": stripe_signature(body, secret="whsec_wrong")},
            id="another secret",
        ),
        pytest.param(
            lambda body: {"Stripe-Signature": stripe_signature(body.replace(b"3700", b"1"))},
            id="signed another body",
        ),
        pytest.param(
            lambda body: {
                "Stripe-Signature": stripe_signature(body, timestamp=int(time.time()) - 301)
            },
            id="older than five minutes",
        ),
        pytest.param(lambda body: {"Stripe-Signature": "v1=abc"}, id="no timestamp"),
        pytest.param(lambda body: {"Stripe-Signature": "garbage"}, id="garbage"),
    ],
)
def test_a_webhook_that_is_not_provably_from_stripe_is_rejected(stripe_adapter, forge):
    body = stripe_event("payment_intent.succeeded", payment_intent())

    with pytest.raises(WebhookRejected):
        stripe_adapter.parse_webhook(forge(body), body)


def test_a_replay_within_five_minutes_still_verifies(stripe_adapter):
    body = stripe_event("payment_intent.succeeded", payment_intent())
    headers = {"Stripe-Signature": stripe_signature(body, timestamp=int(time.time()) - 299)}

    assert stripe_adapter.parse_webhook(headers, body).kind == "succeeded"  # dedup is by id


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"object": "event"}',
        b"\xff\xfe",
        b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": "nothing"}',
    ],
)
def test_a_signed_body_that_is_not_an_event_is_rejected(stripe_adapter, body):
    with pytest.raises(WebhookRejected):
        stripe_adapter.parse_webhook({"Stripe-Signature": stripe_signature(body)}, body)


def test_without_a_webhook_secret_the_adapter_says_it_is_misconfigured():
    adapter = StripeAdapter({**STRIPE_SETTINGS, "STRIPE_WEBHOOK_SECRET": None})
    body = stripe_event("payment_intent.succeeded", payment_intent())

    with pytest.raises(PaymentConfigurationError, match="STRIPE_WEBHOOK_SECRET"):
        adapter.parse_webhook({"Stripe-Signature": stripe_signature(body)}, body)


@pytest.mark.parametrize(
    ("event_type", "obj", "kind", "amount"),
    [
        (
            "payment_intent.payment_failed",
            payment_intent(
                "requires_payment_method",
                last_payment_error={"code": "card_declined", "message": "Your card was declined."},
            ),
            "failed",
            "37.00",
        ),
        ("payment_intent.canceled", payment_intent("canceled"), "canceled", "37.00"),
    ],
)
def test_payment_intent_events_map_to_their_kinds(stripe_adapter, event_type, obj, kind, amount):
    body = stripe_event(event_type, obj)

    event = stripe_adapter.parse_webhook({"Stripe-Signature": stripe_signature(body)}, body)

    assert (event.kind, event.reference, event.order_number) == (
        kind,
        "pi_3Pavilion",
        "P-20261101-0001",
    )
    assert event.amount == cny(amount)


def test_charge_refunded_names_the_payment_intent_and_the_total_refunded(stripe_adapter):
    charge = {
        "id": "ch_3Pavilion",
        "object": "charge",
        "amount": 3700,
        "amount_refunded": 1200,
        "currency": "cny",
        "payment_intent": "pi_3Pavilion",
        "refunded": False,
        "metadata": {"order_number": "P-20261101-0001"},
    }
    body = stripe_event("charge.refunded", charge, event_id="evt_refund")

    event = stripe_adapter.parse_webhook({"Stripe-Signature": stripe_signature(body)}, body)

    assert event.kind == "refunded"
    assert event.reference == "pi_3Pavilion"
    assert event.amount == cny("12.00")
    assert event.order_number == "P-20261101-0001"


def test_a_verified_event_the_shop_does_not_act_on_is_none(stripe_adapter):
    body = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

    assert stripe_adapter.parse_webhook({"Stripe-Signature": stripe_signature(body)}, body) is None


# ---------------------------------------------------------------------------
# Stripe's answers -> the port's results and errors (an HTTP stand-in at the
# SDK's edge; the real wire is in the localstripe integration test)


class CannedStripeHttp(stripe.HTTPClient):
    """Answers each request with the next canned (status, body); records them."""

    name = "canned"

    def __init__(self, *answers: tuple[int, dict] | Exception):
        super().__init__()
        self.answers = list(answers)
        self.requests: list[dict] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.requests.append(
            {
                "method": method,
                "url": url,
                "headers": dict(headers or {}),
                "form": parse_qs(post_data or ""),
            }
        )
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return json.dumps(body), status, {"request-id": "req_canned"}

    def close(self):
        pass


def canned_adapter(*answers) -> tuple[StripeAdapter, CannedStripeHttp]:
    http = CannedStripeHttp(*answers)
    return StripeAdapter(STRIPE_SETTINGS, http_client=http), http


def stripe_error(kind: str, message: str, **fields) -> dict:
    return {"error": {"type": kind, "message": message, **fields}}


def test_create_payment_sends_minor_units_metadata_and_the_idempotency_key():
    created = payment_intent("requires_payment_method", client_secret="pi_3Pavilion_secret_x")
    adapter, http = canned_adapter((200, created))

    result = adapter.create_payment(payment_request(metadata={"channel": "storefront"}))

    sent = http.requests[0]
    assert sent["method"] == "post"
    assert sent["url"] == "http://127.0.0.1:9/v1/payment_intents"
    assert sent["headers"]["Idempotency-Key"] == "order-P-20261101-0001"
    assert sent["form"]["amount"] == ["3700"]
    assert sent["form"]["currency"] == ["cny"]
    assert sent["form"]["metadata[order_number]"] == ["P-20261101-0001"]
    assert sent["form"]["metadata[channel]"] == ["storefront"]
    assert "description" not in sent["form"]  # travels in metadata (see the module doc)
    assert result.status == "requires_action"
    assert result.next_action == {
        "type": "stripe_payment_intent",
        "client_secret": "pi_3Pavilion_secret_x",
        "publishable_key": "pk_test_unit",
        "payment_intent": "pi_3Pavilion",
    }
    assert result.amount == cny("37.00")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((503, stripe_error("api_error", "Service unavailable")), PaymentUnavailable),
        ((500, stripe_error("api_error", "Internal error")), PaymentUnavailable),
        ((429, stripe_error("invalid_request_error", "Too many requests")), PaymentUnavailable),
        ((401, stripe_error("invalid_request_error", "Invalid API Key")), PaymentUnavailable),
        (stripe.APIConnectionError("connection refused", should_retry=True), PaymentUnavailable),
        (
            (402, stripe_error("card_error", "Your card was declined.", code="card_declined")),
            PaymentDeclined,
        ),
        (
            (
                400,
                stripe_error("invalid_request_error", "Amount too small", code="amount_too_small"),
            ),
            PaymentRejected,
        ),
        ((400, stripe_error("idempotency_error", "Keys reused")), PaymentRejected),
    ],
)
def test_stripe_answers_become_the_ports_errors(answer, error):
    adapter, _ = canned_adapter(answer)

    with pytest.raises(error):
        adapter.create_payment(payment_request())


def test_a_declined_card_says_why_in_words_for_the_shopper():
    declined = stripe_error(
        "card_error", "Your card has insufficient funds.", code="card_declined",
        decline_code="insufficient_funds",
    )  # fmt: skip
    adapter, _ = canned_adapter((402, declined))

    with pytest.raises(PaymentDeclined) as refused:
        adapter.create_payment(payment_request(payment_method="pm_card_visa"))

    assert refused.value.message == "Your card has insufficient funds."
    assert (refused.value.code, refused.value.decline_code) == (
        "card_declined",
        "insufficient_funds",
    )


def test_a_refund_in_another_currency_is_refused_before_anything_is_refunded():
    adapter, http = canned_adapter((200, payment_intent()))

    with pytest.raises(ValueError, match="CNY"):
        adapter.refund("pi_3Pavilion", Money(Decimal("5.00"), "USD"), idempotency_key="r-1")

    assert [r["method"] for r in http.requests] == ["get"]


def test_canceling_twice_is_harmless_and_a_succeeded_payment_is_refunded_not_canceled():
    adapter, http = canned_adapter((200, payment_intent("canceled")), (200, payment_intent()))

    assert adapter.cancel("pi_3Pavilion").status == "canceled"
    with pytest.raises(PaymentRejected, match="refund"):
        adapter.cancel("pi_3Pavilion")
    assert [r["method"] for r in http.requests] == ["get", "get"]


def test_a_declined_attempt_leaves_the_payment_open_for_another_card():
    failed = payment_intent(
        "requires_payment_method",
        client_secret="pi_3Pavilion_secret_x",
        last_payment_error={"code": "card_declined", "message": "Your card was declined."},
    )
    adapter, _ = canned_adapter((200, failed))

    result = adapter.status("pi_3Pavilion")

    assert result.status == "failed"
    assert result.message == "Your card was declined."
    assert result.next_action["client_secret"] == "pi_3Pavilion_secret_x"
