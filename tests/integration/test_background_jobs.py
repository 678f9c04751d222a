"""Background jobs: the outbox row is written with the change, run after the commit,
retried with backoff, dead-lettered, and found again when its task is lost.

The in-process tests run on SQLite and PostgreSQL (the ``app`` fixture). The
Celery tests start real workers (``celery ... worker --pool solo``) on Redis
and a throwaway PostgreSQL database, and kill one mid-task.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from catalog.models import Merchant
from shop.core import background
from shop.core.background import Job
from shop.core.clock import as_utc, utcnow
from shop.core.extensions import db
from tests import factories
from tests.conftest import make_test_app, skip_or_fail
from tests.integration import background_worker_app as tasks
from tests.shop_cluster import forget_queue

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _forget_calls():
    tasks.CALLS.clear()
    yield
    tasks.CALLS.clear()


def only_job() -> Job:
    db.session.expire_all()
    jobs = db.session.scalars(select(Job)).all()
    assert len(jobs) == 1, jobs
    return jobs[0]


# ------------------------------------------------------------------ in-process (no broker)


def test_a_job_runs_only_after_the_transaction_that_wrote_it_commits(app):
    with app.app_context():
        factories.merchant()
        job = background.enqueue("tests.record", marker="after-commit")
        assert job.state == "pending"
        assert tasks.CALLS == [], "nothing runs while the transaction is open"
        db.session.commit()
        assert tasks.CALLS == ["after-commit"]
        job = only_job()
        assert (job.state, job.attempts, job.locked_by) == ("done", 1, None)


def test_a_rolled_back_transaction_leaves_no_job_and_runs_nothing(app):
    with app.app_context():
        db.session.add(Merchant(name="Unflushed LLC", country="RU", currency="RUB"))
        background.enqueue("tests.record", marker="never")
        db.session.rollback()
        db.session.commit()
        assert tasks.CALLS == []
        assert db.session.scalar(select(func.count(Job.id))) == 0


def test_inside_a_request_the_job_runs_after_the_response(app):
    def place():
        factories.merchant()
        background.enqueue("tests.record", marker="request")
        db.session.commit()
        return {"calls_at_commit": len(tasks.CALLS)}

    app.add_url_rule("/test-enqueue", "test_enqueue", place, methods=["POST"])
    response = app.test_client().post("/test-enqueue")
    assert response.status_code == 200
    assert response.json == {"calls_at_commit": 0}
    assert tasks.CALLS == ["request"]
    with app.app_context():
        assert only_job().state == "done"


def test_enqueue_after_the_callers_commit_commits_the_job_on_its_own(app):
    """Call sites that still enqueue after committing keep working."""
    with app.app_context():
        factories.merchant()
        db.session.commit()
        db.session.scalar(select(func.count(Job.id)))  # a read: a transaction, no writes
        background.enqueue("tests.record", marker="late")
        assert tasks.CALLS == ["late"]
        db.session.rollback()
        assert only_job().state == "done"


def test_the_same_key_makes_one_job(app):
    with app.app_context():
        factories.merchant()
        first = background.enqueue("tests.record", key="book-shipment:123", marker="book")
        second = background.enqueue("tests.record", key="book-shipment:123", marker="book")
        assert first.id == second.id
        db.session.commit()
        third = background.enqueue("tests.record", key="book-shipment:123", marker="book")
        assert third.id == first.id
        assert tasks.CALLS == ["book"]
        assert db.session.scalar(select(func.count(Job.id))) == 1


def test_a_transient_failure_is_retried_later_with_the_attempt_counted(app):
    with app.app_context():
        before = utcnow()
        background.enqueue("tests.flaky", marker="m", failures=1, error="timeout")
        job = only_job()
        assert job.state == "pending"
        assert job.attempts == 1
        assert "Timeout: carrier took too long" in job.last_error
        wait = (as_utc(job.next_attempt_at) - before).total_seconds()
        assert 0.5 * 5 - 1 <= wait <= 1.5 * 5 + 1  # base 5 s, jitter 0.5-1.5
        assert background.sweep_jobs()["jobs_redispatched"] == 0, "not due yet"

        done = background.sweep_jobs(utcnow() + timedelta(hours=1))
        assert done["jobs_redispatched"] == 1
        job = only_job()
        assert (job.state, job.attempts) == ("done", 2)
        assert tasks.CALLS == ["m", "m"]


def test_a_job_out_of_attempts_is_dead_with_its_last_error(app):
    app.config["JOB_MAX_ATTEMPTS"] = 2
    with app.app_context():
        background.enqueue("tests.flaky", marker="m", failures=99)
        background.sweep_jobs(utcnow() + timedelta(hours=1))
        job = only_job()
        assert (job.state, job.attempts) == ("dead", 2)
        assert job.last_error == "gave up after 2 attempts: TransientError: carrier answered 503"
        assert background.sweep_jobs(utcnow() + timedelta(days=1))["jobs_redispatched"] == 0
        assert tasks.CALLS == ["m", "m"]


@pytest.mark.parametrize(
    ("error", "last_error"),
    [
        ("permanent", "PermanentError: the carrier refused the parcel: bad postcode"),
        ("bug", "KeyError: 'tracking_number'"),
    ],
)
def test_a_permanent_failure_is_dead_at_once(app, error, last_error):
    with app.app_context():
        background.enqueue("tests.flaky", marker="m", failures=1, error=error)
        job = only_job()
        assert (job.state, job.attempts, job.last_error) == ("dead", 1, last_error)


def test_staff_see_dead_letters_and_retry_them(app):
    with app.app_context():
        background.enqueue("tests.flaky", marker="m", failures=1, error="permanent")
        background.enqueue("tests.record", marker="fine")
        dead = background.list_jobs("dead")
        assert dead["counts"] == {"pending": 0, "running": 0, "done": 1, "dead": 1}
        assert dead["total"] == 1
        [listed] = dead["items"]
        assert listed["name"] == "tests.flaky"
        assert listed["last_error"].startswith("PermanentError")

        output = app.test_cli_runner().invoke(args=["jobs", "list", "--state", "dead"]).output
        assert "dead: 1" in output
        assert "last error: PermanentError: the carrier refused" in output

        retried = app.test_cli_runner().invoke(args=["jobs", "retry", str(listed["id"])])
        assert retried.exit_code == 0, retried.output
        job = db.session.get(Job, listed["id"])
        db.session.refresh(job)
        assert (job.state, job.attempts) == ("done", 1)
        refused = app.test_cli_runner().invoke(args=["jobs", "retry", str(listed["id"])])
        assert refused.exit_code == 1
        assert "only dead jobs are retried" in refused.output


def test_the_sweeper_takes_over_a_job_whose_worker_died(app):
    """A worker killed mid-job leaves it running with a lease that runs out."""
    with app.app_context():
        factories.merchant()
        background.enqueue("tests.record", marker="orphan", delay=3600)
        db.session.commit()
        job = only_job()
        now = utcnow()
        # The worker claimed it (attempt 1) and then died.
        db.session.execute(
            update(Job).values(state="running", attempts=1, locked_by="dead-host:1:x",
                               locked_until=now + timedelta(minutes=5))
        )  # fmt: skip
        db.session.commit()
        assert background.sweep_jobs()["jobs_recovered"] == 0, "its lease still runs"
        assert tasks.CALLS == []

        db.session.execute(update(Job).values(locked_until=now - timedelta(seconds=1)))
        db.session.commit()
        assert background.sweep_jobs()["jobs_recovered"] == 1
        job = only_job()
        assert (job.state, job.attempts, job.locked_by) == ("done", 2, None)
        assert tasks.CALLS == ["orphan"]


def test_a_held_back_job_runs_when_the_sweeper_finds_it_due(app):
    with app.app_context():
        background.enqueue("tests.record", marker="later", delay=60)
        assert tasks.CALLS == []
        assert background.sweep_jobs(utcnow() + timedelta(seconds=30))["jobs_redispatched"] == 0
        assert background.sweep_jobs(utcnow() + timedelta(seconds=61))["jobs_redispatched"] == 1
        assert tasks.CALLS == ["later"]


def test_a_job_whose_message_was_lost_is_sent_again_after_the_grace_period(app):
    with app.app_context():
        now = utcnow()
        # Committed and sent, but the message never arrived (the process died first).
        db.session.add(Job(name="tests.record", kwargs={"marker": "lost"}, next_attempt_at=now,
                           dispatched_at=now))  # fmt: skip
        db.session.commit()
        assert background.sweep_jobs(now + timedelta(seconds=60))["jobs_redispatched"] == 0
        assert tasks.CALLS == [], "its message may still be on the way"
        done = background.sweep_jobs(now + timedelta(seconds=301))
        assert done["jobs_redispatched"] == 1
        assert tasks.CALLS == ["lost"]
        assert only_job().state == "done"


def test_a_bulk_update_counts_as_the_callers_write(app):
    with app.app_context():
        db.session.add(Job(name="tests.record", kwargs={"marker": "x"}, state="dead"))
        db.session.commit()
        db.session.execute(update(Job).values(last_error="seen by staff"))
        background.enqueue("tests.record", marker="joined")
        assert tasks.CALLS == [], "it waits for the caller's commit"
        db.session.rollback()
        assert tasks.CALLS == []
        assert db.session.scalar(select(func.count(Job.id))) == 1


def test_with_the_broker_down_the_job_waits_for_the_sweeper():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_test_app("sqlite://", CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0")
    with app.app_context():
        db.create_all()
        factories.merchant()
        background.enqueue("tests.record", marker="queued")
        db.session.commit()  # no exception: the commit stands
        job = only_job()
        assert (job.state, job.attempts) == ("pending", 0)
        assert tasks.CALLS == []
        db.session.remove()
        db.engine.dispose()


# ------------------------------------------------------------------ Celery, real workers


@pytest.fixture
def celery_world(postgres, tmp_path):
    """A Flask app and a Celery app on a throwaway PostgreSQL database and a Redis queue
    of their own; ``start_worker()`` starts a real worker on them."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis not reachable at {REDIS_URL}: {exc}")
    queue = f"pavilion-test-{uuid.uuid4().hex[:8]}"
    url = postgres.create("jobs")
    app = make_test_app(url, CELERY_BROKER_URL=REDIS_URL,
                        CELERY={"task_default_queue": queue}, JOB_LEASE_SECONDS=2)  # fmt: skip
    with app.app_context():
        db.create_all()
    env = {
        **os.environ,
        "PAVILION_TEST_WORKER_DATABASE_URL": url,
        "PAVILION_TEST_WORKER_BROKER_URL": REDIS_URL,
        "PAVILION_TEST_WORKER_QUEUE": queue,
        "PAVILION_TEST_WORKER_LEASE": "2",
    }
    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        log = (tmp_path / f"worker-{len(workers)}.log").open("w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "--app",
             "tests.integration.background_worker_app:celery_app", "worker", "--pool", "solo",
             "--without-mingle", "--without-gossip", "--without-heartbeat",
             "--hostname", f"{queue}-{len(workers)}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        workers.append(worker)
        return worker

    yield app, start_worker, tmp_path
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    # Leave Redis as it was: this run's queue, and the message the killed worker held.
    forget_queue(client, queue)
    client.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def wait_for(predicate, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def job_state(app, job_id: int) -> tuple[str, int]:
    with app.app_context():
        job = db.session.get(Job, job_id)
        state = (job.state, job.attempts)
        db.session.remove()
        return state


def test_a_celery_worker_runs_a_job_enqueued_in_a_transaction(celery_world):
    app, start_worker, folder = celery_world
    start_worker()
    with app.app_context():
        factories.merchant()
        job = background.enqueue("tests.file_run", directory=str(folder))
        db.session.commit()
        job_id = job.id
    wait_for(lambda: job_state(app, job_id) == ("done", 1), what="the worker to run the job")
    assert (folder / "done").read_text().count("\n") == 1


def test_a_job_whose_worker_is_killed_mid_task_finishes_exactly_once(celery_world):
    app, start_worker, folder = celery_world
    first = start_worker()
    with app.app_context():
        job_id = background.enqueue("tests.file_run", directory=str(folder), block=True).id
    wait_for(lambda: (folder / "starts").exists(), what="the first run to start")
    assert job_state(app, job_id) == ("running", 1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    (folder / "release").touch()
    time.sleep(2.2)  # the dead worker's two-second lease runs out
    with app.app_context():
        assert background.sweep_jobs()["jobs_recovered"] == 1
    start_worker()
    wait_for(lambda: job_state(app, job_id) == ("done", 2), what="the job to finish")

    starts = (folder / "starts").read_text().split()
    assert len(starts) == 2, "started by the killed worker and by the new one"
    assert (folder / "done").read_text().split() == [starts[1]], "finished once"


def test_an_operator_retrying_a_dead_job_through_the_api_is_audited(app):
    from shop.core.audit import AuditEntry
    from warehouse.services import create_staff

    with app.app_context():
        operator = create_staff("ops@example.com", None, "operator")
        background.enqueue("tests.flaky", marker="m", failures=1, error="permanent")
        [dead] = background.list_jobs("dead")["items"]
    client = app.test_client()
    retried = client.post(
        f"/api/v1/warehouse/jobs/{dead['id']}/retry",
        headers={"Authorization": f"Bearer {operator.token}"},
    )
    assert retried.status_code == 200, retried.get_json()
    with app.app_context():
        (entry,) = db.session.scalars(select(AuditEntry)).all()
        assert (entry.action, entry.target_id) == ("job.retry", str(dead["id"]))
        assert (entry.staff_id, entry.actor) == (operator.id, f"staff:{operator.id}")
        assert entry.before == {
            "name": "tests.flaky",
            "state": "dead",
            "attempts": 1,
            "last_error": dead["last_error"],
        }
        assert entry.after["state"] == "pending"
        assert "marker" not in repr(entry.before) + repr(entry.after)  # never its arguments
