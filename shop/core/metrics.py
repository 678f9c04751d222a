"""Prometheus metrics (README, "Running in production"): what the shop counts, and
the text a scrape of ``/metrics`` reads.

Counters and histograms live here, in the ground layer, so that every package can
count without importing the web layer; the packages call the small helpers below
(``count_checkout``, ``count_stock_holds``, ``instrument_adapter``). What the
database knows (jobs by state, the age of exchange rates) is read at scrape time by
collectors, so it is right however many processes wrote it.

Under gunicorn each worker is a process of its own: with ``PROMETHEUS_MULTIPROC_DIR``
set (prometheus-client's own variable, read when this module is imported) every
worker writes its values to files there and a scrape of any worker adds them up
(``shop/gunicorn_conf.py`` empties the folder at start and marks dead workers).
Without it, a scrape shows the values of the process that answers.

Labels are bounded: a route is the URL rule (``/api/v1/orders/<number>``), never the
path, which may hold an order number and, in a query, a token.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from flask import Flask, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from shop.core.clock import as_utc, utcnow
from shop.core.extensions import db

# No ``*_created`` series: they double what a scrape reads and no alert uses them.
disable_created_metrics()
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # A CLI command or a Celery worker started before gunicorn made the folder must not
    # fail at its first count for want of it.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Request latency: a catalog page in a few ms, a checkout with a payment provider in
# hundreds, a bulk upload in seconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Carriers and payment providers answer in tens of ms to their timeouts (10 s+).
PROVIDER_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "pavilion_http_requests_total",
    "HTTP requests answered, by method, route (the URL rule) and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "pavilion_http_request_duration_seconds",
    "Time from the request reaching the app to its response, by method, route and "
    "status class (2xx, 4xx, ...)",
    ["method", "route", "status_class"],
    buckets=REQUEST_BUCKETS,
)
CHECKOUTS = Counter(
    "pavilion_checkouts_total",
    "Checkouts asked for, by outcome: placed, refused (a problem the shopper is told) "
    "or error (an unexpected failure)",
    ["outcome"],
)
CHECKOUT_REFUSALS = Counter(
    "pavilion_checkout_refusals_total",
    "Checkouts refused, by problem code (insufficient_stock, corridor_refuses, ...)",
    ["reason"],
)
STOCK_HOLDS = Counter(
    "pavilion_stock_holds_total",
    "Stock holds (one per shipment line) in committed transactions, by event: taken "
    "(reason reservation), released (release, expiry, reroute) or consumed (shipment)",
    ["event", "reason"],
)
STOCK_HOLD_UNITS = Counter(
    "pavilion_stock_hold_units_total",
    "Units held, released or consumed in committed transactions, by event and reason",
    ["event", "reason"],
)
PROVIDER_CALLS = Counter(
    "pavilion_provider_calls_total",
    "Calls to carrier, payment and rate-feed adapters, by kind, provider, operation "
    "and outcome (ok, unavailable, declined, rejected, error)",
    ["kind", "provider", "operation", "outcome"],
)
PROVIDER_DURATION = Histogram(
    "pavilion_provider_call_duration_seconds",
    "Time a carrier, payment or rate-feed adapter call took, by kind, provider and operation",
    ["kind", "provider", "operation"],
    buckets=PROVIDER_BUCKETS,
)

UNMATCHED_ROUTE = "<unmatched>"


# ------------------------------------------------------------------ requests


def install_request_metrics(app: Flask) -> None:
    """Count and time every request by its URL rule."""

    @app.before_request
    def start_clock():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response):
        started = g.pop("metrics_started", None)
        if started is None:  # an error before the first before_request ran
            return response
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED_ROUTE
        status = response.status_code
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_DURATION.labels(request.method, route, f"{status // 100}xx").observe(
            time.perf_counter() - started
        )
        return response


# ------------------------------------------------------------------ checkouts


def count_checkout(outcome: str, reason: str | None = None) -> None:
    CHECKOUTS.labels(outcome).inc()
    if outcome == "refused":
        CHECKOUT_REFUSALS.labels(reason or "unknown").inc()


# ------------------------------------------------------------------ stock holds

_PENDING = "pavilion.metrics.pending"  # [(callable, transaction it was counted in)]


def count_stock_holds(event_name: str, reason: str, holds: int, units: int) -> None:
    """Count holds taken or released once the caller's transaction commits (a hold in
    a transaction rolled back never happened)."""
    if holds <= 0:
        return

    def count() -> None:
        STOCK_HOLDS.labels(event_name, reason).inc(holds)
        STOCK_HOLD_UNITS.labels(event_name, reason).inc(units)

    on_commit(count)


def on_commit(action: Callable[[], None]) -> None:
    """Run ``action`` when the current transaction of ``db.session`` commits; forget it
    if it rolls back. Outside a transaction, run it now."""
    session = db.session()
    if not session.in_transaction():
        action()
        return
    session.info.setdefault(_PENDING, []).append((action, session.get_nested_transaction()))


@event.listens_for(Session, "after_commit")
def _run_committed(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    nested = session.get_nested_transaction()
    if nested is not None:
        # A savepoint released: what it counted now stands or falls with its parent.
        session.info[_PENDING] = [
            (action, nested.parent if tx is nested else tx) for action, tx in pending
        ]
        return
    session.info[_PENDING] = []
    for action, _tx in pending:
        action()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if previous_transaction.nested:
        session.info[_PENDING] = [p for p in pending if p[1] is not previous_transaction]
    else:
        session.info[_PENDING] = []


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction) -> None:
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_PENDING, None)


# ------------------------------------------------------------------ adapters


def call_outcome(error: BaseException | None) -> str:
    """``ok``, or what kind of failure by the exception's class names (adapters share
    the words: ``PaymentUnavailable``, ``CarrierUnavailable``, ``FeedUnavailable``)."""
    if error is None:
        return "ok"
    names = [cls.__name__ for cls in type(error).__mro__]
    for word, outcome in (
        ("Unavailable", "unavailable"),
        ("Timeout", "unavailable"),
        ("ConnectionError", "unavailable"),
        ("Declined", "declined"),
        ("Rejected", "rejected"),
        ("NotReady", "not_ready"),
    ):
        if any(word in name for name in names):
            return outcome
    return "error"


def instrument_adapter(adapter: Any, kind: str, provider: str, operations: Iterable[str]) -> Any:
    """Count and time each of ``operations`` on this adapter instance: one place, the
    plugin loader, for every carrier, payment provider and rate feed. The class's method
    is looked up at each call, so a test that patches the class still reaches it."""
    cls = type(adapter)
    for operation in operations:
        if not callable(getattr(cls, operation, None)):
            continue
        setattr(adapter, operation, _timed(adapter, cls, kind, provider, operation))
    return adapter


def _timed(adapter: Any, cls: type, kind: str, provider: str, operation: str):
    @wraps(getattr(cls, operation))
    def call(*args, **kwargs):
        method = getattr(cls, operation).__get__(adapter, cls)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return method(*args, **kwargs)
        except BaseException as exc:
            error = exc
            raise
        finally:
            PROVIDER_DURATION.labels(kind, provider, operation).observe(
                time.perf_counter() - started
            )
            PROVIDER_CALLS.labels(kind, provider, operation, call_outcome(error)).inc()

    return call


# ------------------------------------------------------------------ read at scrape time


class JobsCollector(Collector):
    """Background jobs by name and state, and how long the oldest waiting one waits,
    read from the ``jobs`` table (the truth, whichever process ran them)."""

    def collect(self):
        from shop.core.background.models import JOB_STATES, Job

        now = utcnow()
        by_state = GaugeMetricFamily(
            "pavilion_jobs", "Background jobs in the jobs table, by state (every state "
            "shows, 0 when empty)", labels=["state"],
        )  # fmt: skip
        by_name = GaugeMetricFamily(
            "pavilion_jobs_by_name", "Background jobs in the jobs table, by name and state",
            labels=["name", "state"],
        )  # fmt: skip
        waiting = GaugeMetricFamily(
            "pavilion_jobs_oldest_pending_age_seconds",
            "Age of the oldest pending job (since it was enqueued); 0 when none waits",
        )
        overdue = GaugeMetricFamily(
            "pavilion_jobs_oldest_due_seconds",
            "How long the pending job due longest ago has been due (next_attempt_at in "
            "the past, not yet run): work nobody picks up; 0 when none",
        )
        try:
            rows = db.session.execute(
                select(Job.name, Job.state, func.count()).group_by(Job.name, Job.state)
            ).all()
            oldest_created = db.session.execute(
                select(func.min(Job.created_at)).where(Job.state == "pending")
            ).scalar()
            oldest_due = db.session.execute(
                select(func.min(Job.next_attempt_at)).where(
                    Job.state == "pending", Job.next_attempt_at <= now
                )
            ).scalar()
        finally:
            db.session.rollback()
        totals = dict.fromkeys(JOB_STATES, 0)  # every state shows: alerts need a series
        for name, state, count in rows:
            by_name.add_metric([name, state], count)
            totals[state] = totals.get(state, 0) + count
        for state, count in totals.items():
            by_state.add_metric([state], count)
        waiting.add_metric([], _age(now, oldest_created))
        overdue.add_metric([], _age(now, oldest_due))
        yield by_state
        yield by_name
        yield waiting
        yield overdue


def _age(now, moment) -> float:
    if moment is None:
        return 0.0
    return max(0.0, (now - as_utc(moment)).total_seconds())


class _FromDatabase(Collector):
    """The collectors that read the database: if one fails, the scrape still shows
    every counter, and ``pavilion_metrics_collector_up`` says which reading failed."""

    def __init__(self, collectors: Iterable[Collector]):
        self.collectors = list(collectors)

    def collect(self):
        up = GaugeMetricFamily(
            "pavilion_metrics_collector_up",
            "1 when a collector that reads the database did so at this scrape, else 0",
            labels=["collector"],
        )
        for collector in self.collectors:
            name = type(collector).__name__
            try:
                families = list(collector.collect())
            except Exception:
                log.warning("metrics: %s could not read the database", name, exc_info=True)
                db.session.rollback()
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


class _ProcessRegistry(Collector):
    """This process's own metrics (the default registry), when not in multiprocess mode."""

    def collect(self):
        yield from REGISTRY.collect()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(database_collectors: Iterable[Collector] = ()) -> bytes:
    """The text a scrape reads: every process's counters (all gunicorn workers', in
    multiprocess mode) and what ``database_collectors`` read now."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    registry.register(_FromDatabase([JobsCollector(), *database_collectors]))
    return generate_latest(registry)
