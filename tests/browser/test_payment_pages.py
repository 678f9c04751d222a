"""The WeChat Pay order page in Chromium (#18): the QR code is drawn by the shop (inline
SVG, nothing fetched from another host), the page passes axe-core's WCAG 2.1 A/AA rules
in zh and ru, and it turns to "paid" by itself when the notification arrives.

The real WeChat Pay adapter is written elsewhere; a stand-in answering with its Native
(QR) shape is installed for this module (tests/fake_providers.py)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import DESKTOP
from tests.browser.storefront import (
    CHINESE_ADDRESS,
    ORDER_PAGE,
    VALID_ID,
    add_to_cart,
    fill_checkout,
    go_to_cart,
    go_to_checkout,
    open_product,
    place_order,
    settle_in,
)
from tests.browser.test_accessibility import axe_source, describe, serious_violations
from tests.fake_providers import EVERY_ADAPTER, FakeWeChatPay, install_fake_providers

pytestmark = pytest.mark.browser
__all__ = ["axe_source"]  # the module-scoped fixture, used here too

PRODUCTS = {"zh": "阿尔泰山百花蜂蜜", "ru": "Мёд алтайский горный, разнотравье"}


@pytest.fixture(scope="module")
def with_wechat_pay(pavilion):
    patch = pytest.MonkeyPatch()
    install_fake_providers(patch)
    before = pavilion.app.config["PAYMENT_ADAPTERS"]
    pavilion.app.config["PAYMENT_ADAPTERS"] = EVERY_ADAPTER
    yield pavilion
    pavilion.app.config["PAYMENT_ADAPTERS"] = before
    patch.undo()


def pay_the_order(pavilion, number: str) -> None:
    """What WeChat Pay's verified notification does (the adapter's parse_webhook is the
    other engineer's): the order service applies a succeeded event."""
    from catalog.money import Money
    from orders.models import Payment
    from orders.payments.base import PaymentEvent
    from orders.services import apply_payment_event
    from shop.core.extensions import db

    with pavilion.app.app_context():
        payment = db.session.scalars(select(Payment).order_by(Payment.id.desc())).first()
        event = PaymentEvent(
            id=f"wx-{number}", kind="succeeded", reference=payment.reference,
            order_number=number, amount=Money(Decimal(payment.amount), payment.currency),
            provider_type="TRANSACTION.SUCCESS", raw={},
        )  # fmt: skip
        assert apply_payment_event("wechatpay", event) == "paid"


@pytest.mark.parametrize("lang", ["zh", "ru"])
def test_the_qr_order_page_is_drawn_here_passes_axe_and_turns_paid(
    with_wechat_pay, open_shopper, axe_source, lang
):
    shopper = open_shopper(DESKTOP, bypass_csp=True)
    page = shopper.page
    shopper.goto("/")
    settle_in(page, lang, "CNY", "CN")
    shopper.goto("/c/honey")
    open_product(page, PRODUCTS[lang])
    add_to_cart(page)
    go_to_cart(page)
    go_to_checkout(page)
    fill_checkout(page, CHINESE_ADDRESS, ("张三", VALID_ID))
    expect(page.locator("#payment_adapter-wechatpay")).to_be_visible()
    page.locator("#payment_adapter-wechatpay").check()
    place_order(page)
    expect(page).to_have_url(ORDER_PAGE)

    qr = page.locator("[data-testid=qr-payment] svg[role=img]")
    expect(qr).to_be_visible()
    assert qr.get_attribute("aria-label")
    assert FakeWeChatPay.requests[-1].device == "desktop"
    shopper.shot("qr-order-page")
    violations = serious_violations(page, axe_source)
    assert not violations, describe({"qr order page": violations})
    assert shopper.foreign_requests() == []

    number = re.search(r"/orders/([^/?#]+)", page.url).group(1)
    pay_the_order(with_wechat_pay, number)
    # The page asks for the order's state every few seconds and reloads when it changes.
    expect(page.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "paid", timeout=30_000
    )
    expect(page.locator("[data-testid=qr-payment]")).to_have_count(0)
    shopper.shot("qr-order-paid")
    assert not shopper.script_errors
