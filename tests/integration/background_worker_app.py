"""Tasks for the background-job tests, and the Celery app a real worker runs them with.

The tests import this module for its tasks. A worker subprocess loads it with
``celery --app tests.integration.background_worker_app:celery_app worker``;
the environment names its database, broker and queue, so each test run has a
queue of its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import requests

from shop.core import background

CALLS: list[str] = []


@background.task("tests.record")
def record(marker: str) -> None:
    CALLS.append(marker)


@background.task("tests.flaky")
def flaky(marker: str, failures: int, error: str = "transient") -> None:
    """Fails ``failures`` times with ``error``, then succeeds."""
    earlier = CALLS.count(marker)
    CALLS.append(marker)
    if earlier < failures:
        if error == "timeout":
            raise requests.Timeout("carrier took too long")
        if error == "permanent":
            raise background.PermanentError("the carrier refused the parcel: bad postcode")
        if error == "bug":
            raise KeyError("tracking_number")
        raise background.TransientError("carrier answered 503")


@background.task("tests.file_run")
def file_run(directory: str, block: bool = False) -> None:
    """Records each start in ``starts`` and the finished work in ``done``, once.

    With ``block`` the run waits for a ``release`` file: the worker running it can
    be killed mid-task. The work is idempotent: a second run that finds it done
    writes nothing more.
    """
    folder = Path(directory)
    with (folder / "starts").open("a") as starts:
        starts.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + 60
    while block and not (folder / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    done = folder / "done"
    if done.exists() and done.read_text().strip():
        return
    with done.open("a") as finished:
        finished.write(f"{os.getpid()}\n")


def _worker_celery_app():
    from shop import create_app
    from shop.core.celery_app import make_celery

    app = create_app(
        {
            "PAVILION_ENV": "test",
            "SQLALCHEMY_DATABASE_URI": os.environ["PAVILION_TEST_WORKER_DATABASE_URL"],
            "CELERY_BROKER_URL": os.environ["PAVILION_TEST_WORKER_BROKER_URL"],
            "CELERY": {"task_default_queue": os.environ["PAVILION_TEST_WORKER_QUEUE"]},
            "JOB_LEASE_SECONDS": float(os.environ.get("PAVILION_TEST_WORKER_LEASE", "2")),
            "LOG_LEVEL": "WARNING",
        }
    )
    return make_celery(app)


celery_app = _worker_celery_app() if "PAVILION_TEST_WORKER_DATABASE_URL" in os.environ else None
