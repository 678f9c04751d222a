"""gunicorn settings shared by ``flask --app wsgi serve`` and the Docker image
(``gunicorn --config python:shop.gunicorn_conf``).

The access log leaves out query strings: an order page's ``?token=`` is the
shopper's secret and must not land in log files (``%(U)s`` is the path alone).

The request limits are the outer wall. What gunicorn refuses never reaches the app,
so its answer is gunicorn's own plain HTML page, not problem+json; each limit is
therefore set above the app's own (``shop.core.web_hardening``), which answers
first, in the shop's contract, for anything a client could reasonably send.

Stopping: on SIGTERM (``docker stop``, a deploy) the master stops accepting
connections and tells each worker to finish the request it is serving, then
exit; a worker still busy after ``graceful_timeout`` seconds is killed. Whatever
stops gunicorn must wait longer than that before its own SIGKILL: compose.yaml
gives web a ``stop_grace_period`` of 40 s (Docker's default is 10 s). Thirty
seconds covers the slowest request the shop serves: a checkout waiting on Stripe
(``STRIPE_TIMEOUT_SECONDS`` 10, one network retry) or a bulk upload of 10,000 SKUs.

Metrics (``PROMETHEUS_MULTIPROC_DIR``): each worker writes its counters to files in
that folder, and a scrape of ``/metrics`` at any worker adds up all of them. The
folder is emptied when gunicorn starts (values of an earlier run would be added
in) and a worker that exits is marked dead, so its gauges stop counting.

Logs (``PAVILION_LOG_FORMAT=json``): gunicorn's own lines become JSON objects too,
and its access log is left out: the app writes one ``pavilion.request`` line per
request with the route, status, duration and request id instead.
"""

import os
from pathlib import Path

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s'

# "GET <target> HTTP/1.1" in bytes; gunicorn's highest allowed value. Its default
# (4094) answered a 5.5 KB search link with its own HTML 414; the app refuses a
# target over MAX_REQUEST_TARGET_BYTES (6144) with a problem+json 414 first.
limit_request_line = 8190
# Header lines in one request; a browser sends about 20. More answers gunicorn's 431.
limit_request_fields = 100
# One header line ("Name: value") in bytes: room for a large cookie or bearer token.
# Longer answers gunicorn's 431.
limit_request_field_size = 8190

# Seconds a worker gets to finish its request after SIGTERM (gunicorn's default,
# written down because compose.yaml and the README depend on it).
graceful_timeout = 30


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


if os.environ.get("PAVILION_LOG_FORMAT", "").strip().lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shop.core.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "none": {"class": "logging.NullHandler"},
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["none"], "propagate": False},
        },
        "root": {"level": "INFO", "handlers": []},
    }
