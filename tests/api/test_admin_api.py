"""The admin API (/api/v1/admin): operators run merchants, staff, nodes, bins, lanes
and customs policy rows; every change is audited; nobody else gets in."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from werkzeug.routing.converters import AnyConverter, IntegerConverter

from catalog.models import Merchant
from orders.customs.in_force import policy_for
from shop.core.audit import AuditEntry
from shop.core.extensions import db
from tests.checkout_world import build_world, order_body
from warehouse.models import Staff

ADMIN = "/api/v1/admin"
SECRET_SHAPES = re.compile(r"pv[ms]_[A-Za-z0-9_-]{20,}|scrypt:")


@pytest.fixture
def admin_app(app):
    with app.app_context():
        world = build_world()
        world["merchant_id"] = db.session.scalar(select(Merchant.id))
        world["operator_id"] = db.session.scalar(
            select(Staff.id).where(Staff.email == "ops@example.com")
        )
    app.config["WORLD"] = world
    return app


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def ops(app):
    return bearer(app.config["WORLD"]["operator"])


def audit_entries(app, **where):
    with app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return [
            {
                "action": e.action,
                "target_id": e.target_id,
                "actor": e.actor,
                "staff_id": e.staff_id,
                "before": e.before,
                "after": e.after,
            }
            for e in db.session.scalars(query)
        ]


def assert_no_secrets(app):
    """No token and no password hash anywhere in the audit log."""
    with app.app_context():
        for entry in db.session.scalars(select(AuditEntry)):
            text = f"{entry.before} {entry.after}"
            assert not SECRET_SHAPES.search(text), (entry.action, text)


# ------------------------------------------------------------------ who gets in


def admin_api_routes(app):
    """Every (method, URL) under /api/v1/admin, whoever's blueprint it is."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(ADMIN + "/") and rule.rule != ADMIN:
            continue
        url = rule.rule
        for name in rule.arguments:
            converter = rule._converters[name]
            if isinstance(converter, AnyConverter):
                value = sorted(converter.items)[0]
            else:
                value = "1" if isinstance(converter, IntegerConverter) else "X"
            url = re.sub(rf"<[^>]*\b{name}>", value, url)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url, rule.endpoint))
    return found


def test_only_operators_get_in_anywhere_under_the_admin_api(admin_app):
    world = admin_app.config["WORLD"]
    client = admin_app.test_client()
    routes = admin_api_routes(admin_app)
    # Ours, at least; the rates, reports and customs-record routes are checked alike.
    assert len(routes) >= 25
    for method, url, endpoint in routes:
        anonymous = client.open(url, method=method, json={})
        assert anonymous.status_code == 401, (method, url, anonymous.status_code)
        assert anonymous.content_type == "application/problem+json"
        merchant = client.open(url, method=method, json={}, headers=bearer(world["merchant_token"]))
        assert merchant.status_code == 401, (method, url, merchant.status_code)
        picker = client.open(url, method=method, json={}, headers=bearer(world["picker_ru"]))
        # As for a path that does not exist: the admin API does not reveal itself.
        assert picker.status_code == 404, (method, url, picker.status_code)
        assert picker.get_json()["code"] == "not_found"
        if method == "GET":
            operator = client.get(url, headers=ops(admin_app))
            assert operator.status_code not in (401, 403), (url, operator.status_code)
            # Ours answer a bare GET; the other blueprints' may want parameters (422).
            if endpoint.startswith("admin.") and "/X" not in url and "/1" not in url:
                assert operator.status_code == 200, (url, operator.get_json())


def test_a_disabled_operator_or_revoked_token_is_refused(admin_app):
    client = admin_app.test_client()
    with admin_app.app_context():
        db.session.execute(
            Staff.__table__.update()
            .where(Staff.id == admin_app.config["WORLD"]["operator_id"])
            .values(is_active=False)
        )
        db.session.commit()
    assert client.get(f"{ADMIN}/merchants", headers=ops(admin_app)).status_code == 401


def test_the_openapi_document_declares_the_operator_token_on_admin_operations(admin_app):
    document = admin_app.test_client().get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/admin/merchants"]["post"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "404", "201"} <= set(operation["responses"])
    assert "/api/v1/admin/customs/policies" in document["paths"]


# ------------------------------------------------------------------ merchants


def test_an_operator_onboards_a_merchant_whose_token_works_once_shown(admin_app):
    client = admin_app.test_client()
    made = client.post(f"{ADMIN}/merchants", json={"name": "Altai Honey", "country": "ru"},
                       headers=ops(admin_app))  # fmt: skip
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["country"] == "RU"
    assert body["currency"] == "RUB"
    assert body["status"] == "active"
    token = body["token"]
    assert token.startswith("pvm_")
    assert client.get("/api/v1/merchant/skus", headers=bearer(token)).status_code == 200

    detail = client.get(f"{ADMIN}/merchants/{body['id']}", headers=ops(admin_app)).get_json()
    assert len(detail["tokens"]) == 1
    assert detail["tokens"][0]["prefix"] == token[:12]
    assert token not in str(detail)

    listing = client.get(f"{ADMIN}/merchants?q=altai", headers=ops(admin_app)).get_json()
    assert [m["name"] for m in listing["items"]] == ["Altai Honey"]
    assert listing["total"] == 1
    assert listing["pages"] == 1

    (entry,) = audit_entries(admin_app, action="merchant.create")
    assert entry["target_id"] == str(body["id"])
    assert entry["after"]["name"] == "Altai Honey"
    assert entry["staff_id"] == admin_app.config["WORLD"]["operator_id"]
    assert_no_secrets(admin_app)


def test_a_merchant_with_a_bad_country_is_refused_field_by_field(admin_app):
    made = admin_app.test_client().post(
        f"{ADMIN}/merchants", json={"name": "X", "country": "ZZ"}, headers=ops(admin_app)
    )
    assert made.status_code == 422
    assert "country" in made.get_json()["errors"]
    assert audit_entries(admin_app) == []


def test_merchants_are_listed_a_page_at_a_time(admin_app):
    client = admin_app.test_client()
    for n in range(3):
        client.post(f"{ADMIN}/merchants", json={"name": f"M{n}", "country": "KZ"},
                    headers=ops(admin_app))  # fmt: skip
    page = client.get(f"{ADMIN}/merchants?per_page=2&page=2", headers=ops(admin_app)).get_json()
    assert page["total"] == 4
    assert page["pages"] == 2
    assert len(page["items"]) == 2
    bad = client.get(f"{ADMIN}/merchants?per_page=0", headers=ops(admin_app))
    assert bad.status_code == 422


def test_a_suspended_merchant_is_refused_and_leaves_the_storefront_but_its_orders_go_on(
    admin_app,
):
    world = admin_app.config["WORLD"]
    client = admin_app.test_client()
    merchant_id = world["merchant_id"]
    on_sale = client.get("/api/v1/products?per_page=100").get_json()["total"]
    assert on_sale > 0
    product_id = client.get("/api/v1/products").get_json()["items"][0]["id"]
    to_pay = client.post("/api/v1/orders", json=order_body("ALENKA-100", 1)).get_json()
    to_cancel = client.post("/api/v1/orders", json=order_body("LAST-UNITS", 1)).get_json()

    suspended = client.post(f"{ADMIN}/merchants/{merchant_id}/suspend",
                            json={"reason": "unpaid fees"}, headers=ops(admin_app))  # fmt: skip
    assert suspended.status_code == 200
    assert suspended.get_json()["status"] == "suspended"

    refused = client.get("/api/v1/merchant/skus", headers=bearer(world["merchant_token"]))
    assert refused.status_code == 401
    assert "suspended" in refused.get_json()["detail"]
    assert client.get("/api/v1/products").get_json()["total"] == 0
    assert client.get(f"/api/v1/products/{product_id}").status_code == 404

    # Orders in flight continue: payment recorded, cancel works and returns stock.
    paid = client.post(f"/api/v1/orders/{to_pay['number']}/mark-paid", json={},
                       headers=ops(admin_app))  # fmt: skip
    assert paid.status_code == 200, paid.get_json()
    cancelled = client.post(f"/api/v1/orders/{to_cancel['number']}/cancel", json={},
                            headers={"X-Order-Token": to_cancel["token"]})  # fmt: skip
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["status"] == "cancelled"

    again = client.post(f"{ADMIN}/merchants/{merchant_id}/suspend", json={},
                        headers=ops(admin_app))  # fmt: skip
    assert again.status_code == 200
    assert len(audit_entries(admin_app, action="merchant.suspend")) == 1

    back = client.post(f"{ADMIN}/merchants/{merchant_id}/reactivate", headers=ops(admin_app))
    assert back.status_code == 200
    assert back.get_json()["status"] == "active"
    assert (
        client.get("/api/v1/merchant/skus", headers=bearer(world["merchant_token"])).status_code
        == 200
    )
    assert client.get("/api/v1/products?per_page=100").get_json()["total"] == on_sale

    suspend, reactivate = (
        audit_entries(admin_app, action="merchant.suspend")
        + audit_entries(admin_app, action="merchant.reactivate")
    )  # fmt: skip
    assert suspend["before"]["status"] == "active"
    assert suspend["after"]["status"] == "suspended"
    assert suspend["after"]["reason"] == "unpaid fees"
    assert reactivate["before"]["status"] == "suspended"
    assert reactivate["after"]["status"] == "active"


def test_a_suspended_merchants_skus_cannot_be_ordered_by_code(admin_app):
    client = admin_app.test_client()
    merchant_id = admin_app.config["WORLD"]["merchant_id"]
    client.post(f"{ADMIN}/merchants/{merchant_id}/suspend", json={}, headers=ops(admin_app))
    refused = client.post("/api/v1/orders", json=order_body("ALENKA-100", 1))
    assert refused.status_code == 422
    assert "lines.0.sku" in refused.get_json()["errors"]


def test_merchant_tokens_are_issued_once_listed_without_secrets_and_revoked(admin_app):
    world = admin_app.config["WORLD"]
    client = admin_app.test_client()
    url = f"{ADMIN}/merchants/{world['merchant_id']}/tokens"
    issued = client.post(url, json={"label": "erp"}, headers=ops(admin_app))
    assert issued.status_code == 201
    token = issued.get_json()["token"]
    assert client.get("/api/v1/merchant/skus", headers=bearer(token)).status_code == 200

    listed = client.get(url, headers=ops(admin_app)).get_json()
    assert [t["label"] for t in listed] == ["cli", "erp"]
    assert "token" not in listed[1]
    assert token not in str(listed)

    revoked = client.delete(f"{url}/{issued.get_json()['id']}", headers=ops(admin_app))
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"]
    assert client.get("/api/v1/merchant/skus", headers=bearer(token)).status_code == 401
    # The first token is untouched.
    assert (
        client.get("/api/v1/merchant/skus", headers=bearer(world["merchant_token"])).status_code
        == 200
    )

    other = client.post(f"{ADMIN}/merchants", json={"name": "Other", "country": "KZ"},
                        headers=ops(admin_app)).get_json()  # fmt: skip
    not_theirs = client.delete(
        f"{ADMIN}/merchants/{other['id']}/tokens/{listed[0]['id']}", headers=ops(admin_app)
    )
    assert not_theirs.status_code == 404
    actions = [e["action"] for e in audit_entries(admin_app, target_type="merchant")]
    assert actions.count("merchant.token.issue") == 1
    assert actions.count("merchant.token.revoke") == 1
    assert_no_secrets(admin_app)


def test_an_unknown_merchant_is_404(admin_app):
    client = admin_app.test_client()
    assert client.get(f"{ADMIN}/merchants/999", headers=ops(admin_app)).status_code == 404
    gone = client.post(f"{ADMIN}/merchants/999/suspend", json={}, headers=ops(admin_app))
    assert gone.status_code == 404


# ------------------------------------------------------------------ staff


def test_an_operator_adds_staff_with_a_password_and_token_shown_once(admin_app):
    client = admin_app.test_client()
    made = client.post(f"{ADMIN}/staff", json={"email": "New@Example.com", "node": "cn-urc",
                       "issue_token": True}, headers=ops(admin_app))  # fmt: skip
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["email"] == "new@example.com"
    assert body["node"] == "CN-URC"
    assert body["role"] == "picker"
    assert len(body["password"]) >= 20
    nodes = client.get("/api/v1/warehouse/nodes", headers=bearer(body["token"]))
    assert nodes.status_code == 200
    assert [n["code"] for n in nodes.get_json()["items"]] == ["CN-URC"]

    detail = client.get(f"{ADMIN}/staff/{body['id']}", headers=ops(admin_app)).get_json()
    assert "password" not in detail
    assert body["token"] not in str(detail)
    assert len(detail["tokens"]) == 1

    listed = client.get(f"{ADMIN}/staff?node=CN-URC", headers=ops(admin_app)).get_json()
    assert [s["email"] for s in listed["items"]] == ["new@example.com"]
    operators = client.get(f"{ADMIN}/staff?role=operator", headers=ops(admin_app)).get_json()
    assert [s["email"] for s in operators["items"]] == ["ops@example.com"]

    (entry,) = audit_entries(admin_app, action="staff.create")
    assert entry["after"]["email"] == "new@example.com"
    assert body["password"] not in str(entry)
    assert_no_secrets(admin_app)

    taken = client.post(f"{ADMIN}/staff", json={"email": "new@example.com", "node": "CN-URC"},
                        headers=ops(admin_app))  # fmt: skip
    assert taken.status_code == 409
    nodeless = client.post(f"{ADMIN}/staff", json={"email": "p@example.com"},
                           headers=ops(admin_app))  # fmt: skip
    assert nodeless.status_code == 422
    assert "node" in nodeless.get_json()["errors"]


def test_staff_move_node_change_role_and_a_disabled_member_is_locked_out(admin_app):
    world = admin_app.config["WORLD"]
    client = admin_app.test_client()
    with admin_app.app_context():
        picker = db.session.scalars(select(Staff).where(Staff.email == "ru@example.com")).one()
        picker_id, epoch = picker.id, picker.session_epoch
    url = f"{ADMIN}/staff/{picker_id}"
    moved = client.patch(url, json={"node": "CN-SFH"}, headers=ops(admin_app))
    assert moved.status_code == 200
    assert moved.get_json()["node"] == "CN-SFH"
    nodes = client.get("/api/v1/warehouse/nodes", headers=bearer(world["picker_ru"])).get_json()
    assert [n["code"] for n in nodes["items"]] == ["CN-SFH"]

    promoted = client.patch(url, json={"role": "operator", "node": None}, headers=ops(admin_app))
    assert promoted.get_json()["role"] == "operator"
    assert promoted.get_json()["node"] is None
    # Now an operator: the admin API opens to them.
    assert client.get(f"{ADMIN}/nodes", headers=bearer(world["picker_ru"])).status_code == 200

    disabled = client.patch(url, json={"is_active": False}, headers=ops(admin_app))
    assert disabled.status_code == 200
    assert disabled.get_json()["is_active"] is False
    refused = client.get("/api/v1/warehouse/nodes", headers=bearer(world["picker_ru"]))
    assert refused.status_code == 401
    with admin_app.app_context():
        assert db.session.get(Staff, picker_id).session_epoch == epoch + 1

    entries = audit_entries(admin_app, action="staff.update")
    assert [(e["before"]["node"], e["after"]["node"]) for e in entries[:1]] == [("RU-WH", "CN-SFH")]
    assert entries[1]["before"]["role"] == "picker"
    assert entries[1]["after"]["role"] == "operator"
    assert entries[2]["after"]["is_active"] is False
    assert entries[2]["after"]["tokens_revoked"] == 1


def test_an_operator_without_a_node_becomes_a_picker_at_a_node_in_one_change(admin_app):
    client = admin_app.test_client()
    made = client.post(f"{ADMIN}/staff", json={"email": "lead@example.com", "role": "operator"},
                       headers=ops(admin_app)).get_json()  # fmt: skip
    assert made["node"] is None
    moved = client.patch(f"{ADMIN}/staff/{made['id']}", json={"role": "picker", "node": "RU-WH"},
                         headers=ops(admin_app))  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["role"], moved.get_json()["node"]) == ("picker", "RU-WH")
    (entry,) = audit_entries(admin_app, action="staff.update")
    assert (entry["before"]["node"], entry["after"]["node"]) == (None, "RU-WH")


def test_an_operator_cannot_disable_or_demote_themselves(admin_app):
    client = admin_app.test_client()
    url = f"{ADMIN}/staff/{admin_app.config['WORLD']['operator_id']}"
    for change in ({"is_active": False}, {"role": "picker", "node": "RU-WH"}):
        refused = client.patch(url, json=change, headers=ops(admin_app))
        assert refused.status_code == 422
        assert "staff" in refused.get_json()["errors"]
    assert audit_entries(admin_app) == []


def test_a_password_reset_gives_a_new_one_time_password(admin_app):
    client = admin_app.test_client()
    with admin_app.app_context():
        picker_id = db.session.scalar(select(Staff.id).where(Staff.email == "ru@example.com"))
        old_hash = db.session.get(Staff, picker_id).password_hash
    reset = client.post(f"{ADMIN}/staff/{picker_id}/password", headers=ops(admin_app))
    assert reset.status_code == 200
    password = reset.get_json()["password"]
    with admin_app.app_context():
        from shop.core.auth import password_matches

        staff = db.session.get(Staff, picker_id)
        assert staff.password_hash != old_hash
        assert password_matches(staff.password_hash, password)
    (entry,) = audit_entries(admin_app, action="staff.password_reset")
    assert password not in str(entry)
    token = client.post(f"{ADMIN}/staff/{picker_id}/tokens", json={"label": "scanner"},
                        headers=ops(admin_app))  # fmt: skip
    assert token.status_code == 201
    assert (
        client.get("/api/v1/warehouse/nodes", headers=bearer(token.get_json()["token"])).status_code
        == 200
    )
    assert_no_secrets(admin_app)


# ------------------------------------------------------------------ nodes and bins


def test_nodes_are_listed_and_a_change_of_priority_is_audited(admin_app):
    client = admin_app.test_client()
    listing = client.get(f"{ADMIN}/nodes", headers=ops(admin_app)).get_json()
    codes = [n["code"] for n in listing["items"]]
    assert codes == ["CN-SFH", "CN-URC", "RU-USS", "RU-WH"]
    ru_wh = next(n for n in listing["items"] if n["code"] == "RU-WH")
    assert ru_wh["lanes"]
    assert ru_wh["staff"] == 1

    changed = client.patch(f"{ADMIN}/nodes/ru-wh", json={"priority": 5, "is_active": False},
                           headers=ops(admin_app))  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["priority"] == 5
    assert changed.get_json()["is_active"] is False
    assert changed.get_json()["lanes"][0]["legs"]
    # Routing no longer sends orders there.
    refused = client.post("/api/v1/orders", json=order_body("ALENKA-100", 1))
    assert refused.status_code in (409, 422), refused.get_json()

    (entry,) = audit_entries(admin_app, action="node.update")
    assert entry["target_id"] == "RU-WH"
    assert (entry["before"]["priority"], entry["after"]["priority"]) != (5, 5)
    assert entry["before"]["is_active"] is True
    assert entry["after"]["is_active"] is False
    bad = client.patch(f"{ADMIN}/nodes/RU-WH", json={"priority": -1}, headers=ops(admin_app))
    assert bad.status_code == 422
    assert client.get(f"{ADMIN}/nodes/XX-NOPE", headers=ops(admin_app)).status_code == 404


def test_units_are_put_away_into_bins_and_moved_between_them(admin_app):
    client = admin_app.test_client()
    url = f"{ADMIN}/nodes/RU-WH/bins"
    start = client.get(url, headers=ops(admin_app)).get_json()
    unbinned = {u["sku"]: u["units"] for u in start["unbinned"]}
    assert unbinned["ALENKA-100"] == 10

    put = client.post(url, json={"sku": "ALENKA-100", "to_bin": "a-01-01", "quantity": 6},
                      headers=ops(admin_app))  # fmt: skip
    assert put.status_code == 201, put.get_json()
    assert put.get_json()["to"] == {"bin": "A-01-01", "units": 6}
    assert put.get_json()["from"] == {"bin": None, "units": 4}
    moved = client.post(url, json={"sku": "ALENKA-100", "from_bin": "A-01-01",
                        "to_bin": "B-02-01", "quantity": 2}, headers=ops(admin_app))  # fmt: skip
    assert moved.status_code == 201
    after = client.get(url, headers=ops(admin_app)).get_json()
    assert after["bins"] == [
        {"bin": "A-01-01", "skus": [{"sku": "ALENKA-100", "units": 4}]},
        {"bin": "B-02-01", "skus": [{"sku": "ALENKA-100", "units": 2}]},
    ]
    assert {u["sku"]: u["units"] for u in after["unbinned"]}["ALENKA-100"] == 4

    too_many = client.post(url, json={"sku": "ALENKA-100", "from_bin": "B-02-01",
                           "to_bin": "C-1", "quantity": 3}, headers=ops(admin_app))  # fmt: skip
    assert too_many.status_code == 422
    assert "quantity" in too_many.get_json()["errors"]
    unknown = client.post(url, json={"sku": "NOPE", "to_bin": "C-1", "quantity": 1},
                          headers=ops(admin_app))  # fmt: skip
    assert unknown.status_code == 422
    assert "sku" in unknown.get_json()["errors"]
    entries = audit_entries(admin_app, action="node.bin.move")
    assert len(entries) == 2
    assert entries[1]["before"]["from"] == {"bin": "A-01-01", "units": 6}
    assert entries[1]["after"]["from"] == {"bin": "A-01-01", "units": 4}


# ------------------------------------------------------------------ lanes


def test_a_lane_cut_off_and_legs_are_changed_and_audited_with_before_and_after(admin_app):
    client = admin_app.test_client()
    lanes = client.get(f"{ADMIN}/lanes?node=RU-WH", headers=ops(admin_app)).get_json()
    assert lanes["total"] >= 1
    assert {lane["node"] for lane in lanes["items"]} == {"RU-WH"}
    code = lanes["items"][0]["code"]
    before = client.get(f"{ADMIN}/lanes/{code}", headers=ops(admin_app)).get_json()
    legs = [
        {"carrier": "manual", "service": "truck", "transit_days_min": 1, "transit_days_max": 2,
         "cost_base": "30", "cost_per_kg": "4.5", "cost_currency": "CNY"},
        {"carrier": "manual", "service": "last mile", "transit_days_min": 2,
         "transit_days_max": 3, "cost_base": "10", "cost_per_kg": "0",
         "cost_currency": "rub", "customs_mode": "9610", "crossing": "Pogranichny"},
    ]  # fmt: skip
    changed = client.put(f"{ADMIN}/lanes/{code}", json={"cutoff_time": "14:30", "legs": legs},
                         headers=ops(admin_app))  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    lane = changed.get_json()
    assert lane["cutoff_time"] == "14:30"
    assert lane["transit_days"] == {"min": 3, "max": 5}
    assert [leg["service"] for leg in lane["legs"]] == ["truck", "last mile"]
    assert Decimal(lane["legs"][1]["cost"]["base"]["amount"]) == 10
    assert lane["legs"][1]["cost"]["base"]["currency"] == "RUB"

    (entry,) = audit_entries(admin_app, action="lane.update")
    assert entry["target_id"] == code
    assert entry["before"] == before
    assert entry["after"]["cutoff_time"] == "14:30"
    assert len(entry["after"]["legs"]) == 2


def test_a_bad_lane_change_changes_nothing_and_audits_nothing(admin_app):
    client = admin_app.test_client()
    code = client.get(f"{ADMIN}/lanes", headers=ops(admin_app)).get_json()["items"][0]["code"]
    before = client.get(f"{ADMIN}/lanes/{code}", headers=ops(admin_app)).get_json()
    legs = [{"carrier": "manual", "service": "x", "transit_days_min": 1, "transit_days_max": 2,
             "cost_base": "1", "cost_per_kg": "1", "cost_currency": "CNY"}]  # fmt: skip
    bad = client.put(f"{ADMIN}/lanes/{code}", json={"cutoff_time": "25:00", "legs": legs},
                     headers=ops(admin_app))  # fmt: skip
    assert bad.status_code == 422
    assert "cutoff_time" in bad.get_json()["errors"]
    backwards = [{**legs[0], "transit_days_min": 5}]
    bad_legs = client.put(f"{ADMIN}/lanes/{code}", json={"legs": backwards},
                          headers=ops(admin_app))  # fmt: skip
    assert bad_legs.status_code == 422
    assert "legs" in bad_legs.get_json()["errors"]
    assert client.get(f"{ADMIN}/lanes/{code}", headers=ops(admin_app)).get_json() == before
    assert audit_entries(admin_app) == []


def test_a_lane_saved_unchanged_audits_nothing(admin_app):
    client = admin_app.test_client()
    code = client.get(f"{ADMIN}/lanes", headers=ops(admin_app)).get_json()["items"][0]["code"]
    lane = client.get(f"{ADMIN}/lanes/{code}", headers=ops(admin_app)).get_json()
    same = client.put(f"{ADMIN}/lanes/{code}", json={"cutoff_time": lane["cutoff_time"]},
                      headers=ops(admin_app))  # fmt: skip
    assert same.status_code == 200, same.get_json()
    assert audit_entries(admin_app, action="lane.update") == []
    changed = client.put(f"{ADMIN}/lanes/{code}", json={"cutoff_time": "09:15"},
                         headers=ops(admin_app))  # fmt: skip
    assert changed.status_code == 200
    (entry,) = audit_entries(admin_app, action="lane.update")
    assert (entry["before"]["cutoff_time"], entry["after"]["cutoff_time"]) == (
        lane["cutoff_time"],
        "09:15",
    )


# ------------------------------------------------------------------ customs policies


def eaeu_row(effective_from: date, countries=("RU",), rule_id="EAEU-RU-TEST") -> dict:
    return {
        "kind": "eaeu",
        "rule_set": {
            "policy": "EAEU-2026-07",
            "id": rule_id,
            "effective_from": effective_from.isoformat(),
            "countries": list(countries),
            "source": "test decree",
            "notes": [],
            "threshold": {"currency": "EUR", "value": "100", "weight_kg": "31"},
            "regime": "whole_value",
            "duty_rate": "0.07",
            "duty_min_per_kg": "1",
            "vat": {"by_country": {c: {"default": "0.22"} for c in countries}},
        },
    }


def test_customs_policies_list_the_shipped_rule_sets_with_their_figures(admin_app):
    listing = admin_app.test_client().get(f"{ADMIN}/customs/policies", headers=ops(admin_app))
    assert listing.status_code == 200
    items = {p["version"]: p for p in listing.get_json()["items"]}
    current = items["EAEU-2026-07@2026-07-01"]
    assert current["origin"] == "file"
    assert current["file"] == "eaeu.json"
    assert current["figures"]["duty_rate"] == "0.05"
    assert items["EAEU-2024-04@2024-04-01"]["status"] == "past"
    assert "CN" in items["CN-CBEC-2019@2019-04-01"]["countries"]


def test_a_new_policy_row_takes_over_its_countries_from_its_date(admin_app):
    client = admin_app.test_client()
    start = datetime.now(UTC).date() + timedelta(days=30)
    added = client.post(f"{ADMIN}/customs/policies", json=eaeu_row(start),
                        headers=ops(admin_app))  # fmt: skip
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["version"] == f"EAEU-RU-TEST@{start.isoformat()}"

    listing = client.get(f"{ADMIN}/customs/policies?country=RU", headers=ops(admin_app))
    items = {p["version"]: p for p in listing.get_json()["items"]}
    old = items["EAEU-2026-07@2026-07-01"]
    day_before = (start - timedelta(days=1)).isoformat()
    assert {"countries": ["RU"], "effective_from": "2026-07-01", "effective_to": day_before,
            "status": "in_force"} in old["applies"]  # fmt: skip
    assert any(p["countries"] == ["AM", "BY", "KG", "KZ"] and p["effective_to"] is None
               for p in old["applies"])  # fmt: skip
    new = items[f"EAEU-RU-TEST@{start.isoformat()}"]
    assert new["origin"] == "database"
    assert new["status"] == "scheduled"

    with admin_app.app_context():
        assert policy_for("RU", start).id == "EAEU-RU-TEST"
        assert policy_for("RU", start - timedelta(days=1)).id == "EAEU-2026-07"
        assert policy_for("KZ", start).id == "EAEU-2026-07"

    (entry,) = audit_entries(admin_app, action="customs_policy.add")
    assert entry["target_id"] == f"EAEU-RU-TEST@{start.isoformat()}"
    assert entry["after"]["figures"]["duty_rate"] == "0.07"


def test_a_policy_row_that_rewrites_the_past_or_is_malformed_is_refused(admin_app):
    client = admin_app.test_client()
    today = datetime.now(UTC).date()
    cases = [
        (eaeu_row(today), "effective_from"),
        (eaeu_row(date(2025, 1, 1)), "effective_from"),
        ({**eaeu_row(today + timedelta(days=3)), "kind": "nope"}, "kind"),
        (
            {
                "kind": "eaeu",
                "rule_set": {
                    **eaeu_row(today + timedelta(days=3))["rule_set"],
                    "effective_to": "2099-01-01",
                },
            },
            "effective_to",
        ),
        (
            {
                "kind": "eaeu",
                "rule_set": {
                    **eaeu_row(today + timedelta(days=3))["rule_set"],
                    "duty_rate": "lots",
                },
            },
            "rule_set",
        ),
        (eaeu_row(today + timedelta(days=3), countries=("RU", "XX")), "countries"),
    ]
    for body, field in cases:
        refused = client.post(f"{ADMIN}/customs/policies", json=body, headers=ops(admin_app))
        assert refused.status_code == 422, (body, refused.get_json())
        assert field in refused.get_json()["errors"], (field, refused.get_json())
    assert audit_entries(admin_app) == []


def test_a_scheduled_row_is_corrected_by_a_later_row_of_the_same_date(admin_app):
    client = admin_app.test_client()
    start = datetime.now(UTC).date() + timedelta(days=10)
    first = client.post(f"{ADMIN}/customs/policies", json=eaeu_row(start),
                        headers=ops(admin_app))  # fmt: skip
    assert first.status_code == 201
    same = client.post(f"{ADMIN}/customs/policies", json=eaeu_row(start),
                       headers=ops(admin_app))  # fmt: skip
    assert same.status_code == 422
    assert "id" in same.get_json()["errors"]
    earlier = client.post(f"{ADMIN}/customs/policies",
                          json=eaeu_row(start - timedelta(days=1), rule_id="EAEU-RU-FIX"),
                          headers=ops(admin_app))  # fmt: skip
    assert earlier.status_code == 422
    assert "effective_from" in earlier.get_json()["errors"]
    fixed = client.post(f"{ADMIN}/customs/policies", json=eaeu_row(start, rule_id="EAEU-RU-FIX"),
                        headers=ops(admin_app))  # fmt: skip
    assert fixed.status_code == 201
    with admin_app.app_context():
        assert policy_for("RU", start).id == "EAEU-RU-FIX"
    items = client.get(f"{ADMIN}/customs/policies", headers=ops(admin_app)).get_json()["items"]
    statuses = {p["version"]: p["status"] for p in items}
    assert statuses[f"EAEU-RU-TEST@{start.isoformat()}"] == "superseded"


# ------------------------------------------------------------------ audit


def test_the_audit_log_is_filtered_by_action_target_and_time(admin_app):
    client = admin_app.test_client()
    merchant_id = admin_app.config["WORLD"]["merchant_id"]
    client.post(f"{ADMIN}/merchants/{merchant_id}/suspend", json={}, headers=ops(admin_app))
    client.patch(f"{ADMIN}/nodes/RU-WH", json={"priority": 3}, headers=ops(admin_app))
    everything = client.get(f"{ADMIN}/audit", headers=ops(admin_app)).get_json()
    assert [e["action"] for e in everything["items"]] == ["node.update", "merchant.suspend"]
    assert everything["items"][0]["actor"] == f"staff:{admin_app.config['WORLD']['operator_id']}"

    def actions(query):
        page = client.get(f"{ADMIN}/audit?{query}", headers=ops(admin_app))
        assert page.status_code == 200, page.get_json()
        return [e["action"] for e in page.get_json()["items"]]

    assert actions("action=merchant.suspend") == ["merchant.suspend"]
    assert actions(f"target_type=merchant&target_id={merchant_id}") == ["merchant.suspend"]
    assert actions("target_type=node&target_id=RU-WH") == ["node.update"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert actions(f"since={future.replace('+', '%2B')}") == []
    assert actions(f"until={future.replace('+', '%2B')}") == ["node.update", "merchant.suspend"]
    assert client.get(f"{ADMIN}/audit?since=yesterday", headers=ops(admin_app)).status_code == 422


def test_the_audit_time_filters_read_any_utc_offset_as_the_same_instant(admin_app):
    client = admin_app.test_client()
    client.patch(f"{ADMIN}/nodes/RU-WH", json={"priority": 3}, headers=ops(admin_app))
    beijing = timezone(timedelta(hours=8))
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(beijing)
    in_a_minute = (datetime.now(UTC) + timedelta(minutes=1)).astimezone(beijing)

    def actions(name, moment):
        query = f"{name}={moment.isoformat().replace('+', '%2B')}"
        page = client.get(f"{ADMIN}/audit?{query}", headers=ops(admin_app))
        assert page.status_code == 200, page.get_json()
        return [e["action"] for e in page.get_json()["items"]]

    assert actions("since", a_minute_ago) == ["node.update"]
    assert actions("until", in_a_minute) == ["node.update"]
    assert actions("since", in_a_minute) == []
    assert actions("until", a_minute_ago) == []
