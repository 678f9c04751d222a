"""Dispatching jobs once the transaction that wrote them commits: SQLAlchemy session
events note which jobs each transaction (or savepoint) wrote, forget those rolled
back, and when the root transaction ends, send the committed ones to Celery or run
them in this process (after the response, inside a request).

The events are registered on ``Session`` when this module is imported: Python
imports a module once, so they are registered once per process.
"""

from __future__ import annotations

import logging
from functools import partial

from flask import Flask, after_this_request, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from shop.core.background.broker import send_to_broker
from shop.core.background.running import run_job
from shop.core.extensions import db

# The job runner's one logger, as before it was split in modules.
log = logging.getLogger(__package__)

PENDING_KEY = "pavilion.jobs.pending"  # [(job id, delay, transaction it was written in)]
_COMMITTED = "pavilion.jobs.committed"
APP_KEY = "pavilion.jobs.app"
_WROTE = "pavilion.jobs.wrote"


def has_writes(session: Session) -> bool:
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
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return
    nested = session.get_nested_transaction()
    if nested is not None:
        # A savepoint released: its jobs now live or die with the enclosing transaction.
        session.info[PENDING_KEY] = [
            (job_id, delay, nested.parent if tx is nested else tx) for job_id, delay, tx in pending
        ]
        return
    session.info.setdefault(_COMMITTED, []).extend((j, d) for j, d, _tx in pending)
    session.info[PENDING_KEY] = []


@event.listens_for(Session, "after_soft_rollback")
def _on_savepoint_rollback(session: Session, previous_transaction) -> None:
    pending = session.info.get(PENDING_KEY)
    if pending and previous_transaction.nested:
        session.info[PENDING_KEY] = [p for p in pending if p[2] is not previous_transaction]


@event.listens_for(Session, "after_transaction_end")
def _on_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    # The root transaction is over and its connection given back: whatever was not
    # committed is forgotten, what was committed is dispatched.
    session.info.pop(_WROTE, None)
    session.info.pop(PENDING_KEY, None)
    committed = session.info.pop(_COMMITTED, None)
    app = session.info.get(APP_KEY)
    if committed and app is not None:
        try:
            _dispatch(app, committed)
        except Exception:  # the commit stands; the sweeper sends what was not sent
            log.exception("dispatching jobs %s failed; the sweeper will send them", committed)


def _dispatch(app: Flask, jobs: list[tuple[int, float]]) -> None:
    if app.config.get("CELERY_BROKER_URL"):
        for job_id, delay in jobs:
            send_to_broker(app, job_id, delay)
        return
    ready = [job_id for job_id, delay in jobs if not delay]  # held-back jobs: the sweeper
    if not ready:
        return
    if has_request_context():

        @after_this_request
        def run_after_response(response):
            response.call_on_close(partial(run_in_process, app, ready))
            return response

        return
    run_in_process(app, ready)


def run_in_process(app: Flask, job_ids: list[int]) -> None:
    for job_id in job_ids:
        # An app context of its own: a session of its own, apart from the caller's.
        with app.app_context():
            try:
                run_job(job_id)
            except Exception:
                log.exception("job %s could not be run; the sweeper will try again", job_id)
            finally:
                db.session.remove()
