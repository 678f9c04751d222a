"""Promising work: a ``jobs`` row written in the caller's transaction, dispatched
only once that transaction commits (``after_commit``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from shop.core.background.after_commit import APP_KEY, PENDING_KEY, has_writes
from shop.core.background.models import Job
from shop.core.background.registry import TASKS
from shop.core.clock import utcnow
from shop.core.extensions import db


def enqueue(
    name: str,
    *,
    key: str | None = None,
    delay: float | timedelta | None = None,
    join_waiting: bool = False,
    **kwargs: Any,
) -> Job:
    """Promise to run the task ``name`` with ``kwargs`` once the current transaction
    commits; returns its ``Job``.

    Call it inside the transaction that makes the work necessary, after its writes
    and before ``db.session.commit()``: a rollback drops the job with the change. When
    the session has written nothing yet (the call comes after the caller committed),
    the job is committed on its own at once. ``key`` makes the call idempotent (one
    job per key, whatever its state); ``delay`` (seconds) holds the job back.

    ``join_waiting`` is for work that reads the world afresh (re-reading a parcel from
    its carrier): the same job and arguments waiting to start will do what this call
    asks, so it is returned instead of a second one. Unlike ``key``, it never holds
    back a call that comes once that job has started: what the call was told about
    may have happened after the job read.
    """
    if name not in TASKS:
        raise KeyError(f"no task {name!r}")
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise TypeError(f"task {name!r}: kwargs must be JSON: {exc}") from None
    if join_waiting:
        if key is not None:
            raise TypeError("join_waiting and key are two different rules; give one")
        waiting = waiting_job(name, **kwargs)
        if waiting is not None:
            return waiting
    app = current_app._get_current_object()
    session = db.session()
    joins_caller = has_writes(session)
    config = app.config
    delay_seconds = delay.total_seconds() if isinstance(delay, timedelta) else (delay or 0)
    now = utcnow()
    due = now + timedelta(seconds=delay_seconds)
    values = {
        "name": name,
        "key": key,
        "kwargs": kwargs,
        "state": "pending",
        "attempts": 0,
        "max_attempts": int(config.get("JOB_MAX_ATTEMPTS", 8)),
        "next_attempt_at": due,
        # In-process, a held-back job is sent by nobody: the sweeper runs it once due.
        "dispatched_at": due if config.get("CELERY_BROKER_URL") or not delay_seconds else None,
        "created_at": now,
        "updated_at": now,
    }
    job, created = _insert(session, values)
    if created:
        transaction = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(PENDING_KEY, []).append((job.id, delay_seconds, transaction))
        session.info[APP_KEY] = app
    if not joins_caller:
        session.commit()
    return job


def waiting_job(name: str, **kwargs: Any) -> Job | None:
    """A job of task ``name`` with exactly ``kwargs`` that no run has started yet
    (``pending`` with no attempt), or ``None``. A job claimed a moment after this
    read still starts after it, so what it reads is newer than the caller's news."""
    query = select(Job).where(Job.name == name, Job.state == "pending", Job.attempts == 0)
    for field, value in kwargs.items():
        # Narrowed in SQL where the JSON value is a plain int or text; compared whole below.
        if isinstance(value, int) and not isinstance(value, bool):
            query = query.where(Job.kwargs[field].as_integer() == value)
        elif isinstance(value, str):
            query = query.where(Job.kwargs[field].as_string() == value)
    for job in db.session.scalars(query.order_by(Job.id).limit(20)):
        if (job.kwargs or {}) == kwargs:
            return job
    return None


def _insert(session: Session, values: dict[str, Any]) -> tuple[Job, bool]:
    if values["key"] is None:
        job = Job(**values)
        session.add(job)
        session.flush()
        return job, True
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the project runs on these two
        existing = session.scalar(select(Job).where(Job.key == values["key"]))
        if existing is not None:
            return existing, False
        job = Job(**values)
        session.add(job)
        session.flush()
        return job, True
    # ON CONFLICT DO NOTHING: two transactions enqueueing one key make one job, and
    # the loser's transaction is not aborted by a unique violation.
    job_id = session.scalar(
        insert(Job).values(**values).on_conflict_do_nothing(index_elements=["key"])
        .returning(Job.id)
    )  # fmt: skip
    if job_id is None:
        return session.scalar(select(Job).where(Job.key == values["key"])), False
    return session.get(Job, job_id), True
