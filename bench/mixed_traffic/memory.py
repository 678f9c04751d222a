"""The gunicorn workers' memory over the soak, and whether each stays flat: the slope
of its second half, and its growth from the first third to the last."""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench_processes import proc_stat

from mixed_traffic.recording import Interval

SLOPE_LIMIT_MB_PER_MIN = 1.0
GROWTH_LIMIT = 0.05
GROWTH_FLOOR_MB = 5.0


def worker_rss_mb(master_pid: int) -> dict[int, float]:
    """VmRSS of each child of the gunicorn master, in MB (2**20 bytes)."""
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is None or stat[0] != master_pid:
            continue
        with contextlib.suppress(OSError):
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[int(entry.name)] = int(line.split()[1]) / 1024
    return rss


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 60


@dataclass
class Sample:
    t: float
    seconds: float
    interval: Interval
    rss: dict[int, float]


@dataclass
class WorkerVerdict:
    pid: int
    first_mb: float
    last_mb: float
    first_third_mb: float
    last_third_mb: float
    slope: float

    @property
    def flat(self) -> bool:
        allowed = max(GROWTH_FLOOR_MB, self.first_third_mb * GROWTH_LIMIT)
        grew = self.last_third_mb - self.first_third_mb
        return self.slope <= SLOPE_LIMIT_MB_PER_MIN and grew <= allowed


def memory_verdicts(samples: list[Sample]) -> list[WorkerVerdict]:
    """Per worker present from the first sample to the last."""
    pids = set(samples[0].rss)
    for sample in samples[1:]:
        pids &= set(sample.rss)
    verdicts = []
    third = max(1, len(samples) // 3)
    for pid in sorted(pids):
        series = [(s.t, s.rss[pid]) for s in samples]
        second_half = series[len(series) // 2 :]
        verdicts.append(
            WorkerVerdict(
                pid=pid,
                first_mb=series[0][1],
                last_mb=series[-1][1],
                first_third_mb=statistics.median(v for _, v in series[:third]),
                last_third_mb=statistics.median(v for _, v in series[-third:]),
                slope=slope_per_minute(second_half),
            )
        )
    return verdicts
