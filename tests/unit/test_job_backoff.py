"""When a failed job is tried again, and which failures are worth another try."""

from __future__ import annotations

import pytest
import requests

from shop.core.background import PermanentError, TransientError, backoff_seconds, is_transient


@pytest.mark.parametrize(
    ("attempts", "expected"), [(1, 5), (2, 10), (3, 20), (4, 40), (8, 640), (9, 900), (50, 900)]
)
def test_backoff_doubles_from_the_base_up_to_the_cap(attempts, expected):
    assert backoff_seconds(attempts, base=5, cap=900, jitter=1.0) == expected


@pytest.mark.parametrize("attempts", [1, 2, 5, 9, 20])
def test_jitter_keeps_the_delay_between_half_and_one_and_a_half_times(attempts):
    plain = backoff_seconds(attempts, base=5, cap=900, jitter=1.0)
    delays = [backoff_seconds(attempts, base=5, cap=900) for _ in range(500)]
    assert all(0.5 * plain <= delay <= 1.5 * plain for delay in delays)
    assert max(delays) - min(delays) > 0.5 * plain, "retries of one outage are spread out"


def test_a_huge_attempt_count_stays_at_the_cap():
    assert backoff_seconds(10_000, base=5, cap=900, jitter=1.5) == 1350


class HttpError(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.response = type("Response", (), {"status_code": status})()


class AdapterUnavailable(Exception):
    """What an adapter raises from the library's error, like PaymentUnavailable."""


def raised_from(error: Exception, cause: Exception) -> Exception:
    try:
        raise error from cause
    except Exception as raised:
        return raised


@pytest.mark.parametrize(
    "error",
    [
        TransientError("busy"),
        requests.Timeout("read timed out"),
        requests.ConnectionError("refused"),
        TimeoutError(),
        ConnectionResetError(),
        HttpError(429),
        HttpError(503),
        type("Flagged", (Exception,), {"retryable": True})(),
        raised_from(AdapterUnavailable("Stripe is unavailable"), requests.Timeout()),
    ],
    ids=repr,
)
def test_timeouts_connection_errors_429_and_5xx_are_retried(error):
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("bad postcode"),
        HttpError(400),
        HttpError(404),
        KeyError("tracking_number"),
        ValueError("bug"),
        raised_from(PermanentError("refused"), requests.Timeout()),
        raised_from(AdapterUnavailable("bad key"), HttpError(401)),
    ],
    ids=repr,
)
def test_other_errors_are_dead_letters_at_once(error):
    assert not is_transient(error)
