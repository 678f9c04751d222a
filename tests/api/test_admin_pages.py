"""Admin pages under /admin/: the staff login, operators only, CSRF on every form, and
an operator running merchants, staff, nodes, lanes, customs policies and the audit
log without touching the database."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from sqlalchemy import select
from werkzeug.routing.converters import AnyConverter, IntegerConverter

from catalog.models import Merchant
from shop.core.audit import AuditEntry
from shop.core.auth import ApiToken
from shop.core.extensions import db
from tests.checkout_world import build_world
from warehouse.models import Lane, Node, Staff
from warehouse.services import create_staff, get_lane

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def pages_app(app):
    with app.app_context():
        world = build_world()
        passwords = {}
        for who, email, node, role in (
            ("operator", "boss@example.com", None, "operator"),
            ("picker", "picker@example.com", "CN-URC", "picker"),
        ):
            passwords[who] = {"email": email, "password": create_staff(email, node, role).password}
        world["passwords"] = passwords
        world["merchant_id"] = db.session.scalar(select(Merchant.id))
        world["lane"] = db.session.scalar(select(Lane.code).order_by(Lane.code))
    app.config["WORLD"] = world
    return app


def csrf_of(page) -> str:
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in_as(app, who):
    client = app.test_client()
    account = app.config["WORLD"]["passwords"][who]
    token = csrf_of(client.get("/warehouse/login"))
    response = client.post("/warehouse/login", data={"csrf_token": token, **account})
    assert response.status_code == 303
    return client


def post_form(client, url, data=None, *, page=None):
    """POST a form the way a browser does: with the CSRF token of a page it was shown."""
    token = csrf_of(client.get(page or "/admin/"))
    return client.post(url, data={"csrf_token": token, **(data or {})})


def audit_actions(app):
    with app.app_context():
        return [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def admin_page_routes(app):
    """Every (Rule, methods, endpoint) under /admin/, whoever's blueprint it is."""
    return [
        (rule, sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}), rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.rule == "/admin" or rule.rule.startswith("/admin/")
    ]


def stand_in(rule, name: str, ours: dict) -> str:
    """A value the rule's converter accepts: ours where we know it, else a stand-in."""
    if name in ours:
        return str(ours[name])
    converter = rule._converters[name]
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    return "1" if isinstance(converter, IntegerConverter) else "X"


def fill(app, rule) -> str:
    """The rule's URL with real values for our parameters (stand-ins for others')."""
    world = app.config["WORLD"]
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.merchant_id.isnot(None)))
        staff_id = db.session.scalar(select(Staff.id).order_by(Staff.id))
    ours = {
        "merchant_id": world["merchant_id"],
        "token_id": token_id,
        "staff_id": staff_id,
        "code": world["lane"] if rule.rule.startswith("/admin/lanes/") else "RU-WH",
    }
    return re.sub(r"<(?:[^>]*:)?([a-z_]+)>", lambda m: stand_in(rule, m.group(1), ours), rule.rule)


# ------------------------------------------------------------------ who gets in


def test_only_operators_see_any_admin_page(pages_app):
    routes = admin_page_routes(pages_app)
    assert len(routes) >= 20
    anonymous = pages_app.test_client()
    picker = log_in_as(pages_app, "picker")
    operator = log_in_as(pages_app, "operator")
    merchant_token = {"Authorization": f"Bearer {pages_app.config['WORLD']['merchant_token']}"}
    picker_token = csrf_of(picker.get("/warehouse/"))
    for rule, methods, endpoint in routes:
        url = fill(pages_app, rule)
        for method in methods:
            for who, client, headers in (
                ("anonymous", anonymous, {}),
                ("merchant token", anonymous, merchant_token),
            ):
                response = client.open(url, method=method, headers=headers, data={})
                assert response.status_code == 302, (who, method, url, response.status_code)
                target = urlsplit(response.headers["Location"])
                assert target.path == "/warehouse/login", (who, url)
                if method == "GET":
                    assert parse_qs(target.query)["next"] == [url]
            refused = picker.open(url, method=method, data={"csrf_token": picker_token})
            # As for a page that does not exist: pickers need not learn what is here.
            assert refused.status_code == 404, (method, url, refused.status_code)
            assert "Merchants" not in refused.get_data(as_text=True)
        if "GET" in methods:
            seen = operator.get(url)
            assert seen.status_code < 500, (url, seen.status_code)
            assert seen.status_code not in (302, 401, 403), (url, seen.status_code)
            if endpoint.startswith("admin_pages."):
                assert seen.status_code == 200, (url, seen.status_code)
                assert seen.headers["Cache-Control"] == "no-store"


def test_the_login_sends_an_operator_back_to_the_admin_page_they_asked_for(pages_app):
    client = pages_app.test_client()
    asked = client.get("/admin/staff/")
    assert asked.status_code == 302
    login_url = asked.headers["Location"]
    form = csrf_of(client.get(login_url))
    account = pages_app.config["WORLD"]["passwords"]["operator"]
    landed = client.post(
        "/warehouse/login", data={"csrf_token": form, "next": "/admin/staff/", **account}
    )
    assert landed.status_code == 303
    assert landed.headers["Location"].endswith("/admin/staff/")
    assert client.get("/admin/staff/").status_code == 200


def test_a_form_without_its_csrf_token_is_refused(pages_app):
    operator = log_in_as(pages_app, "operator")
    merchant_id = pages_app.config["WORLD"]["merchant_id"]
    refused = operator.post(f"/admin/merchants/{merchant_id}/suspend", data={})
    assert refused.status_code == 400
    assert "form has expired" in refused.get_data(as_text=True)
    assert audit_actions(pages_app) == []


def test_every_post_form_carries_the_csrf_field_and_every_field_a_label(pages_app):
    operator = log_in_as(pages_app, "operator")
    world = pages_app.config["WORLD"]
    with pages_app.app_context():
        staff_id = db.session.scalar(select(Staff.id).order_by(Staff.id))
    pages = [
        "/admin/",
        "/admin/merchants/",
        f"/admin/merchants/{world['merchant_id']}",
        "/admin/staff/",
        f"/admin/staff/{staff_id}",
        "/admin/nodes/",
        "/admin/nodes/RU-WH",
        f"/admin/lanes/{world['lane']}",
        "/admin/policies/",
        "/admin/audit/",
    ]
    for url in pages:
        response = operator.get(url)
        assert response.status_code == 200, url
        document = lxml.html.fromstring(response.get_data(as_text=True))
        for form in document.xpath("//form[@method='post']"):
            assert form.xpath(".//input[@type='hidden' and @name='csrf_token']"), (url, form.action)
        labelled = set(document.xpath("//label/@for"))
        for field in document.xpath("//input | //select | //textarea"):
            if field.get("type") in ("hidden", "submit"):
                continue
            inside_label = bool(field.xpath("ancestor::label"))
            assert inside_label or field.get("id") in labelled, (url, field.get("name"))


# ------------------------------------------------------------------ merchants


def test_an_operator_onboards_suspends_and_reactivates_a_merchant_on_the_pages(pages_app):
    operator = log_in_as(pages_app, "operator")
    made = post_form(operator, "/admin/merchants/", {"name": "Kyrgyz Felt", "country": "KG"},
                     page="/admin/merchants/")  # fmt: skip
    assert made.status_code == 200
    page = made.get_data(as_text=True)
    token = re.search(r"pvm_[A-Za-z0-9_-]+", page).group(0)
    assert "copy it now" in page
    api = pages_app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/merchant/skus", headers=bearer).status_code == 200
    with pages_app.app_context():
        merchant_id = db.session.scalar(select(Merchant.id).where(Merchant.name == "Kyrgyz Felt"))
        assert db.session.get(Merchant, merchant_id).currency == "KGS"
    # Shown once: the merchant's page later shows only the first characters.
    detail = operator.get(f"/admin/merchants/{merchant_id}").get_data(as_text=True)
    assert token not in detail
    assert token[:12] in detail

    suspended = post_form(operator, f"/admin/merchants/{merchant_id}/suspend",
                          {"reason": "documents expired"})  # fmt: skip
    assert suspended.status_code == 303
    shown = operator.get(suspended.headers["Location"]).get_data(as_text=True)
    assert "Suspended: its tokens are refused" in shown
    assert api.get("/api/v1/merchant/skus", headers=bearer).status_code == 401
    post_form(operator, f"/admin/merchants/{merchant_id}/reactivate")
    assert api.get("/api/v1/merchant/skus", headers=bearer).status_code == 200

    listing = operator.get("/admin/merchants/?status=active&q=felt").get_data(as_text=True)
    assert "Kyrgyz Felt" in listing
    assert "Sladosti" not in listing
    assert audit_actions(pages_app) == [
        "merchant.create",
        "merchant.suspend",
        "merchant.reactivate",
    ]


def test_a_merchant_form_with_a_bad_country_shows_the_error_and_keeps_the_input(pages_app):
    operator = log_in_as(pages_app, "operator")
    refused = post_form(operator, "/admin/merchants/", {"name": "Nowhere Ltd", "country": "QQ"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "is not an ISO 3166-1 alpha-2 country code" in page
    assert 'value="Nowhere Ltd"' in page


def test_merchant_tokens_are_issued_once_and_revoked_on_the_pages(pages_app):
    operator = log_in_as(pages_app, "operator")
    merchant_id = pages_app.config["WORLD"]["merchant_id"]
    issued = post_form(operator, f"/admin/merchants/{merchant_id}/tokens", {"label": "erp"})
    token = re.search(r"pvm_[A-Za-z0-9_-]+", issued.get_data(as_text=True)).group(0)
    with pages_app.app_context():
        token_id = db.session.scalar(
            select(ApiToken.id).where(ApiToken.label == "erp", ApiToken.merchant_id == merchant_id)
        )
    revoked = post_form(operator, f"/admin/merchants/{merchant_id}/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    api = pages_app.test_client()
    refused = api.get("/api/v1/merchant/skus", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


# ------------------------------------------------------------------ staff


def test_an_operator_adds_staff_whose_one_time_password_logs_them_in(pages_app):
    operator = log_in_as(pages_app, "operator")
    new_picker = {"email": "new.picker@example.com", "node": "CN-SFH", "role": "picker"}
    made = post_form(operator, "/admin/staff/", new_picker)
    assert made.status_code == 200
    page = made.get_data(as_text=True)
    password = re.search(r'class="secret">([a-z0-9-]+)<', page).group(1)
    newcomer = pages_app.test_client()
    login = newcomer.post("/warehouse/login", data={
        "csrf_token": csrf_of(newcomer.get("/warehouse/login")),
        "email": "new.picker@example.com", "password": password,
    })  # fmt: skip
    assert login.status_code == 303
    assert newcomer.get("/warehouse/").status_code == 200
    assert newcomer.get("/admin/").status_code == 404

    with pages_app.app_context():
        staff_id = db.session.scalar(
            select(Staff.id).where(Staff.email == "new.picker@example.com")
        )
    assert password not in operator.get(f"/admin/staff/{staff_id}").get_data(as_text=True)
    moved = post_form(operator, f"/admin/staff/{staff_id}", {"node": "CN-URC", "role": "picker"})
    assert moved.status_code == 303
    with pages_app.app_context():
        assert db.session.get(Staff, staff_id).node.code == "CN-URC"

    disabled = post_form(operator, f"/admin/staff/{staff_id}/disable")
    assert disabled.status_code == 303
    # Their session ends at once.
    ended = newcomer.get("/warehouse/")
    assert ended.status_code == 302
    assert audit_actions(pages_app) == ["staff.create", "staff.update", "staff.update"]
    with pages_app.app_context():
        for entry in db.session.scalars(select(AuditEntry)):
            assert password not in f"{entry.before}{entry.after}"


def test_an_operator_cannot_disable_themselves_on_the_pages(pages_app):
    operator = log_in_as(pages_app, "operator")
    with pages_app.app_context():
        own_id = db.session.scalar(select(Staff.id).where(Staff.email == "boss@example.com"))
    refused = post_form(operator, f"/admin/staff/{own_id}/disable")
    assert refused.status_code == 303
    shown = operator.get(refused.headers["Location"]).get_data(as_text=True)
    assert "cannot disable or demote yourself" in shown
    with pages_app.app_context():
        assert db.session.get(Staff, own_id).is_active is True


def test_a_password_reset_on_the_pages_shows_a_new_password_once(pages_app):
    operator = log_in_as(pages_app, "operator")
    picker = log_in_as(pages_app, "picker")
    with pages_app.app_context():
        picker_id = db.session.scalar(select(Staff.id).where(Staff.email == "picker@example.com"))
    reset = post_form(operator, f"/admin/staff/{picker_id}/password")
    assert reset.status_code == 200
    assert re.search(r'class="secret">[a-z0-9-]{20,}<', reset.get_data(as_text=True))
    assert picker.get("/warehouse/").status_code == 302  # the old session ended


# ------------------------------------------------------------------ nodes and lanes


def test_an_operator_changes_a_node_and_a_lane_on_the_pages(pages_app):
    operator = log_in_as(pages_app, "operator")
    saved = post_form(operator, "/admin/nodes/RU-WH", {"priority": "7", "city": "Novosibirsk",
                      "is_active": "on"})  # fmt: skip
    assert saved.status_code == 303
    with pages_app.app_context():
        node = db.session.scalar(select(Node).where(Node.code == "RU-WH"))
        assert (node.priority, node.city, node.is_active) == (7, "Novosibirsk", True)

    code = pages_app.config["WORLD"]["lane"]
    form = lxml.html.fromstring(operator.get(f"/admin/lanes/{code}").get_data(as_text=True))
    fields = {
        field.get("name"): field.get("value") or ""
        for field in form.xpath("//form[@method='post']//input")
        if field.get("name") and field.get("type") != "checkbox"
    }
    fields.update({"cutoff_time": "13:15", "leg1_transit_days_max": "9", "active": "on"})
    fields.pop("csrf_token")
    changed = post_form(operator, f"/admin/lanes/{code}", fields)
    assert changed.status_code == 303, changed.get_data(as_text=True)
    with pages_app.app_context():
        lane = get_lane(code)
    assert lane["cutoff_time"] == "13:15"
    assert lane["legs"][0]["transit_days"]["max"] == 9

    bad = post_form(operator, f"/admin/lanes/{code}", {**fields, "cutoff_time": "31:00"})
    assert bad.status_code == 303
    assert "cutoff_time" in operator.get(bad.headers["Location"]).get_data(as_text=True)
    assert audit_actions(pages_app) == ["node.update", "lane.update"]


def test_units_are_put_into_a_bin_from_the_node_page(pages_app):
    operator = log_in_as(pages_app, "operator")
    moved = post_form(operator, "/admin/nodes/RU-WH/bins",
                      {"sku": "ALENKA-100", "to_bin": "A-01-02", "quantity": "3"})  # fmt: skip
    assert moved.status_code == 303
    page = operator.get("/admin/nodes/RU-WH").get_data(as_text=True)
    assert "A-01-02" in page
    assert "3 × ALENKA-100 are in A-01-02" in page


# ------------------------------------------------------------------ customs policies and audit


def test_an_operator_adds_a_customs_row_starting_from_an_existing_rule_set(pages_app):
    operator = log_in_as(pages_app, "operator")
    listing = operator.get("/admin/policies/").get_data(as_text=True)
    assert "EAEU-2026-07@2026-07-01" in listing
    prefilled = operator.get("/admin/policies/?from=EAEU-2026-07@2026-07-01")
    textarea = lxml.html.fromstring(prefilled.get_data(as_text=True)).xpath("//textarea")[0]
    rule_set = json.loads(textarea.text_content())
    assert "effective_to" not in rule_set
    assert rule_set["duty_rate"] == "0.05"
    start = (datetime.now(UTC).date() + timedelta(days=20)).isoformat()
    rule_set.update({"id": "EAEU-PAGE-TEST", "effective_from": start, "duty_rate": "0.06"})

    added = post_form(operator, "/admin/policies/",
                      {"kind": "eaeu", "rule_set": json.dumps(rule_set)})  # fmt: skip
    assert added.status_code == 303
    shown = operator.get("/admin/policies/").get_data(as_text=True)
    assert f"EAEU-PAGE-TEST@{start}" in shown
    assert "scheduled" in shown

    broken = post_form(operator, "/admin/policies/", {"kind": "eaeu", "rule_set": "{not json"})
    assert broken.status_code == 422
    assert "Not JSON" in broken.get_data(as_text=True)
    assert audit_actions(pages_app) == ["customs_policy.add"]


def test_the_audit_page_lists_and_filters_entries(pages_app):
    operator = log_in_as(pages_app, "operator")
    merchant_id = pages_app.config["WORLD"]["merchant_id"]
    post_form(operator, f"/admin/merchants/{merchant_id}/suspend", {"reason": "checking"})
    post_form(operator, "/admin/nodes/CN-SFH", {"priority": "2", "is_active": "on"})
    everything = operator.get("/admin/audit/").get_data(as_text=True)
    assert "<code>merchant.suspend</code>" in everything
    assert "<code>node.update</code>" in everything
    only_nodes = operator.get("/admin/audit/?target_type=node").get_data(as_text=True)
    assert "<code>node.update</code>" in only_nodes
    assert "<code>merchant.suspend</code>" not in only_nodes
    future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    none_yet = operator.get(f"/admin/audit/?since={future}").get_data(as_text=True)
    assert "Nothing recorded for these filters" in none_yet
    bad = operator.get("/admin/audit/?since=soon")
    assert bad.status_code == 200
    assert "since: use YYYY-MM-DD" in bad.get_data(as_text=True)
