"""Celery, for background work when ``CELERY_BROKER_URL`` is set.

``wsgi.py`` builds ``celery_app = make_celery(app)``, so production runs::

    celery --app wsgi:celery_app worker     # runs jobs (any number of them)
    celery --app wsgi:celery_app beat       # one only: the sweeper every minute

(PAVILION_JOB_SWEEP_SECONDS changes the minute; PAVILION_CELERY_QUEUE names the queue,
``celery`` by default, so that several shops may share one Redis.)

Celery only carries job ids: the ``jobs`` table (shop/core/background/) is the
truth, and one generic task, ``pavilion.run_job``, runs whichever job it names.
Messages are acknowledged after the task (``task_acks_late``) and given back
when the worker process dies (``task_reject_on_worker_lost``); the sweeper
covers the rest (a worker killed outright, a broker restarted without its
data), so no result backend is needed.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shop.core import background
from shop.core.extensions import db

log = logging.getLogger(__name__)

RUN_JOB = "pavilion.run_job"
SWEEP = "pavilion.sweep"
PERIODIC = "pavilion.periodic"
SWEEP_EVERY_SECONDS = 60.0


def make_celery(flask_app: Flask) -> Celery:
    """A Celery app bound to ``flask_app``: each task runs in its app context.

    Settings come from CELERY_BROKER_URL, CELERY_QUEUE (the queue's name),
    JOB_SWEEP_SECONDS (beat's sweeper interval) and, for anything else Celery knows,
    the ``CELERY`` mapping of the Flask config (tests name their own queue that way).
    """

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(flask_app.import_name, task_cls=FlaskTask, set_as_current=False)
    celery.conf.update(
        broker_url=flask_app.config.get("CELERY_BROKER_URL"),
        broker_connection_retry_on_startup=True,
        # A request that enqueues must not hang on a dead broker: fail fast, the
        # job row stays pending and the sweeper sends it.
        # Redis gives a message taken but not acknowledged to another worker after
        # visibility_timeout (Celery's default, an hour, written down): far above the
        # job lease (PAVILION_JOB_LEASE_SECONDS) and a worker's stop grace period
        # (compose.yaml), so a job being finished in a warm shutdown is not sent twice.
        broker_transport_options={
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
            "visibility_timeout": 3600,
        },
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_max": 1},
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # With late acks a worker holds only the message it runs: a killed worker
        # strands one job, not a prefetched batch.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=_beat_schedule(
            float(flask_app.config.get("JOB_SWEEP_SECONDS") or SWEEP_EVERY_SECONDS)
        ),
    )
    if flask_app.config.get("CELERY_QUEUE"):
        celery.conf.task_default_queue = flask_app.config["CELERY_QUEUE"]
    celery.conf.update(flask_app.config.get("CELERY") or {})

    @celery.task(
        name=RUN_JOB,
        # run_job records the job's own failures; only the database being away while
        # claiming or recording gets here (a dropped connection may surface as the
        # driver's InterfaceError; a busy pool as its timeout), and Celery tries again.
        autoretry_for=(OperationalError, InterfaceError, PoolTimeout),
        retry_backoff=True,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=5,
    )
    def run_job(job_id: int) -> str:
        return background.run_job(job_id)

    @celery.task(name=SWEEP)
    def sweep() -> dict[str, int]:
        """Every minute: the sweepers the domain packages register (orders: payments,
        expired holds, lost refunds, old
        idempotency keys) and the job sweeper (lost and abandoned jobs)."""
        done: dict[str, int] = {}
        for _name, sweep_something in sorted(background.SWEEPERS.items()):
            done.update(sweep_something())
        done.update(background.sweep_jobs())
        log.info("sweep: %s", done)
        return done

    @celery.task(name=PERIODIC)
    def run_periodic(name: str) -> None:
        background.PERIODIC[name][1]()

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_kwargs: Any) -> None:
        # A forked pool process must not share the parent's database connections.
        with flask_app.app_context():
            db.engine.dispose(close=False)

    flask_app.extensions["celery"] = celery
    return celery


def _beat_schedule(sweep_every: float = SWEEP_EVERY_SECONDS) -> dict[str, dict[str, Any]]:
    schedule: dict[str, dict[str, Any]] = {
        SWEEP: {"task": SWEEP, "schedule": sweep_every},
    }
    for name, (every, _function) in sorted(background.PERIODIC.items()):
        schedule[name] = {"task": PERIODIC, "schedule": every, "args": [name]}
    return schedule


def celery_for(flask_app: Flask) -> Celery:
    """The Celery app bound to ``flask_app`` (made on first use)."""
    return flask_app.extensions.get("celery") or make_celery(flask_app)
