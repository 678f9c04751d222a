"""Work that must not run inside a transaction or delay a shopper's response.

Services commit first, then ``enqueue`` a named task (refund at the provider,
cancel a PaymentIntent, an email). Inside a request the task runs once the
response has been sent (``call_on_close``), in an app context of its own;
outside a request (CLI, the sweeper) it runs at once. The database row's
state is the source of truth: a task that is lost (process killed) is found
again by ``flask --app wsgi orders sweep``, so tasks must be idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import after_this_request, current_app, has_request_context

from shop.extensions import db

log = logging.getLogger(__name__)

TASKS: dict[str, Callable[..., Any]] = {}


def task(name: str):
    """Register a function as the task ``name``."""

    def register(function):
        TASKS[name] = function
        return function

    return register


def enqueue(name: str, **kwargs: Any) -> None:
    if name not in TASKS:
        raise KeyError(f"no task {name!r}")
    app = current_app._get_current_object()
    if not has_request_context():
        _run(app, name, kwargs)
        return

    @after_this_request
    def run_after_response(response):
        response.call_on_close(partial(_run, app, name, kwargs))
        return response


def _run(app, name: str, kwargs: dict[str, Any]) -> None:
    with app.app_context():
        try:
            TASKS[name](**kwargs)
        except Exception:
            db.session.rollback()
            log.exception("task %s(%s) failed; the sweeper will retry it", name, kwargs)
        finally:
            db.session.remove()
