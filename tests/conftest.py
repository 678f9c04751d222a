"""Fixtures: every API test runs on SQLite and on PostgreSQL.

PostgreSQL is the local server (or TEST_POSTGRES_URL / a PostgreSQL
DATABASE_URL). Without one, its tests skip with the reason, except under CI
(CI=true), where a missing service is a failure: green must mean tested.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shop import create_app
from shop.config import normalize_database_url
from shop.core.extensions import db

DEFAULT_POSTGRES_URL = "postgresql+psycopg://127.0.0.1:5432/postgres"


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: a missing service fails the run)", pytrace=False)
    pytest.skip(reason)


def _postgres_admin_url() -> str:
    for candidate in (os.environ.get("TEST_POSTGRES_URL"), os.environ.get("DATABASE_URL")):
        if candidate and candidate.startswith(("postgres", "postgresql")):
            return normalize_database_url(candidate)
    return DEFAULT_POSTGRES_URL


class PostgresDatabases:
    """Throwaway databases on one server, dropped at the end of the session."""

    def __init__(self, admin_url: str):
        self.admin_url = make_url(admin_url)
        self.engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self, purpose: str) -> str:
        name = f"pavilion_test_{purpose}_{uuid.uuid4().hex[:8]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def clone(self, template_url: str, purpose: str) -> str:
        """A new database holding a copy of ``template_url``'s (which nobody may be
        connected to): PostgreSQL copies the files, far faster than migrating again."""
        template = make_url(template_url).database
        name = f"pavilion_test_{purpose}_{uuid.uuid4().hex[:8]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        # Each DROP DATABASE waits for a checkpoint; dropped together they share it
        # (a run's hundred databases: about 2 s instead of 25).
        def drop(name: str) -> None:
            with self.engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(drop, self.created))
        self.engine.dispose()


@pytest.fixture(scope="session")
def postgres():
    url = _postgres_admin_url()
    try:
        databases = PostgresDatabases(url)
        with databases.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        skip_or_fail(f"PostgreSQL not reachable at {make_url(url).render_as_string()}: {exc}")
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request):
    return request.param


class ClosingClient(FlaskClient):
    """A test client that reads and closes each response, as a WSGI server does once the
    body is sent: work queued to run after the response (refunds, emails) runs then."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_test_app(database_url: str, **overrides):
    # Limits off unless a test asks for them (tests/security): a suite sends many requests
    # from one address, and counting them is not what most tests are about.
    settings = {"PAVILION_ENV": "test", "RATE_LIMITS": "off"}
    app = create_app({**settings, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    app.test_client_class = ClosingClient
    return app


def _truncate_all(app) -> None:
    with app.app_context():
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture(scope="session")
def postgres_scratch_url(request, backend):
    if backend != "postgresql":
        return None
    databases = request.getfixturevalue("postgres")
    url = databases.create("scratch")
    app = make_test_app(url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


@pytest.fixture
def app(backend, postgres_scratch_url):
    """An app on an empty schema of ``backend``, fresh for each test."""
    if backend == "sqlite":
        application = make_test_app("sqlite://")
        with application.app_context():
            db.create_all()
    else:
        application = make_test_app(postgres_scratch_url)
        _truncate_all(application)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def seeded_app(request, backend, tmp_path_factory):
    """An app on the seeded demo pavilion, shared by a session's read-only tests.

    Tests that write must use ``app`` instead.
    """
    from shop.seed import seed_demo_pavilion

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'pavilion.db'}"
    else:
        url = request.getfixturevalue("postgres").create("seeded")
    application = make_test_app(url)
    with application.app_context():
        db.create_all()
        seed_demo_pavilion()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def seeded_client(seeded_app):
    return seeded_app.test_client()
