"""Staff pages under /warehouse/: login, session, CSRF, throttling, the node boundary."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update

from orders.models import Order
from shop.core.auth import StaffPrincipal
from shop.core.extensions import db
from shop.seed import seed_reference_data
from tests import factories as f
from warehouse.models import LoginAttempt, Node, PickList, Shipment, ShipmentLine, Staff
from warehouse.services import Allocation, OnHandChange, create_staff, reserve_stock, set_on_hand

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
VAGUE = "Wrong e-mail or password."


@pytest.fixture
def staff_app(app):
    with app.app_context():
        seed_reference_data()
        made = {
            "urc": create_staff("urc@example.com", "CN-URC"),
            "sfh": create_staff("sfh@example.com", "CN-SFH"),
            "ops": create_staff("ops@example.com", None, "operator"),
        }
    app.config["STAFF"] = {
        who: {"id": s.id, "email": s.email, "password": s.password} for who, s in made.items()
    }
    return app


def staff(app, who):
    return app.config["STAFF"][who]


def csrf_of(page) -> str:
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in(client, email, password, *, next_url=None, addr="192.0.2.10"):
    token = csrf_of(client.get("/warehouse/login"))
    form = {"csrf_token": token, "email": email, "password": password}
    if next_url is not None:
        form["next"] = next_url
    return client.post("/warehouse/login", data=form, environ_base={"REMOTE_ADDR": addr})


def log_in_as(app, who, **kwargs):
    client = app.test_client()
    response = log_in(client, staff(app, who)["email"], staff(app, who)["password"], **kwargs)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def is_logged_in(client) -> bool:
    # The login page sends a logged-in user on to the nodes: a probe that needs no data.
    return client.get("/warehouse/login").status_code == 302


def page_token(client) -> str:
    """The CSRF token the dashboard's forms carry."""
    return csrf_of(client.get("/warehouse/"))


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path


def epoch(app, who) -> int:
    with app.app_context():
        return db.session.scalar(
            select(Staff.session_epoch).where(Staff.id == staff(app, who)["id"])
        )


# ------------------------------------------------------------------ login


def test_staff_log_in_with_email_and_password_and_land_on_their_nodes(staff_app):
    client = staff_app.test_client()
    response = log_in(client, "SFH@example.com ", staff(staff_app, "sfh")["password"])
    assert response.status_code == 303
    assert path_of(response) == "/warehouse/"
    assert is_logged_in(client)
    with staff_app.app_context():
        attempt = db.session.scalars(select(LoginAttempt)).one()
        assert (attempt.email, attempt.remote_addr, attempt.succeeded) == (
            "sfh@example.com", "192.0.2.10", True,
        )  # fmt: skip


def test_the_session_cookie_is_http_only_lax_and_expires_with_the_shift(staff_app):
    client = staff_app.test_client()
    response = log_in(client, staff(staff_app, "sfh")["email"], staff(staff_app, "sfh")["password"])
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # permanent: PERMANENT_SESSION_LIFETIME, 12 h by default
    assert staff_app.permanent_session_lifetime == timedelta(hours=12)


def test_a_wrong_password_and_an_unknown_email_get_the_same_vague_answer(staff_app):
    clients = staff_app.test_client(), staff_app.test_client()
    wrong = log_in(clients[0], "sfh@example.com", "not-the-password")
    unknown = log_in(clients[1], "nobody@example.com", "not-the-password")
    for client, response in zip(clients, (wrong, unknown), strict=True):
        assert response.status_code == 200
        assert VAGUE in response.get_data(as_text=True)
        assert not is_logged_in(client)
    # The same page but for the e-mail typed and the form's token.
    pages = [
        CSRF_FIELD.sub("", r.get_data(as_text=True)).replace(email, "x@example.com")
        for r, email in ((wrong, "sfh@example.com"), (unknown, "nobody@example.com"))
    ]
    assert pages[0] == pages[1]
    with staff_app.app_context():
        assert db.session.scalar(
            select(func.count()).where(LoginAttempt.succeeded.is_(False))
        ) == 2  # fmt: skip


def test_a_disabled_staff_member_cannot_log_in(staff_app):
    with staff_app.app_context():
        db.session.execute(
            update(Staff).where(Staff.email == "sfh@example.com").values(is_active=False)
        )
        db.session.commit()
    client = staff_app.test_client()
    refused = log_in(client, "sfh@example.com", staff(staff_app, "sfh")["password"])
    assert refused.status_code == 200
    assert "disabled" in refused.get_data(as_text=True)
    assert not is_logged_in(client)
    # Without the right password, a disabled account looks like any wrong guess.
    guessed = log_in(staff_app.test_client(), "sfh@example.com", "guess")
    assert VAGUE in guessed.get_data(as_text=True)


def test_disabling_an_account_ends_its_open_sessions(staff_app):
    client = log_in_as(staff_app, "sfh")
    with staff_app.app_context():
        db.session.execute(
            update(Staff).where(Staff.email == "sfh@example.com").values(is_active=False)
        )
        db.session.commit()
    assert not is_logged_in(client)


def test_a_session_older_than_its_lifetime_is_logged_out(staff_app):
    client = log_in_as(staff_app, "sfh")
    with client.session_transaction() as session:
        session["login_at"] -= 12 * 3600 + 1
    assert not is_logged_in(client)


def test_the_login_form_itself_needs_the_csrf_token(staff_app):
    client = staff_app.test_client()
    client.get("/warehouse/login")
    response = client.post(
        "/warehouse/login",
        data={"email": "sfh@example.com", "password": staff(staff_app, "sfh")["password"]},
    )
    assert response.status_code == 400
    assert not is_logged_in(client)
    with staff_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0


def test_logging_in_replaces_the_session_and_its_csrf_token(staff_app):
    client = staff_app.test_client()
    before = csrf_of(client.get("/warehouse/login"))
    client.post(
        "/warehouse/login",
        data={"csrf_token": before, "email": "sfh@example.com",
              "password": staff(staff_app, "sfh")["password"]},
    )  # fmt: skip
    with client.session_transaction() as session:
        assert session.get("_csrf") != before
        assert session["staff_id"] == staff(staff_app, "sfh")["id"]
    # The pre-login token no longer works.
    assert client.post("/warehouse/logout", data={"csrf_token": before}).status_code == 400


# ------------------------------------------------------------------ throttling


def test_the_sixth_failure_in_15_minutes_is_refused_even_with_the_right_password(staff_app):
    client = staff_app.test_client()
    for _ in range(5):
        assert log_in(client, "sfh@example.com", "guess").status_code == 200
    response = log_in(client, "sfh@example.com", staff(staff_app, "sfh")["password"])
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed attempts" in response.get_data(as_text=True)
    assert not is_logged_in(client)
    with staff_app.app_context():
        # Refused before the password was checked, and not counted as another failure.
        assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 5


def test_the_email_may_try_again_once_the_failures_leave_the_window(staff_app):
    client = staff_app.test_client()
    for _ in range(5):
        log_in(client, "sfh@example.com", "guess")
    with staff_app.app_context():
        db.session.execute(update(LoginAttempt).values(at=LoginAttempt.at - timedelta(minutes=16)))
        db.session.commit()
    response = log_in(client, "sfh@example.com", staff(staff_app, "sfh")["password"])
    assert response.status_code == 303


def test_a_successful_login_resets_the_email_count(staff_app):
    client = staff_app.test_client()
    for _ in range(4):
        log_in(client, "sfh@example.com", "guess")
    assert log_in(client, "sfh@example.com", staff(staff_app, "sfh")["password"]).status_code == 303
    other = staff_app.test_client()
    for _ in range(4):
        assert log_in(other, "sfh@example.com", "guess").status_code == 200


def test_one_address_gets_20_failures_across_emails_then_waits(staff_app):
    for n in range(20):
        response = log_in(
            staff_app.test_client(), f"u{n}@example.com", "guess", addr="198.51.100.7"
        )
        assert response.status_code == 200
    throttled = log_in(
        staff_app.test_client(), "sfh@example.com", staff(staff_app, "sfh")["password"],
        addr="198.51.100.7",
    )  # fmt: skip
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    elsewhere = log_in(
        staff_app.test_client(), "sfh@example.com", staff(staff_app, "sfh")["password"],
        addr="198.51.100.8",
    )  # fmt: skip
    assert elsewhere.status_code == 303


def test_failures_from_other_addresses_do_not_lock_the_owner_out(staff_app):
    for n in range(5):
        attacker = staff_app.test_client()
        assert (
            log_in(attacker, "sfh@example.com", "guess", addr=f"203.0.113.{n}").status_code == 200
        )
    at_the_depot = log_in(
        staff_app.test_client(), "sfh@example.com", staff(staff_app, "sfh")["password"],
        addr="198.51.100.7",
    )  # fmt: skip
    assert at_the_depot.status_code == 303


def test_one_attacker_address_is_stopped_after_5_failures_on_an_email(staff_app):
    for _ in range(5):
        assert log_in(staff_app.test_client(), "sfh@example.com", "guess",
                      addr="203.0.113.9").status_code == 200  # fmt: skip
    again = log_in(staff_app.test_client(), "sfh@example.com", "guess", addr="203.0.113.9")
    assert again.status_code == 429


def test_an_email_guessed_at_from_many_addresses_waits_after_50_failures(staff_app):
    with staff_app.app_context():
        db.session.add_all(
            LoginAttempt(email="sfh@example.com", remote_addr=f"203.0.113.{n}", succeeded=False)
            for n in range(50)
        )
        db.session.commit()
    response = log_in(
        staff_app.test_client(), "sfh@example.com", staff(staff_app, "sfh")["password"],
        addr="198.51.100.7",
    )  # fmt: skip
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


# ------------------------------------------------------------------ redirects


def test_pages_need_a_login_and_come_back_after_it(staff_app):
    client = staff_app.test_client()
    response = client.get("/warehouse/pick-lists/7?lang=ru")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/warehouse/login"
    assert parse_qs(location.query)["next"] == ["/warehouse/pick-lists/7?lang=ru"]
    page = client.get(response.headers["Location"])
    assert 'name="next" value="/warehouse/pick-lists/7?lang=ru"' in page.get_data(as_text=True)
    done = log_in(
        client, "sfh@example.com", staff(staff_app, "sfh")["password"],
        next_url="/warehouse/pick-lists/7?lang=ru",
    )  # fmt: skip
    assert done.headers["Location"] == "/warehouse/pick-lists/7?lang=ru"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/warehouse/",
        "//evil.example/warehouse/",
        "/\\evil.example",
        "/warehouse/\\\\evil.example",
        "javascript:alert(1)",
        "/api/v1/orders",
        "warehouse/",
    ],
)
def test_login_never_redirects_off_the_staff_pages(staff_app, next_url):
    client = staff_app.test_client()
    response = log_in(
        client, "sfh@example.com", staff(staff_app, "sfh")["password"], next_url=next_url
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/warehouse/"


# ------------------------------------------------------------------ logout, CSRF


def test_logout_needs_the_csrf_token(staff_app):
    client = log_in_as(staff_app, "sfh")
    refused = client.post("/warehouse/logout")
    assert refused.status_code == 400
    assert "text/html" in refused.content_type
    assert is_logged_in(client)
    assert client.post("/warehouse/logout", data={"csrf_token": "forged"}).status_code == 400
    assert is_logged_in(client)
    done = client.post("/warehouse/logout", data={"csrf_token": page_token(client)})
    assert done.status_code == 303
    assert path_of(done) == "/warehouse/login"
    assert not is_logged_in(client)


def test_a_form_posted_without_its_token_changes_nothing(staff_app):
    client = log_in_as(staff_app, "ops")
    before = epoch(staff_app, "ops")
    assert client.post("/warehouse/logout-everywhere").status_code == 400
    assert client.post("/warehouse/nodes/CN-SFH/pick-lists", data={}).status_code == 400
    assert epoch(staff_app, "ops") == before
    assert is_logged_in(client)
    with staff_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PickList)) == 0


def test_logging_out_everywhere_ends_the_other_sessions(staff_app):
    desk = log_in_as(staff_app, "sfh")
    tablet = log_in_as(staff_app, "sfh")
    other_staff = log_in_as(staff_app, "urc")
    response = desk.post("/warehouse/logout-everywhere", data={"csrf_token": page_token(desk)})
    assert response.status_code == 303
    assert epoch(staff_app, "sfh") == 1
    assert not is_logged_in(desk)
    assert not is_logged_in(tablet)
    assert is_logged_in(other_staff)
    # A fresh login carries the new epoch.
    assert is_logged_in(log_in_as(staff_app, "sfh"))


def test_a_plain_logout_leaves_other_devices_logged_in(staff_app):
    desk = log_in_as(staff_app, "sfh")
    tablet = log_in_as(staff_app, "sfh")
    desk.post("/warehouse/logout", data={"csrf_token": page_token(desk)})
    assert not is_logged_in(desk)
    assert is_logged_in(tablet)


# ------------------------------------------------------------------ pages


def test_pages_are_not_cached_and_have_no_inline_script(staff_app):
    client = staff_app.test_client()
    page = client.get("/warehouse/login")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ("?lang=ru", {}, "Войти"),
        ("", {"Accept-Language": "zh-CN,zh;q=0.9"}, "登录"),
        ("?lang=fr", {"Accept-Language": "ru"}, "Войти"),
        ("", {}, "Log in"),
    ],
)
def test_the_pages_speak_the_asked_language(staff_app, query, headers, expected):
    page = staff_app.test_client().get(f"/warehouse/login{query}", headers=headers)
    assert page.status_code == 200
    assert expected in page.get_data(as_text=True)


# ------------------------------------------------------------------ with the work services


@pytest.fixture
def picking_app(staff_app):
    """Two shipments of CN-SFH ready to pick."""
    with staff_app.app_context():
        sfh = db.session.scalar(select(Node).where(Node.code == "CN-SFH"))
        product = f.product(
            f.merchant(), f.category(slug="test-sweets"), "ALENKA", en="Alenka",
            ru="Алёнка", zh="爱莲巧", skus=[("RU-ALENKA-100", "125.00", "RUB", {})],
        )  # fmt: skip
        sku_id = product.skus[0].id
        set_on_hand([OnHandChange(sku_id, sfh.id, 10)], reason="receipt", actor="test")
        for number in ("PV-1", "PV-2"):
            order = Order(number=number, status="paid", currency="CNY", destination_country="CN")
            db.session.add(order)
            db.session.flush()
            shipment = Shipment(order_id=order.id, node_id=sfh.id, status="ready_to_pick")
            db.session.add(shipment)
            db.session.flush()
            db.session.add(ShipmentLine(shipment_id=shipment.id, sku_id=sku_id, quantity=2))
            reserve_stock(
                [Allocation(sku_id, sfh.id, 2, shipment.id)], order_id=order.id, actor="test"
            )
        db.session.commit()
    return staff_app


def operator_principal(app) -> StaffPrincipal:
    ops = staff(app, "ops")["id"]
    return StaffPrincipal(ops, None, None, "operator", None, f"staff:{ops}")


def build_pick_list(app, **filters) -> int:
    from warehouse.fulfilment import create_pick_list

    with app.app_context():
        return create_pick_list(operator_principal(app), "CN-SFH", **filters)["id"]


def test_a_picker_sees_only_their_node_and_an_operator_all(picking_app):
    picker = log_in_as(picking_app, "sfh").get("/warehouse/")
    assert picker.status_code == 200
    html = picker.get_data(as_text=True)
    assert 'id="node-CN-SFH"' in html
    assert 'id="node-CN-URC"' not in html
    assert picker.headers["Cache-Control"] == "no-store"
    operator = log_in_as(picking_app, "ops").get("/warehouse/").get_data(as_text=True)
    for code in ("RU-WH", "RU-USS", "CN-SFH", "CN-URC"):
        assert f'id="node-{code}"' in operator


def test_the_pick_list_form_makes_a_list_and_shows_it(picking_app):
    client = log_in_as(picking_app, "sfh")
    response = client.post(
        "/warehouse/nodes/CN-SFH/pick-lists",
        data={"csrf_token": page_token(client), "max_shipments": "1", "carrier": ""},
    )
    assert response.status_code == 303
    assert re.fullmatch(r"/warehouse/pick-lists/\d+", path_of(response))
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "RU-ALENKA-100" in html
    assert "no bin" in html  # stock never received into a bin
    assert '<td class="num qty">2</td>' in html
    # On the board as an open list, with one shipment still ready to pick.
    board = client.get("/warehouse/").get_data(as_text=True)
    assert path_of(response) in board


def test_nothing_ready_to_pick_is_said_on_the_board(picking_app):
    build_pick_list(picking_app)
    client = log_in_as(picking_app, "sfh")
    response = client.post(
        "/warehouse/nodes/CN-SFH/pick-lists", data={"csrf_token": page_token(client)}
    )
    assert response.status_code == 303
    assert path_of(response) == "/warehouse/"
    board = client.get("/warehouse/").get_data(as_text=True)
    assert "ready to pick" in board
    assert 'class="flash flash-error' in board


@pytest.mark.parametrize("bad", ["-3", "²", "１"])  # '²'.isdigit() is true; int('²') fails
def test_a_bad_max_shipments_is_said_on_the_board_and_makes_nothing(picking_app, bad):
    client = log_in_as(picking_app, "sfh")
    response = client.post(
        "/warehouse/nodes/CN-SFH/pick-lists",
        data={"csrf_token": page_token(client), "max_shipments": bad},
    )
    assert path_of(response) == "/warehouse/"
    assert "whole number" in client.get("/warehouse/").get_data(as_text=True)
    with picking_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PickList)) == 0


def test_a_picker_of_another_node_gets_404_for_its_pick_list(picking_app):
    pick_list_id = build_pick_list(picking_app)
    urc = log_in_as(picking_app, "urc")
    for path in (
        f"/warehouse/pick-lists/{pick_list_id}",
        f"/warehouse/pick-lists/{pick_list_id}.pdf",
    ):
        response = urc.get(path)
        assert response.status_code == 404
        assert "text/html" in response.content_type
        assert "RU-ALENKA-100" not in response.get_data(as_text=True)
    refused = urc.post("/warehouse/nodes/CN-SFH/pick-lists", data={"csrf_token": page_token(urc)})
    assert refused.status_code == 404
    sfh = log_in_as(picking_app, "sfh")
    assert sfh.get(f"/warehouse/pick-lists/{pick_list_id}").status_code == 200


def test_the_pick_list_pdf_is_served_to_the_logged_in_page_user(picking_app):
    pick_list_id = build_pick_list(picking_app)
    client = log_in_as(picking_app, "sfh")
    page = client.get(f"/warehouse/pick-lists/{pick_list_id}?lang=zh").get_data(as_text=True)
    assert f'href="/warehouse/pick-lists/{pick_list_id}.pdf?lang=zh"' in page
    assert "爱莲巧" in page
    pdf = client.get(f"/warehouse/pick-lists/{pick_list_id}.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert pdf.headers["Cache-Control"] == "no-store"
