"""Sending a job to Celery (with ``CELERY_BROKER_URL``): only its id travels; the row
stays the truth, so a send that fails is left to the sweeper."""

from __future__ import annotations

import logging

from flask import Flask

# The job runner's one logger, as before it was split in modules.
log = logging.getLogger(__package__)


def send_to_broker(app: Flask, job_id: int, delay: float = 0) -> bool:
    from shop.core.celery_app import RUN_JOB, celery_for

    try:
        celery_for(app).send_task(RUN_JOB, args=[job_id], countdown=delay or None)
    except Exception:  # the broker is down: the row is safe and the sweeper sends it
        log.warning("job %s: broker unreachable, left for the sweeper", job_id, exc_info=True)
        return False
    return True
