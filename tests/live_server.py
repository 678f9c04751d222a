"""Serve an app over real HTTP on loopback, in a thread, for tests that need a
server: concurrent shoppers, or a payment provider that calls our webhook."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def live_server(app) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:<port>``); one thread per request."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def served_world(postgres, purpose: str, **overrides):
    """A throwaway PostgreSQL database with the checkout world (tests/checkout_world.py),
    served over HTTP; yields ``(app, base_url, world)``. The pool is large enough that
    races are decided by the database, not by waiting for a connection."""
    from shop.core.extensions import db
    from tests.checkout_world import build_world
    from tests.conftest import make_test_app

    overrides.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", {"pool_size": 20, "max_overflow": 20, "pool_timeout": 60}
    )
    app = make_test_app(postgres.create(purpose), **overrides)
    with app.app_context():
        db.create_all()
        world = build_world()
    try:
        with live_server(app) as base_url:
            yield app, base_url, world
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@contextmanager
def running_gunicorn(
    env: dict[str, str], log: Path, *, workers: int, args: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen]]:
    """The shop (``wsgi:app``) behind a real gunicorn with the production config
    (shop/gunicorn_conf.py) on a free loopback port, its output in ``log``; yields
    ``(base_url, master)`` once ``/healthz`` answers, and stops the whole process group
    afterwards, even when the test failed."""
    from tests.integration.test_serve import free_port

    port = free_port()
    with log.open("w") as out:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:shop.gunicorn_conf",
             "--workers", str(workers), "--bind", f"127.0.0.1:{port}", *args, "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # the workers are still booting
            assert master.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"gunicorn did not answer:\n{log.read_text()}"
            time.sleep(0.2)
        yield base, master
    finally:
        os.killpg(master.pid, signal.SIGTERM)
        try:
            master.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(master.pid, signal.SIGKILL)
            master.wait()
