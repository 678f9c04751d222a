"""Ways to pay through the API (#18): the quote lists the methods offered for the
destination, checkout refuses one that is not, a one-currency provider is paid the
converted total, and checkout hands it the full request (lines, return and
notification addresses, device, language, phone)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from catalog.money import Money
from orders.models import Order, OrderEvent, Payment, Refund
from orders.payment_amounts import provider_amount, stored_rate_table
from orders.payments.base import PaymentEvent
from orders.schemas import CartOutSchema, OrderOutSchema
from orders.services import apply_payment_event
from shop.core.extensions import db
from tests.checkout_world import CN_ADDRESS, IDENTITY, RU_ADDRESS, build_world, order_body
from tests.fake_providers import (
    EVERY_ADAPTER,
    FakeAlipay,
    FakeWeChatPay,
    FakeYooKassa,
    install_fake_providers,
)

KZ_ADDRESS = {**RU_ADDRESS, "country": "KZ", "region": "Almaty", "city": "Almaty",
              "postal_code": "050000"}  # fmt: skip


@pytest.fixture
def shop(app, monkeypatch):
    install_fake_providers(monkeypatch)
    app.config.update(PAYMENT_ADAPTERS=EVERY_ADAPTER, STRIPE_API_KEY="sk_test_unused",
                      PUBLIC_URL="https://shop.example.test")  # fmt: skip
    with app.app_context():
        build_world()
    return app


def quoted_methods(app, destination, currency, sku="ALENKA-100"):
    client = app.test_client()
    made = client.post(
        "/api/v1/carts", json={"currency": currency, "lines": [{"sku": sku, "quantity": 1}]}
    )
    cart = made.get_json()
    answer = client.get(f"/api/v1/carts/{cart['id']}?destination={destination}",
                        headers={"X-Cart-Token": cart["token"]})  # fmt: skip
    assert answer.status_code == 200
    document = answer.get_json()
    CartOutSchema().load(document)
    assert document["quote"]["deliverable"], document["quote"]
    return document["quote"]["payment_methods"], document["quote"]


@pytest.mark.parametrize(
    ("destination", "currency", "expected"),
    [
        ("RU", "RUB", ["yookassa", "manual"]),
        ("CN", "CNY", ["alipay", "wechatpay", "manual"]),
        ("KZ", "KZT", ["stripe", "manual"]),
    ],
)
def test_the_quote_lists_the_ways_to_pay_offered_for_the_destination(
    shop, destination, currency, expected
):
    methods, _ = quoted_methods(shop, destination, currency)
    assert [m["adapter"] for m in methods] == expected
    assert all(m["label"].startswith("payment_method.") for m in methods)
    assert all("rate" not in m for m in methods if m["currency"] == currency)


def test_a_provider_in_another_currency_shows_the_converted_amount_and_the_rate(shop):
    methods, quote = quoted_methods(shop, "RU", "CNY")
    yookassa = next(m for m in methods if m["adapter"] == "yookassa")
    manual = next(m for m in methods if m["adapter"] == "manual")
    assert yookassa["currency"] == "RUB"
    assert manual == {"adapter": "manual", "label": "payment_method.bank_transfer",
                      "currency": "CNY"}  # fmt: skip
    total = Money(Decimal(quote["totals"]["grand_total"]["amount"]), "CNY")
    expected = provider_amount(total, "RUB", stored_rate_table(quote["exchange_rates"]))
    assert yookassa["amount"] == expected.amount.as_json()
    assert yookassa["rate"]["from"] == "CNY"
    assert yookassa["rate"]["to"] == "RUB"
    assert Decimal(yookassa["rate"]["rate"]) == expected.shown_rate
    assert yookassa["rate"]["rates_of"]


def test_the_operator_allowlist_narrows_what_is_offered(shop):
    shop.config["PAYMENT_ADAPTERS"] = ("manual", "alipay")
    methods, _ = quoted_methods(shop, "CN", "CNY")
    assert [m["adapter"] for m in methods] == ["alipay", "manual"]


@pytest.mark.parametrize(
    ("address", "adapter"), [(RU_ADDRESS, "stripe"), (CN_ADDRESS, "yookassa"),
                             (KZ_ADDRESS, "alipay")],
)  # fmt: skip
def test_checkout_refuses_a_way_to_pay_not_offered_there(shop, address, adapter):
    extra = {"customs_identity": dict(IDENTITY)} if address is CN_ADDRESS else {}
    body = order_body("ALENKA-100", 1, address=address, currency="CNY",
                      payment={"adapter": adapter}, **extra)  # fmt: skip
    answer = shop.test_client().post("/api/v1/orders", json=body)
    assert answer.status_code == 422, answer.get_json()
    assert answer.content_type == "application/problem+json"
    problem = answer.get_json()
    assert problem["code"] == "payment_method_not_offered"
    assert "payment.adapter" in problem["errors"]
    with shop.app_context():
        assert db.session.scalar(select(Order.id)) is None  # nothing written


def test_an_unknown_device_is_refused(shop):
    body = order_body("ALENKA-100", 1, currency="CNY",
                      payment={"adapter": "yookassa", "device": "tv"})  # fmt: skip
    answer = shop.test_client().post("/api/v1/orders", json=body)
    assert answer.status_code == 422
    assert "payment" in answer.get_json()["errors"]


def place_cny_order_to_russia(shop, **payment):
    body = order_body("ALENKA-100", 2, currency="CNY",
                      payment={"adapter": "yookassa", **payment})  # fmt: skip
    answer = shop.test_client().post("/api/v1/orders", json=body,
                                     headers={"Accept-Language": "ru"})  # fmt: skip
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_a_cny_order_paid_through_a_rub_only_provider_gets_a_rub_payment(shop):
    placed = place_cny_order_to_russia(shop)
    OrderOutSchema().load(placed)
    grand = Money(Decimal(placed["totals"]["grand_total"]["amount"]), "CNY")
    expected = provider_amount(grand, "RUB", stored_rate_table(placed["exchange_rates"]))
    with shop.app_context():
        payment = db.session.scalar(select(Payment))
        assert (payment.currency, Decimal(payment.amount)) == ("RUB", expected.amount.amount)
        assert Decimal(payment.order_amount) == grand.amount
    assert placed["payment"]["amount"] == expected.amount.as_json()
    assert placed["payment"]["order_amount"] == grand.as_json()
    assert placed["payment"]["rate"]["to"] == "RUB"
    assert placed["payment"]["next_action"]["type"] == "redirect"
    (request,) = FakeYooKassa.requests
    assert request.amount == expected.amount
    assert request.order_amount == grand


def test_checkout_passes_lines_addresses_device_language_and_phone(shop):
    placed = place_cny_order_to_russia(shop, device="mobile")
    (request,) = FakeYooKassa.requests
    number, token = placed["number"], placed["token"]
    assert request.return_url == (
        f"https://shop.example.test/orders/{number}?token={token}&returned=1"
    )
    assert request.notify_url == "https://shop.example.test/api/v1/payments/yookassa/webhook"
    assert request.device == "mobile"
    assert request.locale == "ru"
    assert request.phone == RU_ADDRESS["phone"]
    assert request.client_ip == "127.0.0.1"
    assert sum(line.total.amount for line in request.lines) == request.amount.amount
    kinds = [line.kind for line in request.lines]
    assert kinds.count("shipping") == 1
    assert kinds.count("duty") == (1 if Decimal(placed["totals"]["duties"]["amount"]) > 0 else 0)
    goods = [line for line in request.lines if line.kind == "goods"]
    assert sum(line.quantity for line in goods) == 2
    assert {line.sku for line in goods} == {"ALENKA-100"}
    assert {line.category for line in goods} == {"confectionery"}
    assert all(line.unit_price.currency == "RUB" for line in request.lines)


def test_without_public_url_the_links_use_the_requests_host(shop):
    shop.config["PUBLIC_URL"] = None
    placed = place_cny_order_to_russia(shop)
    (request,) = FakeYooKassa.requests
    assert request.return_url.startswith(f"http://localhost/orders/{placed['number']}?token=")


def test_a_converted_payment_pays_the_order_in_full_and_refunds_at_the_same_rate(shop):
    placed = place_cny_order_to_russia(shop)
    with shop.app_context():
        payment = db.session.scalar(select(Payment))
        paid_rub = Money(Decimal(payment.amount), "RUB")
        outcome = apply_payment_event("yookassa", PaymentEvent(
            id="evt-1", kind="succeeded", reference=payment.reference,
            order_number=placed["number"], amount=paid_rub, provider_type="payment.succeeded",
            raw={}))  # fmt: skip
        assert outcome == "paid"
        order = db.session.scalar(select(Order))
        assert order.status == "paid"
        assert Decimal(order.paid_amount) == Decimal(order.grand_total)
    answer = shop.test_client().post(f"/api/v1/orders/{placed['number']}/cancel",
                                     json={"reason": "changed my mind"},
                                     headers={"X-Order-Token": placed["token"]})  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    with shop.app_context():
        refund = db.session.scalar(select(Refund))
        assert (refund.currency, Decimal(refund.amount)) == ("RUB", paid_rub.amount)
        event = db.session.scalar(select(OrderEvent).where(OrderEvent.kind == "refund"))
        assert event.data["order_amount"] == {"amount": placed["totals"]["grand_total"]["amount"],
                                              "currency": "CNY"}  # fmt: skip


def test_a_chinese_order_in_rubles_is_paid_in_yuan_through_wechat_pay(shop):
    body = order_body("ALENKA-100", 1, address=CN_ADDRESS, currency="RUB",
                      customs_identity=dict(IDENTITY),
                      payment={"adapter": "wechatpay"})  # fmt: skip
    answer = shop.test_client().post("/api/v1/orders", json=body)
    assert answer.status_code == 201, answer.get_json()
    placed = answer.get_json()
    (request,) = FakeWeChatPay.requests
    assert request.amount.currency == "CNY"
    assert request.locale == "en"
    assert placed["payment"]["next_action"]["type"] == "qr_code"
    assert not FakeAlipay.requests


def test_retrying_a_payment_makes_the_same_request(shop):
    placed = place_cny_order_to_russia(shop)
    with shop.app_context():
        payment = db.session.scalar(select(Payment))
        payment.status = "failed"
        db.session.commit()
    answer = shop.test_client().post(f"/api/v1/orders/{placed['number']}/pay",
                                     headers={"X-Order-Token": placed["token"]})  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    first, again = FakeYooKassa.requests
    assert again.amount == first.amount
    assert again.order_amount == first.order_amount
    assert sum(line.total.amount for line in again.lines) == again.amount.amount
    assert again.return_url == f"https://shop.example.test/orders/{placed['number']}?returned=1"
    assert again.notify_url == first.notify_url
    with shop.app_context():
        latest = db.session.scalars(select(Payment).order_by(Payment.id.desc())).first()
        assert (latest.currency, Decimal(latest.amount)) == ("RUB", first.amount.amount)
