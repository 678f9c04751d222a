"""What one timed run measured: a checkout run or a pgbench run, and the machine's
busy share over it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CheckoutRun:
    """One timed run of the load generator against POST /api/v1/orders."""

    seconds: float
    latencies_ms: list[float]
    statuses: Counter[int]
    socket_errors: int = 0
    samples: list[tuple[int, str]] = field(default_factory=list)  # non-201 (status, body)
    app_cpu_s: float = 0.0
    db_cpu_s: float = 0.0
    loadgen_cpu_s: float = 0.0
    busy: float = float("nan")  # share of the machine's CPU time in use

    @property
    def orders(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def non_201(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 201)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


@dataclass
class PgbenchRun:
    tps: float
    transactions: int
    failed: int
    latency_avg_ms: float
    latencies_ms: list[float]
    seconds: float
    client_cpu_s: float = 0.0
    busy: float = float("nan")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q / 100 * len(sorted_values)))]


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else float("nan")
