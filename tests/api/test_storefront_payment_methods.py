"""The storefront's ways to pay (#18): the checkout offers the methods of the destination
in the shopper's language, with the converted amount before paying; the order page shows
a provider's step (a "Pay with …" link, or a QR code drawn here as inline SVG), and
"being confirmed" for a shopper back from the provider's page."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import select, update

from orders.models import Order, Payment
from shop.core.csrf import CSRF_FIELD
from shop.core.extensions import db
from tests.api.test_storefront_shopping import (
    CSRF,
    KZ_ADDRESS,
    add_to_cart,
    checkout_form,
    place,
    post,
    shopper,
)
from tests.checkout_world import CN_ADDRESS, RU_ADDRESS, build_world
from tests.fake_providers import EVERY_ADAPTER, FakeWeChatPay, FakeYooKassa, install_fake_providers

PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")  # fmt: skip
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131"


@pytest.fixture
def shop(app, monkeypatch):
    install_fake_providers(monkeypatch)
    app.config.update(PAYMENT_ADAPTERS=EVERY_ADAPTER, STRIPE_API_KEY="sk_test_unused")
    with app.app_context():
        app.config["WORLD"] = build_world()
    return app


def radios(page):
    return re.findall(r'name="payment_adapter" id="payment_adapter-(\w+)"', page)


def label(page, adapter):
    found = re.search(rf'data-testid="payment-label-{adapter}">([^<]*)<', page)
    return html_lib.unescape(found.group(1)) if found else None


@pytest.mark.parametrize(
    ("lang", "country", "expected"),
    [
        ("ru", "RU", {"yookassa": "ЮKassa: банковская карта (Мир) или СБП",
                      "manual": "Банковский перевод на счёт магазина"}),
        ("en", "RU", {"yookassa": "YooKassa: bank card (Mir) or SBP",
                      "manual": "Bank transfer to the shop's bank account"}),
        ("zh", "CN", {"alipay": "支付宝 Alipay", "wechatpay": "微信支付 WeChat Pay",
                      "manual": "银行转账至本店账户"}),
        ("en", "CN", {"alipay": "Alipay", "wechatpay": "WeChat Pay",
                      "manual": "Bank transfer to the shop's bank account"}),
        ("ru", "KZ", {"stripe": "Банковская карта (Stripe)",
                      "manual": "Банковский перевод на счёт магазина"}),
        ("zh", "KZ", {"stripe": "银行卡（Stripe）", "manual": "银行转账至本店账户"}),
    ],
)  # fmt: skip
def test_the_checkout_offers_the_destinations_ways_to_pay_in_the_shoppers_language(
    shop, lang, country, expected
):
    client = shopper(shop, lang)
    add_to_cart(client)
    page = client.get(f"/checkout?country={country}").get_data(as_text=True)
    assert radios(page) == list(expected)
    assert {adapter: label(page, adapter) for adapter in expected} == expected
    assert "cash on delivery" not in page.lower()
    assert "наличн" not in page
    assert "货到付款" not in page
    # The first is chosen until the shopper picks another.
    assert re.search(rf'id="payment_adapter-{next(iter(expected))}"[^>]*checked', page)


def test_a_provider_in_another_currency_shows_the_amount_and_rate_before_paying(shop):
    client = shopper(shop, "ru")
    client.set_cookie("pv_currency", "CNY")
    add_to_cart(client)
    page = client.get("/checkout?country=RU").get_data(as_text=True)
    note = re.search(r'data-testid="conversion-yookassa">([^<]*)<', page).group(1)
    note = html_lib.unescape(note)
    shape = r"≈ [\d\s\u00a0]+,\d\d\s?₽ по курсу 1 CNY = \d+,\d{4} RUB, курсы на "
    assert re.match(shape, note), note
    assert 'data-testid="conversion-manual"' not in page  # the bank transfer is in CNY
    assert "yookassa-conversion" in re.search(r'id="payment_adapter-yookassa"[^>]*>', page).group(0)


def test_the_summary_brings_the_ways_to_pay_of_the_new_destination(shop):
    client = shopper(shop)
    add_to_cart(client)
    summary = client.get("/checkout/summary?country=CN&payment_adapter=wechatpay")
    page = summary.get_data(as_text=True)
    assert 'id="checkout-summary"' in page
    assert radios(page) == ["alipay", "wechatpay", "manual"]
    assert re.search(r'id="payment_adapter-wechatpay"[^>]*checked', page)


def test_placing_an_order_with_a_way_to_pay_not_offered_there_is_refused_at_the_field(shop):
    client = shopper(shop)
    add_to_cart(client)
    response = post(client, "/checkout", **checkout_form(RU_ADDRESS, payment_adapter="stripe"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="payment_adapter-error"' in page
    assert radios(page) == ["yookassa", "manual"]
    with shop.app_context():
        assert db.session.scalar(select(Order.id)) is None


def test_a_redirect_payment_shows_a_pay_with_button_to_the_providers_page(shop):
    client = shopper(shop, "ru")
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS, payment_adapter="yookassa")
    (request,) = FakeYooKassa.requests
    assert request.device == "desktop"
    assert request.locale == "ru"
    page = client.get(f"/orders/{number}").get_data(as_text=True)
    link = re.search(r'<a [^>]*id="pay-with-provider"[^>]*>([^<]*)</a>', page)
    assert link, page
    assert 'href="https://pay.example.test/yookassa/' in link.group(0)
    assert "через ЮKassa" in html_lib.unescape(link.group(1))
    assert "data-state-url" not in page  # nothing to wait for before the shopper pays


def test_a_shopper_back_from_the_provider_sees_the_payment_being_confirmed(shop):
    client = shopper(shop)
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS, payment_adapter="yookassa")
    (request,) = FakeYooKassa.requests
    back = shopper(shop)  # the provider's page sends the shopper back with the token link
    landed = back.get(request.return_url.replace("http://localhost", ""))
    assert landed.status_code == 303
    assert landed.headers["Location"] == f"/orders/{number}?returned=1"
    page = back.get(landed.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="payment-confirming"' in page
    assert "being confirmed" in page
    assert f'data-state-url="/orders/{number}/state"' in page
    assert "storefront/checkout.js" in page
    state = back.get(f"/orders/{number}/state").get_json()
    assert state == {"state": "pending_payment:requires_action"}
    # Paid meanwhile (the provider's notification): the page says so on its next load.
    with shop.app_context():
        db.session.execute(update(Order).values(status="paid", payment_status="succeeded"))
        db.session.commit()
    assert back.get(f"/orders/{number}/state").get_json() == {"state": "paid:succeeded"}
    page = back.get(f"/orders/{number}?returned=1").get_data(as_text=True)
    assert 'data-status="paid"' in page
    assert "payment-confirming" not in page
    assert shopper(shop).get(f"/orders/{number}/state").status_code == 404


@pytest.mark.parametrize(
    ("lang", "scan", "amount"),
    [("zh", "请用微信扫一扫", "金额"), ("ru", "Отсканируйте в WeChat", "Сумма"),
     ("en", "Scan with WeChat", "Amount")],
)  # fmt: skip
def test_a_qr_payment_is_drawn_here_as_inline_svg_with_the_amount(shop, lang, scan, amount):
    client = shopper(shop, lang)
    add_to_cart(client)
    form = checkout_form(CN_ADDRESS, payment_adapter="wechatpay", checkout_key=f"qr-{lang}")
    response = client.post("/checkout", data={CSRF_FIELD: CSRF, **form},
                           headers={"User-Agent": DESKTOP})  # fmt: skip
    assert response.status_code == 303, response.get_data(as_text=True)
    number = response.headers["Location"].rsplit("/", 1)[1]
    (request,) = FakeWeChatPay.requests
    page = client.get(f"/orders/{number}").get_data(as_text=True)
    figure = re.search(r'<figure class="qr-payment".*?</figure>', page, re.S).group(0)
    assert re.search(r'<svg role="img" aria-label="[^"]+"', figure)
    assert "<path" in figure
    assert "<img" not in figure
    assert scan in figure
    assert amount in figure
    assert 'data-testid="qr-amount"' in figure
    assert "weixin://" not in page.replace("weixin://wxpay", "")  # no link, only the drawing
    assert f'data-state-url="/orders/{number}/state"' in page
    assert request.amount.currency == "CNY"


def test_a_phone_gets_the_mobile_payment_page_instead_of_a_qr_code(shop):
    client = shopper(shop)
    add_to_cart(client)
    form = checkout_form(CN_ADDRESS, payment_adapter="wechatpay")
    response = client.post("/checkout", data={CSRF_FIELD: CSRF, **form},
                           headers={"User-Agent": PHONE})  # fmt: skip
    assert response.status_code == 303, response.get_data(as_text=True)
    (request,) = FakeWeChatPay.requests
    assert request.device == "mobile"
    number = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/orders/{number}").get_data(as_text=True)
    assert 'id="pay-with-provider"' in page
    assert 'data-testid="qr-payment"' not in page


def test_a_provider_link_that_is_not_http_is_never_shown(shop):
    client = shopper(shop)
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS, payment_adapter="yookassa")
    with shop.app_context():
        db.session.execute(
            update(Payment).values(
                next_action={
                    "type": "redirect",
                    "url": "javascript:alert(1)",
                    "provider": "yookassa",
                }
            )
        )
        db.session.commit()  # fmt: skip
    page = client.get(f"/orders/{number}").get_data(as_text=True)
    assert "javascript:alert" not in page
    assert 'id="pay-with-provider"' not in page


def test_kazakhstan_is_offered_card_and_bank_transfer(shop):
    client = shopper(shop)
    add_to_cart(client)
    number, _ = place(client, KZ_ADDRESS, payment_adapter="manual")
    assert number


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [(PHONE, "mobile"), (DESKTOP, "desktop"), (None, "desktop"),
     ("Mozilla/5.0 (Linux; Android 14) Chrome/131 Mobile Safari/537.36", "mobile"),
     ("Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.50", "mobile")],
)  # fmt: skip
def test_the_device_is_told_from_the_user_agent(user_agent, device):
    from shop.storefront.order_wording import device_of

    assert device_of(user_agent) == device
