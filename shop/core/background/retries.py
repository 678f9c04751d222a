"""Which failures are worth another try (timeouts, connection errors, HTTP 429 and
5xx, ``TransientError``) and how long to wait before it: capped exponential backoff
with jitter."""

from __future__ import annotations

import math
import random

from sqlalchemy.exc import OperationalError

from shop.core.transactions import is_database_unavailable

LAST_ERROR_LIMIT = 2000


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


def describe_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    if error.__cause__ is not None:
        text += f" (caused by {type(error.__cause__).__name__}: {error.__cause__})"
    return text[:LAST_ERROR_LIMIT]
