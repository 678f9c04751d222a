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

The modules: ``models`` (the ``jobs`` row), ``registry`` (tasks, periodic work,
sweepers), ``retries`` (what is worth another try, and when), ``enqueueing``,
``after_commit`` (the session events that dispatch committed jobs), ``broker``
(sending to Celery), ``running`` (claiming and running one job), ``sweeping``
and ``staff`` (listing and retrying jobs).
"""

from shop.core.background import after_commit  # registers the session events, once
from shop.core.background.enqueueing import enqueue, waiting_job
from shop.core.background.models import JOB_STATES, Job
from shop.core.background.registry import (
    ON_DEAD,
    PERIODIC,
    SWEEPERS,
    TASKS,
    periodic,
    sweeper,
    task,
)
from shop.core.background.retries import (
    LAST_ERROR_LIMIT,
    PermanentError,
    TransientError,
    backoff_seconds,
    is_transient,
)
from shop.core.background.running import CLOCK_SKEW, run_job
from shop.core.background.staff import job_summary, list_jobs, retry_job
from shop.core.background.sweeping import KEEP_DONE_FOR, SWEEP_BATCH, sweep_jobs

__all__ = [
    "CLOCK_SKEW",
    "JOB_STATES",
    "KEEP_DONE_FOR",
    "LAST_ERROR_LIMIT",
    "ON_DEAD",
    "PERIODIC",
    "SWEEPERS",
    "SWEEP_BATCH",
    "TASKS",
    "Job",
    "PermanentError",
    "TransientError",
    "after_commit",
    "backoff_seconds",
    "enqueue",
    "is_transient",
    "job_summary",
    "list_jobs",
    "periodic",
    "retry_job",
    "run_job",
    "sweep_jobs",
    "sweeper",
    "task",
    "waiting_job",
]
