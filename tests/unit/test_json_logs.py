"""PAVILION_LOG_FORMAT=json: every line the shop logs is one JSON object, with the
request id, and for each request its route, method, status and duration; secrets are
redacted in JSON and in text alike."""

from __future__ import annotations

import io
import json
import logging

import pytest
from flask import Blueprint

from shop.config import ConfigError, load_config
from shop.core.extensions import db
from shop.core.logs import JsonFormatter, RedactingTextFormatter, formatter_for, redact
from tests.checkout_world import VALID_ID
from tests.conftest import make_test_app

SECRETS = {
    "merchant token": "pvm_" + "A1b2C3d4" * 5,
    "staff token": "pvs_" + "Z9y8X7w6" * 5,
    "PRC ID number": VALID_ID,
    "order token in a query": "s3cr3t-order-token-value",
    "Stripe key": "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "bearer": "opaque.bearer-credential_123",
}


def _message_with_secrets() -> str:
    return (
        f"token {SECRETS['merchant token']} and {SECRETS['staff token']}, id {VALID_ID}, "
        f"GET /orders/SCO-1?token={SECRETS['order token in a query']}&lang=en, "
        f"key {SECRETS['Stripe key']}, Authorization: Bearer {SECRETS['bearer']}"
    )


def test_redaction_takes_every_secret_shape_and_leaves_the_rest():
    redacted = redact(_message_with_secrets())
    leaked = [name for name, secret in SECRETS.items() if secret in redacted]
    assert not leaked, redacted
    assert "GET /orders/SCO-1?token=[redacted]&lang=en" in redacted
    # 18 digits that are no PRC ID (a wrong check character) stay: tracking numbers.
    assert redact("parcel 110105194912310021") == "parcel 110105194912310021"


def _record(message: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("orders.checkout", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_is_one_object_with_the_fields_and_no_secret():
    try:
        raise RuntimeError(f"boom\nwith {VALID_ID} on a second line")
    except RuntimeError:
        import sys

        record = _record(_message_with_secrets() + "\nand a new line \u2028 too",
                         request_id="req-1")  # fmt: skip
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "\u2028" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "orders.checkout"
    assert entry["request_id"] == "req-1"
    assert entry["time"].endswith("+00:00")
    assert "RuntimeError" in entry["exception"]
    assert not [name for name, secret in SECRETS.items() if secret in line]


def test_text_lines_are_redacted_too():
    line = RedactingTextFormatter().format(_record(_message_with_secrets(), request_id="r"))
    assert " INFO [r] orders.checkout: " in line
    assert not [name for name, secret in SECRETS.items() if secret in line]


def test_the_log_format_setting_is_text_or_json():
    assert load_config(environ={})["LOG_FORMAT"] == "text"
    assert load_config(environ={"PAVILION_LOG_FORMAT": "JSON"})["LOG_FORMAT"] == "json"
    with pytest.raises(ConfigError, match="PAVILION_LOG_FORMAT"):
        load_config(environ={"PAVILION_LOG_FORMAT": "xml"})


@pytest.fixture
def json_logged():
    """An app logging JSON, and what its root handler wrote, as lines."""
    app = make_test_app("sqlite://", LOG_FORMAT="json", LOG_LEVEL="INFO")
    with app.app_context():
        db.create_all()
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_pavilion", False))
    written = io.StringIO()
    previous = handler.setStream(written)
    try:
        yield app, lambda: written.getvalue().splitlines()
    finally:
        handler.setStream(previous)
        handler.setFormatter(formatter_for("text"))  # as the other tests' apps have it


def test_every_line_an_app_writes_parses_as_json(json_logged):
    app, lines = json_logged
    boom = Blueprint("boom", __name__)

    @boom.get("/_boom")
    def explode():
        raise RuntimeError(f"internals with {VALID_ID}")

    app.register_blueprint(boom)
    client = app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "req-health"}).status_code == 200
    assert client.get("/api/v1/products/999999").status_code in (404, 422)  # (no rates)
    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.get("/_boom", headers={"X-Request-ID": "req-boom"}).status_code == 500
    token = "pvm_" + "q" * 40
    client.get("/api/v1/merchant/skus", headers={"Authorization": f"Bearer {token}"})

    written = lines()
    assert written
    entries = [json.loads(line) for line in written]  # every line, one object
    requests_logged = [e for e in entries if e["logger"] == "pavilion.request"]
    health = next(e for e in requests_logged if e["request_id"] == "req-health")
    assert health["route"] == "/healthz"
    assert (health["method"], health["status"]) == ("GET", 200)
    assert isinstance(health["duration_ms"], float)
    product = next(e for e in requests_logged if "products" in e["route"])
    assert product["route"] == "/api/v1/products/<int(max=2147483647):product_id>"
    assert "999999" not in json.dumps(product)
    assert any(e["route"] == "<unmatched>" for e in requests_logged)
    failed = [e for e in entries if e["request_id"] == "req-boom"]
    assert any("exception" in e and "RuntimeError" in e["exception"] for e in failed)
    assert any(e.get("status") == 500 for e in failed)
    assert VALID_ID not in "\n".join(written)
    assert token not in "\n".join(written)
