"""Odd input never breaks an admin route (every admin API route and page, called by an
operator with junk queries and bodies, answers below 500), and the operator boundary
holds for every form and token, also once an operator is demoted or a token revoked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from catalog.models import Merchant
from shop.core.audit import AuditEntry
from shop.core.auth import ApiToken, hash_token, issue_token
from shop.core.extensions import db
from tests.api import test_admin_api, test_admin_pages
from tests.api.test_admin_api import admin_api_routes, ops
from tests.api.test_admin_pages import admin_page_routes, csrf_of, fill, log_in_as
from warehouse.models import Staff

# The worlds the other admin tests build: an operator, a picker, a merchant, lanes.
admin_app = test_admin_api.admin_app
pages_app = test_admin_pages.pages_app

JUNK_QUERIES = [
    "",
    "page=-1&per_page=abc&limit=0&days=x",
    "page=%C2%B2&per_page=%D9%A3&limit=%C2%B2&date=%D9%A2%D9%A0%D9%A2%D9%A6-01-01",
    "page=99999999999999999999&per_page=99999999999999999999",
    "date=2026-13-45&from=9999-99-99&to=0000-00-00&since=yesterday&until=%00",
    "date=99999-01-01&from=0001-01-01&to=9999-12-31&currency=ZZZ&by=nothing&kind=%27",
    "format=xml&currency=%00&node=%3Cscript%3E&q=%27%20OR%201%3D1--&status=%F0%9F%92%A9",
    "format=csv&from=2026-12-01&to=2020-01-01&target_id=" + "9" * 300,
    "date=1900-01-01&since=2026-01-01T25:99&until=-1&action=%FF&node=" + "x" * 500,
]

JUNK_JSON_BODIES = [
    None,
    [],
    "text",
    12,
    {"name": None, "country": 5, "currency": [], "rate": "NaN", "base": {}, "quote": True},
    {"rate": "1e999999", "effective_on": "2026-02-30", "base": "CNY", "quote": "RUB"},
    {"email": "a" * 5000, "role": "root", "node": "\u0000", "issue_token": "maybe"},
    {"priority": 10**30, "is_active": "no", "legs": [{"cost_base": "-Infinity"}]},
    {"kind": "eaeu", "rule_set": {"effective_from": "tomorrow", "countries": "RU"}},
    {"kind": "nothing", "rule_set": []},
    {"sku": "%", "to_bin": "", "from_bin": None, "quantity": -5},
    {"cutoff_time": "25:61", "timezone": "Mars/Base", "countries": [1, 2]},
    {"label": {"nested": "x" * 1000}, "reason": ["x"]},
]

JUNK_FORMS = [
    {},
    {"name": "\u0000", "country": "ZZ", "currency": "%%%"},
    {"priority": "1e9", "quantity": "-3", "sku": "'", "to_bin": "../../", "city": " "},
    {"rate": "NaN", "base": "cny", "quote": "cny", "effective_on": "2026-99-01"},
    {"rate": "1e999999", "base": "CNY", "quote": "RUB", "effective_on": "99999-01-01"},
    {"kind": "eaeu", "rule_set": '{"effective_from": 5}', "node": "NOPE", "role": "root"},
    {"kind": "cn_cbec", "rule_set": "[1, 2, {]", "leg1_transit_days_min": "x"},
    {"cutoff_time": "99:99", "timezone": "Nowhere/Else", "countries": ",,,", "active": "on"},
    {"date": "not-a-day", "format": "xml", "email": "x@", "label": "x" * 10000},
]


def test_no_admin_api_route_answers_500_to_junk(admin_app):
    client = admin_app.test_client()
    routes = admin_api_routes(admin_app)
    assert len(routes) >= 25
    failures = []
    for method, url, _ in routes:
        # A changing route reads its body; two queries are enough beside the bodies.
        queries = JUNK_QUERIES if method == "GET" else JUNK_QUERIES[:1] + JUNK_QUERIES[3:4]
        for query in queries:
            target = f"{url}?{query}" if query else url
            if method == "GET":
                answer = client.get(target, headers=ops(admin_app))
                if answer.status_code >= 500:
                    failures.append((method, target, answer.status_code))
                continue
            for body in JUNK_JSON_BODIES:
                answer = client.open(target, method=method, json=body, headers=ops(admin_app))
                if answer.status_code >= 500:
                    failures.append((method, target, body, answer.status_code))
            broken = client.open(
                target,
                method=method,
                data=b'{"name": "unterminated',
                content_type="application/json",
                headers=ops(admin_app),
            )
            if broken.status_code >= 500:
                failures.append((method, target, "broken JSON", broken.status_code))
    assert failures == []


@pytest.mark.parametrize("query", JUNK_QUERIES)
def test_no_admin_page_answers_500_to_junk_queries(pages_app, query):
    client = log_in_as(pages_app, "operator")
    failures = []
    for rule, methods, _ in admin_page_routes(pages_app):
        if "GET" not in methods:
            continue
        url = fill(pages_app, rule)
        answer = client.get(f"{url}?{query}" if query else url)
        if answer.status_code >= 500:
            failures.append((url, query, answer.status_code))
    assert failures == []


def test_no_admin_page_form_answers_500_to_junk(pages_app):
    client = log_in_as(pages_app, "operator")
    token = csrf_of(client.get("/admin/"))
    failures = []
    for rule, methods, _ in admin_page_routes(pages_app):
        if "POST" not in methods:
            continue
        url = fill(pages_app, rule)
        for form in JUNK_FORMS:
            answer = client.post(url, data={"csrf_token": token, **form})
            if answer.status_code >= 500:
                failures.append((url, form, answer.status_code))
    assert failures == []


# ------------------------------------------------------------------ who may act, still


def test_every_admin_form_without_its_csrf_token_is_refused_and_changes_nothing(pages_app):
    client = log_in_as(pages_app, "operator")
    posts = [fill(pages_app, rule) for rule, methods, _ in admin_page_routes(pages_app)
             if "POST" in methods]  # fmt: skip
    assert len(posts) >= 10
    for url in posts:
        refused = client.post(url, data={"name": "Forged", "country": "RU", "rate": "1"})
        assert refused.status_code == 400, (url, refused.status_code)
        wrong = client.post(url, data={"csrf_token": "not-the-token", "name": "Forged"})
        assert wrong.status_code == 400, (url, wrong.status_code)
    with pages_app.app_context():
        assert db.session.scalar(select(func.count(AuditEntry.id))) == 0


def test_an_operator_demoted_mid_session_loses_the_pages_and_the_api_at_once(pages_app):
    demoted = log_in_as(pages_app, "operator")
    token = csrf_of(demoted.get("/admin/"))
    world = pages_app.config["WORLD"]
    with pages_app.app_context():
        boss_id = db.session.scalar(select(Staff.id).where(Staff.email == "boss@example.com"))
        boss_token = issue_token(staff_id=boss_id, label="test")
        db.session.commit()
    other = {"Authorization": f"Bearer {world['operator']}"}
    client = pages_app.test_client()
    changed = client.patch(f"/api/v1/admin/staff/{boss_id}", json={"role": "picker",
                           "node": "CN-URC"}, headers=other)  # fmt: skip
    assert changed.status_code == 200, changed.get_json().get("errors")

    assert demoted.get("/admin/").status_code == 404
    forged = demoted.post("/admin/merchants/", data={"csrf_token": token, "name": "Late",
                                                      "country": "RU"})  # fmt: skip
    assert forged.status_code == 404
    api = client.get("/api/v1/admin/merchants", headers={"Authorization": f"Bearer {boss_token}"})
    assert api.status_code == 404
    with pages_app.app_context():
        assert db.session.scalar(select(Merchant.id).where(Merchant.name == "Late")) is None


def test_a_revoked_operator_token_is_refused(admin_app):
    client = admin_app.test_client()
    assert client.get("/api/v1/admin/merchants", headers=ops(admin_app)).status_code == 200
    with admin_app.app_context():
        db.session.execute(
            ApiToken.__table__.update()
            .where(ApiToken.token_hash == hash_token(admin_app.config["WORLD"]["operator"]))
            .values(revoked_at=datetime.now(UTC))
        )
        db.session.commit()
    refused = client.get("/api/v1/admin/merchants", headers=ops(admin_app))
    assert refused.status_code == 401
    assert refused.content_type == "application/problem+json"


def test_no_admin_answer_carries_a_secret(admin_app):
    """Tokens and password hashes never leave, except in the one-time answers."""
    client = admin_app.test_client()
    body = {"email": "new@example.com", "role": "operator", "issue_token": True}
    made = client.post("/api/v1/admin/staff", json=body, headers=ops(admin_app))
    assert made.status_code == 201
    secrets = [made.get_json()["password"], made.get_json()["token"],
               admin_app.config["WORLD"]["operator"]]  # fmt: skip
    for method, url, _ in admin_api_routes(admin_app):
        if method != "GET":
            continue
        text = client.get(url, headers=ops(admin_app)).get_data(as_text=True)
        assert "scrypt:" not in text, url
        for secret in secrets:
            assert secret not in text, url
    with admin_app.app_context():
        logged = " ".join(f"{e.before} {e.after}" for e in db.session.scalars(select(AuditEntry)))
    for secret in secrets:
        assert secret not in logged
