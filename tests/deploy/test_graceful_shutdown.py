"""A deploy stops a Celery worker with SIGTERM (``docker compose`` sends it, then waits
the worker's ``stop_grace_period``): the worker takes no new job, finishes the one it
is running, acknowledges its message and exits. The job is done exactly once.

The worker is real and runs the production pool (prefork, as compose.yaml starts
it), on Redis and a throwaway PostgreSQL database; the job is
``tests.file_run`` from tests/integration/background_worker_app.py, which waits
for a ``release`` file, so the signal arrives while it runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from shop.config import load_config
from shop.core import background
from shop.core.celery_app import make_celery
from shop.core.extensions import db
from tests.conftest import make_test_app, skip_or_fail
from tests.deploy.test_compose import parse_duration
from tests.integration import background_worker_app  # noqa: F401 - registers tests.file_run
from tests.integration.test_background_jobs import job_state, wait_for
from tests.shop_cluster import forget_queue

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
LEASE_SECONDS = 30


def test_celery_settings_fit_the_job_lease_and_the_grace_period():
    """Late acknowledgement and one message per process: a worker stopped (or killed)
    mid-job holds that job's message only; Redis gives it to another worker only after
    the visibility timeout, long after the lease and the grace period."""
    app = make_test_app("sqlite://", CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    conf = make_celery(app).conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    visibility = conf.broker_transport_options["visibility_timeout"]
    lease = load_config(environ={"PAVILION_ENV": "test"})["JOB_LEASE_SECONDS"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    grace = parse_duration(compose["services"]["worker"]["stop_grace_period"])
    assert visibility > 2 * lease
    assert visibility > 2 * grace


@pytest.fixture
def worker_world(postgres, tmp_path):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis not reachable at {REDIS_URL}: {exc}")
    queue = f"pavilion-test-{uuid.uuid4().hex[:8]}"
    url = postgres.create("shutdown")
    app = make_test_app(
        url,
        CELERY_BROKER_URL=REDIS_URL,
        CELERY={"task_default_queue": queue},
        JOB_LEASE_SECONDS=LEASE_SECONDS,
    )
    with app.app_context():
        db.create_all()
    env = {
        **os.environ,
        "PAVILION_TEST_WORKER_DATABASE_URL": url,
        "PAVILION_TEST_WORKER_BROKER_URL": REDIS_URL,
        "PAVILION_TEST_WORKER_QUEUE": queue,
        "PAVILION_TEST_WORKER_LEASE": str(LEASE_SECONDS),
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "--app",
             "tests.integration.background_worker_app:celery_app", "worker",
             "--concurrency", "1", "--without-mingle", "--without-gossip",
             "--without-heartbeat", "--hostname", f"{queue}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    yield app, worker, tmp_path, log_path, client, queue
    if worker.poll() is None:
        worker.kill()
        worker.wait()
    forget_queue(client, queue)
    client.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_sigterm_lets_the_running_job_finish_once_then_the_worker_exits(worker_world):
    app, worker, folder, log_path, redis_client, queue = worker_world
    with app.app_context():
        job_id = background.enqueue("tests.file_run", directory=str(folder), block=True).id
    wait_for(lambda: (folder / "starts").exists(), 20, "the worker to start the job")
    assert job_state(app, job_id) == ("running", 1)

    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "Warm shutdown" in log_path.read_text(), 5, "Celery's warm shutdown")
    time.sleep(1)
    assert worker.poll() is None, "the worker waits for its job instead of leaving it"
    assert job_state(app, job_id) == ("running", 1)

    (folder / "release").touch()
    assert worker.wait(timeout=15) == 0, log_path.read_text()[-3000:]

    assert job_state(app, job_id) == ("done", 1)
    starts = (folder / "starts").read_text().split()
    assert len(starts) == 1, "run once"
    assert (folder / "done").read_text().split() == starts, "finished by that run"
    # Acknowledged: nothing of this queue is left for another worker to run again.
    assert redis_client.llen(queue) == 0
    held = [tag for tag, payload in redis_client.hgetall("unacked").items()
            if queue.encode() in payload]  # fmt: skip
    assert held == []
