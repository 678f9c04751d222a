"""The language, currency and deliver-to switches: only their form, a POST to /choose
with the page's CSRF token, changes what the shopper's cookies remember. A GET (an
old bookmark, a link or an image on another site) and a link's ``?lang=``,
``?currency=``, ``?ship_to=`` show a choice on that page and keep nothing, so no
other site can switch a shopper's currency or destination. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from shop.core.csrf import CSRF_FIELD
from tests.api.test_storefront_browse import css, first_product_id, page

PREFERENCE_COOKIES = ("pv_lang", "pv_currency", "pv_country")


def preference_cookies_set(response) -> list[str]:
    return [
        header
        for header in response.headers.getlist("Set-Cookie")
        if header.split("=", 1)[0] in PREFERENCE_COOKIES
    ]


def remembered(client) -> dict[str, str]:
    """What the browser's cookie jar keeps for the shop's preferences."""
    found = {name: client.get_cookie(name) for name in PREFERENCE_COOKIES}
    return {name: cookie.value for name, cookie in found.items() if cookie is not None}


def shown_choices(client) -> tuple[str, str, str]:
    """(language, currency, deliver-to) of a page whose link chooses nothing."""
    _, tree = page(client, "/c/honey", headers={"Accept-Language": "en"})
    currency = css(tree, "#currency option[selected]")[0].get("value")
    country = css(tree, "#ship-to option[selected]")[0].get("value")
    return tree.get("lang"), currency, country


def token_of(client, path: str = "/") -> str:
    """The CSRF token a page's forms carry, as a browser would send it back."""
    _, tree = page(client, path)
    return css(tree, f'form.switch input[name="{CSRF_FIELD}"]')[0].get("value")


# ------------------------------------------------------------ nothing but the form keeps a choice


def test_a_get_to_choose_changes_no_cookie(seeded_client):
    before = shown_choices(seeded_client)
    response = seeded_client.get("/choose?currency=KZT&country=KZ&lang=ru&next=/c/honey")
    assert response.status_code == 303
    assert preference_cookies_set(response) == []
    assert remembered(seeded_client) == {}
    assert shown_choices(seeded_client) == before == ("en", "USD", "CN")


def test_an_old_choose_link_shows_the_page_with_its_choice_without_keeping_it(seeded_client):
    response = seeded_client.get(
        "/choose", query_string={"currency": "KZT", "country": "KZ", "next": "/c/honey?sort=name"}
    )
    location = urlsplit(response.headers["Location"])
    assert location.path == "/c/honey"
    # The destination goes as ship_to, which no listing reads as the origin filter.
    assert parse_qs(location.query) == {"sort": ["name"], "currency": ["KZT"], "ship_to": ["KZ"]}
    _, tree = page(seeded_client, f"{location.path}?{location.query}")
    assert css(tree, "#currency option[selected]")[0].get("value") == "KZT"
    assert css(tree, "#ship-to option[selected]")[0].get("value") == "KZ"
    assert remembered(seeded_client) == {}


def test_an_old_choose_link_carries_only_choices_a_page_would_take(seeded_client):
    response = seeded_client.get(
        "/choose", query_string={"currency": "XYZ", "lang": "xx", "country": "中国", "next": "/"}
    )
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).query == ""


@pytest.mark.parametrize(
    "link", ["/?lang=ru&currency=KZT&country=KZ", "/c/honey?lang=zh&currency=RUB&ship_to=RU"]
)
def test_a_link_shows_its_choice_on_that_page_and_keeps_nothing(seeded_client, link):
    response, tree = page(seeded_client, link)
    asked = parse_qs(urlsplit(link).query)
    assert tree.get("lang") == asked["lang"][0]
    assert css(tree, "#currency option[selected]")[0].get("value") == asked["currency"][0]
    destination = (asked.get("ship_to") or asked["country"])[0]
    assert css(tree, "#ship-to option[selected]")[0].get("value") == destination
    assert preference_cookies_set(response) == []
    assert shown_choices(seeded_client) == ("en", "USD", "CN")


# ------------------------------------------------------------ the form


@pytest.mark.parametrize(
    "token", [None, "", "not-the-token"], ids=["no-token", "empty-token", "wrong-token"]
)
def test_a_post_without_the_pages_token_is_refused_and_changes_nothing(seeded_client, token):
    token_of(seeded_client)  # the session has a token: the one sent is simply not it
    form = {"currency": "KZT", "country": "KZ", "lang": "ru", "next": "/c/honey"}
    if token is not None:
        form[CSRF_FIELD] = token
    response = seeded_client.post("/choose", data=form, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert preference_cookies_set(response) == []
    assert remembered(seeded_client) == {}
    assert shown_choices(seeded_client) == ("en", "USD", "CN")


def test_a_post_from_a_browser_that_never_saw_a_form_is_refused(seeded_client):
    response = seeded_client.post("/choose", data={CSRF_FIELD: "guess", "currency": "KZT"})
    assert response.status_code == 400
    assert preference_cookies_set(response) == []


def test_a_post_with_the_token_remembers_the_choice_and_goes_back_to_next(seeded_client):
    token = token_of(seeded_client)
    response = seeded_client.post(
        "/choose",
        data={CSRF_FIELD: token, "currency": "KZT", "country": "KZ", "lang": "ru",
              "next": "/c/honey?sort=price_asc"},
    )  # fmt: skip
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.query) == ("/c/honey", "sort=price_asc")
    cookies = preference_cookies_set(response)
    assert {c.split(";")[0] for c in cookies} == {"pv_lang=ru", "pv_currency=KZT", "pv_country=KZ"}
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Max-Age=31536000" in cookie
    assert shown_choices(seeded_client) == ("ru", "KZT", "KZ")
    _, tree = page(seeded_client, "/c/honey")
    prices = [p.text_content() for p in css(tree, ".product-card .price")]
    assert prices
    assert all(p.endswith("\u00a0KZT") for p in prices), prices


def test_one_switch_changes_only_its_own_choice(seeded_client):
    token = token_of(seeded_client)
    seeded_client.post("/choose", data={CSRF_FIELD: token, "currency": "RUB", "next": "/"})
    assert remembered(seeded_client) == {"pv_currency": "RUB"}
    seeded_client.post("/choose", data={CSRF_FIELD: token, "country": "RU", "next": "/"})
    assert remembered(seeded_client) == {"pv_currency": "RUB", "pv_country": "RU"}
    assert shown_choices(seeded_client) == ("en", "RUB", "RU")


def test_a_choice_no_page_would_take_is_not_remembered(seeded_client):
    token = token_of(seeded_client)
    response = seeded_client.post(
        "/choose",
        data={CSRF_FIELD: token, "currency": "XYZ", "country": "ZZ", "lang": "xx", "next": "/"},
    )
    assert response.status_code == 303
    assert preference_cookies_set(response) == []


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_the_form_never_sends_the_shopper_to_another_site(seeded_client, target):
    token = token_of(seeded_client)
    for response in (
        seeded_client.post("/choose", data={CSRF_FIELD: token, "currency": "CNY", "next": target}),
        seeded_client.get("/choose", query_string={"currency": "CNY", "next": target}),
    ):
        assert response.status_code == 303
        location = urlsplit(response.headers["Location"])
        assert location.path == "/"
        assert location.netloc in ("", "localhost")


# ------------------------------------------------------------ what the page's forms carry


def test_every_switch_is_a_post_form_with_the_token_and_the_page_to_come_back_to(seeded_client):
    product_id = first_product_id(seeded_client, category="honey")
    _, tree = page(seeded_client, f"/p/{product_id}?lang=ru&currency=RUB&country=KZ")
    languages = css(tree, "nav.languages form")[0]
    currency = css(tree, "#currency")[0].getparent()
    destination = css(tree, "#ship-to")[0].getparent()
    for form in (languages, currency, destination):
        assert form.get("method") == "post"
        assert form.get("action") == "/choose"
        assert css(form, f'input[type="hidden"][name="{CSRF_FIELD}"]')[0].get("value")
        assert css(form, 'button[type="submit"]'), "a browser without the script needs it"
    assert css(tree, 'label[for="currency"]')
    assert css(tree, 'label[for="ship-to"]')

    def next_of(form) -> dict[str, list[str]]:
        target = urlsplit(css(form, 'input[name="next"]')[0].get("value"))
        assert target.path == f"/p/{product_id}"
        return parse_qs(target.query)

    # Each form comes back without the link's own value for what it sets, which would
    # otherwise win over the choice just remembered; the others stay as the link had them.
    assert next_of(languages) == {"currency": ["RUB"], "country": ["KZ"]}
    assert next_of(currency) == {"lang": ["ru"], "country": ["KZ"]}
    assert next_of(destination) == {"lang": ["ru"], "currency": ["RUB"]}


def test_on_a_listing_the_deliver_to_form_keeps_the_origin_filter(seeded_client):
    _, tree = page(seeded_client, "/c/honey?country=KZ&ship_to=RU&sort=price_asc")
    form = css(tree, "#ship-to")[0].getparent()
    target = urlsplit(css(form, 'input[name="next"]')[0].get("value"))
    assert parse_qs(target.query) == {"country": ["KZ"], "sort": ["price_asc"]}


def test_the_language_buttons_say_their_language_and_which_is_shown(seeded_client):
    _, tree = page(seeded_client, "/c/honey?lang=zh")
    buttons = css(tree, 'nav.languages button[name="lang"]')
    assert {b.get("value") for b in buttons} == {"zh", "ru", "en"}
    for button in buttons:
        assert button.get("lang") == button.get("value")
    assert [b.get("value") for b in buttons if b.get("aria-current") == "true"] == ["zh"]
