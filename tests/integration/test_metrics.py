"""Prometheus metrics at /metrics: behind a bearer token (a 404 without one set), and
the counters move when a shopper checks out, is refused, and cancels. Then the same
through a real gunicorn with two workers in multiprocess mode, whose JSON log lines
are read one by one."""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from shop.core.extensions import db
from tests.checkout_world import build_world, order_body
from tests.conftest import make_test_app
from tests.live_server import running_gunicorn

TOKEN = "metrics-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(scraped, metric: str, **labels: str) -> float:
    """The sum of ``metric``'s samples whose labels include ``labels`` (0 when none)."""
    return sum(v for n, got, v in scraped if n == metric and labels.items() <= got.items())


def scrape(client) -> list:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    return samples(response.get_data(as_text=True))


# ------------------------------------------------------------------ the token


def test_metrics_is_a_404_without_a_token_configured(app):
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


def test_metrics_wants_the_configured_bearer_token(app):
    app.config["METRICS_TOKEN"] = TOKEN
    client = app.test_client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401
    assert TOKEN not in wrong.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers=BEARER).status_code == 200


# ------------------------------------------------------------------ counters moving


def test_the_counters_move_after_a_checkout_a_refusal_and_a_cancel(app):
    app.config["METRICS_TOKEN"] = TOKEN
    with app.app_context():
        build_world()
    client = app.test_client()
    before = scrape(client)

    placed = client.post("/api/v1/orders", json=order_body("ALENKA-100", 2))
    assert placed.status_code == 201, placed.get_json()
    number, token = placed.get_json()["number"], placed.get_json()["token"]
    looked_up = client.get(f"/api/v1/orders/{number}", headers={"X-Order-Token": token})
    assert looked_up.status_code == 200
    refused = client.post("/api/v1/orders", json=order_body("ALENKA-100", 999))
    assert refused.status_code in (409, 422), refused.get_json()
    reason = refused.get_json()["code"]
    cancelled = client.post(f"/api/v1/orders/{number}/cancel", json={},
                            headers={"X-Order-Token": token})  # fmt: skip
    assert cancelled.status_code == 200, cancelled.get_json()

    response = client.get("/metrics", headers=BEARER)
    text = response.get_data(as_text=True)
    after = samples(text)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("pavilion_checkouts_total", outcome="placed") == 1
    assert moved("pavilion_checkouts_total", outcome="refused") == 1
    assert moved("pavilion_checkout_refusals_total", reason=reason) == 1
    route = {"method": "POST", "route": "/api/v1/orders"}
    assert moved("pavilion_http_requests_total", status="201", **route) == 1
    assert moved("pavilion_http_requests_total", status=str(refused.status_code), **route) == 1
    assert moved("pavilion_http_request_duration_seconds_count", status_class="2xx", **route) == 1
    # The route is the URL rule: the order number is in no label, nor anywhere.
    order_route = [
        got["route"]
        for n, got, _v in after
        if n == "pavilion_http_requests_total" and "orders/<" in got["route"]
    ]
    assert order_route, "the order lookup is counted under its rule"
    assert number not in text
    assert token not in text
    # One line of two units held, then released by the cancel.
    assert moved("pavilion_stock_holds_total", event="taken") == 1
    assert moved("pavilion_stock_hold_units_total", event="taken") == 2
    assert moved("pavilion_stock_hold_units_total", event="released", reason="release") == 2
    # The manual adapter was asked for the payment, through the plugin loader.
    payment = {"kind": "payment", "provider": "manual", "operation": "create_payment"}
    assert moved("pavilion_provider_calls_total", outcome="ok", **payment) == 1
    assert moved("pavilion_provider_call_duration_seconds_count", **payment) == 1
    # Read from the database at scrape time: every job state has a series.
    for state in ("pending", "running", "done", "dead"):
        assert any(n == "pavilion_jobs" and got == {"state": state} for n, got, _v in after)
    assert any(n == "pavilion_jobs_oldest_due_seconds" for n, _g, _v in after)


def test_a_refused_checkout_in_a_rolled_back_transaction_holds_nothing(app):
    # Holds are counted when their transaction commits: a shortage found while holding
    # rolls back and counts no hold taken.
    app.config["METRICS_TOKEN"] = TOKEN
    with app.app_context():
        build_world()
    client = app.test_client()
    before = scrape(client)
    assert client.post("/api/v1/orders", json=order_body("ALENKA-100", 999)).status_code != 201
    after = scrape(client)
    assert value(after, "pavilion_stock_holds_total", event="taken") == value(
        before, "pavilion_stock_holds_total", event="taken"
    )


def test_rate_ages_are_read_at_scrape_time(app):
    from catalog.rate_feeds import set_rate

    app.config["METRICS_TOKEN"] = TOKEN
    with app.app_context():
        set_rate("cli", "CNY", "RUB", "11.5")
    scraped = scrape(app.test_client())
    ages = [(got, v) for n, got, v in scraped if n == "pavilion_exchange_rate_age_seconds"]
    assert any(got["pair"] == "CNY/RUB" and got["feed"] == "manual" for got, _v in ages), ages
    assert all(v >= 0 for _g, v in ages)
    assert value(scraped, "pavilion_exchange_rate_stale", pair="CNY/RUB") == 0


# ------------------------------------------------------------------ a real gunicorn


@pytest.fixture
def gunicorn_with_metrics(postgres, tmp_path):
    url = postgres.create("metrics_gunicorn")
    app = make_test_app(url)
    with app.app_context():
        db.create_all()
        build_world()
        db.session.remove()
    multiproc = tmp_path / "prometheus"
    (multiproc).mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"")  # a stale file of an earlier run
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "metrics-test-secret-shared-by-every-worker",
        "PAVILION_ENV": "test",
        "PAVILION_VAR_DIR": str(tmp_path / "var"),
        "PAVILION_RATE_LIMITS": "off",
        "PAVILION_METRICS_TOKEN": TOKEN,
        "PAVILION_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "LOG_LEVEL": "INFO",
    }
    env.pop("CELERY_BROKER_URL", None)
    log = tmp_path / "gunicorn.log"
    args = ("--access-logfile", "-", "--timeout", "30", "--graceful-timeout", "5")
    try:
        with running_gunicorn(env, log, workers=2, args=args) as (base, _master):
            yield base, multiproc, log
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def worker_files(multiproc: Path) -> set[str]:
    """The pids of the workers that wrote metrics (``counter_<pid>.db``, …)."""
    return {re.sub(r"\D", "", p.stem.rsplit("_", 1)[-1]) for p in multiproc.glob("*.db")}


def test_two_gunicorn_workers_add_up_in_every_scrape_and_log_json_lines(gunicorn_with_metrics):
    base, multiproc, log = gunicorn_with_metrics
    assert not (multiproc / "counter_999999.db").exists()  # emptied at start
    assert requests.get(f"{base}/metrics", timeout=10).status_code == 401

    orders = 6
    for _ in range(orders):
        # A connection each: gunicorn's workers take turns accepting them.
        body = order_body("LAST-UNITS", 1, currency="CNY")
        placed = requests.post(
            f"{base}/api/v1/orders", json=body, timeout=30, headers={"Connection": "close"}
        )
        assert placed.status_code == 201, placed.text
    # gunicorn's sync workers do not take turns: one may accept every connection
    # above. Requests sent together are spread, since a busy worker accepts nothing:
    # send them in bursts until both workers have counted something.
    reads = 0
    for _ in range(50):
        if len(worker_files(multiproc)) >= 2:
            break
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _: requests.get(
                f"{base}/api/v1/categories", timeout=10, headers={"Connection": "close"}
            ), range(4)))  # fmt: skip
        assert all(a.status_code == 200 for a in answers)
        reads += len(answers)
    assert len(worker_files(multiproc)) >= 2, sorted(p.name for p in multiproc.glob("*.db"))
    request_ids = set()
    for _ in range(6):
        response = requests.get(f"{base}/metrics", headers={**BEARER, "Connection": "close"},
                                timeout=10)  # fmt: skip
        assert response.status_code == 200
        request_ids.add(response.headers["X-Request-ID"])
        scraped = samples(response.text)
        # Whichever worker answers, it adds up every worker's counts.
        assert value(scraped, "pavilion_checkouts_total", outcome="placed") == orders
        assert value(scraped, "pavilion_http_requests_total", route="/api/v1/orders",
                     status="201") == orders  # fmt: skip
        assert value(scraped, "pavilion_stock_holds_total", event="taken") == orders
        assert value(scraped, "pavilion_http_requests_total", route="/api/v1/categories",
                     status="200") == reads  # fmt: skip

    # Every line gunicorn and the app wrote is one JSON object.
    time.sleep(0.5)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in entries)
    requests_logged = [e for e in entries if e["logger"] == "pavilion.request"]
    checkouts = [e for e in requests_logged
                 if e["route"] == "/api/v1/orders" and e["method"] == "POST"]  # fmt: skip
    assert len(checkouts) == orders
    assert all(e["status"] == 201 and e["duration_ms"] > 0 for e in checkouts)
    assert all(len(e["request_id"]) == 32 for e in checkouts)
    scrapes = {e["request_id"] for e in requests_logged if e["route"] == "/metrics"}
    assert request_ids <= scrapes
    assert TOKEN not in log.read_text()
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own, as JSON


# ------------------------------------------------------------------ the helpers


def test_adapter_calls_are_counted_by_outcome_and_reach_a_patched_class(monkeypatch):
    from orders.payments.base import PaymentDeclined, PaymentUnavailable
    from shop.core.metrics import instrument_adapter
    from warehouse.carriers import load_carrier
    from warehouse.carriers.base import CarrierRejected
    from warehouse.carriers.manual import ManualCarrier

    class Provider:
        def pay(self, outcome):
            if outcome:
                raise outcome("no")
            return "paid"

    provider = instrument_adapter(Provider(), "payment", "test-provider", ["pay", "absent"])
    before = samples(generate_text())
    assert provider.pay(None) == "paid"
    for error in (PaymentUnavailable, PaymentDeclined, CarrierRejected, KeyError):
        with pytest.raises(error):
            provider.pay(error)
    monkeypatch.setattr(Provider, "pay", lambda self, outcome: "patched")
    assert provider.pay(None) == "patched"
    after = samples(generate_text())
    labels = {"kind": "payment", "provider": "test-provider", "operation": "pay"}
    for outcome, times in (("ok", 2), ("unavailable", 1), ("declined", 1), ("rejected", 1),
                           ("error", 1)):  # fmt: skip
        counted = value(after, "pavilion_provider_calls_total", outcome=outcome, **labels)
        assert counted - value(before, "pavilion_provider_calls_total", outcome=outcome,
                               **labels) == times, outcome  # fmt: skip
    assert (
        value(after, "pavilion_provider_call_duration_seconds_count", **labels)
        - value(before, "pavilion_provider_call_duration_seconds_count", **labels)
        == 6
    )

    carrier = load_carrier("manual", {}, ("manual",))
    assert isinstance(carrier, ManualCarrier)
    assert {"book", "track", "label"} <= set(vars(carrier))  # timed on the instance


def generate_text() -> str:
    """This process's counters, without a request (and without reading a database)."""
    return generate_latest(REGISTRY).decode()


def test_counts_wait_for_the_commit_and_forget_a_rollback(app):
    from shop.core.metrics import on_commit

    counted = []
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        on_commit(lambda: counted.append("rolled back"))
        db.session.rollback()
        db.session.execute(text("SELECT 1"))
        on_commit(lambda: counted.append("committed"))
        assert counted == []
        db.session.commit()
        with db.session.begin_nested() as savepoint:
            on_commit(lambda: counted.append("savepoint rolled back"))
            savepoint.rollback()
        with db.session.begin_nested():
            on_commit(lambda: counted.append("savepoint released"))
        db.session.commit()
        on_commit(lambda: counted.append("no transaction"))
    assert counted == ["committed", "savepoint released", "no transaction"]


def test_a_scrape_still_answers_when_the_database_does_not():
    broken = make_test_app("postgresql+psycopg://127.0.0.1:1/nothing", METRICS_TOKEN=TOKEN)
    response = broken.test_client().get("/metrics", headers=BEARER)
    assert response.status_code == 200
    scraped = samples(response.get_data(as_text=True))
    assert value(scraped, "pavilion_metrics_collector_up", collector="JobsCollector") == 0
    assert any(n == "pavilion_http_requests_total" for n, _g, _v in scraped)


def test_jobs_are_read_by_state_with_the_age_of_the_oldest_waiting(app):
    from datetime import timedelta

    from shop.core.background import Job
    from shop.core.clock import utcnow

    app.config["METRICS_TOKEN"] = TOKEN
    now = utcnow()
    with app.app_context():
        db.session.add_all([
            Job(name="orders.notify", state="pending", created_at=now - timedelta(minutes=10),
                next_attempt_at=now - timedelta(minutes=4)),
            Job(name="orders.notify", state="pending", next_attempt_at=now + timedelta(hours=1)),
            Job(name="carriers.book", state="dead", next_attempt_at=now),
        ])  # fmt: skip
        db.session.commit()
    scraped = scrape(app.test_client())
    assert value(scraped, "pavilion_jobs", state="pending") == 2
    assert value(scraped, "pavilion_jobs", state="dead") == 1
    assert value(scraped, "pavilion_jobs", state="running") == 0
    assert value(scraped, "pavilion_jobs_by_name", name="carriers.book", state="dead") == 1
    assert 590 <= value(scraped, "pavilion_jobs_oldest_pending_age_seconds") < 700
    assert 230 <= value(scraped, "pavilion_jobs_oldest_due_seconds") < 340
    assert value(scraped, "pavilion_metrics_collector_up", collector="JobsCollector") == 1
