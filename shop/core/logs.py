"""Log lines as text or as JSON (``PAVILION_LOG_FORMAT=text|json``), both redacted.

The shop's code never logs a secret on purpose (tests/security/test_log_hygiene.py
checks it); the formatters here are the second line: whatever reaches a line, a
message or a traceback, is searched for the shapes of secrets (bearer and
``pvm_``/``pvs_`` tokens, ``token=`` in a query, Stripe keys, PRC ID numbers with a
valid check character) and those are replaced by ``[redacted]``.

In JSON each record is one object on one line: ``time``, ``level``, ``logger``,
``message``, ``request_id``, and for the line written once per request
(``pavilion.request``) also ``method``, ``route`` (the URL rule, not the path),
``status`` and ``duration_ms``; ``exception`` holds a traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime

from flask import Flask, g, request

REQUEST_LOGGER = "pavilion.request"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
REDACTED = "[redacted]"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PRC_ID = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx])(?![0-9A-Za-z])")
_SECRETS = (
    # Merchant and staff tokens (shop.core.auth), whatever carries them.
    re.compile(r"\bpv[ms]_[A-Za-z0-9_-]{8,}"),
    # An Authorization header's credentials.
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
    # Order and cart tokens in a query string or a form body.
    re.compile(r"(?i)(?<=token=)[^&\s\"'<>]+"),
    # Stripe's secret and restricted keys and webhook secrets.
    re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"),
)


def _is_prc_id(candidate: str) -> bool:
    total = sum(int(d) * w for d, w in zip(candidate[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == candidate[17].upper()


def redact(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``[redacted]``."""
    if not text:
        return text
    for pattern in _SECRETS:
        text = pattern.sub(REDACTED, text)
    return _PRC_ID.sub(lambda m: REDACTED if _is_prc_id(m.group(1)) else m.group(1), text)


class RedactingTextFormatter(logging.Formatter):
    """The shop's text lines, with secrets redacted."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None):
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.__dict__.setdefault("request_id", "-")
        return redact(super().format(record))


# Fields of the per-request line, copied from the record when present.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets redacted, never a raw newline inside."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
        }
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        # ensure_ascii keeps the line one line whatever the message holds (a U+2028 too).
        return json.dumps(entry, ensure_ascii=True, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return RedactingTextFormatter()


def install_request_log(app: Flask) -> None:
    """With JSON logs, one ``pavilion.request`` line per request: the method, the route
    (URL rule), the status and how long it took, with the request id. (With text logs
    gunicorn's access log says as much, without query strings.)"""
    if app.config.get("LOG_FORMAT") != "json":
        return
    log = logging.getLogger(REQUEST_LOGGER)

    @app.before_request
    def start_clock():
        g.log_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        started = g.pop("log_started", None)
        if started is None:
            return response
        rule = request.url_rule
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        route = rule.rule if rule is not None else "<unmatched>"
        log.info(
            "%s %s %s %.1f ms", request.method, route, response.status_code, duration_ms,
            extra={"method": request.method, "route": route, "status": response.status_code,
                   "duration_ms": duration_ms},
        )  # fmt: skip
        return response
