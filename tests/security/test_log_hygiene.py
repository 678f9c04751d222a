"""No secret lands in a log: a run through everything that handles one (merchant and
staff tokens, a staff password, checkouts to China with a PRC ID by API and by form,
order and cart lookups by token, a Stripe webhook, the customs export), with every
logger at DEBUG, and then a search of all that was logged for each secret."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet

from shop import gunicorn_conf
from shop.core.csrf import CSRF_FIELD
from tests.checkout_world import CN_ADDRESS, VALID_ID, build_world, cn_body
from warehouse.services import create_staff

CSRF = "log-hygiene-csrf"
LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRETS_CONFIG = {
    "SECRET_KEY": "flask-secret-key-" + "k" * 32,
    "ID_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "STRIPE_API_KEY": "sk_test_loghygiene0000000000000000",
    "STRIPE_WEBHOOK_SECRET": "whsec_loghygiene000000000000000000",
    "PAYMENT_ADAPTERS": ("manual", "stripe"),
    "LOG_LEVEL": "DEBUG",
}


@pytest.fixture
def everything_logged(caplog, capfd):
    """All records of every logger at DEBUG, and whatever reached stdout/stderr."""
    caplog.set_level(logging.DEBUG)
    # Libraries that quiet themselves (SQLAlchemy sets its loggers to WARNING) too: an
    # operator debugging with SQL statements logged must not collect secrets either.
    for name in ("sqlalchemy", "sqlalchemy.engine", "werkzeug", "stripe", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    return lambda: "\n".join(
        [caplog.text, *(r.getMessage() for r in caplog.records), *capfd.readouterr()]
    )


def test_no_secret_reaches_the_logs(make_app, everything_logged):
    app = make_app(**SECRETS_CONFIG)
    with app.app_context():
        world = build_world()
        operator = create_staff("log-op@example.com", None, "operator")
        picker = create_staff("log-picker@example.com", "CN-SFH")
    secrets = {
        "merchant token": world["merchant_token"],
        "operator token": operator.token,
        "picker token": picker.token,
        "operator password": operator.password,
        "picker password": picker.password,
        "PRC ID number": VALID_ID,
        "SECRET_KEY": SECRETS_CONFIG["SECRET_KEY"],
        "ID encryption key": SECRETS_CONFIG["ID_ENCRYPTION_KEY"],
        "Stripe API key": SECRETS_CONFIG["STRIPE_API_KEY"],
        "Stripe webhook secret": SECRETS_CONFIG["STRIPE_WEBHOOK_SECRET"],
    }
    client = app.test_client()
    merchant = {"Authorization": f"Bearer {world['merchant_token']}"}
    staff = {"Authorization": f"Bearer {operator.token}"}

    assert client.get("/api/v1/merchant/skus", headers=merchant).status_code == 200
    assert client.get("/api/v1/warehouse/nodes", headers=staff).status_code == 200
    # A wrong token and a wrong password are secrets too (a typo of the real one).
    # (made here: a literal would be in the tracebacks that DEBUG logging records)
    secrets["wrong token"] = f"pvm_{uuid.uuid4().hex}"
    client.get(
        "/api/v1/merchant/skus", headers={"Authorization": f"Bearer {secrets['wrong token']}"}
    )
    staff_page = app.test_client()
    for password in ("not-" + picker.password, picker.password):
        login = LOGIN_CSRF.search(staff_page.get("/warehouse/login").get_data(as_text=True))
        form = {"csrf_token": login.group(1), "email": picker.email, "password": password}
        staff_page.post("/warehouse/login", data=form)
    assert staff_page.get("/warehouse/").status_code == 200

    # Checkout to China by API, with a cart, and looked up by token three ways.
    cart = client.post("/api/v1/carts", json={"lines": [{"sku": "ALENKA-100", "quantity": 1}]})
    cart = cart.get_json()
    secrets["cart token"] = cart["token"]
    cart_headers = {"X-Cart-Token": cart["token"]}
    assert client.get(f"/api/v1/carts/{cart['id']}", headers=cart_headers).status_code == 200
    placed = client.post("/api/v1/orders", json=cn_body("ALENKA-100", 1))
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    secrets["API order token"] = order["token"]
    number, token = order["number"], order["token"]
    assert (
        client.get(f"/api/v1/orders/{number}", headers={"X-Order-Token": token}).status_code == 200
    )
    assert client.get(f"/api/v1/orders/{number}?token={token}").status_code == 200
    assert client.get(f"/orders/{number}?token={token}").status_code == 303

    # The same by the storefront's form.
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_csrf"] = CSRF
    added = browser.post("/cart/add", data={CSRF_FIELD: CSRF, "sku": "ALENKA-100", "quantity": "1"})
    assert added.status_code == 303
    form = {
        CSRF_FIELD: CSRF, "email": "buyer@example.com", "payment_adapter": "manual",
        "checkout_key": "log-hygiene", "customs_name": "张三", "customs_id_number": VALID_ID,
        **{k: CN_ADDRESS[k] for k in ("recipient", "phone", "country", "region", "city",
                                      "postal_code", "line1")},
    }  # fmt: skip
    done = browser.post("/checkout", data=form)
    assert done.status_code == 303, done.get_data(as_text=True)
    for header in done.headers.getlist("Set-Cookie"):
        if header.startswith("pv_order="):
            secrets["page order token"] = header.split("=", 1)[1].split(";", 1)[0]
    assert browser.get(done.headers["Location"]).status_code == 200

    # A Stripe webhook with a wrong signature, then the customs export (decrypts the ID).
    webhook = client.post(
        "/api/v1/payments/stripe/webhook",
        data=b'{"id": "evt_1", "type": "payment_intent.succeeded"}',
        headers={"Stripe-Signature": "t=1,v1=deadbeef", "Content-Type": "application/json"},
    )
    assert webhook.status_code == 400
    paid = client.post(f"/api/v1/orders/{number}/mark-paid", json={}, headers=staff)
    assert paid.status_code == 200, paid.get_json()
    # Shipped: the export covers orders whose first parcel has left.
    shipment = order["shipments"][0]
    picked = client.post(f"/api/v1/warehouse/nodes/{shipment['node']}/pick-lists", json={},
                         headers=staff)  # fmt: skip
    assert picked.status_code == 201, picked.get_json()
    for step, body in (("pack", {"weight_g": 120, "scanned": ["ALENKA-100"]}),
                       ("ship", {"carrier": "manual", "tracking_number": "LOG-1"})):  # fmt: skip
        done = client.post(f"/api/v1/warehouse/shipments/{shipment['id']}/{step}", json=body,
                           headers=staff)  # fmt: skip
        assert done.status_code == 200, done.get_json()
    china_day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    export = client.get(f"/api/v1/admin/customs/orders?date={china_day}", headers=staff)
    assert export.status_code == 200, export.get_data(as_text=True)[:300]
    assert VALID_ID in export.get_data(as_text=True)  # the export did decrypt it

    logged = everything_logged()
    assert "order" in logged  # something was captured at all
    leaked = sorted(name for name, secret in secrets.items() if secret and secret in logged)
    assert not leaked, f"secrets in the logs: {leaked}"


def test_the_access_log_leaves_out_query_strings_and_credentials():
    # gunicorn's %(r)s and %(q)s carry the query (an order page's ?token=); %(U)s does not.
    log_format = gunicorn_conf.access_log_format
    assert "%(U)s" in log_format
    for carrier_of_secrets in ("%(r)s", "%(q)s", "{authorization}i", "{cookie}i", "{x-"):
        assert carrier_of_secrets not in log_format.lower()
