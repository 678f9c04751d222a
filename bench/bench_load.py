"""HTTP load against a running target, for the benchmarks: wrk when it is installed
(``apt-get install -y wrk`` is tried), else threads over keep-alive ``http.client``
connections; what one timed run measured, and rounds of one target combined."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench_processes import http_get, log

WRK = Path("/usr/bin/wrk")


@dataclass
class LoadResult:
    """What one timed run against one target measured."""

    target: str
    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    # CPU seconds used during the run by the target's gunicorn (master and
    # workers), by the PostgreSQL backends of the bench database, and by the
    # load generator.
    app_cpu_s: float = 0.0
    db_cpu_s: float = 0.0
    loadgen_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_200(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    def cpu_ms_per_request(self) -> tuple[float, float, float]:
        """(app, PostgreSQL, load generator) CPU milliseconds per request."""
        n = max(self.requests, 1)
        return (
            self.app_cpu_s * 1000 / n,
            self.db_cpu_s * 1000 / n,
            self.loadgen_cpu_s * 1000 / n,
        )


# ---------------------------------------------------------------- load


WRK_SCRIPT = """
-- Written by bench/catalog.py: rotate over a fixed list of paths, count
-- non-200 responses per thread, print one machine-readable line at the end.
local paths = {%(paths)s}
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  position = id
  non200 = 0
end

function request()
  position = position %% #paths + 1
  return wrk.format("GET", paths[position])
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d non200=%%d errors=%%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, e.connect + e.read + e.write + e.timeout))
end
"""


def ensure_wrk() -> bool:
    """wrk from Debian's packages; one install attempt if it is missing (failure tolerated)."""
    if WRK.exists():
        return True
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        log("wrk missing: trying apt-get install -y wrk")
        subprocess.run(
            [apt, "install", "-y", "wrk"], capture_output=True, check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )  # fmt: skip
    return WRK.exists()


def run_wrk(
    base_url: str,
    paths: list[str],
    seconds: float,
    connections: int,
    threads: int,
    workdir: Path,
    target: str,
) -> LoadResult:
    script = workdir / f"{target}.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths)})
    argv = [
        str(WRK), "--threads", str(threads), "--connections", str(connections),
        "--duration", f"{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
        "--script", str(script), base_url,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    match = re.search(r"^BENCH (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    fields = {k: int(v) for k, v in (item.split("=") for item in match.group(1).split())}
    return LoadResult(
        target=target,
        generator=f"wrk -t{threads} -c{connections}",
        requests=fields["requests"],
        seconds=fields["duration_us"] / 1e6,
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        statuses={"200": fields["requests"] - fields["non200"], "other": fields["non200"]},
        socket_errors=fields["errors"],
    )


def run_python_load(
    base_url: str, paths: list[str], seconds: float, connections: int, target: str
) -> LoadResult:
    """``connections`` threads, each with its own keep-alive connection, for ``seconds``."""
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[Counter[str]] = [Counter() for _ in range(connections)]
    errors = [0] * connections
    start_gate = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        position = index
        start_gate.wait()
        while (now := time.perf_counter()) < deadline[0]:
            position = (position + 1) % len(paths)
            try:
                conn.request("GET", paths[position])
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                continue
            latencies[index].append(time.perf_counter() - now)
            statuses[index][str(response.status)] += 1
        conn.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in workers:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    start_gate.wait()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = sorted(x for per_thread in latencies for x in per_thread)
    total = sum(statuses, Counter())

    def percentile(q: float) -> float:
        if not merged:
            return float("nan")
        return merged[min(len(merged) - 1, int(q / 100 * len(merged)))] * 1000

    return LoadResult(
        target=target,
        generator=f"python -c{connections}",
        requests=len(merged),
        seconds=elapsed,
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        statuses=dict(total),
        socket_errors=sum(errors),
    )


def run_load(
    use_wrk: bool,
    base_url: str,
    paths: list[str],
    seconds: float,
    connections: int,
    workdir: Path,
    target: str,
) -> LoadResult:
    """One timed run of wrk (2 threads) or of the Python generator."""
    if use_wrk:
        return run_wrk(base_url, paths, seconds, connections, 2, workdir, target)
    return run_python_load(base_url, paths, seconds, connections, target)


def combine(results: list[LoadResult]) -> LoadResult:
    """Rounds of one target as one: summed requests and time, median percentiles."""
    return LoadResult(
        target=results[0].target,
        generator=results[0].generator,
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        statuses=dict(sum((Counter(r.statuses) for r in results), Counter())),
        socket_errors=sum(r.socket_errors for r in results),
        app_cpu_s=sum(r.app_cpu_s for r in results),
        db_cpu_s=sum(r.db_cpu_s for r in results),
        loadgen_cpu_s=sum(r.loadgen_cpu_s for r in results),
    )


def check_responses(base_url: str, paths: list[str]) -> int:
    """Every path answers 200 with a non-empty page; returns the mean body size."""
    sizes = []
    for path in paths:
        status, body = http_get(base_url, path)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
        if not json.loads(body)["items"]:
            raise RuntimeError(f"{path}: empty page")
        sizes.append(len(body))
    return sum(sizes) // len(sizes)
