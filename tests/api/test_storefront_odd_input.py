"""Every storefront route, fed what browsers, old links, bots and attackers send: never a
500. A page may refuse (400, 404) or ignore what it cannot use, but it answers."""

from __future__ import annotations

import pytest

from tests.api.test_storefront_shopping import add_to_cart, post, shopper
from tests.checkout_world import build_world

# Values a query argument or form field may carry.
ODD_VALUES = (
    "",
    " ",
    "0",
    "-1",
    "-999999999999",
    "99999999999999999999999999",
    "9" * 5000,  # over Python's int() digit limit
    "²",  # a "digit" to str.isdigit() that int() refuses
    "１２",  # full-width digits
    "1e999999",
    "NaN",
    "sNaN",
    "-Infinity",
    "1,5",
    "abc",
    "蜂蜜",
    "мёд",
    "x" * 10_000,
    "%00",
    "\x00",
    "<script>alert(1)</script>",
    "{name}{0}{",
    "//evil.example/",
    "ZZ",
    "zzz",
)
ODD_COOKIES = {
    "pv_cart": ("garbage", ".", "a.", ".b", "x" * 300 + "." + "y", "1.2.3", "\u00e9.\u00e9"),
    "pv_currency": ("ZZZ", "", "rub", "€", "x" * 500),
    "pv_lang": ("xx", "", "RU", "zh-Hant", "x" * 500),
    "pv_country": ("ZZ", "", "cn", "中国", "x" * 500),
    "pv_order": ("garbage", "", "x" * 500),
}
ODD_ACCEPT_LANGUAGES = (
    "*", "xx", "zh;q=abc", "ru;q=-1", ",,,;", "en;q=0, zh;q=0", "😀", "a" * 4000
)  # fmt: skip
QUERY_NAMES = ("lang", "currency", "country", "ship_to", "q", "page", "min_price", "max_price",
               "sort", "in_stock", "next", "region", "postal_code", "token")  # fmt: skip
GET_ROUTES = (
    "/",
    "/c/honey",
    "/c/%E8%9C%82",
    "/search",
    "/p/1",
    "/p/2147483647",
    "/p/2147483648",
    "/choose",
    "/cart",
    "/checkout",
    "/checkout/summary",
    "/orders/SCO-AAAA-AAAA",
    "/orders/" + "X" * 40,
    "/pictures/honey/CN/1.svg",
    "/pictures/honey/ZZ/1.svg",
    "/pictures/nope/CN/1.svg",
)
FORM_FIELDS = ("sku", "quantity", "email", "recipient", "phone", "country", "region", "city",
               "postal_code", "line1", "customs_name", "customs_id_number", "payment_adapter",
               "checkout_key", "lang", "currency", "next")  # fmt: skip
POST_ROUTES = (
    "/choose",
    "/cart/add",
    "/cart/lines/1",
    "/cart/lines/1/remove",
    "/cart/lines/2147483647",
    "/checkout",
    "/orders/SCO-AAAA-AAAA/cancel",
    "/orders/SCO-AAAA-AAAA/pay",
)


@pytest.fixture
def shop(app):
    with app.app_context():
        build_world()
    return app


def _answers(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"


@pytest.mark.parametrize("route", GET_ROUTES)
def test_no_page_fails_on_odd_query_arguments_or_cookies(shop, route):
    client = shopper(shop)
    add_to_cart(client)
    for name in QUERY_NAMES:
        for value in ODD_VALUES:
            _answers(client.get(route, query_string={name: value}), f"GET {route}?{name}={value!r}")
    for header in ODD_ACCEPT_LANGUAGES:
        _answers(client.get(route, headers={"Accept-Language": header}), f"GET {route} {header!r}")
    for cookie, values in ODD_COOKIES.items():
        for value in values:
            browser = shopper(shop)
            browser.set_cookie(cookie, value)
            _answers(browser.get(route), f"GET {route} with {cookie}={value!r}")


@pytest.mark.parametrize("route", POST_ROUTES)
def test_no_form_fails_on_odd_fields(shop, route):
    client = shopper(shop)
    add_to_cart(client)
    for name in FORM_FIELDS:
        for value in ODD_VALUES:
            _answers(post(client, route, **{name: value}), f"POST {route} {name}={value!r}")
    # Every field odd at once, and a form with nothing in it but the CSRF token.
    for value in ODD_VALUES:
        _answers(post(client, route, **dict.fromkeys(FORM_FIELDS, value)), f"POST {route} all")
    _answers(post(client, route), f"POST {route} empty")
    browser = shopper(shop)
    browser.set_cookie("pv_cart", "garbage.garbage")
    _answers(post(browser, route, sku="ALENKA-100", quantity="1"), f"POST {route} bad cart")
