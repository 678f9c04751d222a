"""The sweeper: sending again the jobs whose dispatch was lost, recovering those whose
worker died, burying those out of attempts, and forgetting old done jobs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, or_, select, update

from shop.core.background.after_commit import run_in_process
from shop.core.background.broker import send_to_broker
from shop.core.background.models import Job
from shop.core.background.running import call_on_dead
from shop.core.clock import utcnow
from shop.core.extensions import db

# The job runner's one logger, as before it was split in modules.
log = logging.getLogger(__package__)

SWEEP_BATCH = 500
KEEP_DONE_FOR = timedelta(days=7)


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
            call_on_dead(job_id, name, dict(kwargs or {}), lost_worker)
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
            send_to_broker(app, job_id)
    else:
        run_in_process(app, to_run)
    return {
        "jobs_redispatched": len(redispatched),
        "jobs_recovered": len(recovered),
        "jobs_given_up": given_up,
        "jobs_purged": purged,
    }
