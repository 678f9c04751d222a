"""The soak's report: requests/s and p50/p99 per kind, failures, each worker's memory
with its verdict, and the figures ``python -m bench`` summarises."""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from typing import Any

from mixed_traffic.memory import (
    GROWTH_FLOOR_MB,
    GROWTH_LIMIT,
    SLOPE_LIMIT_MB_PER_MIN,
    Sample,
    memory_verdicts,
)
from mixed_traffic.recording import Recorder, is_failure
from mixed_traffic.traffic import KINDS
from mixed_traffic.world import World


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _cell(values: list[float], seconds: float) -> str:
    if not values:
        return "–"
    p50, p99 = percentile(values, 50), percentile(values, 99)
    return f"{len(values) / seconds:.1f} · {p50:.0f}/{p99:.0f}"


def render_report(
    args: argparse.Namespace,
    samples: list[Sample],
    recorder: Recorder,
    world: World,
    context: dict[str, str],
    restarts: list[str],
) -> tuple[str, list[dict[str, Any]]]:
    total_seconds = sum(s.seconds for s in samples)
    by_kind: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for sample in samples:
        for kind, values in sample.interval.latencies_ms.items():
            by_kind[kind].extend(values)
        for kind, counted in sample.interval.statuses.items():
            statuses[kind].update(counted)
    every = [v for values in by_kind.values() for v in values]
    failures = sum(n for c in statuses.values() for s, n in c.items() if is_failure(s))
    verdicts = memory_verdicts(samples)
    flat = bool(verdicts) and all(v.flat for v in verdicts) and not restarts
    worst_slope = max((v.slope for v in verdicts), default=float("nan"))
    worst_growth = max((v.last_third_mb - v.first_third_mb for v in verdicts), default=0.0)

    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; PostgreSQL "
        f"{context['postgres']}; 1-min load average at the start {context['loadavg']}, at "
        f"the end {context['loadavg_end']} (the machine was shared with other work: "
        "absolute figures are noisy, the memory trend is the point). gunicorn "
        f"{args.workers} sync workers; {args.clients} client threads (seed {args.seed}) plus "
        f"a back-office thread; {args.warmup:g} s warm-up, then {args.minutes:g} min sampled "
        f"every {args.sample_seconds:g} s. Bought: {len(world.ru_skus)} SKUs to RU, "
        f"{len(world.cn_skus)} to CN.",
        "",
        "Over the whole sampled run:",
        "",
        "| kind | requests | requests/s | p50 ms | p99 ms | statuses |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for kind in KINDS:
        values = by_kind.get(kind, [])
        shown = ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses[kind].items()))
        lines.append(
            f"| {kind} | {len(values):,} | {len(values) / total_seconds:.1f} "
            f"| {percentile(values, 50):.0f} | {percentile(values, 99):.0f} | {shown or '–'} |"
        )
    lines.append(
        f"| **all** | {len(every):,} | {len(every) / total_seconds:.1f} "
        f"| {percentile(every, 50):.0f} | {percentile(every, 99):.0f} "
        f"| 5xx or broken: {failures:,} |"
    )
    lines += [
        "",
        "Over time (per interval; per kind: requests/s · p50/p99 ms; RSS per worker in MB):",
        "",
        "| t | req/s | " + " | ".join(KINDS) + " | 4xx | 5xx | worker RSS MB |",
        "|---:|---:|" + "---:|" * len(KINDS) + "---:|---:|---|",
    ]
    for sample in samples:
        interval = sample.interval
        count = sum(len(v) for v in interval.latencies_ms.values())
        four = sum(n for c in interval.statuses.values() for s, n in c.items() if s[0] == "4")
        five = sum(n for c in interval.statuses.values() for s, n in c.items() if is_failure(s))
        cells = [_cell(interval.latencies_ms.get(kind, []), sample.seconds) for kind in KINDS]
        rss = " / ".join(f"{sample.rss[pid]:.1f}" for pid in sorted(sample.rss))
        minutes, seconds = divmod(round(sample.t), 60)
        lines.append(
            f"| {minutes}:{seconds:02d} | {count / sample.seconds:.1f} | "
            + " | ".join(cells)
            + f" | {four} | {five} | {rss} |"
        )
    lines += [
        "",
        "Memory per worker (slope: least squares over the second half; thirds: medians):",
        "",
        "| worker pid | first MB | last MB | first third MB | last third MB | slope MB/min "
        "| flat |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {v.pid} | {v.first_mb:.1f} | {v.last_mb:.1f} | {v.first_third_mb:.1f} "
            f"| {v.last_third_mb:.1f} | {v.slope:+.2f} | {'yes' if v.flat else 'NO'} |"
        )
    lines += [
        "",
        f"- memory: worst slope {worst_slope:+.2f} MB/min (limit {SLOPE_LIMIT_MB_PER_MIN:g}), "
        f"worst last-vs-first third {worst_growth:+.1f} MB (limit {GROWTH_LIMIT:.0%} or "
        f"{GROWTH_FLOOR_MB:g} MB): {'flat' if flat else 'NOT flat'}",
        f"- 5xx or broken connections: {failures:,} (target 0): "
        f"{'met' if failures == 0 else 'NOT met'}",
    ]
    for note in restarts:
        lines.append(f"- WARNING: {note}")
    if recorder.failures:
        lines += ["", "First failures:", ""]
        for failure in recorder.failures:
            body = failure.body.replace("\n", " ")[:300]
            lines.append(
                f"- {failure.kind} {failure.method} `{failure.path}` → {failure.status}: {body}"
            )
    figures = [
        {"figure": "soak throughput, mixed traffic (req/s)", "value": len(every) / total_seconds,
         "baseline": None, "ratio": None, "target": None, "met": None},
        {"figure": "soak p99, all requests (ms)", "value": percentile(every, 99),
         "baseline": None, "ratio": None, "target": None, "met": None},
        {"figure": "soak 5xx and broken connections", "value": failures, "baseline": None,
         "ratio": None, "target": "0", "met": failures == 0},
        {"figure": "soak worker RSS slope, worst (MB/min)", "value": worst_slope,
         "baseline": None, "ratio": None, "target": f"≤ {SLOPE_LIMIT_MB_PER_MIN:g}",
         "met": flat},
    ]  # fmt: skip
    return "\n".join(lines) + "\n", figures
