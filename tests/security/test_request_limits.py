"""The app's own request limits (issue #23): what it refuses, it refuses in the shop's
contract, problem+json for API clients, on SQLite and PostgreSQL.

A request target (path and query string) over 6144 bytes is a 414 ``uri_too_long``
from the app, before gunicorn's own limit (8190, tests/integration/
test_request_limits_gunicorn.py) could answer it with plain HTML. The API refuses a
search text over 200 characters and a page size over its family's cap with a 422
naming the parameter, never quietly answering less; the storefront searches the
first 200 characters of what a shopper typed."""

from __future__ import annotations

import re

import pytest

from shop import gunicorn_conf
from shop.core.api_base import PROBLEM_CONTENT_TYPE
from shop.core.web_hardening import MAX_REQUEST_TARGET_BYTES
from tests.checkout_world import build_world

SEARCH_BOX = re.compile(r'name="q" id="[^"]+" value="([^"]*)"')
# Each paged list family with its cap, the largest page it serves.
PAGE_CAPS = [
    pytest.param("/api/v1/products", None, 100, id="products"),
    pytest.param("/api/v1/merchant/skus", "merchant_token", 500, id="merchant-skus"),
    pytest.param("/api/v1/merchant/orders", "merchant_token", 500, id="merchant-orders"),
    pytest.param("/api/v1/warehouse/shipments", "operator", 200, id="warehouse-shipments"),
    pytest.param("/api/v1/warehouse/jobs", "operator", 200, id="warehouse-jobs"),
    pytest.param("/api/v1/admin/merchants", "operator", 200, id="admin-merchants"),
    pytest.param("/api/v1/admin/staff", "operator", 200, id="admin-staff"),
    pytest.param("/api/v1/admin/audit", "operator", 200, id="admin-audit"),
]


@pytest.fixture
def shop(app):
    with app.app_context():
        app.config["WORLD"] = build_world()
    return app


def as_holder_of(shop, token_name):
    if token_name is None:
        return {}
    return {"Authorization": f"Bearer {shop.config['WORLD'][token_name]}"}


def assert_problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    body = response.get_json()
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["status"] == status
    return body


def long_query(target_bytes: int, path: str = "/api/v1/products") -> str:
    """``path?q=aaa…`` exactly ``target_bytes`` long."""
    return f"{path}?q=" + "a" * (target_bytes - len(path) - len("?q="))


# ------------------------------------------------------------ request target


def test_a_request_target_over_the_limit_is_a_problem_json_414(shop):
    # The case: a 5.5 KB link used to reach gunicorn's default limit (4094);
    # just past the app's limit it is the app that answers.
    response = shop.test_client().get(long_query(MAX_REQUEST_TARGET_BYTES + 1))
    body = assert_problem(response, 414, "uri_too_long")
    assert body["max_bytes"] == MAX_REQUEST_TARGET_BYTES == 6144
    assert str(MAX_REQUEST_TARGET_BYTES) in body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_limit_counts_the_query_string_as_sent_percent_encoded(shop):
    # 1100 Cyrillic letters are 2200 bytes in UTF-8 and 6600 once percent-encoded: what
    # arrives (and what gunicorn counts) is the encoded form.
    response = shop.test_client().get("/api/v1/merchant/skus?category=" + "%D0%B6" * 1100)
    assert_problem(response, 414, "uri_too_long")


def test_a_request_target_at_the_limit_reaches_the_view(shop):
    response = shop.test_client().get(long_query(MAX_REQUEST_TARGET_BYTES))
    # The view's own rule (q at most 200 characters) answers, not the length limit.
    body = assert_problem(response, 422, "validation_error")
    assert "q" in body["errors"]


def test_a_too_long_link_to_a_path_that_does_not_exist_is_still_414(shop):
    response = shop.test_client().get(long_query(MAX_REQUEST_TARGET_BYTES + 500, "/api/v1/nope"))
    assert_problem(response, 414, "uri_too_long")


def test_a_shopper_following_a_too_long_link_gets_the_storefronts_page(shop):
    response = shop.test_client().get(
        long_query(MAX_REQUEST_TARGET_BYTES + 1, "/search"),
        headers={"Accept": "text/html", "Accept-Language": "ru"},
    )
    assert response.status_code == 414
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Эта ссылка слишком длинная" in page  # the storefront's page, in their language
    assert "</footer>" in page  # in the shop's layout, not a bare error


def test_the_problem_type_is_described(shop):
    response = shop.test_client().get("/problems/uri_too_long")
    assert response.status_code == 200
    assert "max_bytes" in response.get_json()["description"]


def test_gunicorn_lets_through_every_target_the_app_answers_itself():
    # "GET <target> HTTP/1.1" must fit gunicorn's request line, or a target the app would
    # refuse in problem+json meets gunicorn's HTML 414 first.
    longest_line = len("OPTIONS ") + MAX_REQUEST_TARGET_BYTES + 1 + len(" HTTP/1.1")
    assert gunicorn_conf.limit_request_line >= longest_line
    assert gunicorn_conf.limit_request_line == 8190
    assert gunicorn_conf.limit_request_field_size == 8190
    assert gunicorn_conf.limit_request_fields == 100


# ------------------------------------------------------------ search text


def test_the_api_refuses_a_search_text_over_200_characters(shop):
    client = shop.test_client()
    assert client.get("/api/v1/products?q=" + "a" * 200).status_code == 200
    body = assert_problem(client.get("/api/v1/products?q=" + "a" * 201), 422, "validation_error")
    assert list(body["errors"]) == ["q"]
    assert "200" in body["errors"]["q"][0]
    assert body["invalid_params"][0]["name"] == "q"


def test_the_storefront_searches_the_first_200_characters_of_a_long_search(shop):
    # Past the 200th character comes a word no product has: searched, it would empty
    # the results; the storefront searches "ALENKA" alone and finds the chocolate.
    typed = "ALENKA" + " " * 194 + "nowhere-to-be-found"
    response = shop.test_client().get("/search", query_string={"q": typed})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "ALENKA-100 goods" in page
    # The search box shows what was searched, not what was typed.
    assert [box.strip() for box in SEARCH_BOX.findall(page)] == ["ALENKA", "ALENKA"]


# ------------------------------------------------------------ page size


@pytest.mark.parametrize(("path", "token_name", "cap"), PAGE_CAPS)
def test_a_page_size_over_the_cap_is_refused_naming_per_page_and_the_cap(
    shop, path, token_name, cap
):
    client, headers = shop.test_client(), as_holder_of(shop, token_name)
    served = client.get(f"{path}?per_page={cap}", headers=headers)
    assert served.status_code == 200, served.get_data(as_text=True)[:500]
    assert served.get_json()["per_page"] == cap

    body = assert_problem(client.get(f"{path}?per_page={cap + 1}", headers=headers), 422,
                          "validation_error")  # fmt: skip
    assert list(body["errors"]) == ["per_page"]
    assert str(cap) in body["errors"]["per_page"][0]
    assert [p["name"] for p in body["invalid_params"]] == ["per_page"]


@pytest.mark.parametrize(("path", "token_name", "cap"), PAGE_CAPS)
@pytest.mark.parametrize("page", ["0", "-1"])
def test_a_page_before_the_first_is_refused_naming_page(shop, path, token_name, cap, page):
    response = shop.test_client().get(f"{path}?page={page}", headers=as_holder_of(shop, token_name))
    body = assert_problem(response, 422, "validation_error")
    assert list(body["errors"]) == ["page"]


@pytest.mark.parametrize(("per_page", "page", "refused"), [
    (201, 1, ["per_page"]), (0, 1, ["per_page"]), (50, 0, ["page"]),
    (500, -3, ["page", "per_page"]),
])  # fmt: skip
def test_the_paging_helper_refuses_what_it_used_to_clamp(shop, per_page, page, refused):
    # A caller without a query schema (a page, a script) gets the same refusal as the
    # API's clients: a smaller page than asked for would pass for the whole list.
    from shop.admin.services.staff import list_staff
    from shop.core.errors import ValidationFailed

    with shop.app_context(), pytest.raises(ValidationFailed) as raised:
        list_staff(page=page, per_page=per_page)
    assert sorted(raised.value.errors) == refused
    if "per_page" in refused:
        assert "200" in raised.value.errors["per_page"][0]
