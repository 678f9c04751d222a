"""Rate limits (shop/rate_limits.py) on logins, checkouts and token lookups, and the
request size limits: what a client that sends too much, or too often, gets back."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from shop.rate_limits import RATE_LIMITED_ENDPOINTS, install_rate_limits
from tests.conftest import skip_or_fail

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/2")


def limited(make_app, **limits):
    return make_app(RATE_LIMITS="on", **limits)


def from_address(app, address="198.51.100.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_rate_limited_problem(response):
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_api_checkout_is_refused_with_a_problem_after_its_budget(make_app):
    client = from_address(limited(make_app, RATE_LIMIT_CHECKOUT="2/minute"))
    # Invalid bodies still count: a client guessing or flooding need not send good ones.
    statuses = [client.post("/api/v1/orders", json={}).status_code for _ in range(2)]
    assert statuses == [422, 422]
    refused = client.post("/api/v1/orders", json={})
    assert_rate_limited_problem(refused)
    assert client.get("/problems/rate_limited").status_code == 200


def test_limits_count_per_client_address(make_app):
    app = limited(make_app, RATE_LIMIT_CHECKOUT="1/minute")
    first, second = from_address(app, "198.51.100.1"), from_address(app, "198.51.100.2")
    assert first.post("/api/v1/orders", json={}).status_code == 422
    assert first.post("/api/v1/orders", json={}).status_code == 429
    assert second.post("/api/v1/orders", json={}).status_code == 422


def test_each_endpoint_has_its_own_count_and_unlimited_ones_are_untouched(make_app):
    app = limited(make_app, RATE_LIMIT_CHECKOUT="1/minute", RATE_LIMIT_TOKENS="1/minute")
    client = from_address(app)
    assert client.post("/api/v1/orders", json={}).status_code == 422
    assert client.post("/api/v1/orders", json={}).status_code == 429
    # The order lookup draws on another budget, and the catalog on none.
    assert client.get("/api/v1/orders/NOPE").status_code == 404
    assert client.get("/api/v1/orders/NOPE").status_code == 429
    assert client.get("/api/v1/carts/nope").status_code == 404
    assert {client.get("/api/v1/categories").status_code for _ in range(5)} == {200}


def test_order_page_lookups_get_a_page_in_the_shops_look(make_app):
    client = from_address(limited(make_app, RATE_LIMIT_TOKENS="1/minute"))
    assert client.get("/orders/PV-NOPE").status_code == 404
    refused = client.get("/orders/PV-NOPE")
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "<html" in refused.get_data(as_text=True).lower()
    assert int(refused.headers["Retry-After"]) > 0


def test_storefront_checkout_form_is_limited_with_a_page(make_app):
    client = from_address(limited(make_app, RATE_LIMIT_CHECKOUT="1/minute"))
    with client.session_transaction() as session:
        session["_csrf"] = "known-token"
    form = {"csrf_token": "known-token", "email": "not-an-address"}
    # An empty cart sends the shopper back to it: still an attempt that counts.
    assert client.post("/checkout", data=form).status_code == 303
    refused = client.post("/checkout", data=form)
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"


def test_staff_login_posts_are_limited_and_the_page_says_so(make_app):
    client = from_address(limited(make_app, RATE_LIMIT_LOGIN="2/minute"))
    token = CSRF_FIELD.search(client.get("/warehouse/login").get_data(as_text=True)).group(1)
    form = {"csrf_token": token, "email": "nobody@example.com", "password": "wrong"}
    assert [client.post("/warehouse/login", data=form).status_code for _ in range(2)] == [200, 200]
    refused = client.post("/warehouse/login", data=form)
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert int(refused.headers["Retry-After"]) > 0
    # Showing the form is not an attempt.
    assert client.get("/warehouse/login").status_code == 200


def test_switched_off_nothing_is_counted(make_app):
    app = make_app(RATE_LIMITS="off", RATE_LIMIT_CHECKOUT="1/minute")
    client = from_address(app)
    assert {client.post("/api/v1/orders", json={}).status_code for _ in range(4)} == {422}
    assert "limiter" not in app.extensions


def test_an_unknown_switch_value_is_a_configuration_error(make_app):
    with pytest.raises(ValueError, match="PAVILION_RATE_LIMITS"):
        make_app(RATE_LIMITS="sometimes")


def test_every_limited_endpoint_exists(make_app):
    app = make_app()
    names = {rule.endpoint for rule in app.url_map.iter_rules()}
    # A renamed view would silently lose its limit.
    missing = sorted(set(RATE_LIMITED_ENDPOINTS) - names)
    assert not missing, f"rate-limited endpoints that no route has: {missing}"
    assert install_rate_limits.__name__  # the installer is importable from one place


def test_counts_are_shared_between_processes_through_redis(make_app):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as problem:
        skip_or_fail(f"Redis not reachable at {REDIS_URL}: {problem}")
    settings = {"RATE_LIMIT_STORAGE_URL": REDIS_URL, "RATE_LIMIT_CHECKOUT": "1/minute"}
    # Two apps stand for two gunicorn workers; a fresh address keeps runs apart.
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    one = from_address(limited(make_app, **settings), address)
    other = from_address(limited(make_app, **settings), address)
    assert one.post("/api/v1/orders", json={}).status_code == 422
    assert_rate_limited_problem(other.post("/api/v1/orders", json={}))


def test_production_says_when_limits_count_per_process(caplog):
    from shop import create_app

    settings = {"PAVILION_ENV": "production", "SECRET_KEY": "k", "ID_ENCRYPTION_KEY": "k",
                "SQLALCHEMY_DATABASE_URI": "sqlite://", "RATE_LIMITS": "on"}  # fmt: skip
    with caplog.at_level("WARNING", logger="shop.rate_limits"):
        create_app({**settings, "RATE_LIMIT_STORAGE_URL": "memory://"})
    assert "rate limits count per process" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="shop.rate_limits"):
        create_app({**settings, "RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"})
    assert "rate limits count per process" not in caplog.text


# ------------------------------------------------------------ request size


def test_an_over_size_api_body_is_a_413_problem(make_app):
    client = make_app(MAX_CONTENT_LENGTH=2048).test_client()
    response = client.post("/api/v1/orders", json={"email": "x" * 4096})
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "payload_too_large"


def test_an_over_size_checkout_form_is_a_413_page(make_app):
    client = make_app(MAX_CONTENT_LENGTH=2048).test_client()
    response = client.post("/checkout", data={"email": "x" * 4096})
    assert response.status_code == 413
    assert response.mimetype == "text/html"


def test_form_parsing_is_bounded_in_parts_and_memory(make_app):
    app = make_app()
    # Flask 3.1's own bounds: a form with thousands of fields, or one huge text field,
    # is refused before the view sees it, well under the 10 MiB body limit.
    assert app.config["MAX_FORM_PARTS"] <= 1000
    assert app.config["MAX_FORM_MEMORY_SIZE"] <= 500_000
    client = app.test_client()
    many_fields = {f"field{i}": "x" for i in range(app.config["MAX_FORM_PARTS"] + 10)}
    too_many = client.post("/checkout", data=many_fields, content_type="multipart/form-data")
    assert too_many.status_code == 413
    huge_field = {"email": "x" * (app.config["MAX_FORM_MEMORY_SIZE"] + 1)}
    too_big = client.post("/checkout", data=huge_field, content_type="multipart/form-data")
    assert too_big.status_code == 413


def test_limits_come_from_the_environment_when_the_config_has_none(make_app, monkeypatch):
    monkeypatch.setenv("PAVILION_RATE_LIMIT_CHECKOUT", "1/minute")
    client = from_address(limited(make_app))
    assert client.post("/api/v1/orders", json={}).status_code == 422
    assert client.post("/api/v1/orders", json={}).status_code == 429


def test_operators_issuing_tokens_are_limited_on_the_api_and_the_pages(make_app):
    from catalog.merchants import create_merchant
    from shop.seed import seed_reference_data
    from warehouse.services import create_staff

    app = limited(make_app, RATE_LIMIT_LOGIN="1/minute")
    with app.app_context():
        seed_reference_data()
        merchant = create_merchant("Limited Trading", "RU")
        operator = create_staff("limits-op@example.com", None, "operator")
    api = from_address(app)
    bearer = {"Authorization": f"Bearer {operator.token}"}
    tokens = f"/api/v1/admin/merchants/{merchant.id}/tokens"
    assert api.post(tokens, json={"label": "one"}, headers=bearer).status_code == 201
    assert_rate_limited_problem(api.post(tokens, json={"label": "two"}, headers=bearer))

    pages = from_address(app, "198.51.100.99")
    token = CSRF_FIELD.search(pages.get("/warehouse/login").get_data(as_text=True)).group(1)
    form = {"csrf_token": token, "email": operator.email, "password": operator.password}
    assert pages.post("/warehouse/login", data=form).status_code == 303
    merchant_page = pages.get(f"/admin/merchants/{merchant.id}").get_data(as_text=True)
    csrf = CSRF_FIELD.search(merchant_page).group(1)
    page_path = f"/admin/merchants/{merchant.id}/tokens"
    assert pages.post(page_path, data={"csrf_token": csrf, "label": "three"}).status_code != 429
    refused = pages.post(page_path, data={"csrf_token": csrf, "label": "four"})
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert int(refused.headers["Retry-After"]) > 0
