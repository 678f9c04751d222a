"""Redis, the Celery broker, restarted without its data while jobs are queued, while the
broker is down, and while a worker is connected: every job still runs, and runs once.

The jobs table is the truth (shop/core/background/); a message Redis loses is sent again
by the sweeper once its grace period is over. The test starts a Redis of its own on a
free port (``redis-server --save "" --appendonly no``: a restart forgets everything)
and a real worker (tests/integration/background_worker_app.py) on a throwaway
PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from shop.core import background
from shop.core.background import Job
from shop.core.extensions import db
from tests.conftest import make_test_app, skip_or_fail
from tests.integration import background_worker_app  # noqa: F401 - registers tests.file_run
from tests.invariants import assert_invariants

ROOT = Path(__file__).resolve().parents[2]
REDISPATCH_SECONDS = 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DisposableRedis:
    """A Redis on loopback that keeps nothing across a restart."""

    def __init__(self, log_path: Path):
        self.executable = shutil.which("redis-server")
        self.port = _free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown save, the queue is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def broker_world(postgres, tmp_path):
    redis = DisposableRedis(tmp_path / "redis.log")
    if redis.executable is None:
        skip_or_fail("redis-server is not installed")
    redis.start()
    queue = f"pavilion-fault-{uuid.uuid4().hex[:8]}"
    url = postgres.create("fault_redis")
    app = make_test_app(url, CELERY_BROKER_URL=redis.url, CELERY={"task_default_queue": queue},
                        JOB_LEASE_SECONDS=5, JOB_REDISPATCH_SECONDS=REDISPATCH_SECONDS)  # fmt: skip
    with app.app_context():
        db.create_all()
    env = {
        **os.environ,
        "PAVILION_TEST_WORKER_DATABASE_URL": url,
        "PAVILION_TEST_WORKER_BROKER_URL": redis.url,
        "PAVILION_TEST_WORKER_QUEUE": queue,
        "PAVILION_TEST_WORKER_LEASE": "5",
    }
    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        log = (tmp_path / "worker.log").open("a")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "--app",
             "tests.integration.background_worker_app:celery_app", "worker", "--pool", "solo",
             "--without-mingle", "--without-gossip", "--without-heartbeat",
             "--hostname", f"{queue}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        workers.append(worker)
        return worker

    yield app, redis, start_worker, tmp_path
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    redis.kill()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _enqueue(app, folder: Path, count: int, label: str) -> list[tuple[int, Path]]:
    jobs = []
    with app.app_context():
        for index in range(count):
            directory = folder / f"{label}-{index}"
            directory.mkdir()
            jobs.append((background.enqueue("tests.file_run", directory=str(directory)).id,
                         directory))  # fmt: skip
        db.session.remove()
    return jobs


def _states(app) -> dict[int, str]:
    with app.app_context():
        try:
            return dict(db.session.execute(select(Job.id, Job.state)).all())
        finally:
            db.session.remove()


def _sweep(app) -> dict[str, int]:
    with app.app_context():
        try:
            return background.sweep_jobs()
        finally:
            db.session.remove()


def test_every_job_runs_exactly_once_across_redis_restarts(broker_world):
    app, redis, start_worker, folder = broker_world
    # Queued with no worker yet, then Redis dies and comes back empty: messages lost.
    queued = _enqueue(app, folder, 4, "queued")
    redis.kill()
    # Sent while Redis is down: the commit stands, the send fails fast.
    started = time.monotonic()
    while_down = _enqueue(app, folder, 3, "while-down")
    assert time.monotonic() - started < 30
    redis.start()
    start_worker()
    after = _enqueue(app, folder, 2, "after-restart")
    # Restarted again under a connected worker, which must find its way back.
    deadline = time.monotonic() + 60
    while any(_states(app)[job_id] != "done" for job_id, _ in after):
        assert time.monotonic() < deadline, "the worker never ran the jobs sent to it"
        time.sleep(0.1)
    redis.kill()
    redis.start()
    late = _enqueue(app, folder, 2, "after-second-restart")

    everything = queued + while_down + after + late
    redispatched = 0
    deadline = time.monotonic() + 90
    while True:
        states = _states(app)
        if all(states[job_id] == "done" for job_id, _ in everything):
            break
        assert time.monotonic() < deadline, f"jobs never finished: {states}"
        time.sleep(REDISPATCH_SECONDS + 0.2)
        # What beat does every minute: lost messages are sent again.
        redispatched += _sweep(app)["jobs_redispatched"]

    # The messages Redis lost (and those never sent) reached the worker only this way.
    assert redispatched >= len(queued) + len(while_down)
    for job_id, directory in everything:
        starts = (directory / "starts").read_text().split()
        done = (directory / "done").read_text().split()
        assert len(starts) == 1, f"job {job_id} started {len(starts)} times"
        assert len(done) == 1, f"job {job_id} finished {len(done)} times"
    assert_invariants(app)
