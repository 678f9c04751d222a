"""Who answers an oversized request behind the production gunicorn config (issue #23).

A 5.5 KB link reaches the app, which answers problem+json (its rule for ``q``, or
414 ``uri_too_long`` past 6144 bytes); gunicorn's default request line limit (4094)
used to answer both first with its own HTML 414. What only gunicorn can refuse,
because the app never sees it, gets gunicorn's plain HTML: a request line over 8190
bytes (414), a header line over 8190 bytes or more than 100 header lines (431), a
request line that is not HTTP (400). These are the shop's only answers that are not
problem+json."""

from __future__ import annotations

import os
import socket

import pytest
import requests

from shop.core.api_base import PROBLEM_CONTENT_TYPE
from shop.core.extensions import db
from shop.core.web_hardening import MAX_REQUEST_TARGET_BYTES
from tests.conftest import make_test_app
from tests.live_server import running_gunicorn


@pytest.fixture
def gunicorn_base(postgres, tmp_path):
    """The shop behind gunicorn with the production config (shop/gunicorn_conf.py) on
    an empty PostgreSQL database: every answer here comes before any query."""
    url = postgres.create("request_limits")
    app = make_test_app(url)
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    env = {**os.environ, "DATABASE_URL": url, "PAVILION_ENV": "test", "LOG_LEVEL": "WARNING",
           "PAVILION_VAR_DIR": str(tmp_path / "var"), "PAVILION_RATE_LIMITS": "off"}  # fmt: skip
    env.pop("CELERY_BROKER_URL", None)
    with running_gunicorn(env, tmp_path / "gunicorn.log", workers=1) as (base, _master):
        yield base


def test_the_app_answers_a_long_link_and_gunicorn_only_what_the_app_cannot_see(gunicorn_base):
    # The issue's 5.5 KB search link now reaches the app, whose rule for q answers.
    issue_link = f"{gunicorn_base}/api/v1/products?q=" + "a" * 5500
    response = requests.get(issue_link, timeout=30)
    assert response.status_code == 422, response.text[:300]
    assert response.headers["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert list(response.json()["errors"]) == ["q"]

    # Past the app's limit and inside gunicorn's: the app's 414.
    response = requests.get(f"{gunicorn_base}/api/v1/products?q=" + "a" * 7000, timeout=30)
    assert response.status_code == 414, response.text[:300]
    assert response.headers["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["code"] == "uri_too_long"
    assert response.json()["max_bytes"] == MAX_REQUEST_TARGET_BYTES
    assert response.headers["X-Request-ID"] == response.json()["request_id"]

    # A request line over gunicorn's 8190 bytes never reaches the app: gunicorn's HTML.
    beyond_gunicorn = requests.get(f"{gunicorn_base}/api/v1/products?q=" + "a" * 8200, timeout=30)
    assert beyond_gunicorn.status_code == 414
    assert beyond_gunicorn.headers["Content-Type"] == "text/html"

    # One header line over 8190 bytes, and more than 100 header lines: gunicorn's 431.
    big_header = requests.get(f"{gunicorn_base}/healthz", headers={"X-Big": "a" * 8200}, timeout=30)
    assert big_header.status_code == 431
    assert big_header.headers["Content-Type"] == "text/html"
    many = {f"X-Extra-{n}": "1" for n in range(101)}
    many_headers = requests.get(f"{gunicorn_base}/healthz", headers=many, timeout=30)
    assert many_headers.status_code == 431
    assert many_headers.headers["Content-Type"] == "text/html"

    # A request line that is not HTTP at all: gunicorn's 400.
    port = int(gunicorn_base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"NOT A REQUEST\r\n\r\n")
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: text/html" in answer

    # Just inside every limit the app answers, in its own contract.
    inside = requests.get(
        f"{gunicorn_base}/api/v1/nope",
        headers={"X-Big": "a" * 8000, **{f"X-Extra-{n}": "1" for n in range(90)}},
        timeout=30,
    )
    assert inside.status_code == 404
    assert inside.headers["Content-Type"] == PROBLEM_CONTENT_TYPE
