"""Jobs as staff see them (``flask --app wsgi jobs list``): listing them by state,
and retrying a dead one once its cause is fixed."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import func, select

from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.background.after_commit import APP_KEY, PENDING_KEY
from shop.core.background.models import JOB_STATES, Job
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import Conflict, NotFound
from shop.core.extensions import db


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


def _audited_job(job: Job) -> dict[str, Any]:
    """A job as the audit records it: never its arguments, which may name a customer."""
    return {
        "name": job.name,
        "state": job.state,
        "attempts": job.attempts,
        "last_error": job.last_error,
    }


def retry_job(job_id: int, *, actor: StaffPrincipal | str) -> dict[str, Any]:
    """Give a dead job a new set of attempts (once its cause is fixed) and send it;
    audited as ``job.retry`` under ``actor`` in the same transaction."""
    job = db.session.get(Job, job_id, with_for_update=True)
    if job is None:
        db.session.rollback()
        raise NotFound(f"No job {job_id}.")
    if job.state != "dead":
        db.session.rollback()
        raise Conflict(f"Job {job_id} is {job.state}; only dead jobs are retried.")
    before = _audited_job(job)
    now = utcnow()
    job.state, job.attempts = "pending", 0
    job.next_attempt_at = job.dispatched_at = now
    job.updated_at = now
    audit.record(actor, "job.retry", "job", job.id, before=before, after=_audited_job(job))
    session = db.session()
    session.flush()
    session.info.setdefault(PENDING_KEY, []).append((job.id, 0, session.get_transaction()))
    session.info[APP_KEY] = current_app._get_current_object()
    db.session.commit()
    return job_summary(db.session.get(Job, job_id))
