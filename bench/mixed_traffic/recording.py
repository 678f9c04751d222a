"""The soak's HTTP clients (keep-alive, one per thread) and what they record: each
request's kind, status and time, per interval, and the failures seen."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


def is_failure(status: str) -> bool:
    """A 5xx answer, or no answer at all ("error"): never acceptable under load."""
    return status == "error" or status.startswith("5")


@dataclass
class Interval:
    """What finished during one sampling interval, per kind."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


@dataclass
class Failure:
    kind: str
    method: str
    path: str
    status: str
    body: str


class Recorder:
    """Thread-safe tally of requests; the sampler swaps the interval out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = Interval()
        self.recording = False
        self.failures: list[Failure] = []
        self.failure_count = 0

    def add(self, kind: str, method: str, path: str, status: str, ms: float, body: bytes) -> None:
        failed = is_failure(status)
        with self.lock:
            if not self.recording:
                return
            self.current.latencies_ms[kind].append(ms)
            self.current.statuses[kind][status] += 1
            if failed:
                self.failure_count += 1
                if len(self.failures) < 20:
                    path = path.split("?", 1)[0] if "token" in path else path
                    text = body[:400].decode(errors="replace")
                    self.failures.append(Failure(kind, method, path, status, text))

    def swap(self) -> Interval:
        with self.lock:
            done, self.current = self.current, Interval()
            return done


class Client:
    """One keep-alive HTTP connection (reopened when the server closes it) that
    records every request it makes."""

    def __init__(self, base_url: str, recorder: Recorder, timeout: float = 60):
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.recorder = recorder
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection broke."""
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            ms = (time.perf_counter() - started) * 1000
            self.recorder.add(kind, method, path, "error", ms, repr(exc).encode())
            return 0, b""
        ms = (time.perf_counter() - started) * 1000
        self.recorder.add(kind, method, path, str(response.status), ms, raw)
        return response.status, raw

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
