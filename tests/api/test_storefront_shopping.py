"""The storefront's cart, checkout and order pages through the Flask test client: the
same services as the JSON API, seen as a shopper sees them (forms, cookies, HTML)."""

from __future__ import annotations

import re
from decimal import Decimal
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import func, select, update

from orders.models import Order, Payment
from shop.core.csrf import CSRF_FIELD
from shop.core.extensions import db
from tests import localstripe_server
from tests.checkout_world import CN_ADDRESS, RU_ADDRESS, VALID_ID, build_world
from warehouse.models import StockLevel

CSRF = "test-csrf-token"
ORDER_PAGE = re.compile(r"^/orders/(SCO-[0-9A-Z]{4}-[0-9A-Z]{4})$")


@pytest.fixture
def shop(app):
    with app.app_context():
        world = build_world()
    app.config["WORLD"] = world
    return app


def shopper(app, lang="en"):
    """A browser: a client whose session holds a known CSRF token, reading ``lang``."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_csrf"] = CSRF
    client.set_cookie("pv_lang", lang)
    return client


def post(client, path, **fields):
    return client.post(path, data={CSRF_FIELD: CSRF, **fields})


def add_to_cart(client, sku="ALENKA-100", quantity=2):
    response = post(client, "/cart/add", sku=sku, quantity=str(quantity))
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


KZ_ADDRESS = {**RU_ADDRESS, "country": "KZ", "region": "Almaty", "city": "Almaty",
              "postal_code": "050000"}  # fmt: skip


def checkout_form(address, **extra):
    """The checkout form as a shopper fills it in."""
    fields = {
        "email": "buyer@example.com",
        "recipient": address["recipient"],
        "phone": address["phone"],
        "country": address["country"],
        "region": address["region"],
        "city": address["city"],
        "postal_code": address["postal_code"],
        "line1": address["line1"],
        "payment_adapter": "manual",
        "checkout_key": "key-" + address["country"],
    }
    if address["country"] == "CN":
        fields.update(customs_name="张三", customs_id_number=VALID_ID)
    fields.update(extra)
    return fields


def cookie_from(response, name):
    for header in response.headers.getlist("Set-Cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        if name in parsed:
            return parsed[name]
    return None


def element(html, id_):
    """The opening tag of the element with ``id_``."""
    match = re.search(rf'<[^>]*\bid="{re.escape(id_)}"[^>]*>', html)
    assert match, f"no element #{id_}"
    return match.group(0)


def text_of_testid(html, testid):
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no data-testid={testid}"
    return match.group(1).strip()


def place(client, address, **extra):
    response = post(client, "/checkout", **checkout_form(address, **extra))
    assert response.status_code == 303, response.get_data(as_text=True)
    number = ORDER_PAGE.match(response.headers["Location"]).group(1)
    return number, response


def order_row(app, number):
    with app.app_context():
        return db.session.scalar(select(Order).where(Order.number == number))


def reserved(app, node):
    with app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(StockLevel.reserved), 0)).where(
                StockLevel.node_id == app.config["WORLD"]["nodes"][node]
            )
        )


# ------------------------------------------------------------------ the cart


def test_adding_to_the_cart_makes_the_cart_and_ties_it_to_a_cookie(shop):
    client = shopper(shop)
    response = add_to_cart(client)
    assert response.headers["Location"] == "/cart"
    cart_cookie = cookie_from(response, "pv_cart")
    assert cart_cookie is not None
    assert cart_cookie["httponly"]

    page = client.get("/cart").get_data(as_text=True)
    assert "ALENKA-100 goods" in page
    assert "Added to your cart." in page
    assert '<a id="checkout-link" class="button" href="/checkout">' in page

    # The next unit goes into the same cart (no second cookie), onto the same line.
    again = add_to_cart(client, quantity=1)
    assert cookie_from(again, "pv_cart") is None
    assert 'value="3"' in client.get("/cart").get_data(as_text=True)


@pytest.mark.parametrize(
    "fields",
    [{"sku": "NO-SUCH-SKU", "quantity": "1"}, {"sku": "ALENKA-100", "quantity": "lots"},
     {"sku": "ALENKA-100", "quantity": "0"}, {"quantity": "1"}],
)  # fmt: skip
def test_a_bad_sku_or_quantity_goes_back_with_the_error_and_makes_no_cart(shop, fields):
    client = shopper(shop)
    response = post(client, "/cart/add", **fields)
    assert response.status_code == 303
    assert cookie_from(response, "pv_cart") is None
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="flash flash-error"' in page
    assert "Your cart is empty." in page


@pytest.mark.parametrize(
    "referrer",
    ["http://localhost//evil.example/p/1", "http://localhost/\\evil.example/",
     "https://evil.example/p/1", "http://localhost.evil.example/p/1"],
)  # fmt: skip
def test_going_back_after_a_refused_add_never_leaves_the_shop(shop, referrer):
    client = shopper(shop)
    response = client.post(
        "/cart/add",
        data={CSRF_FIELD: CSRF, "sku": "ALENKA-100", "quantity": "lots"},
        headers={"Referer": referrer},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/cart"


def test_going_back_after_a_refused_add_returns_to_the_page_of_this_shop(shop):
    client = shopper(shop)
    response = client.post(
        "/cart/add",
        data={CSRF_FIELD: CSRF, "sku": "ALENKA-100", "quantity": "lots"},
        headers={"Referer": "http://localhost/p/7?lang=ru"},
    )
    assert response.headers["Location"] == "/p/7?lang=ru"


def test_lines_are_changed_and_removed(shop):
    client = shopper(shop)
    add_to_cart(client)
    add_to_cart(client, sku="HONEY-500", quantity=1)
    page = client.get("/cart").get_data(as_text=True)
    first, second = (int(n) for n in re.findall(r'<tr id="line-(\d+)"', page))

    assert post(client, f"/cart/lines/{first}", quantity="5").status_code == 303
    page = client.get("/cart").get_data(as_text=True)
    assert element(page, f"quantity-{first}").count('value="5"') == 1
    assert f'for="quantity-{first}"' in page  # the quantity box has its label

    assert post(client, f"/cart/lines/{second}/remove").status_code == 303
    page = client.get("/cart").get_data(as_text=True)
    assert "HONEY-500" not in page
    assert "ALENKA-100" in page

    assert post(client, f"/cart/lines/{first}", quantity="0").status_code == 303
    page = client.get("/cart").get_data(as_text=True)
    assert 'id="cart-empty"' in page
    assert "checkout-link" not in page


# ------------------------------------------------------------------ checkout


def test_checkout_to_china_shows_duties_before_paying_then_places_the_order(shop):
    client = shopper(shop, lang="zh")
    add_to_cart(client)
    page = client.get("/checkout?country=CN").get_data(as_text=True)
    assert "hidden" not in element(page, "customs-identity")  # shown without script
    assert element(page, "place-order").startswith('<button type="submit"')
    duties = text_of_testid(page, "duties")
    assert "¥" in duties
    assert "未知" not in duties
    assert "¥" in text_of_testid(page, "grand-total")
    assert 'for="customs_id_number"' in page
    assert "海关" in page

    number, response = place(client, CN_ADDRESS)
    assert cookie_from(response, "pv_order")["path"] == f"/orders/{number}"
    assert cookie_from(response, "pv_cart").value == ""  # the cart became the order
    order = order_row(shop, number)
    assert order.currency == "CNY"
    assert order.destination_country == "CN"
    assert order.customs_id_masked == "1101**********002X"
    assert order.duties_status == "estimated"
    assert order.duties_total > 0
    assert reserved(shop, "CN-SFH") == 2

    page = client.get(f"/orders/{number}").get_data(as_text=True)
    assert number in re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert text_of_testid(page, "order-status") == "待付款"
    assert text_of_testid(page, "transfer-reference") == number
    assert element(page, "cancel-order").startswith('<button type="submit"')


def shown_total(page):
    return re.search(r'name="shown_total" value="([^"]*)"', page).group(1)


def total_of(order):
    return f"{Decimal(order.grand_total):.2f} {order.currency}"


def test_the_placed_order_costs_what_the_summary_showed(shop):
    client = shopper(shop, lang="ru")
    add_to_cart(client)
    page = client.get("/checkout?country=RU").get_data(as_text=True)
    seen = shown_total(page)
    assert seen.endswith(" RUB")
    number, _ = place(client, RU_ADDRESS, shown_total=seen)
    order = order_row(shop, number)
    assert total_of(order) == seen


@pytest.mark.parametrize("meanwhile", ["another_tab_adds", "another_tab_switches_currency",
                                       "country_changed_without_update"])  # fmt: skip
def test_an_order_is_not_placed_at_a_total_the_shopper_did_not_see(shop, meanwhile):
    client = shopper(shop, lang="ru")
    add_to_cart(client)
    page = client.get("/checkout?country=RU").get_data(as_text=True)
    seen = shown_total(page)
    address = RU_ADDRESS
    if meanwhile == "another_tab_adds":
        add_to_cart(client, quantity=1)
    elif meanwhile == "another_tab_switches_currency":
        post(client, "/choose", currency="CNY")
    else:
        address = CN_ADDRESS  # the select changed, "Update totals" not pressed (no script)
    response = post(client, "/checkout", **checkout_form(address, shown_total=seen))
    assert response.status_code == 422
    again = response.get_data(as_text=True)
    assert "Итог изменился" in again
    assert shown_total(again) != seen  # the new total is on the page to be agreed to
    assert order_count(shop) == 0

    # Agreeing to the new total places the order at it.
    number, _ = place(client, address, shown_total=shown_total(again), checkout_key="again")
    order = order_row(shop, number)
    assert total_of(order) == shown_total(again)


def test_a_cart_emptied_in_another_tab_during_checkout_sends_the_shopper_to_the_cart(shop):
    client = shopper(shop, lang="ru")
    add_to_cart(client)
    page = client.get("/checkout?country=RU").get_data(as_text=True)
    seen = shown_total(page)
    line_id = re.search(r'action="/cart/lines/(\d+)/remove"', client.get("/cart").text).group(1)
    post(client, f"/cart/lines/{line_id}/remove")
    response = post(client, "/checkout", **checkout_form(RU_ADDRESS, shown_total=seen))
    assert response.status_code == 303
    assert response.headers["Location"] == "/cart"
    cart_page = client.get("/cart").get_data(as_text=True)
    assert "Ваша корзина пуста." in cart_page
    assert "Итог изменился" not in cart_page
    assert order_count(shop) == 0


def test_checkout_to_russia_is_priced_and_placed_in_roubles(shop):
    client = shopper(shop, lang="ru")
    add_to_cart(client)
    page = client.get("/checkout?country=RU").get_data(as_text=True)
    assert "hidden" in element(page, "customs-identity")  # Russia asks for no ID
    assert "₽" in text_of_testid(page, "grand-total")
    number, _ = place(client, RU_ADDRESS)
    order = order_row(shop, number)
    assert order.currency == "RUB"
    assert order.destination_country == "RU"
    assert order.customs_id_masked is None
    assert reserved(shop, "RU-WH") == 2


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ru", "18 символов"), ("zh", "18 位"), ("en", "18 characters")],
)
def test_a_wrong_id_number_is_named_next_to_its_field_in_the_shoppers_language(
    shop, lang, expected
):
    client = shopper(shop, lang=lang)
    add_to_cart(client)
    response = post(client, "/checkout", **checkout_form(CN_ADDRESS, customs_id_number="1101"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    field = element(page, "customs_id_number")
    assert 'aria-invalid="true"' in field
    assert "customs_id_number-error" in field
    assert 'value=""' in field  # never echoed back
    error = re.search(r'<p class="field-error" id="customs_id_number-error">(.*?)</p>', page)
    assert expected in error.group(1)
    assert 'href="#customs_id_number"' in page  # the summary at the top links to it
    assert 'value="buyer@example.com"' in element(page, "email")  # the rest is kept
    assert response.headers["Cache-Control"] == "no-store"
    assert order_count(shop) == 0


def order_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


def test_missing_fields_are_each_named(shop):
    client = shopper(shop)
    add_to_cart(client)
    response = post(client, "/checkout", country="RU", payment_adapter="manual")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for name in ("email", "recipient", "phone", "city", "line1"):
        assert 'aria-invalid="true"' in element(page, name), name
        assert f'id="{name}-error">Please fill in this field.</p>' in page
    for optional in ("region", "postal_code"):
        assert "aria-invalid" not in element(page, optional)
    bad_email = post(client, "/checkout", **checkout_form(RU_ADDRESS, email="not-an-email"))
    assert "Enter an email address such as name@example.com." in bad_email.get_data(as_text=True)
    assert order_count(shop) == 0


@pytest.mark.parametrize(
    ("sku", "quantity", "address", "status", "expected"),
    [
        ("ALENKA-100", 11, RU_ADDRESS, 409, "Not enough stock: ALENKA-100: 11 wanted"),
        ("AMBER-BIG", 2, CN_ADDRESS, 422, "per-order limit of Chinese customs"),
        # Honey is held in Urumqi alone, which has no lane to Russia: no stock would help.
        ("HONEY-500", 1, RU_ADDRESS, 422, "These goods cannot be delivered to Russia: HONEY-500."),
    ],
)
def test_what_stops_the_whole_order_is_said_in_the_summary(
    shop, sku, quantity, address, status, expected
):
    client = shopper(shop)
    add_to_cart(client, sku=sku, quantity=quantity)
    country = address["country"]
    # Already before placing: the summary says the order cannot go as it is.
    page = client.get(f"/checkout?country={country}").get_data(as_text=True)
    assert expected in text_of_testid(page, "undeliverable")
    response = post(client, "/checkout", **checkout_form(address))
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert expected in page.split('id="error-summary"')[1]
    assert order_count(shop) == 0


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "These goods cannot be delivered to Russia: HONEY-500. Remove them to check out."),
        ("ru", "Эти товары нельзя доставить в страну «Россия»: HONEY-500. Удалите их, чтобы"),
        ("zh", "以下商品无法配送至俄罗斯：HONEY-500。请删除后再结算。"),
    ],
)
def test_goods_that_cannot_go_to_the_country_are_named_in_the_shoppers_language(
    shop, lang, expected
):
    client = shopper(shop, lang=lang)
    add_to_cart(client, sku="HONEY-500", quantity=1)
    html = client.get("/checkout/summary?country=RU").get_data(as_text=True)
    assert expected in text_of_testid(html, "undeliverable")
    assert "HONEY-500: 1 wanted" not in html  # never told to wait for stock
    assert 'data-testid="grand-total"' not in html


def test_goods_refused_and_goods_short_are_said_in_one_message(shop):
    client = shopper(shop)
    add_to_cart(client, sku="HONEY-500", quantity=1)
    add_to_cart(client, sku="ALENKA-100", quantity=11)  # 10 at RU-WH, the one node for Moscow
    response = post(client, "/checkout", **checkout_form(RU_ADDRESS))
    assert response.status_code == 422
    summary = response.get_data(as_text=True).split('id="error-summary"')[1]
    assert "These goods cannot be delivered to Russia: HONEY-500." in summary
    assert "Not enough stock: ALENKA-100: 11 wanted, 10 available." in summary
    assert order_count(shop) == 0


def test_an_adapter_that_is_not_offered_is_refused_next_to_the_choice(shop):
    client = shopper(shop, lang="zh")
    add_to_cart(client)
    response = post(client, "/checkout", **checkout_form(RU_ADDRESS, payment_adapter="bitcoin"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<p class="field-error" id="payment_adapter-error">请选择支付方式。</p>' in page
    assert 'href="#payment_adapter-manual"' in page
    assert order_count(shop) == 0


def test_forms_without_the_csrf_token_are_refused(shop):
    client = shopper(shop)
    add_to_cart(client)
    no_token = checkout_form(RU_ADDRESS)
    assert client.post("/checkout", data=no_token).status_code == 400
    assert client.post("/cart/add", data={"sku": "ALENKA-100", "quantity": "1"}).status_code == 400
    wrong = client.post("/checkout", data={**no_token, CSRF_FIELD: "guessed"})
    assert wrong.status_code == 400
    assert order_count(shop) == 0


def test_pressing_place_order_twice_makes_one_order(shop):
    client = shopper(shop)
    add_to_cart(client)
    form = checkout_form(RU_ADDRESS)
    first = post(client, "/checkout", **form)
    second = post(client, "/checkout", **form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert order_count(shop) == 1
    assert reserved(shop, "RU-WH") == 2
    # The second answer alone opens the order: its cookie carries the same token.
    token = cookie_from(second, "pv_order").value
    assert token == cookie_from(first, "pv_order").value
    browser = shopper(shop)
    browser.set_cookie("pv_order", token, path=second.headers["Location"])
    assert browser.get(second.headers["Location"]).status_code == 200


def test_the_summary_says_when_nothing_ships_to_a_country(shop):
    client = shopper(shop)
    add_to_cart(client)
    fragment = client.get("/checkout/summary?country=US")
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="checkout-summary"')
    assert "We do not deliver to United States yet." in text_of_testid(html, "undeliverable")
    assert 'data-testid="grand-total"' not in html


def test_unknown_duties_are_said_to_be_unknown_never_zero(shop):
    client = shopper(shop)
    add_to_cart(client, sku="HONEY-500", quantity=1)
    html = client.get("/checkout/summary?country=UZ").get_data(as_text=True)
    assert text_of_testid(html, "duties") == "unknown — payable on delivery"
    assert "Uzbekistan" in text_of_testid(html, "duties-notice")


def test_checkout_without_a_cart_sends_the_shopper_to_the_cart(shop):
    client = shopper(shop)
    response = client.get("/checkout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/cart"


# ------------------------------------------------------------------ the order page


def test_the_order_page_needs_the_orders_token(shop):
    client = shopper(shop)
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS)
    assert client.get(f"/orders/{number}").status_code == 200
    stranger = shopper(shop)
    assert stranger.get(f"/orders/{number}").status_code == 404
    stranger.set_cookie("pv_order", "someone-elses-token", path=f"/orders/{number}")
    assert stranger.get(f"/orders/{number}").status_code == 404
    assert stranger.get(f"/orders/{number}?token=wrong").status_code == 404


def test_a_token_in_the_link_becomes_a_cookie_and_the_address_is_cleaned(shop):
    client = shopper(shop)
    add_to_cart(client)
    number, placed = place(client, RU_ADDRESS)
    token = cookie_from(placed, "pv_order").value

    from_email = shopper(shop)
    response = from_email.get(f"/orders/{number}?token={token}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/orders/{number}"
    cookie = cookie_from(response, "pv_order")
    assert cookie.value == token
    assert cookie["httponly"]
    assert cookie["path"] == f"/orders/{number}"
    page = from_email.get(f"/orders/{number}")
    assert page.status_code == 200
    assert text_of_testid(page.get_data(as_text=True), "order-status") == "Awaiting payment"


def test_the_shopper_cancels_while_allowed_and_not_after(shop):
    client = shopper(shop, lang="ru")
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS)
    response = post(client, f"/orders/{number}/cancel")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/orders/{number}"
    page = client.get(f"/orders/{number}").get_data(as_text=True)
    assert text_of_testid(page, "order-status") == "Отменён"
    assert 'id="cancel-order"' not in page
    assert order_row(shop, number).status == "cancelled"
    assert reserved(shop, "RU-WH") == 0

    add_to_cart(client)
    shipped, _ = place(client, {**RU_ADDRESS, "city": "Kazan"}, checkout_key="second")
    with shop.app_context():
        db.session.execute(update(Order).where(Order.number == shipped).values(status="shipped"))
        db.session.commit()
    page = client.get(f"/orders/{shipped}").get_data(as_text=True)
    assert 'id="cancel-order"' not in page
    refused = post(client, f"/orders/{shipped}/cancel")
    assert refused.status_code == 303
    page = client.get(f"/orders/{shipped}").get_data(as_text=True)
    assert 'class="flash flash-error"' in page
    assert "отменить" in page
    assert order_row(shop, shipped).status == "shipped"


def test_paying_an_order_that_no_longer_waits_for_payment_says_so(shop):
    client = shopper(shop, lang="ru")
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS)
    post(client, f"/orders/{number}/cancel")
    response = post(client, f"/orders/{number}/pay")
    assert response.status_code == 303
    page = client.get(f"/orders/{number}").get_data(as_text=True)
    assert "Этот заказ больше не ждёт оплаты." in page
    assert "Этот заказ уже нельзя отменить." not in page
    assert order_row(shop, number).status == "cancelled"


def test_the_chinese_order_page_names_its_grand_total_and_its_goods(shop):
    client = shopper(shop, lang="zh")
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS)
    page = client.get(f"/orders/{number}").get_data(as_text=True)
    grand = re.search(r'<div class="grand"><dt>([^<]*)</dt>', page).group(1)
    assert grand == "订单总额"  # not 小计, a subtotal
    assert '<h2 id="lines-heading">商品清单</h2>' in page


def test_cancelling_needs_the_token_too(shop):
    client = shopper(shop)
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS)
    assert post(shopper(shop), f"/orders/{number}/cancel").status_code == 404
    assert order_row(shop, number).status == "pending_payment"


def _as_stripe_order(app, number):
    """Make a placed order look like one paid through Stripe (its payment waiting for the
    card), as the Stripe adapter leaves it."""
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.number == number))
        db.session.execute(update(Order).where(Order.id == order_id).values(
            payment_adapter="stripe", payment_status="requires_action"))  # fmt: skip
        db.session.execute(
            update(Payment).where(Payment.order_id == order_id).values(
                adapter="stripe", status="requires_action",
                next_action={"type": "stripe_payment", "client_secret": "pi_1_secret_2",
                             "publishable_key": "pk_test_123", "payment_intent": "pi_1"},
            )
        )  # fmt: skip
        db.session.commit()


def test_stripe_js_is_loaded_on_the_order_page_only_with_a_publishable_key(shop):
    client = shopper(shop)
    add_to_cart(client)
    number, _ = place(client, RU_ADDRESS)
    _as_stripe_order(shop, number)

    without_key = client.get(f"/orders/{number}")
    html = without_key.get_data(as_text=True)
    assert "js.stripe.com" not in html
    assert 'id="payment-element"' not in html
    assert "stripe" not in without_key.headers["Content-Security-Policy"]

    shop.config.update(STRIPE_PUBLISHABLE_KEY="pk_test_123",
                       STRIPE_JS_URL="https://js.stripe.com/v3/")  # fmt: skip
    with_key = client.get(f"/orders/{number}")
    html = with_key.get_data(as_text=True)
    assert '<script src="https://js.stripe.com/v3/" defer></script>' in html
    assert 'data-client-secret="pi_1_secret_2"' in html
    assert 'id="payment-element"' in html
    policy = with_key.headers["Content-Security-Policy"]
    for directive in ("script-src", "frame-src", "connect-src"):
        sources = re.search(rf"{directive} ([^;]*)", policy).group(1).split()
        assert "'self'" in sources, directive
        assert "https://js.stripe.com" in sources, directive
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert with_key.headers["Cache-Control"] == "no-store"

    # Every other page keeps the strict policy.
    add_to_cart(client)
    assert "stripe" not in client.get("/cart").headers["Content-Security-Policy"]


localstripe_url = localstripe_server.localstripe_url


def test_a_card_order_mounts_stripes_payment_element_from_the_shops_stripe_js(
    shop, localstripe_url
):
    """Through localstripe: the PaymentIntent checkout made is what the page hands to
    Stripe.js, loaded from STRIPE_JS_URL, which the page's policy alone allows."""
    js_url = f"{localstripe_url}/js.stripe.com/v3/"
    shop.config.update(
        PAYMENT_ADAPTERS=("manual", "stripe"), STRIPE_API_KEY="sk_test_pavilion",
        STRIPE_API_BASE=localstripe_url, STRIPE_PUBLISHABLE_KEY="pk_test_pavilion",
        STRIPE_MAX_NETWORK_RETRIES=0, STRIPE_TIMEOUT_SECONDS=5, STRIPE_JS_URL=js_url,
    )  # fmt: skip
    client = shopper(shop)
    add_to_cart(client)
    # Stripe is offered outside Russia and China (orders/rules/payment_methods.json).
    page = client.get("/checkout?country=KZ").get_data(as_text=True)
    assert 'id="payment_adapter-stripe"' in page
    assert "js.stripe.com" not in page
    number, _ = place(client, KZ_ADDRESS, payment_adapter="stripe")

    response = client.get(f"/orders/{number}")
    html = response.get_data(as_text=True)
    assert f'<script src="{js_url}" defer></script>' in html
    secret = re.search(r'data-client-secret="([^"]+)"', html).group(1)
    assert secret.startswith("pi_")
    assert "_secret_" in secret
    assert 'data-publishable-key="pk_test_pavilion"' in html
    assert 'id="pay-button"' in html
    assert 'id="bank-transfer"' not in html
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'self' {localstripe_url}" in policy
    assert "https://js.stripe.com" not in policy  # only the origin actually used


@pytest.mark.parametrize(
    ("lang", "days", "said"),
    [("ru", 3, "3 дня"), ("ru", 5, "5 дней"), ("en", 1, "1 day"), ("zh", 3, "3 天")],
)
def test_a_delivery_window_of_one_length_says_its_days_once(shop, lang, days, said):
    from datetime import timedelta

    from shop.core.clock import utcnow
    from shop.storefront.order_wording import delivery_window

    by = (utcnow().date() + timedelta(days=days)).isoformat()
    with shop.test_request_context(f"/?lang={lang}"):
        window = delivery_window({"from": by, "by": by})
    assert window.startswith(said), window
    assert "–" not in window
