"""/readyz: ready when the database answers, its schema is at the migrations' head and
the broker (when one is configured) answers; a 503 naming what is not."""

from __future__ import annotations

import pytest

from tests.conftest import make_test_app
from tests.integration.test_cli_and_migrations import flask_cli
from tests.integration.test_serve import free_port

PROBE_LIMIT = 40  # far past any rate limit's budget


def _previous_revision(app) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(app.extensions["migrate"].directory))
    script = ScriptDirectory.from_config(config)
    (head,) = script.get_heads()
    return script.get_revision(head).down_revision


def _new_database(backend, folder, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'ready.db'}"
    return request.getfixturevalue("postgres").create("ready")


@pytest.fixture
def database_url(backend, tmp_path, request):
    return _new_database(backend, tmp_path, request)


@pytest.fixture(scope="module")
def migrated_url(backend, tmp_path_factory, request):
    """``flask db upgrade`` in a process of its own: Alembic's env.py configures logging
    from its .ini, which would take this process's loggers away."""
    folder = tmp_path_factory.mktemp("ready")
    url = _new_database(backend, folder, request)
    flask_cli(url, folder, "db", "upgrade")
    return url


def _ready(app):
    response = app.test_client().get("/readyz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def test_ready_on_a_migrated_database(migrated_url):
    status, body = _ready(make_test_app(migrated_url, RATE_LIMITS="on"))
    assert status == 200, body
    assert body == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_readiness_is_never_rate_limited(migrated_url):
    client = make_test_app(migrated_url, RATE_LIMITS="on").test_client()
    assert {client.get("/readyz").status_code for _ in range(PROBE_LIMIT)} == {200}


def test_an_empty_database_is_not_ready_and_says_migrations(database_url):
    app = make_test_app(database_url)
    status, body = _ready(app)
    assert status == 503
    assert body["failing"] == ["migrations"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].startswith("not migrated")


def test_a_database_missing_the_latest_migration_is_not_ready(database_url, tmp_path):
    app = make_test_app(database_url)
    previous = _previous_revision(app)
    flask_cli(database_url, tmp_path, "db", "upgrade", previous)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["failing"] == ["migrations"]
    assert body["checks"]["migrations"].startswith(f"at {previous}, head is ")


def test_a_broker_that_does_not_answer_is_named(migrated_url):
    closed = f"redis://:broker-password@127.0.0.1:{free_port()}/0"
    app = make_test_app(migrated_url, CELERY_BROKER_URL=closed)
    status, body = _ready(app)
    assert status == 503
    assert body["failing"] == ["broker"]
    assert body["checks"] == {"database": "ok", "migrations": "ok", "broker": "unreachable"}
    assert "broker-password" not in str(body)
    assert "127.0.0.1" not in str(body)


def test_a_broker_that_answers_is_ok(migrated_url, backend):
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    status, body = _ready(make_test_app(migrated_url, CELERY_BROKER_URL=url))
    assert status == 200, body
    assert body["checks"]["broker"] == "ok"


def test_a_database_that_does_not_answer_is_named():
    app = make_test_app("postgresql+psycopg://127.0.0.1:1/nothing")
    status, body = _ready(app)
    assert status == 503
    assert body["failing"] == ["database"]
    assert body["checks"] == {"database": "unreachable", "migrations": "not checked"}


def test_readiness_stays_out_of_the_api_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/healthz" in paths
    assert "/readyz" not in paths
    assert "/metrics" not in paths
