"""Issue #23 (5): every CLI command that changes what operators look after leaves an
audit entry, as the admin API's would, under ``cli:<the OS user>``; a refused command,
a listing and a periodic sweep write none. Run as an operator would (``flask --app wsgi
...``, through Click in this process) on the demo pavilion, on PostgreSQL and SQLite, each backend
migrated and seeded once for the module (``Databases``) and copied per test."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from unittest import mock

import pytest
from sqlalchemy import select

from shop import create_app
from shop.core.extensions import db
from tests import fake_cbr as fake_cbr_module
from tests.conftest import make_test_app
from tests.integration.test_cli_and_migrations import Databases

OPERATOR = "ops-anna"  # the login name the commands run under
ACTOR = f"cli:{OPERATOR}"
fake_cbr = fake_cbr_module.fake_cbr
SECRET_SHAPES = re.compile(r"pv[ms]_[A-Za-z0-9_-]{20,}|scrypt:")


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def databases(request, tmp_path_factory):
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    return Databases(request.param, tmp_path_factory.mktemp("cli_audit"), postgres)


@pytest.fixture
def shop(databases, tmp_path):
    """This test's own copy of the seeded pavilion, and a way to run commands on it."""
    return Shop(databases.copy(databases.seeded, "cli_audit"), tmp_path)


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str
    failure: BaseException | None  # an exception the command did not turn into a message


class Shop:
    def __init__(self, url, folder):
        self.url, self.folder = url, folder

    def cli(self, *args: str, check: bool = True, env=None) -> Ran:
        """``flask --app wsgi <args>`` as the operator's shell would run it, in this
        process: the app is built from the environment as ``wsgi`` builds it, and Click
        runs the command (a subprocess per command cost a second and a half of imports;
        tests/integration/test_cli_and_migrations.py runs the real binary)."""
        env = {
            "DATABASE_URL": self.url,
            "PAVILION_VAR_DIR": str(self.folder / "var"),
            "PAVILION_ENV": "development",
            "LOG_LEVEL": "WARNING",
            # getpass reads LOGNAME first: the operator at the shell.
            "LOGNAME": OPERATOR,
            "USER": OPERATOR,
            **(env or {}),
        }
        with mock.patch.dict(os.environ, env):
            app = create_app()
            # The flask command gives every command an app context, as here.
            with app.app_context():
                try:
                    result = app.test_cli_runner().invoke(args=list(args))
                finally:
                    db.session.remove()
                    db.engine.dispose()
        failure = result.exception if not isinstance(result.exception, SystemExit) else None
        ran = Ran(result.exit_code, result.stdout, result.stderr, failure)
        if check and (result.exit_code != 0 or failure):
            pytest.fail(f"flask {' '.join(args)} failed:\n{ran.stdout}\n{ran.stderr}\n{failure!r}")
        return ran

    def refused(self, *args: str) -> Ran:
        result = self.cli(*args, check=False)
        assert result.returncode != 0, result.stdout
        assert result.failure is None, repr(result.failure)  # refused, not crashed
        return result

    def read(self, read):
        app = make_test_app(self.url)
        with app.app_context():
            try:
                return read()
            finally:
                db.session.remove()
                db.engine.dispose()

    def entries(self, **where) -> list[dict]:
        from shop.core.audit import AuditEntry, entry_json

        def read():
            query = select(AuditEntry).order_by(AuditEntry.id)
            for name, value in where.items():
                query = query.where(getattr(AuditEntry, name) == value)
            return [entry_json(entry) for entry in db.session.scalars(query)]

        return self.read(read)


def only(entries: list[dict], action: str) -> dict:
    (entry,) = [e for e in entries if e["action"] == action]
    return entry


def assert_from_the_shell(entries: list[dict]) -> None:
    assert entries
    for entry in entries:
        assert (entry["actor"], entry["staff_id"], entry["request_id"]) == (ACTOR, None, None)
        assert not SECRET_SHAPES.search(repr(entry)), entry


# ------------------------------------------------------------------ merchants and tokens


def test_merchant_and_token_commands_are_audited_as_the_os_user(shop):
    assert shop.entries() == []  # the seeded pavilion: seeding is not audited
    created = shop.cli("merchants", "create", "Altai Honey LLC", "--country", "RU")
    merchant_id = re.search(r"merchant id: (\d+)", created.stdout).group(1)
    first_token = re.search(r"(pvm_\S+)", created.stdout).group(1)
    issued = shop.cli("merchants", "create-token", merchant_id, "--label", "ERP sync")
    second_token = re.search(r"(pvm_\S+)", issued.stdout).group(1)
    listing = shop.cli("merchants", "tokens", merchant_id).stdout
    second_id = listing.strip().splitlines()[-1].split()[0]
    shop.cli("merchants", "revoke-token", merchant_id, "--token-id", second_id)
    shop.cli("merchants", "create-token", merchant_id, "--label", "spare")
    everything = shop.cli("merchants", "revoke-token", merchant_id, "--all")
    assert "revoked 2 token(s)" in everything.stdout

    entries = shop.entries(target_type="merchant", target_id=merchant_id)
    assert_from_the_shell(entries)
    assert [e["action"] for e in entries] == [
        "merchant.create",
        "merchant.token.issue",
        "merchant.token.revoke",
        "merchant.token.issue",
        "merchant.token.revoke",  # --all: one entry per token it revoked
        "merchant.token.revoke",
    ]
    made = entries[0]
    assert made["before"] is None
    assert made["after"] == {
        "id": int(merchant_id),
        "name": "Altai Honey LLC",
        "country": "RU",
        "currency": "RUB",
        "status": "active",
        "is_demo": False,
        "created_at": made["after"]["created_at"],
    }
    token_issue = entries[1]["after"]
    assert (token_issue["id"], token_issue["label"]) == (int(second_id), "ERP sync")
    assert token_issue["prefix"] == second_token[:12]
    assert token_issue["revoked_at"] is None
    one = entries[2]
    assert one["before"]["id"] == one["after"]["id"] == int(second_id)
    assert (one["before"]["revoked_at"], one["after"]["revoked_at"] is not None) == (None, True)
    revoked_by_all = {e["after"]["prefix"] for e in entries[4:]}
    assert first_token[:12] in revoked_by_all
    assert len(revoked_by_all) == 2


def test_the_cli_and_the_admin_api_audit_a_merchant_in_the_same_shape(shop):
    from catalog.merchants import merchant_json
    from shop.admin.services import merchant_json as admin_merchant_json
    from shop.core.auth import token_json

    assert admin_merchant_json is merchant_json  # one document, not two that drift
    created = shop.cli("merchants", "create", "Same Shape LLC", "--country", "KZ")
    merchant_id = int(re.search(r"merchant id: (\d+)", created.stdout).group(1))

    def documents():
        from catalog.models import Merchant
        from shop.core.auth import ApiToken

        token = db.session.scalar(select(ApiToken).where(ApiToken.merchant_id == merchant_id))
        return merchant_json(db.session.get(Merchant, merchant_id)), token_json(token)

    merchant, token = shop.read(documents)
    entries = shop.entries()
    assert only(entries, "merchant.create")["after"] == merchant
    shop.cli("merchants", "revoke-token", str(merchant_id), "--all")
    revoked = only(shop.entries(), "merchant.token.revoke")
    assert revoked["before"] == token  # token_json, as the admin API's revoke records it


@pytest.mark.parametrize(
    "args",
    [
        ["merchants", "create", "X", "--country", "XX"],
        ["merchants", "create", "X", "--country", "RU", "--currency", "ABC"],
        ["merchants", "create-token", "999999"],
        ["merchants", "revoke-token", "999999", "--all"],
        ["merchants", "revoke-token", "1", "--token-id", "999999"],
        ["merchants", "revoke-token", "1"],  # neither --token-id nor --all
        ["staff", "create", "not-an-email", "--node", "RU-WH"],
        ["staff", "create", "a@example.com", "--node", "NOPE"],
        ["lanes", "set", "NOPE", "--cutoff", "10:00"],
        ["rates", "set", "CNY", "RUB", "-1"],
        ["rates", "set", "CNY", "CNY", "1"],
        ["jobs", "retry", "999999"],
    ],
)
def test_a_refused_command_changes_nothing_and_audits_nothing(shop, args):
    shop.refused(*args)
    assert shop.entries() == []


# ------------------------------------------------------------------ staff


def test_staff_create_is_audited_and_a_duplicate_is_not(shop):
    made = shop.cli("staff", "create", "Li.Wei@Example.com", "--node", "CN-SFH")
    staff_id = re.search(r"staff id: (\d+)", made.stdout).group(1)
    password = re.search(r"password \(shown once\): (\S+)", made.stdout).group(1)
    shop.refused("staff", "create", "LI.WEI@example.com", "--node", "CN-SFH")

    (entry,) = shop.entries()
    assert_from_the_shell([entry])
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (
        "staff.create", "staff", staff_id,
    )  # fmt: skip
    assert entry["after"] == {
        "id": int(staff_id),
        "email": "li.wei@example.com",
        "node": "CN-SFH",
        "role": "picker",
        "is_active": True,
        "is_demo": False,
        "created_at": entry["after"]["created_at"],
    }
    assert password not in repr(entry)


# ------------------------------------------------------------------ lanes


def test_lanes_set_is_audited_with_before_and_after_and_an_unchanged_lane_is_not(shop):
    import json

    code = shop.cli("lanes", "list").stdout.split()[0]
    before = json.loads(shop.cli("lanes", "show", code).stdout)
    new_cutoff = "09:15" if before["cutoff_time"] != "09:15" else "10:45"
    after = json.loads(shop.cli("lanes", "set", code, "--cutoff", new_cutoff).stdout)
    shop.cli("lanes", "set", code, "--cutoff", new_cutoff)  # the same again: no change
    shop.refused("lanes", "set", code, "--cutoff", "25:00")

    (entry,) = shop.entries()
    assert_from_the_shell([entry])
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (
        "lane.update", "lane", code,
    )  # fmt: skip
    assert entry["before"] == before
    assert entry["after"] == after
    assert entry["after"]["cutoff_time"] == new_cutoff


# ------------------------------------------------------------------ rates


def test_rates_set_is_audited_and_the_same_rate_again_is_not(shop):
    shop.cli("rates", "set", "CNY", "KZT", "70.5")
    again = shop.cli("rates", "set", "CNY", "KZT", "70.5")
    assert "already set" in again.stdout

    (entry,) = shop.entries()
    assert_from_the_shell([entry])
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (
        "rate.set", "exchange_rate", "CNY/KZT",
    )  # fmt: skip
    assert (entry["after"]["rate"], entry["after"]["source"]) == ("70.5", "manual")


def test_rates_fetch_is_audited_when_it_adds_rates_and_not_when_it_adds_none(shop, fake_cbr):
    from catalog.rates.models import FeedRun

    env = {"CBR_RATES_URL": fake_cbr.url, "CBR_TIMEOUT_SECONDS": "1"}
    first = shop.cli("rates", "fetch", "--feed", "cbr", env=env)
    assert "18 new" in first.stdout
    again = shop.cli("rates", "fetch", "--feed", "cbr", env=env)
    assert "0 new" in again.stdout

    (entry,) = shop.entries()
    assert_from_the_shell([entry])
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (
        "rate.fetch", "rate_feed", "cbr",
    )  # fmt: skip
    assert len(entry["after"]["added"]) == 18
    runs = shop.read(lambda: db.session.scalars(select(FeedRun.actor)).all())
    assert runs == [ACTOR, ACTOR]  # the feed's runs name the operator too


# ------------------------------------------------------------------ jobs


def test_jobs_retry_is_audited_with_the_jobs_name_state_and_error_never_its_arguments(shop):
    from shop.core.background.models import Job

    def dead_job():
        job = Job(
            name="carriers.refresh_tracking",
            kwargs={"shipment_id": 987654, "note": "customer-secret"},
            state="dead",
            attempts=8,
            last_error="carrier said 503",
        )
        done = Job(name="carriers.poll_tracking", state="done", attempts=1)
        db.session.add_all([job, done])
        db.session.commit()
        return job.id, done.id

    job_id, done_id = shop.read(dead_job)
    shop.cli("jobs", "retry", str(job_id))
    shop.refused("jobs", "retry", str(done_id))  # only dead jobs are retried

    (entry,) = shop.entries()
    assert_from_the_shell([entry])
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (
        "job.retry", "job", str(job_id),
    )  # fmt: skip
    assert entry["before"] == {
        "name": "carriers.refresh_tracking",
        "state": "dead",
        "attempts": 8,
        "last_error": "carrier said 503",
    }
    assert (entry["after"]["state"], entry["after"]["attempts"]) == ("pending", 0)
    assert "customer-secret" not in repr(entry)
    assert "987654" not in repr(entry)


# ------------------------------------------------------------------ skus import


def test_skus_import_records_the_os_user_in_the_sku_history_and_the_stock_ledger(shop):
    from catalog.models import SkuChange
    from tests.api.test_merchant_bulk import csv_rows
    from warehouse.models import StockMovement

    created = shop.cli("merchants", "create", "Import LLC", "--country", "RU")
    merchant_id = int(re.search(r"merchant id: (\d+)", created.stdout).group(1))
    price_list = shop.folder / "prices.csv"
    price_list.write_bytes(csv_rows(5))
    shop.cli("skus", "import", str(price_list), "--merchant", str(merchant_id))

    def actors():
        history = db.session.execute(
            select(SkuChange.actor, SkuChange.token_id).where(SkuChange.merchant_id == merchant_id)
        ).all()
        ledger = db.session.scalars(
            select(StockMovement.actor).where(StockMovement.reason == "merchant update")
        ).all()
        return history, ledger

    history, ledger = shop.read(actors)
    assert len(history) == 5
    assert set(history) == {(ACTOR, None)}
    assert ledger
    assert set(ledger) == {ACTOR}


# ------------------------------------------------------------------ what is not audited


def test_listings_and_periodic_sweeps_write_no_audit_entry(shop):
    for args in (
        ["merchants", "tokens", "1"],
        ["lanes", "list"],
        ["jobs", "list"],
        ["rates", "list"],
        ["stock", "expire-reservations"],
        ["orders", "sweep"],
        ["jobs", "sweep"],
        ["carriers", "poll-tracking"],
    ):
        shop.cli(*args)
    assert shop.entries() == []


# ------------------------------------------------------------------ the admin sees them


def test_the_admin_audit_api_and_page_list_what_the_cli_did(shop):
    made = shop.cli("staff", "create", "boss@example.com", "--role", "operator")
    token = re.search(r"API token \(shown once\): (\S+)", made.stdout).group(1)
    password = re.search(r"password \(shown once\): (\S+)", made.stdout).group(1)
    shop.cli("rates", "set", "CNY", "BYN", "0.45")

    app = make_test_app(shop.url)
    try:
        client = app.test_client()
        listed = client.get(
            "/api/v1/admin/audit", headers={"Authorization": f"Bearer {token}"}
        ).get_json()
        assert [(e["action"], e["actor"]) for e in listed["items"]] == [
            ("rate.set", ACTOR),
            ("staff.create", ACTOR),
        ]
        login = client.get("/warehouse/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        signed_in = client.post(
            "/warehouse/login",
            data={"csrf_token": csrf, "email": "boss@example.com", "password": password},
        )
        assert signed_in.status_code == 303
        page = client.get("/admin/audit/")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert ACTOR in text
        assert "staff.create" in text
        assert "rate.set" in text
    finally:
        with app.app_context():
            db.engine.dispose()


# ------------------------------------------------------------------ the actor's name


def test_the_cli_actor_is_the_login_name_or_the_uid_where_it_has_none(monkeypatch):
    import getpass

    from shop.cli import cli_actor

    monkeypatch.setattr(getpass, "getuser", lambda: "anna")
    assert cli_actor() == "cli:anna"

    def no_name():
        raise KeyError("getpwuid(): uid not found: 100123")

    monkeypatch.setattr(getpass, "getuser", no_name)
    monkeypatch.setattr(os, "getuid", lambda: 100123)
    assert cli_actor() == "cli:uid:100123"
