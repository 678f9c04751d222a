"""Rate feeds against a fake CBR on loopback: the adapter, the fetch service (new rows,
idempotence, corrections, the cache), failures that keep the old rates and raise an
alert, rate ages, the daily job, checkout on stale rates, and the CLI as an operator
runs it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from catalog.models import ExchangeRate
from catalog.rate_feeds import fetch_all_feeds, fetch_rates, rate_ages
from catalog.rates.base import FeedMalformed, FeedUnavailable
from catalog.rates.cbr import CbrFeed
from catalog.rates.models import FeedRun
from catalog.services import current_rates
from shop.core import background
from shop.core.celery_app import make_celery
from shop.core.extensions import db
from tests import factories as f
from tests import fake_cbr as fake_cbr_module
from tests.checkout_world import build_world, cn_body

fake_cbr = fake_cbr_module.fake_cbr

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.now(UTC).date()


# ------------------------------------------------------------------ the adapter


def test_the_cbr_feed_reads_the_published_document(fake_cbr):
    result = CbrFeed(fake_cbr.settings()).fetch()

    assert result.published_on == TODAY
    rates = {r.base: r for r in result.rates}
    assert rates["CNY"].rate == Decimal("11.2364")
    assert rates["CNY"].quote == "RUB"
    assert fake_cbr.requests == 1


@pytest.mark.parametrize(
    ("mode", "error", "reason"),
    [
        ("503", FeedUnavailable, "HTTP 503"),
        ("hang", FeedUnavailable, "timed out"),
        ("malformed", FeedMalformed, "not well-formed"),
        ("doctype", FeedMalformed, "DTD"),
    ],
)
def test_the_cbr_feed_says_why_it_has_no_rates(fake_cbr, mode, error, reason):
    fake_cbr.mode = mode

    with pytest.raises(error, match=reason):
        CbrFeed(fake_cbr.settings()).fetch()


def test_a_closed_port_is_an_outage_too(fake_cbr):
    settings = fake_cbr.settings()
    fake_cbr.stop()

    with pytest.raises(FeedUnavailable, match="ConnectionError"):
        CbrFeed(settings).fetch()


# ------------------------------------------------------------------ the service


@pytest.fixture
def rates_app(app, fake_cbr):
    """A month-old seed rate and the feed aimed at the fake; rates cached for an hour,
    so only forgetting the cache shows a new rate at once."""
    app.config.update(fake_cbr.settings(RATES_CACHE_SECONDS=3600))
    with app.app_context():
        f.rate("RUB", "CNY", "0.0880", on=TODAY - timedelta(days=30), source="demo-seed")
        db.session.commit()
    return app


def rows(source=None) -> int:
    query = select(func.count(ExchangeRate.id))
    if source:
        query = query.where(ExchangeRate.source == source)
    return db.session.scalar(query)


def test_a_fetch_stores_the_days_rates_and_this_process_converts_at_them_at_once(rates_app):
    with rates_app.app_context():
        before = current_rates().table.conversion("CNY", "RUB")
        run = fetch_rates("cbr", "cli")
        after = current_rates().table.conversion("CNY", "RUB")

        assert before.quotes[0].source == "demo-seed"
        assert (run["outcome"], run["rates_seen"], run["rows_added"]) == ("ok", 18, 18)
        assert run["published_on"] == TODAY.isoformat()
        assert rows("cbr") == 18
        assert after.quotes[0].source == "cbr"
        assert after.factor == Decimal("11.2364")
        # Both directions agree: RUB -> CNY uses the CBR's quote too, inverted.
        assert current_rates().table.conversion("RUB", "CNY").quotes == after.quotes


def test_fetching_twice_adds_nothing_and_a_changed_figure_is_a_correction(rates_app, fake_cbr):
    with rates_app.app_context():
        fetch_rates("cbr")
        again = fetch_rates("cbr")
        fake_cbr.replace_rate("CNY", "11,5000")
        corrected = fetch_rates("cbr")

        assert again["rows_added"] == 0
        assert corrected["rows_added"] == 1
        assert rows() == 1 + 18 + 1
        fix = db.session.scalar(select(ExchangeRate).where(ExchangeRate.source == "cbr#2"))
        assert (fix.base_currency, Decimal(fix.rate)) == ("CNY", Decimal("11.5"))
        assert current_rates().table.conversion("CNY", "RUB").factor == Decimal("11.5")
        assert db.session.scalar(select(func.count(FeedRun.id))) == 3


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("malformed", "not well-formed XML"),
        ("doctype", "DTD"),
        ("503", "HTTP 503"),
        ("hang", "timed out"),
    ],
)
def test_a_failed_fetch_keeps_the_old_rates_logs_an_alert_and_is_recorded(
    rates_app, fake_cbr, caplog, mode, reason
):
    with rates_app.app_context():
        fetch_rates("cbr")
        fake_cbr.replace_rate("CNY", "99,0000")  # would change the rate if anything got in
        fake_cbr.mode = mode
        caplog.clear()

        with caplog.at_level(logging.ERROR, logger="catalog.rate_feeds"):
            run = fetch_rates("cbr")

        assert run["outcome"] == "failed"
        assert reason in run["error"]
        assert rows() == 1 + 18
        assert current_rates().table.conversion("CNY", "RUB").factor == Decimal("11.2364")
        [alert] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert alert.getMessage().startswith("ALERT rate feed cbr failed")
        assert reason in alert.getMessage()
        failed = db.session.scalar(select(FeedRun).where(FeedRun.outcome == "failed"))
        assert failed.feed == "cbr"
        assert reason in failed.error
        assert failed.rows_added == 0


def test_a_fetched_rate_ages_from_the_last_run_that_still_quoted_it(rates_app, fake_cbr):
    # Fetched daily, the bank's Friday rate stays fresh over the weekend; once the
    # fetches stop, it grows stale.
    fake_cbr.published_on = TODAY - timedelta(days=3)
    with rates_app.app_context():
        run = fetch_rates("cbr")
        now = datetime.now(UTC)

        fresh = {i["pair"]: i for i in rate_ages(now)["items"]}["CNY/RUB"]
        later = {i["pair"]: i for i in rate_ages(now + timedelta(hours=49))["items"]}["CNY/RUB"]

        assert fresh["effective_on"] == (TODAY - timedelta(days=3)).isoformat()
        assert fresh["confirmed_at"] == run["finished_at"]
        assert fresh["age_hours"] < 1
        assert fresh["stale"] is False
        assert later["stale"] is True
        assert later["age_hours"] >= 49


def test_the_daily_job_fetches_every_enabled_feed_that_fetches(rates_app):
    assert background.PERIODIC["rates.fetch"][0] == 86400
    schedule = make_celery(rates_app).conf.beat_schedule
    assert schedule["rates.fetch"]["args"] == ["rates.fetch"]
    with rates_app.app_context():
        runs = fetch_all_feeds()

        assert [(r["feed"], r["outcome"], r["actor"]) for r in runs] == [("cbr", "ok", "beat")]
        assert rows("manual") == 0


def test_checkout_converts_at_stale_rates_and_the_api_says_they_are_stale(app):
    with app.app_context():
        world = build_world()  # the demo seed rates, dated 2026-11-01
    client = app.test_client()

    order = client.post("/api/v1/orders", json=cn_body())
    ages = client.get("/api/v1/admin/rates",
                      headers={"Authorization": f"Bearer {world['operator']}"})  # fmt: skip

    assert order.status_code == 201, order.get_json()
    used = {(r["base"], r["quote"], r["source"]) for r in order.get_json()["exchange_rates"]}
    assert ("RUB", "CNY", "demo-seed") in used
    rub_cny = {i["pair"]: i for i in ages.get_json()["items"]}["RUB/CNY"]
    assert rub_cny["stale"] is True
    assert rub_cny["age_hours"] > 48
    assert "RUB/CNY" in ages.get_json()["stale_pairs"]


# ------------------------------------------------------------------ the CLI


def flask_cli(tmp_path: Path, env: dict[str, str], *args: str):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'rates.db'}",
        "PAVILION_VAR_DIR": str(tmp_path / "var"),
        "PAVILION_ENV": "development",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_operator_sets_fetches_and_lists_rates_from_the_command_line(tmp_path, fake_cbr):
    env = {"CBR_RATES_URL": fake_cbr.url, "CBR_TIMEOUT_SECONDS": "1"}
    assert flask_cli(tmp_path, env, "db", "upgrade").returncode == 0

    made = flask_cli(tmp_path, env, "rates", "set", "CNY", "RUB", "11.42")
    fetched = flask_cli(tmp_path, env, "rates", "fetch")
    listed = flask_cli(tmp_path, env, "rates", "list")
    fake_cbr.mode = "503"
    failed = flask_cli(tmp_path, env, "rates", "fetch", "--feed", "cbr")
    wrong = flask_cli(tmp_path, env, "rates", "set", "CNY", "RUB", "0")

    assert made.returncode == 0, made.stderr
    assert f"1 CNY = 11.42 RUB from {TODAY.isoformat()} (source manual)" in made.stdout
    assert fetched.returncode == 0, fetched.stderr
    assert f"cbr: ok, 18 rates dated {TODAY.isoformat()}, 18 new" in fetched.stdout
    assert "CNY/RUB" in listed.stdout
    assert "11.2364" in listed.stdout  # fetched after the hand-set rate: the later row wins
    assert "feed cbr: last success" in listed.stdout
    assert failed.returncode == 1
    assert "cbr: FAILED" in failed.stderr
    assert "ALERT rate feed cbr failed" in failed.stderr
    assert wrong.returncode != 0
    assert "rate: Must be a positive number" in wrong.stderr
