"""Liveness, readiness and metrics, for load balancers, orchestrators and Prometheus.

- ``/healthz`` (liveness, in the API document): the process answers and its
  database does; the Docker HEALTHCHECK asks it.
- ``/readyz`` (readiness): may this instance take traffic? The database answers,
  its schema is at the migrations' head, and the broker answers when
  ``CELERY_BROKER_URL`` is set. 200 with each check, or 503 naming the failing
  ones. Neither rate-limited nor behind a login; the body holds no secrets
  (check results are fixed phrases and revision ids, never an error's text).
- ``/metrics``: Prometheus text, with ``Authorization: Bearer
  $PAVILION_METRICS_TOKEN``. Without that setting it is a 404 like any unknown
  path, so nothing is exposed by default.

``/readyz`` and ``/metrics`` are for operators' machines, not API clients: they are
left out of the OpenAPI document.
"""

from __future__ import annotations

import hmac
import logging
from functools import cache

import marshmallow as ma
from flask import Blueprint as FlaskBlueprint
from flask import Response, abort, current_app
from sqlalchemy import inspect, text

from shop.core.api_base import Blueprint
from shop.core.auth import Unauthorized, bearer_token
from shop.core.extensions import db

log = logging.getLogger(__name__)

health_blp = Blueprint("health", __name__, description="Liveness")
ops_bp = FlaskBlueprint("ops", __name__)

NO_STORE = {"Cache-Control": "no-store"}
BROKER_TIMEOUT_SECONDS = 2
NOT_CHECKED = "not checked"  # what depends on a check that failed


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)


@health_blp.route("/healthz")
@health_blp.response(200, HealthSchema)
@health_blp.alt_response(503, description="The database does not answer")
def healthz():
    """Is the shop alive and its database reachable?"""
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return {"status": "ok", "checks": {"database": "ok"}}, 200, NO_STORE


# ------------------------------------------------------------------ readiness


@ops_bp.get("/readyz")
def readyz():
    """May this instance take traffic? Each check is ``ok`` or a short reason."""
    checks = {"database": _check_database()}
    checks["migrations"] = _check_migrations() if checks["database"] == "ok" else NOT_CHECKED
    broker_url = current_app.config.get("CELERY_BROKER_URL")
    if broker_url:
        checks["broker"] = _check_broker(broker_url)
    failing = [name for name, result in checks.items() if result not in ("ok", NOT_CHECKED)]
    if not failing:
        return {"status": "ok", "checks": checks}, 200, NO_STORE
    body = {"status": "unavailable", "failing": failing, "checks": checks}
    return body, 503, {**NO_STORE, "Retry-After": "5"}


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except Exception:
        log.warning("readiness: the database does not answer", exc_info=True)
        return "unreachable"
    finally:
        db.session.rollback()


@cache
def _migration_heads(directory: str) -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def _check_migrations() -> str:
    heads = _migration_heads(str(current_app.extensions["migrate"].directory))
    try:
        # Alembic's own table, read plainly (its MigrationContext logs at every probe).
        with db.engine.connect() as connection:
            current = frozenset(
                connection.scalars(text("SELECT version_num FROM alembic_version")).all()
                if inspect(connection).has_table("alembic_version")
                else ()
            )
    except Exception:
        log.warning("readiness: cannot read the schema's revision", exc_info=True)
        return "unreadable"
    if current == heads:
        return "ok"
    if not current:
        return "not migrated (flask --app wsgi db upgrade)"
    return (
        f"at {', '.join(sorted(current))}, head is {', '.join(sorted(heads))} "
        "(flask --app wsgi db upgrade)"
    )


def _check_broker(url: str) -> str:
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
                socket_timeout=BROKER_TIMEOUT_SECONDS,
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
                connection.connect()
    except Exception as problem:
        # The class only: a broker's message may carry its address.
        log.warning("readiness: the broker does not answer (%s)", type(problem).__name__)
        return "unreachable"
    return "ok"


# ------------------------------------------------------------------ metrics


@ops_bp.get("/metrics")
def metrics():
    """Prometheus text: counters of every gunicorn worker, and what the database says
    now (jobs by state, rate ages)."""
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected:
        abort(404)
    offered = bearer_token()
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        raise Unauthorized("The metrics token is not right.")

    from catalog.rate_feeds import RateAgeCollector
    from shop.core.metrics import CONTENT_TYPE, exposition

    return Response(exposition([RateAgeCollector()]), content_type=CONTENT_TYPE, headers=NO_STORE)
