"""Background work: a transactional outbox of jobs, run by Celery or in this process.

A service that needs outside work (a refund at the provider, cancelling a
PaymentIntent, an email, booking a carrier) calls ``enqueue`` inside its own
transaction, before it commits. The ``jobs`` row is written in that
transaction, so the change and the promise to finish it are kept together or
not at all. Only once the transaction commits is the job dispatched:

- with ``CELERY_BROKER_URL``: sent to Celery as ``pavilion.run_job(job_id)``,
  run by ``celery --app wsgi:celery_app worker``;
- without one (the embedded default): run in this process, inside a request
  once the response has been sent (``call_on_close``), outside a request (CLI,
  sweeper) at once.

The row, not the broker's message, is the truth. ``run_job`` claims it with a
conditional UPDATE that takes a lease (``locked_by``/``locked_until``), so a
second worker or the sweeper never runs a job whose first worker is alive.
Failures the world may fix by itself (timeouts, connection errors, HTTP 429 and
5xx, ``TransientError``) are retried with capped exponential backoff and
jitter; anything else, or the last allowed attempt, leaves the job ``dead``
with its last error, for staff to see (``flask --app wsgi jobs list --state
dead``) and to retry once the cause is fixed. ``sweep_jobs`` (every minute:
Celery beat, or ``flask --app wsgi orders sweep`` from cron) dispatches again
what was lost: a message the broker dropped, a worker killed mid-job.

So a job may run more than once (a worker killed after the work but before
``done`` was written, a lease that ran out): **tasks must be idempotent**. Read
the state of the row they act on and do nothing when the work is done, and
give providers an idempotency key derived from that row (``refund-<id>``).
Tasks own their transactions: they commit what they change.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from flask import Flask, after_this_request, current_app, has_request_context
from sqlalchemy import (
    JSON,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    and_,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shop.core.clock import iso_utc, utcnow
from shop.core.errors import Conflict, NotFound
from shop.core.extensions import db
from shop.core.transactions import is_database_unavailable

log = logging.getLogger(__name__)

TASKS: dict[str, Callable[..., Any]] = {}
# name -> called with (the job's kwargs, its last error) when a job of that task dies.
ON_DEAD: dict[str, Callable[[dict[str, Any], str], Any]] = {}
# name -> (every how many seconds, function): run by Celery beat (shop/core/celery_app.py).
PERIODIC: dict[str, tuple[float, Callable[[], Any]]] = {}
# name -> function returning counts: what the every-minute sweep runs before the job
# sweeper (the orders package registers its own; the ground names no domain).
SWEEPERS: dict[str, Callable[[], dict[str, int]]] = {}

JOB_STATES = ("pending", "running", "done", "dead")
LAST_ERROR_LIMIT = 2000
# A message may arrive a little before the row says it is due (clocks of two hosts).
CLOCK_SKEW = timedelta(seconds=2)
SWEEP_BATCH = 500
KEEP_DONE_FOR = timedelta(days=7)


# ------------------------------------------------------------------ the outbox row


class Job(db.Model):
    """One unit of outside work and where it stands."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Names one logical piece of work ("book-shipment:123"): enqueueing it again, in
    # any state, returns the job already there instead of making a second one.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    kwargs: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # counted when a run starts
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When the last dispatch should have started the job (NULL: nothing sent); the
    # sweeper sends again what is still pending well after that.
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


# ------------------------------------------------------------------ registries


def task(name: str, *, on_dead: Callable[[dict[str, Any], str], Any] | None = None):
    """Register a function as the task ``name``; it is called with the job's kwargs.

    ``on_dead(kwargs, error)`` runs when a job of this task becomes dead (no retry
    left, or an error no retry helps), in a transaction of its own, so that the row
    the job worked on can say so to the people who watch it (not only the jobs list).
    """

    def register(function):
        TASKS[name] = function
        if on_dead is None:
            ON_DEAD.pop(name, None)
        else:
            ON_DEAD[name] = on_dead
        return function

    return register


def periodic(name: str, *, every_seconds: float):
    """Register a function that Celery beat runs every ``every_seconds`` (e.g. tracking
    polls). Without a broker nothing runs it: call it from cron through the CLI."""

    def register(function):
        PERIODIC[name] = (float(every_seconds), function)
        return function

    return register


def sweeper(name: str):
    """Register a function that the every-minute sweep (Celery beat's
    ``pavilion.sweep``) runs before sweeping lost jobs."""

    def register(function):
        SWEEPERS[name] = function
        return function

    return register


# ------------------------------------------------------------------ errors and retries


class TransientError(Exception):
    """The outside world failed in a way that may pass: the job is retried later."""

    retryable = True


class PermanentError(Exception):
    """Retrying cannot help (the provider refused, the data is wrong): the job is dead
    at once, with this error for staff to read."""

    retryable = False


def _transient_types() -> tuple[type[BaseException], ...]:
    import requests  # a dependency of the shop; imported here to keep start-up light

    types: list[type[BaseException]] = [TransientError, TimeoutError, ConnectionError]
    types += [requests.Timeout, requests.ConnectionError]
    # The database went away, a deadlock, a lock timeout: all worth another try.
    types.append(OperationalError)
    return tuple(types)


def _http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    for status in (
        getattr(response, "status_code", None),
        getattr(error, "http_status", None),  # stripe
        getattr(error, "status_code", None),
    ):
        if isinstance(status, int):
            return status
    return None


def is_transient(error: BaseException) -> bool:
    """Whether a retry may succeed: an explicit ``retryable`` attribute wins; then
    timeouts, connection errors, HTTP 429 and 5xx. The explicit cause (``raise ...
    from``) is read too, so an adapter's ``PaymentUnavailable`` raised from a timeout
    is transient; everything else is permanent."""
    transient_types = _transient_types()
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 10:
        seen += 1
        verdict = getattr(current, "retryable", None)
        if isinstance(verdict, bool):
            return verdict
        if isinstance(current, transient_types) or is_database_unavailable(current):
            return True
        status = _http_status(current)
        if status is not None:
            return status == 429 or status >= 500
        current = current.__cause__
    return False


def backoff_seconds(
    attempts: int, *, base: float, cap: float, jitter: float | None = None
) -> float:
    """How long to wait after ``attempts`` failed runs: ``base``, doubled per attempt,
    at most ``cap``, times a jitter factor in [0.5, 1.5) so that the retries of one
    outage do not all arrive together."""
    exponent = min(max(attempts - 1, 0), 62)
    delay = min(cap, base * math.pow(2, exponent))
    factor = random.uniform(0.5, 1.5) if jitter is None else jitter  # noqa: S311 - not crypto
    return delay * factor


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    if error.__cause__ is not None:
        text += f" (caused by {type(error.__cause__).__name__}: {error.__cause__})"
    return text[:LAST_ERROR_LIMIT]


# ------------------------------------------------------------------ enqueue


def enqueue(
    name: str, *, key: str | None = None, delay: float | timedelta | None = None, **kwargs: Any
) -> Job:
    """Promise to run the task ``name`` with ``kwargs`` once the current transaction
    commits; returns its ``Job``.

    Call it inside the transaction that makes the work necessary, after its writes
    and before ``db.session.commit()``: a rollback drops the job with the change. When
    the session has written nothing yet (the call comes after the caller committed),
    the job is committed on its own at once. ``key`` makes the call idempotent (one
    job per key, whatever its state); ``delay`` (seconds) holds the job back.
    """
    if name not in TASKS:
        raise KeyError(f"no task {name!r}")
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise TypeError(f"task {name!r}: kwargs must be JSON: {exc}") from None
    app = current_app._get_current_object()
    session = db.session()
    joins_caller = _has_writes(session)
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
        session.info.setdefault(_PENDING, []).append((job.id, delay_seconds, transaction))
        session.info[_APP] = app
    if not joins_caller:
        session.commit()
    return job


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


# ------------------------------------------------------------------ after commit

_PENDING = "pavilion.jobs.pending"  # [(job id, delay, transaction it was written in)]
_COMMITTED = "pavilion.jobs.committed"
_APP = "pavilion.jobs.app"
_WROTE = "pavilion.jobs.wrote"


def _has_writes(session: Session) -> bool:
    """Whether the session holds work of the caller's that its commit will write."""
    if session.new or session.dirty or session.deleted:
        return True
    return session.in_transaction() and bool(session.info.get(_WROTE))


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_write(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    nested = session.get_nested_transaction()
    if nested is not None:
        # A savepoint released: its jobs now live or die with the enclosing transaction.
        session.info[_PENDING] = [
            (job_id, delay, nested.parent if tx is nested else tx) for job_id, delay, tx in pending
        ]
        return
    session.info.setdefault(_COMMITTED, []).extend((j, d) for j, d, _tx in pending)
    session.info[_PENDING] = []


@event.listens_for(Session, "after_soft_rollback")
def _on_savepoint_rollback(session: Session, previous_transaction) -> None:
    pending = session.info.get(_PENDING)
    if pending and previous_transaction.nested:
        session.info[_PENDING] = [p for p in pending if p[2] is not previous_transaction]


@event.listens_for(Session, "after_transaction_end")
def _on_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    # The root transaction is over and its connection given back: whatever was not
    # committed is forgotten, what was committed is dispatched.
    session.info.pop(_WROTE, None)
    session.info.pop(_PENDING, None)
    committed = session.info.pop(_COMMITTED, None)
    app = session.info.get(_APP)
    if committed and app is not None:
        try:
            _dispatch(app, committed)
        except Exception:  # the commit stands; the sweeper sends what was not sent
            log.exception("dispatching jobs %s failed; the sweeper will send them", committed)


def _dispatch(app: Flask, jobs: list[tuple[int, float]]) -> None:
    if app.config.get("CELERY_BROKER_URL"):
        for job_id, delay in jobs:
            _send(app, job_id, delay)
        return
    ready = [job_id for job_id, delay in jobs if not delay]  # held-back jobs: the sweeper
    if not ready:
        return
    if has_request_context():

        @after_this_request
        def run_after_response(response):
            response.call_on_close(partial(_run_in_process, app, ready))
            return response

        return
    _run_in_process(app, ready)


def _send(app: Flask, job_id: int, delay: float = 0) -> bool:
    from shop.core.celery_app import RUN_JOB, celery_for

    try:
        celery_for(app).send_task(RUN_JOB, args=[job_id], countdown=delay or None)
    except Exception:  # the broker is down: the row is safe and the sweeper sends it
        log.warning("job %s: broker unreachable, left for the sweeper", job_id, exc_info=True)
        return False
    return True


def _run_in_process(app: Flask, job_ids: list[int]) -> None:
    for job_id in job_ids:
        # An app context of its own: a session of its own, apart from the caller's.
        with app.app_context():
            try:
                run_job(job_id)
            except Exception:
                log.exception("job %s could not be run; the sweeper will try again", job_id)
            finally:
                db.session.remove()


# ------------------------------------------------------------------ running a job


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
            _call_on_dead(job_id, name, kwargs or {}, error or "")
    return state


def _call_on_dead(job_id: int, name: str, kwargs: dict[str, Any], error: str) -> None:
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
    described = _describe(error)
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
        _send(current_app._get_current_object(), job_id, delay)
    # In-process, nothing waits on a timer: the sweeper runs the job once it is due.
    return "retrying"


# ------------------------------------------------------------------ the sweeper


def sweep_jobs(now: datetime | None = None) -> dict[str, int]:
    """Find work whose task was lost and send it again: pending jobs due for longer
    than ``JOB_REDISPATCH_SECONDS`` (a message the broker dropped, a process that
    stopped before running it) and running jobs whose lease ran out (a worker killed
    mid-job). Without a broker they run here, one after another. Also forgets done
    jobs older than a week. Safe to run in several places at once."""
    app = current_app._get_current_object()
    now = now or utcnow()
    grace = timedelta(seconds=float(app.config.get("JOB_REDISPATCH_SECONDS", 300)))
    lost = and_(
        Job.state == "pending",
        Job.next_attempt_at <= now,
        or_(Job.dispatched_at.is_(None), Job.dispatched_at <= now - grace),
    )
    abandoned = and_(Job.state == "running", Job.locked_until < now)
    lost_worker = "the worker was lost during the last attempt (lease ran out)"
    buried = db.session.execute(
        update(Job).where(abandoned, Job.attempts >= Job.max_attempts)
        .values(state="dead", locked_by=None, locked_until=None, updated_at=utcnow(),
                last_error=lost_worker)
        .returning(Job.id, Job.name, Job.kwargs)
        .execution_options(synchronize_session=False)
    ).all()  # fmt: skip
    given_up = len(buried)
    if buried:
        db.session.commit()
        for job_id, name, kwargs in buried:
            _call_on_dead(job_id, name, dict(kwargs or {}), lost_worker)
    lost_ids = db.session.scalars(
        select(Job.id).where(lost).order_by(Job.next_attempt_at).limit(SWEEP_BATCH)
    ).all()
    redispatched = []
    for job_id in lost_ids:
        # Conditional, so that two sweepers running at once send a job only once. Due
        # now by the sweeper's judgement (``now`` may be given, e.g. by a test).
        sent_at = utcnow()
        if db.session.execute(
            update(Job).where(Job.id == job_id, lost)
            .values(dispatched_at=sent_at, next_attempt_at=sent_at, updated_at=sent_at)
            .execution_options(synchronize_session=False)
        ).rowcount:  # fmt: skip
            redispatched.append(job_id)
    recovered = db.session.scalars(
        select(Job.id).where(abandoned).order_by(Job.locked_until).limit(SWEEP_BATCH)
    ).all()
    purged = db.session.execute(
        delete(Job).where(Job.state == "done", Job.updated_at < now - KEEP_DONE_FOR)
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    db.session.commit()
    to_run = [*redispatched, *recovered]
    if to_run:
        log.info("sweeper: sending again jobs %s (lost) and %s (lease ran out)",
                 redispatched, recovered)  # fmt: skip
    if app.config.get("CELERY_BROKER_URL"):
        for job_id in to_run:
            _send(app, job_id)
    else:
        _run_in_process(app, to_run)
    return {
        "jobs_redispatched": len(redispatched),
        "jobs_recovered": len(recovered),
        "jobs_given_up": given_up,
        "jobs_purged": purged,
    }


# ------------------------------------------------------------------ for staff


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "key": job.key,
        "kwargs": job.kwargs,
        "state": job.state,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "last_error": job.last_error,
        "next_attempt_at": iso_utc(job.next_attempt_at),
        "locked_by": job.locked_by,
        "locked_until": iso_utc(job.locked_until),
        "created_at": iso_utc(job.created_at),
        "updated_at": iso_utc(job.updated_at),
    }


def list_jobs(state: str | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    """Jobs, newest change first, optionally in one state (``dead``: the dead letters
    staff must look at), with the count of jobs in each state."""
    if state is not None and state not in JOB_STATES:
        raise NotFound(f"No job state {state!r}; one of {', '.join(JOB_STATES)}.")
    page, per_page = max(page, 1), min(max(per_page, 1), 200)
    query = select(Job)
    if state is not None:
        query = query.where(Job.state == state)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = db.session.scalars(
        query.order_by(Job.updated_at.desc(), Job.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).all()  # fmt: skip
    counts = dict.fromkeys(JOB_STATES, 0)
    counts.update(db.session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    items = [job_summary(job) for job in jobs]
    db.session.rollback()
    return {
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": -(-total // per_page),
        "counts": counts,
    }


def retry_job(job_id: int) -> dict[str, Any]:
    """Give a dead job a new set of attempts (once its cause is fixed) and send it."""
    job = db.session.get(Job, job_id, with_for_update=True)
    if job is None:
        db.session.rollback()
        raise NotFound(f"No job {job_id}.")
    if job.state != "dead":
        db.session.rollback()
        raise Conflict(f"Job {job_id} is {job.state}; only dead jobs are retried.")
    now = utcnow()
    job.state, job.attempts = "pending", 0
    job.next_attempt_at = job.dispatched_at = now
    job.updated_at = now
    session = db.session()
    session.flush()
    session.info.setdefault(_PENDING, []).append((job.id, 0, session.get_transaction()))
    session.info[_APP] = current_app._get_current_object()
    db.session.commit()
    return job_summary(db.session.get(Job, job_id))
