"""The rates admin API and page: rates in force with their ages, rates set by hand
(audited), the feeds with their last runs, fetching now; operators only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from catalog.models import ExchangeRate
from catalog.rate_feeds import rate_ages
from shop.admin.rates_api import (
    FeedListSchema,
    FeedRunSchema,
    RateListSchema,
    SetRateResultSchema,
)
from shop.core.audit import AuditEntry
from shop.core.extensions import db
from tests import factories as f
from tests import fake_cbr as fake_cbr_module
from warehouse.services import create_staff

fake_cbr = fake_cbr_module.fake_cbr

RATES = "/api/v1/admin/rates"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def shop(app):
    """A month-old seed rate (RUB/CNY), a fresh one (USD/CNY), an operator and a picker."""
    today = datetime.now(UTC).date()
    with app.app_context():
        f.node("CN-SFH", ships_to=("CN",), country="CN")
        f.rate("RUB", "CNY", "0.0880", on=today - timedelta(days=30), source="demo-seed")
        f.rate("USD", "CNY", "7.1000", on=today, source="demo-seed")
        operator = create_staff("ops@example.com", None, "operator")
        picker = create_staff("sfh@example.com", "CN-SFH")
        db.session.commit()
    app.config["PEOPLE"] = {
        "operator": bearer(operator.token),
        "picker": bearer(picker.token),
        "operator_login": (operator.email, operator.password),
        "picker_login": (picker.email, picker.password),
        "operator_id": operator.id,
    }
    return app


def ops(app) -> dict[str, str]:
    return app.config["PEOPLE"]["operator"]


def by_pair(body) -> dict[str, dict]:
    return {item["pair"]: item for item in body["items"]}


def row_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ExchangeRate.id)))


# ------------------------------------------------------------------ who may call


def test_only_operators_reach_the_rates_api(shop):
    client = shop.test_client()

    assert client.get(RATES).status_code == 401
    assert client.get(RATES, headers=shop.config["PEOPLE"]["picker"]).status_code == 404
    assert client.post(RATES, json={}, headers=shop.config["PEOPLE"]["picker"]).status_code == 404
    assert client.get(RATES + "/feeds").status_code == 401
    assert client.post(RATES + "/feeds/cbr/fetch").status_code == 401


# ------------------------------------------------------------------ rates and ages


def test_rates_in_force_say_their_source_day_and_age_and_which_are_stale(shop):
    response = shop.test_client().get(RATES, headers=ops(shop))

    assert response.status_code == 200
    body = RateListSchema().load(response.get_json())
    rates = by_pair(response.get_json())
    assert set(rates) == {"RUB/CNY", "USD/CNY"}
    old, fresh = rates["RUB/CNY"], rates["USD/CNY"]
    assert old["source"] == "demo-seed"
    assert old["direction"] == "1 RUB = 0.088 CNY"
    assert old["age_hours"] >= 30 * 24
    assert old["stale"] is True
    assert 0 <= fresh["age_hours"] < 24
    assert fresh["stale"] is False
    assert fresh["fetched_at"]
    assert body["stale_pairs"] == ["RUB/CNY"]
    assert body["any_stale"] is True
    assert body["max_age_hours"] == 48


def test_the_maximum_age_is_a_setting(shop):
    shop.config["RATES_MAX_AGE_HOURS"] = 24 * 40

    body = shop.test_client().get(RATES, headers=ops(shop)).get_json()

    assert body["any_stale"] is False
    assert by_pair(body)["RUB/CNY"]["stale"] is False


# ------------------------------------------------------------------ setting by hand


def test_an_operator_sets_a_rate_which_is_audited_and_used_in_both_directions(shop):
    client = shop.test_client()

    response = client.post(RATES, json={"base": "cny", "quote": "RUB", "rate": "11.42"},
                           headers=ops(shop))  # fmt: skip

    assert response.status_code == 201, response.get_json()
    made = SetRateResultSchema().load(response.get_json())
    assert made["created"] is True
    assert made["in_force_today"] is True
    assert (made["base"], made["quote"], made["rate"], made["source"]) == (
        "CNY",
        "RUB",
        "11.42",
        "manual",
    )
    assert made["effective_on"] == datetime.now(UTC).date()
    rates = by_pair(client.get(RATES, headers=ops(shop)).get_json())
    # The newer hand-set CNY/RUB replaces the month-old RUB/CNY: one rate per pair.
    assert "RUB/CNY" not in rates
    assert rates["CNY/RUB"]["source"] == "manual"
    assert rates["CNY/RUB"]["stale"] is False
    products_rates = client.get("/api/v1/products?currency=RUB").status_code
    assert products_rates == 200
    with shop.app_context():
        [entry] = db.session.scalars(select(AuditEntry)).all()
        assert entry.action == "rate.set"
        assert entry.target_id == "CNY/RUB"
        assert entry.staff_id == shop.config["PEOPLE"]["operator_id"]
        assert entry.before["source"] == "demo-seed"
        assert entry.after["rate"] == "11.42"


def test_a_rate_for_a_past_day_is_stored_but_says_a_newer_one_is_in_force(shop):
    last_week = (datetime.now(UTC).date() - timedelta(days=7)).isoformat()
    body = {"base": "CNY", "quote": "USD", "rate": "0.1400", "effective_on": last_week}

    response = shop.test_client().post(RATES, json=body, headers=ops(shop))

    made = SetRateResultSchema().load(response.get_json())
    assert made["created"] is True
    assert made["in_force_today"] is False  # USD/CNY of today is newer
    current = by_pair(shop.test_client().get(RATES, headers=ops(shop)).get_json())
    assert "USD/CNY" in current
    assert "CNY/USD" not in current


def test_the_same_rate_twice_in_a_day_is_one_row_and_a_new_figure_a_correction(shop):
    client = shop.test_client()
    body = {"base": "CNY", "quote": "RUB", "rate": 11.42}  # a JSON number, read exactly

    first = client.post(RATES, json=body, headers=ops(shop)).get_json()
    again = client.post(RATES, json=body, headers=ops(shop))
    fixed = client.post(RATES, json={**body, "rate": "11.45"}, headers=ops(shop)).get_json()

    assert first["rate"] == "11.42"
    assert again.status_code == 201
    assert again.get_json()["created"] is False
    assert fixed["source"] == "manual#2"
    assert row_count(shop) == 2 + 2
    in_force = by_pair(client.get(RATES, headers=ops(shop)).get_json())["CNY/RUB"]
    assert (in_force["rate"], in_force["source"]) == ("11.45", "manual#2")
    with shop.app_context():
        assert db.session.scalar(select(func.count(AuditEntry.id))) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"base": "ZZZ", "quote": "RUB", "rate": "1"}, "base"),
        ({"base": "CNY", "quote": "CNY", "rate": "1"}, "quote"),
        ({"base": "CNY", "quote": "RUB", "rate": "-11"}, "rate"),
        ({"base": "CNY", "quote": "RUB", "rate": "0"}, "rate"),
        ({"base": "CNY", "quote": "RUB", "rate": "abc"}, "rate"),
        ({"base": "CNY", "quote": "RUB", "rate": "1e20"}, "rate"),
        ({"base": "CNY", "quote": "RUB", "rate": True}, "rate"),
        ({"base": "CNY", "quote": "RUB", "rate": "1", "effective_on": "2099-01-01"}, "effective"),
        ({"base": "CNY", "quote": "RUB"}, "rate"),
    ],
)
def test_a_bad_rate_is_a_422_naming_the_field_and_stores_nothing(shop, body, field):
    response = shop.test_client().post(RATES, json=body, headers=ops(shop))

    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert field in str(response.get_json()["errors"])
    assert row_count(shop) == 2


def test_rates_by_hand_are_refused_when_the_manual_feed_is_disabled(shop):
    shop.config["RATE_FEEDS"] = ("cbr",)

    response = shop.test_client().post(RATES, json={"base": "CNY", "quote": "RUB", "rate": "11"},
                                       headers=ops(shop))  # fmt: skip

    assert response.status_code == 409
    assert response.get_json()["code"] == "manual_rates_disabled"
    assert row_count(shop) == 2


# ------------------------------------------------------------------ feeds


def test_feeds_list_the_enabled_ones_and_manual_cannot_be_fetched(shop):
    client = shop.test_client()

    feeds = client.get(RATES + "/feeds", headers=ops(shop)).get_json()
    FeedListSchema().load(feeds)
    by_name = {feed["name"]: feed for feed in feeds["items"]}

    assert list(by_name) == ["manual", "cbr"]
    assert by_name["manual"]["can_fetch"] is False
    assert by_name["cbr"]["can_fetch"] is True
    assert by_name["cbr"]["last_success"] is None
    manual = client.post(RATES + "/feeds/manual/fetch", headers=ops(shop))
    assert manual.status_code == 409
    assert manual.get_json()["code"] == "feed_cannot_fetch"
    unknown = client.post(RATES + "/feeds/ecb/fetch", headers=ops(shop))
    assert unknown.status_code == 404
    assert unknown.get_json()["code"] == "unknown_rate_feed"


def test_fetching_now_answers_the_run_and_the_feeds_remember_success_and_failure(shop, fake_cbr):
    shop.config.update(fake_cbr.settings())
    client = shop.test_client()

    ok = client.post(RATES + "/feeds/cbr/fetch", headers=ops(shop))
    fake_cbr.mode = "503"
    failed = client.post(RATES + "/feeds/cbr/fetch", headers=ops(shop))

    assert ok.status_code == 200
    run = FeedRunSchema().load(ok.get_json())
    assert (run["outcome"], run["rates_seen"], run["rows_added"]) == ("ok", 18, 18)
    assert run["actor"] == f"staff:{shop.config['PEOPLE']['operator_id']}"
    assert failed.status_code == 200
    assert failed.get_json()["outcome"] == "failed"
    assert "503" in failed.get_json()["error"]
    feeds = client.get(RATES + "/feeds", headers=ops(shop)).get_json()["items"]
    cbr = {feed["name"]: feed for feed in feeds}["cbr"]
    assert cbr["last_outcome"] == "failed"
    assert cbr["last_success"]["rows_added"] == 18
    assert "503" in cbr["last_failure"]["error"]
    rates = by_pair(client.get(RATES, headers=ops(shop)).get_json())
    assert rates["CNY/RUB"]["source"] == "cbr"
    assert rates["CNY/RUB"]["rate"] == "11.2364"
    assert rates["CNY/RUB"]["confirmed_at"] == cbr["last_success"]["finished_at"]


def test_a_fetch_that_adds_rates_is_audited_once_and_one_that_fails_or_adds_nothing_is_not(
    shop, fake_cbr
):
    shop.config.update(fake_cbr.settings())
    client = shop.test_client()

    assert client.post(RATES + "/feeds/cbr/fetch", headers=ops(shop)).status_code == 200
    client.post(RATES + "/feeds/cbr/fetch", headers=ops(shop))  # the same rates: nothing new
    fake_cbr.mode = "503"
    client.post(RATES + "/feeds/cbr/fetch", headers=ops(shop))

    with shop.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "rate.fetch")
        ).all()
        (entry,) = entries
        assert (entry.target_type, entry.target_id) == ("rate_feed", "cbr")
        assert entry.staff_id == shop.config["PEOPLE"]["operator_id"]
        assert entry.after["rows_added"] == 18
        assert "1 CNY = 11.2364 RUB on" in " ".join(entry.after["added"])


# ------------------------------------------------------------------ the page


def csrf_of(page) -> str:
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, "the page has no CSRF field"
    return found.group(1)


def logged_in(app, who: str):
    client = app.test_client()
    email, password = app.config["PEOPLE"][f"{who}_login"]
    token = csrf_of(client.get("/warehouse/login"))
    form = {"csrf_token": token, "email": email, "password": password}
    response = client.post("/warehouse/login", data=form)
    assert response.status_code == 303
    return client


def test_the_page_warns_of_stale_rates_and_shows_ages_and_feeds(shop):
    client = logged_in(shop, "operator")

    page = client.get("/admin/rates/")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="warning"' in html
    assert "RUB/CNY" in html
    assert "older than 48 hours" in html
    assert 'data-feed="cbr"' in html
    assert "Fetch now" in html
    assert page.headers["Cache-Control"] == "no-store"


def test_the_page_has_no_warning_when_every_rate_is_fresh(shop):
    shop.config["RATES_MAX_AGE_HOURS"] = 24 * 40

    html = logged_in(shop, "operator").get("/admin/rates/").get_data(as_text=True)

    assert 'class="warning"' not in html
    assert "USD/CNY" in html


def test_the_page_form_sets_a_rate_and_says_what_is_wrong_otherwise(shop):
    client = logged_in(shop, "operator")
    token = csrf_of(client.get("/admin/rates/"))

    bad = client.post("/admin/rates/", data={"csrf_token": token, "base": "CNY",
                                             "quote": "RUB", "rate": "-1"})  # fmt: skip
    good = client.post("/admin/rates/", data={"csrf_token": token, "base": "CNY",
                                              "quote": "RUB", "rate": "11.42"})  # fmt: skip

    assert bad.status_code == 422
    assert "Must be a positive number" in bad.get_data(as_text=True)
    assert good.status_code == 303
    after = client.get("/admin/rates/").get_data(as_text=True)
    assert "Set 1 CNY = 11.42 RUB" in after
    assert "1 CNY = 11.42 RUB" in after
    with shop.app_context():
        assert rate_ages()["items"][0]["source"] == "manual"


def test_the_page_refuses_a_form_without_its_csrf_token_and_pickers(shop):
    client = logged_in(shop, "operator")

    forged = client.post("/admin/rates/", data={"base": "CNY", "quote": "RUB", "rate": "1"})

    assert forged.status_code == 400
    assert row_count(shop) == 2
    assert logged_in(shop, "picker").get("/admin/rates/").status_code == 404
    assert shop.test_client().get("/admin/rates/").status_code == 302


def test_the_fetch_button_fetches_and_reports_a_failure_keeping_the_rates(shop, fake_cbr):
    shop.config.update(fake_cbr.settings())
    fake_cbr.mode = "malformed"
    client = logged_in(shop, "operator")
    token = csrf_of(client.get("/admin/rates/"))

    response = client.post("/admin/rates/feeds/cbr/fetch", data={"csrf_token": token})

    assert response.status_code == 303
    html = client.get("/admin/rates/").get_data(as_text=True)
    assert "cbr failed: not well-formed XML" in html
    assert row_count(shop) == 2
