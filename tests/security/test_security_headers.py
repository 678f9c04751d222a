"""Security headers on every kind of answer the shop gives (storefront, staff and admin
pages, API docs, API JSON and problems), HSTS over https only, and the cookies' flags."""

from __future__ import annotations

import re

import pytest
from cryptography.fernet import Fernet

from shop.storefront.order_pages import stripe_content_security_policy
from tests.checkout_world import build_world

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# Source expressions that name no other host.
OWN_SOURCES = {"'self'", "'none'", "data:"}


def policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in header.split(";"):
        name, *sources = directive.split()
        directives[name] = sources
    return directives


def assert_hardened(response, *, allowed_hosts=()):
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer")
    csp = policy(headers["Content-Security-Policy"])
    framing = csp.get("frame-ancestors") == ["'none'"] or headers.get("X-Frame-Options") == "DENY"
    assert framing, "the page may be framed (clickjacking)"
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts, "no script-src or default-src"
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert csp["object-src"] == ["'none'"]
    for name, sources in csp.items():
        for source in sources:
            if source in OWN_SOURCES or (source == "'unsafe-inline'" and name == "style-src"):
                continue
            assert source in allowed_hosts, f"{name} lets in {source}"
    assert "Strict-Transport-Security" not in headers  # plain http: HSTS would be ignored


@pytest.fixture
def shop(app):
    with app.app_context():
        app.config["WORLD"] = build_world()
    return app


def log_in_operator(app):
    from warehouse.services import create_staff

    with app.app_context():
        operator = create_staff("headers-op@example.com", None, "operator")
    client = app.test_client()
    token = CSRF_FIELD.search(client.get("/warehouse/login").get_data(as_text=True)).group(1)
    form = {"csrf_token": token, "email": operator.email, "password": operator.password}
    assert client.post("/warehouse/login", data=form).status_code == 303
    return client


PAGES = {
    "storefront home": "/",
    "storefront search": "/search?q=ALENKA",
    "storefront cart": "/cart",
    "storefront 404 page": "/no-such-page",
    "staff login": "/warehouse/login",
    "api docs": "/api/docs/",
    "api json": "/api/v1/categories",
    "api problem": "/api/v1/products/999999",
    "health": "/healthz",
}


def test_every_kind_of_answer_carries_the_security_headers(shop):
    client = shop.test_client()
    for kind, path in PAGES.items():
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code in (200, 404), (kind, response.status_code)
        assert_hardened(response)


def test_staff_and_admin_pages_carry_them_for_a_logged_in_operator(shop):
    client = log_in_operator(shop)
    for path in ("/warehouse/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_hardened(response)
        assert response.headers["Cache-Control"] == "no-store"


def test_only_the_stripe_page_lets_stripe_in_and_still_no_inline_scripts():
    csp = policy(stripe_content_security_policy("https://js.stripe.com/v3/"))
    assert "https://js.stripe.com" in csp["script-src"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert csp["frame-ancestors"] == ["'none'"]
    hosts = {s for sources in csp.values() for s in sources if s.startswith("https://")}
    assert hosts == {"https://js.stripe.com", "https://hooks.stripe.com", "https://api.stripe.com"}


def test_hsts_over_https_only(app):
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    secure = client.get("/healthz", base_url="https://shop.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_forwarded_proto_counts_only_from_a_trusted_proxy(make_app):
    spoofed = make_app().test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers
    behind_proxy = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    forwarded = behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in forwarded.headers


def cookie_flags(response, name: str) -> str:
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[0]


def test_session_cookie_is_httponly_and_samesite_and_secure_in_production(make_app):
    production = make_app(
        PAVILION_ENV="production",
        SECRET_KEY="production-secret-" + "x" * 32,
        ID_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    for app, secure in ((make_app(), False), (production, True)):
        client = app.test_client()
        response = client.get("/warehouse/login", base_url="https://shop.example")
        flags = cookie_flags(response, "session")
        assert "HttpOnly" in flags
        assert "SameSite=Lax" in flags
        assert ("Secure" in flags) is secure
