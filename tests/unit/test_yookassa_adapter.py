"""The YooKassa adapter through the official SDK's HTTP client against the loopback fake
(tests/fake_yookassa.py), and the receipt rules as plain data."""

from __future__ import annotations

import json
from decimal import Decimal
from ipaddress import ip_address

import pytest
from yookassa.domain.exceptions import BadRequestError

from catalog.money import Money
from orders.payments.base import (
    PaymentConfigurationError,
    PaymentLine,
    PaymentRejected,
    PaymentRequest,
    PaymentUnavailable,
    WebhookRejected,
)
from orders.payments.yookassa_adapter import DOCUMENTED_NETWORKS, YooKassaAdapter
from orders.payments.yookassa_receipts import (
    RULES_PATH,
    items_total,
    receipt_items,
    refund_items,
)
from tests import fake_yookassa as fake_yookassa_module

fake_yookassa = fake_yookassa_module.fake_yookassa

CATEGORIES = (
    "confectionery",
    "honey",
    "grain-oil",
    "dairy",
    "seafood",
    "meat-sausage",
    "tea-coffee",
    "nuts-dried-fruit",
    "beverages",
    "beauty",
    "crafts",
)


def rub(value: str) -> Money:
    return Money(Decimal(value), "RUB")


def request(**extra) -> PaymentRequest:
    lines = (
        PaymentLine("Alenka 100 g", 2, rub("125.00"), category="confectionery", sku="A-1"),
        PaymentLine("Buckwheat 1 kg", 1, rub("99.90"), category="grain-oil", sku="G-1"),
        PaymentLine("Delivery", 1, rub("300.00"), kind="shipping"),
    )
    values = {
        "order_number": "PV-1001",
        "amount": rub("649.90"),
        "email": "buyer@example.com",
        "idempotency_key": "order-PV-1001",
        "lines": lines,
        "return_url": "https://shop.example/orders/PV-1001",
        "phone": "+7 900 000 00 00",
    }
    values.update(extra)
    return PaymentRequest(**values)


# ------------------------------------------------------------------ receipts as data


def test_every_catalog_category_has_a_vat_code_with_a_reason_and_source():
    raw = json.loads(RULES_PATH.read_text(encoding="utf-8"))
    assert set(raw["vat_codes"]) == set(CATEGORIES)
    for row in raw["vat_codes"].values():
        assert row["vat_code"] in range(1, 13)
        assert row["reason"]
        assert row["source"] in raw["sources"]
    assert raw["updated_on"]


def test_receipt_items_take_vat_from_the_category_and_subject_from_the_kind():
    items = receipt_items(request().lines, rub("649.90"), fallback_name="x")
    by_name = {i["description"]: i for i in items}
    assert by_name["Alenka 100 g"]["vat_code"] == 11  # standard rate since 2026
    assert by_name["Buckwheat 1 kg"]["vat_code"] == 3  # 10%: grain
    assert by_name["Delivery"]["payment_subject"] == "service"
    assert by_name["Alenka 100 g"]["payment_subject"] == "commodity"
    assert {i["payment_mode"] for i in items} == {"full_prepayment"}
    assert by_name["Alenka 100 g"]["amount"] == {"value": "125.00", "currency": "RUB"}
    assert items_total(items) == Decimal("649.90")


def test_a_converted_price_in_fractions_of_a_kopeck_still_adds_up_exactly():
    lines = (
        PaymentLine("Honey", 3, rub("33.3333"), category="honey"),
        PaymentLine("Tea", 1, rub("10.00"), category="tea-coffee"),
    )
    items = receipt_items(lines, rub("110.00"), fallback_name="x")
    assert items_total(items) == Decimal("110.00")
    assert all(Decimal(i["amount"]["value"]).as_tuple().exponent == -2 for i in items)


def test_without_lines_one_item_covers_the_amount_at_the_standard_rate():
    items = receipt_items((), rub("250.00"), fallback_name="Order PV-1")
    assert items == [
        {
            "description": "Order PV-1",
            "quantity": 1,
            "amount": {"value": "250.00", "currency": "RUB"},
            "vat_code": 11,
            "payment_subject": "commodity",
            "payment_mode": "full_prepayment",
        }
    ]


def test_a_partial_refund_receipt_covers_whole_units_then_part_of_one():
    paid = receipt_items(request().lines, rub("649.90"), fallback_name="x")
    items = refund_items(paid, rub("200.00"))
    assert items_total(items) == Decimal("200.00")
    assert items[0]["quantity"] == 1
    assert items[0]["amount"]["value"] == "125.00"
    assert items[1]["amount"]["value"] == "75.00"
    assert items[1]["vat_code"] == 11


# ------------------------------------------------------------------ through the SDK


def test_creating_a_payment_sends_a_two_stage_payment_with_its_receipt(fake_yookassa):
    adapter = YooKassaAdapter(fake_yookassa.settings())
    result = adapter.create_payment(request())
    assert result.status == "requires_action"
    assert result.next_action["type"] == "redirect"
    assert result.next_action["provider"] == "yookassa"
    assert result.next_action["url"].startswith("https://yoomoney.ru/checkout/")
    assert result.amount == rub("649.90")
    method, path, body = fake_yookassa.requests[-1]
    assert (method, path) == ("POST", "/payments")
    assert body["capture"] is False
    assert body["amount"] == {"value": "649.90", "currency": "RUB"}
    assert body["metadata"]["order_number"] == "PV-1001"
    assert body["receipt"]["customer"] == {"email": "buyer@example.com", "phone": "79000000000"}
    assert body["confirmation"]["return_url"] == "https://shop.example/orders/PV-1001"
    # The same idempotency key answers the same payment.
    assert adapter.create_payment(request()).reference == result.reference


def test_the_same_key_with_another_body_is_refused(fake_yookassa):
    adapter = YooKassaAdapter(fake_yookassa.settings())
    adapter.create_payment(request())
    with pytest.raises(PaymentRejected):
        adapter.create_payment(request(description="another text"))


def test_a_receipt_that_does_not_add_up_is_refused_by_yookassa(fake_yookassa):
    adapter = YooKassaAdapter(fake_yookassa.settings())
    with pytest.raises(ValueError, match="add up"):  # the adapter will not send it
        adapter.create_payment(request(amount=rub("700.00")))
    items = receipt_items(request().lines, rub("649.90"), fallback_name="x")
    raw = adapter.client.request
    with pytest.raises(BadRequestError) as refused:
        raw(
            "POST",
            "/payments",
            None,
            {"Idempotence-Key": "k-1"},
            {
                "amount": {"value": "650.00", "currency": "RUB"},
                "capture": False,
                "confirmation": {"type": "redirect", "return_url": "https://x"},
                "receipt": {"customer": {"email": "a@b.c"}, "items": items},
            },
        )
    assert "receipt" in str(refused.value.content)


def test_other_currencies_never_reach_yookassa(fake_yookassa):
    adapter = YooKassaAdapter(fake_yookassa.settings())
    with pytest.raises(ValueError, match="RUB"):
        adapter.create_payment(request(amount=Money(Decimal("10.00"), "CNY"), lines=()))
    assert fake_yookassa.requests == []


def test_wrong_credentials_and_no_service_are_outages_not_refusals(fake_yookassa):
    wrong = YooKassaAdapter(fake_yookassa.settings(YOOKASSA_SECRET_KEY="test_wrong"))
    with pytest.raises(PaymentUnavailable):
        wrong.create_payment(request())
    closed = YooKassaAdapter(fake_yookassa.settings(YOOKASSA_API_BASE="http://127.0.0.1:9/v3"))
    with pytest.raises(PaymentUnavailable):
        closed.status("abc-1")


def test_a_create_slower_than_the_timeout_is_an_outage(fake_yookassa):
    adapter = YooKassaAdapter(fake_yookassa.settings(YOOKASSA_TIMEOUT_SECONDS=0.5))
    fake_yookassa.slow_create(1.5)
    with pytest.raises(PaymentUnavailable):
        adapter.create_payment(request())
    assert len(fake_yookassa.state.payments) == 1  # made at YooKassa, the answer lost


def test_two_adapters_with_different_shops_do_not_share_credentials(fake_yookassa):
    good = YooKassaAdapter(fake_yookassa.settings())
    bad = YooKassaAdapter(fake_yookassa.settings(YOOKASSA_SHOP_ID="1"))
    with pytest.raises(PaymentUnavailable):
        bad.create_payment(request())
    assert good.create_payment(request()).status == "requires_action"


def test_hold_capture_and_partial_refund(fake_yookassa):
    fake_yookassa.auto_notify = False
    adapter = YooKassaAdapter(fake_yookassa.settings())
    reference = adapter.create_payment(request()).reference
    with pytest.raises(PaymentRejected):  # not held yet
        adapter.capture(reference)
    fake_yookassa.pay(reference)
    held = adapter.status(reference)
    assert (held.status, held.provider_status) == ("pending", "waiting_for_capture")
    captured = adapter.capture(reference)
    assert captured.status == "succeeded"
    assert adapter.capture(reference).status == "succeeded"  # twice is harmless
    refund = adapter.refund(reference, rub("200.00"), idempotency_key="refund-1")
    assert refund.status == "succeeded"
    assert refund.amount == rub("200.00")
    again = adapter.refund(reference, rub("200.00"), idempotency_key="refund-1")
    assert again.reference == refund.reference
    receipts = [r for r in fake_yookassa.state.receipts if r["type"] == "refund"]
    assert len(receipts) == 1
    assert items_total(receipts[0]["items"]) == Decimal("200.00")
    with pytest.raises(PaymentRejected):  # more than is left
        adapter.refund(reference, rub("500.00"), idempotency_key="refund-2")


def test_cancel_releases_a_hold_and_a_decline_carries_its_reason(fake_yookassa):
    fake_yookassa.auto_notify = False
    adapter = YooKassaAdapter(fake_yookassa.settings())
    held = adapter.create_payment(request()).reference
    fake_yookassa.pay(held)
    assert adapter.cancel(held).status == "canceled"
    assert adapter.cancel(held).status == "canceled"
    declined = adapter.create_payment(request(idempotency_key="order-PV-1001-2")).reference
    fake_yookassa.decline(declined, "card_expired")
    result = adapter.status(declined)
    assert (result.status, result.message) == ("canceled", "card_expired")


def notification(event: str, obj: dict) -> bytes:
    return json.dumps({"type": "notification", "event": event, "object": obj}).encode()


def test_a_notification_becomes_the_event_the_api_confirms(fake_yookassa):
    fake_yookassa.auto_notify = False
    adapter = YooKassaAdapter(fake_yookassa.settings())
    reference = adapter.create_payment(request()).reference
    fake_yookassa.pay(reference)
    claim = notification("payment.waiting_for_capture", {"id": reference})
    event = adapter.parse_webhook({}, claim)
    assert (event.kind, event.id, event.order_number) == (
        "authorized",
        f"{reference}:waiting_for_capture",
        "PV-1001",
    )
    adapter.capture(reference)
    # A late waiting_for_capture after the capture reads as the succeeded it is now.
    assert adapter.parse_webhook({}, claim).id == f"{reference}:succeeded"


def test_a_forged_or_unreadable_notification_is_refused(fake_yookassa):
    adapter = YooKassaAdapter(fake_yookassa.settings())
    reference = adapter.create_payment(request()).reference
    forged = notification("payment.succeeded", {"id": reference, "status": "succeeded"})
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, forged)
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, notification("payment.succeeded", {"id": "no-such-1"}))
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, b"{not json")


def test_senders_are_the_documented_networks_unless_set():
    adapter = YooKassaAdapter({"YOOKASSA_SHOP_ID": "1", "YOOKASSA_SECRET_KEY": "k"})
    assert len(adapter.trusted_senders()) == len(DOCUMENTED_NETWORKS)
    assert any(ip_address("185.71.76.10") in n for n in adapter.trusted_senders())
    assert not any(ip_address("8.8.8.8") in n for n in adapter.trusted_senders())
    mine = YooKassaAdapter(
        {
            "YOOKASSA_SHOP_ID": "1",
            "YOOKASSA_SECRET_KEY": "k",
            "YOOKASSA_NOTIFICATION_NETWORKS": '["10.0.0.0/8"]',
        }
    )
    assert [str(n) for n in mine.trusted_senders()] == ["10.0.0.0/8"]


def test_missing_credentials_are_a_configuration_error():
    with pytest.raises(PaymentConfigurationError):
        YooKassaAdapter({"YOOKASSA_SHOP_ID": "1"})
