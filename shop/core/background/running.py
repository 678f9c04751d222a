"""Running one job: claiming its row with a lease (so no second worker runs it while
the first is alive), calling its task, and writing what became of it: done, a
retry at a later time, or dead (with the task's ``on_dead`` hook)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update

from shop.core.background.broker import send_to_broker
from shop.core.background.models import Job
from shop.core.background.registry import ON_DEAD, TASKS
from shop.core.background.retries import (
    LAST_ERROR_LIMIT,
    backoff_seconds,
    describe_error,
    is_transient,
)
from shop.core.clock import utcnow
from shop.core.extensions import db

# The job runner's one logger, as before it was split in modules.
log = logging.getLogger(__package__)

# A message may arrive a little before the row says it is due (clocks of two hosts).
CLOCK_SKEW = timedelta(seconds=2)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


def _claimable(now: datetime):
    return or_(
        and_(Job.state == "pending", Job.next_attempt_at <= now + CLOCK_SKEW),
        and_(Job.state == "running", Job.locked_until < now),
    )


def run_job(job_id: int) -> str:
    """Run one job if it is due and nobody else holds it; returns what became of it
    (``done``, ``retrying``, ``dead``, or the state that kept it from running).

    Needs an app context (the Celery task and the in-process runner give one).
    """
    config = current_app.config
    now = utcnow()
    worker = _worker_id()
    lease = timedelta(seconds=float(config.get("JOB_LEASE_SECONDS", 300)))
    claimed = db.session.execute(
        update(Job).where(Job.id == job_id, _claimable(now))
        .values(state="running", attempts=Job.attempts + 1, locked_by=worker,
                locked_until=now + lease, updated_at=now)
        .returning(Job.name, Job.kwargs, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    ).one_or_none()  # fmt: skip
    if claimed is None:
        state = db.session.scalar(select(Job.state).where(Job.id == job_id)) or "missing"
        db.session.rollback()
        log.debug("job %s not run: %s", job_id, state)
        return state
    name, kwargs, attempts, max_attempts = claimed
    kwargs = dict(kwargs or {})
    db.session.commit()
    if attempts > max_attempts:
        return _finish(job_id, worker, "dead", "the worker was lost during the last attempt",
                       name=name, kwargs=kwargs)  # fmt: skip
    function = TASKS.get(name)
    if function is None:
        return _finish(job_id, worker, "dead", f"no task named {name!r} in this process")
    log.info("job %s %s: attempt %d of %d", job_id, name, attempts, max_attempts)
    try:
        function(**kwargs)
    except Exception as error:
        db.session.rollback()
        return _failed(job_id, name, worker, error, attempts, max_attempts, kwargs)
    db.session.rollback()  # tasks commit their own work; anything left is dropped
    return _finish(job_id, worker, "done", None)


def _finish(
    job_id: int,
    worker: str,
    state: str,
    error: str | None,
    *,
    name: str | None = None,
    kwargs: dict[str, Any] | None = None,
) -> str:
    values: dict[str, Any] = {"state": state, "locked_by": None, "locked_until": None,
                              "updated_at": utcnow()}  # fmt: skip
    if error is not None:
        values["last_error"] = error[:LAST_ERROR_LIMIT]
    kept = db.session.execute(
        update(Job).where(Job.id == job_id, Job.locked_by == worker).values(**values)
    ).rowcount
    db.session.commit()
    if not kept:
        log.warning("job %s: its lease ran out while it ran; another run took it over", job_id)
    elif state == "dead":
        log.error("job %s is dead: %s", job_id, error)
        if name is not None:
            call_on_dead(job_id, name, kwargs or {}, error or "")
    return state


def call_on_dead(job_id: int, name: str, kwargs: dict[str, Any], error: str) -> None:
    """The task's ``on_dead``, in a short transaction of its own; its failure is logged,
    never raised (the job is dead either way, and listed for staff)."""
    on_dead = ON_DEAD.get(name)
    if on_dead is None:
        return
    db.session.rollback()
    try:
        on_dead(dict(kwargs), error)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("job %s %s: its on_dead hook failed", job_id, name)


def _failed(
    job_id: int,
    name: str,
    worker: str,
    error: Exception,
    attempts: int,
    max_attempts: int,
    kwargs: dict[str, Any] | None = None,
) -> str:
    described = describe_error(error)
    if not is_transient(error):
        log.error("job %s %s failed for good", job_id, name, exc_info=error)
        return _finish(job_id, worker, "dead", described, name=name, kwargs=kwargs)
    if attempts >= max_attempts:
        log.error("job %s %s: attempt %d failed, no more tries", job_id, name, attempts)
        return _finish(job_id, worker, "dead", f"gave up after {attempts} attempts: {described}",
                       name=name, kwargs=kwargs)  # fmt: skip
    config = current_app.config
    delay = backoff_seconds(
        attempts,
        base=float(config.get("JOB_BACKOFF_SECONDS", 5)),
        cap=float(config.get("JOB_BACKOFF_CAP_SECONDS", 900)),
    )
    now = utcnow()
    due = now + timedelta(seconds=delay)
    broker = bool(config.get("CELERY_BROKER_URL"))
    kept = db.session.execute(
        update(Job).where(Job.id == job_id, Job.locked_by == worker)
        .values(state="pending", next_attempt_at=due, last_error=described, locked_by=None,
                locked_until=None, updated_at=now, dispatched_at=due if broker else None)
    ).rowcount  # fmt: skip
    db.session.commit()
    log.warning("job %s %s: attempt %d failed (%s); next in %.0f s",
                job_id, name, attempts, described, delay)  # fmt: skip
    if kept and broker:
        send_to_broker(current_app._get_current_object(), job_id, delay)
    # In-process, nothing waits on a timer: the sweeper runs the job once it is due.
    return "retrying"
