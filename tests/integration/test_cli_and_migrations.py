"""The operator CLI contract, run as an operator would: ``flask --app wsgi ...``
in a subprocess, on a SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from shop.core.extensions import db

ROOT = Path(__file__).resolve().parents[2]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


class Databases:
    """One backend's databases for this module: an empty schema built by ``flask db
    upgrade`` and the demo pavilion built on a copy of it by ``flask seed``, each once;
    every test then writes to its own copy (a file copy on SQLite, ``CREATE DATABASE
    … TEMPLATE`` on PostgreSQL) instead of migrating and seeding again."""

    def __init__(self, backend: str, folder: Path, postgres):
        self.backend, self.folder, self.postgres = backend, folder, postgres
        self.migrated = self._new("migrated")
        flask_cli(self.migrated, folder, "db", "upgrade")
        self.seeded = self.copy(self.migrated, "seeded")
        self.first_seed = flask_cli(self.seeded, folder, "seed")

    def copy(self, template: str, purpose: str) -> str:
        if self.backend == "postgresql":
            return self.postgres.clone(template, purpose)
        path = self.folder / f"{purpose}-{uuid.uuid4().hex[:8]}.db"
        # SQLite's backup, not a file copy: the shop runs SQLite in WAL mode, so the
        # newest pages may still be in the -wal file beside the database.
        source = sqlite3.connect(make_url(template).database)
        with closing(source), closing(sqlite3.connect(path)) as target:
            source.backup(target)
        return f"sqlite:///{path}"

    def _new(self, purpose: str) -> str:
        if self.backend == "postgresql":
            return self.postgres.create(purpose)
        return f"sqlite:///{self.folder / f'{purpose}.db'}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def databases(request, tmp_path_factory):
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    return Databases(request.param, tmp_path_factory.mktemp("cli"), postgres)


@pytest.fixture
def database_url(databases):
    """A database migrated to the newest schema, this test's own."""
    return databases.copy(databases.migrated, "cli")


@pytest.fixture
def seeded_url(databases):
    """A database holding the seeded demo pavilion, this test's own."""
    return databases.copy(databases.seeded, "cli_seeded")


def flask_cli(database_url: str, tmp_path: Path, *args: str, check: bool = True):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PAVILION_VAR_DIR": str(tmp_path / "var"),
        "PAVILION_ENV": "development",
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [*FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        pytest.fail(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_migrations_build_the_schema_the_models_describe(databases):
    # ``databases.migrated`` is what ``flask db upgrade`` made of an empty database.
    engine = create_engine(databases.migrated)
    try:
        with engine.connect() as conn:
            import shop.app  # noqa: F401  (imports every model module)
            from shop import create_app

            create_app({"PAVILION_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def test_seed_loads_the_pavilion_once_and_says_so_the_second_time(databases, tmp_path):
    first = databases.first_seed  # ``flask seed`` on a freshly migrated database
    assert "Seeded:" in first.stdout
    assert "11 categories" in first.stdout
    assert re.search(r"token pvm_\S{20,}", first.stdout)
    assert re.search(r"staff cn-sfh@staff\.pavilion\.example .* password \S+", first.stdout)
    seeded_url = databases.copy(databases.seeded, "cli_seeded")
    second = flask_cli(seeded_url, tmp_path, "seed")
    assert second.stdout.strip() == "Demo data already present: nothing to change."

    from catalog.models import Product
    from tests.conftest import make_test_app

    app = make_test_app(seeded_url)
    with app.app_context():
        assert db.session.scalar(select(func.count(Product.id))) >= 110
        db.engine.dispose()


def test_merchants_create_prints_an_id_and_a_token_stored_hashed(database_url, tmp_path):
    result = flask_cli(
        database_url, tmp_path, "merchants", "create", "Altai Honey LLC", "--country", "RU"
    )
    token = re.search(r"API token \(shown once\): (pvm_\S+)", result.stdout).group(1)
    assert re.search(r"merchant id: \d+", result.stdout)
    assert "prices in RUB" in result.stdout

    from shop.core.auth import ApiToken, find_active_token, hash_token
    from tests.conftest import make_test_app

    app = make_test_app(database_url)
    with app.app_context():
        stored = db.session.scalars(select(ApiToken.token_hash)).all()
        assert token not in stored
        assert hash_token(token) in stored
        assert find_active_token(token).merchant_id is not None
        db.engine.dispose()


def test_staff_create_prints_a_password_and_a_token(seeded_url, tmp_path):
    database_url = seeded_url
    result = flask_cli(
        database_url, tmp_path, "staff", "create", "Li.Wei@Example.com", "--node", "CN-SFH"
    )
    assert "li.wei@example.com" in result.stdout
    assert "node CN-SFH" in result.stdout
    assert re.search(r"password \(shown once\): \S{10,}", result.stdout)
    assert re.search(r"API token \(shown once\): pvs_\S+", result.stdout)
    operator = flask_cli(
        database_url, tmp_path, "staff", "create", "ops@example.com", "--role", "operator"
    )
    assert "role operator" in operator.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["merchants", "create", "X", "--country", "XX"], "country"),
        (["merchants", "create", "X", "--country", "RU", "--currency", "ABC"], "currency"),
        (["staff", "create", "not-an-email", "--node", "RU-WH"], "email"),
        (["staff", "create", "a@example.com", "--node", "NOPE"], "No node"),
        (["staff", "create", "a@example.com"], "--node"),
    ],
)
def test_cli_errors_are_one_clear_line_and_a_nonzero_exit(database_url, tmp_path, args, message):
    result = flask_cli(database_url, tmp_path, *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_duplicate_staff_email_is_refused(database_url, tmp_path):
    flask_cli(database_url, tmp_path, "staff", "create", "ops@example.com", "--role", "operator")
    again = flask_cli(
        database_url,
        tmp_path,
        "staff",
        "create",
        "OPS@example.com",
        "--role",
        "operator",
        check=False,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**os.environ, "PAVILION_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [*FLASK, "routes"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_skus_import_runs_the_bulk_upload_for_an_operator(seeded_url, tmp_path):
    from tests.api.test_merchant_bulk import csv_rows

    database_url = seeded_url
    merchant = flask_cli(
        database_url, tmp_path, "merchants", "create", "Import LLC", "--country", "RU"
    )
    merchant_id = re.search(r"merchant id: (\d+)", merchant.stdout).group(1)
    price_list = tmp_path / "prices.csv"
    price_list.write_bytes(csv_rows(30))

    dry = flask_cli(
        database_url,
        tmp_path,
        "skus",
        "import",
        str(price_list),
        "--merchant",
        merchant_id,
        "--dry-run",
    )
    assert "validated: 30 rows, 30 created" in dry.stdout
    done = flask_cli(
        database_url, tmp_path, "skus", "import", str(price_list), "--merchant", merchant_id
    )
    assert "written: 30 rows, 30 created" in done.stdout
    assert "validating" in done.stderr  # the progress bar
    again = flask_cli(
        database_url, tmp_path, "skus", "import", str(price_list), "--merchant", merchant_id
    )
    assert "30 unchanged" in again.stdout

    broken = tmp_path / "broken.csv"
    broken.write_bytes(csv_rows(2) + b"RU-BAD,PX,honey,,,,,,,RU,1,1,1,1,RUB,\n")
    failed = flask_cli(
        database_url,
        tmp_path,
        "skus",
        "import",
        str(broken),
        "--merchant",
        merchant_id,
        check=False,
    )
    assert failed.returncode == 1
    assert "rejected" in failed.stdout
    assert "row 4 (RU-BAD)" in failed.stderr


def test_merchant_tokens_can_be_added_listed_and_revoked(database_url, tmp_path):
    created = flask_cli(
        database_url, tmp_path, "merchants", "create", "Token LLC", "--country", "KZ"
    )
    merchant_id = re.search(r"merchant id: (\d+)", created.stdout).group(1)
    extra = flask_cli(
        database_url, tmp_path, "merchants", "create-token", merchant_id, "--label", "ERP"
    )
    token = re.search(r"(pvm_\S+)", extra.stdout).group(1)
    listing = flask_cli(database_url, tmp_path, "merchants", "tokens", merchant_id).stdout
    assert listing.count("active") == 2
    assert token not in listing  # prefixes only
    assert token[:12] in listing
    token_id = listing.strip().splitlines()[-1].split()[0]
    revoked = flask_cli(
        database_url, tmp_path, "merchants", "revoke-token", merchant_id, "--token-id", token_id
    )
    assert "revoked 1 token(s)" in revoked.stdout
    assert "revoked" in flask_cli(database_url, tmp_path, "merchants", "tokens", merchant_id).stdout
    everything = flask_cli(
        database_url, tmp_path, "merchants", "revoke-token", merchant_id, "--all"
    )
    assert "revoked 1 token(s)" in everything.stdout
    missing = flask_cli(
        database_url, tmp_path, "merchants", "revoke-token", "999", "--all", check=False
    )
    assert missing.returncode == 1
    assert "No merchant 999" in missing.stderr
