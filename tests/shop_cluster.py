"""Several shop processes over one PostgreSQL database and one Redis, as production
runs them: gunicorn instances of ``wsgi:app`` on loopback ports, Celery workers and
one beat of ``wsgi:celery_app``, each in its own process group, all stopped on the
way out (errors and Ctrl-C included).

Shared by tests/integration/test_multi_instance.py and bench/scale.py. Every process
gets the same environment (``cluster_env``): what must be equal across instances
(SECRET_KEY, the database, the broker and its queue, the rate-limit storage) is
equal by construction.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cluster_env(
    database_url: str,
    redis_url: str,
    queue: str,
    secret_key: str,
    workdir: Path,
    **settings: str,
) -> dict[str, str]:
    """The environment every process of one shop shares: one database, one Redis (the
    Celery broker, on ``queue``, and the rate limits' counts), one SECRET_KEY."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "CELERY_BROKER_URL": redis_url,
        "PAVILION_CELERY_QUEUE": queue,
        "PAVILION_RATE_LIMIT_STORAGE_URL": redis_url,
        "PAVILION_VAR_DIR": str(workdir / "var"),
        "LOG_LEVEL": "WARNING",
    }
    env.update(settings)
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to this process alone (a worker dying mid-job)."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM to the process group (gunicorn stops its workers, Celery warmly)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def stop(self, timeout: float = 15) -> None:
        """``terminate``, wait up to ``timeout`` s, then SIGKILL whatever is left in the
        group (a gunicorn worker that outlived its master, say)."""
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


@dataclass
class ShopCluster:
    """The processes of one shop; start them with the ``start_*`` methods."""

    env: Mapping[str, str]
    workdir: Path
    web_workers: int = 2
    instances: list[Process] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    beats: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str]) -> Process:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("w") as out:
            popen = subprocess.Popen(
                argv, cwd=ROOT, env=dict(self.env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return Process(name, popen, log_path)

    def start_instance(self) -> str:
        """One gunicorn (the production config) on a free loopback port; its base URL."""
        port = free_port()
        name = f"web-{chr(ord('a') + len(self.instances))}"
        process = self._spawn(name, [
            sys.executable, "-m", "gunicorn", "--config", "python:shop.gunicorn_conf",
            "--workers", str(self.web_workers), "--bind", f"127.0.0.1:{port}",
            "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning",
            "wsgi:app",
        ])  # fmt: skip
        self.instances.append(process)
        url = f"http://127.0.0.1:{port}"
        self.urls.append(url)
        return url

    def start_worker(self) -> Process:
        """A Celery worker (solo pool: the job runs in the process a test may kill)."""
        name = f"worker-{len(self.workers) + 1}"
        process = self._spawn(name, [
            sys.executable, "-m", "celery", "--app", "wsgi:celery_app", "worker",
            "--pool", "solo", "--without-mingle", "--without-gossip", "--without-heartbeat",
            "--hostname", f"{name}-{os.getpid()}@%h", "--loglevel", "INFO",
        ])  # fmt: skip
        self.workers.append(process)
        return process

    def start_beat(self) -> Process:
        name = f"beat-{len(self.beats) + 1}"
        process = self._spawn(name, [
            sys.executable, "-m", "celery", "--app", "wsgi:celery_app", "beat",
            "--schedule", str(self.workdir / f"{name}-schedule"),
            "--pidfile", str(self.workdir / f"{name}.pid"), "--loglevel", "INFO",
        ])  # fmt: skip
        self.beats.append(process)
        return process

    def wait_ready(self, timeout: float = 90) -> None:
        """Every instance answers /healthz, every worker says it is ready, beat started."""
        deadline = time.monotonic() + timeout
        pending_urls = dict(zip(self.urls, self.instances, strict=True))
        pending_logs = [(w, " ready.") for w in self.workers] + [
            (b, "beat: Starting") for b in self.beats
        ]
        while pending_urls or pending_logs:
            for url, process in list(pending_urls.items()):
                self._check_alive(process)
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                        del pending_urls[url]
            for item in list(pending_logs):
                process, marker = item
                self._check_alive(process)
                if marker in process.log_tail(100_000):
                    pending_logs.remove(item)
            if time.monotonic() > deadline:
                names = [p.name for p in pending_urls.values()] + [p.name for p, _ in pending_logs]
                tails = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in self.processes())
                raise RuntimeError(f"not ready after {timeout:.0f} s: {names}\n{tails}")
            time.sleep(0.2)

    @staticmethod
    def _check_alive(process: Process) -> None:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")

    def processes(self) -> list[Process]:
        return [*self.instances, *self.workers, *self.beats]

    def stop(self, timeout: float = 15) -> None:
        """Every process told to stop at once, then each waited for (``timeout`` s in
        all) and killed with its group if still there."""
        processes = self.processes()
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in processes:
            with contextlib.suppress(Exception):
                process.stop(timeout=max(0.1, deadline - time.monotonic()))


@contextlib.contextmanager
def shop_cluster(
    env: Mapping[str, str],
    workdir: Path,
    *,
    instances: int = 2,
    web_workers: int = 2,
    workers: int = 1,
    beat: bool = True,
) -> Iterator[ShopCluster]:
    """Start ``instances`` gunicorns, ``workers`` Celery workers and (with ``beat``) one
    beat on ``env``; yield once all are ready; stop every one of them on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = ShopCluster(env, workdir, web_workers=web_workers)
    try:
        for _ in range(instances):
            cluster.start_instance()
        for _ in range(workers):
            cluster.start_worker()
        if beat:
            cluster.start_beat()
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()


def forget_queue(client, queue: str) -> None:
    """Leave Redis as a test run found it: drop ``queue`` (a run's own), its bindings,
    and the messages of it that a killed worker left unacknowledged."""
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    for tag, payload in client.hgetall("unacked").items():
        if queue.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
