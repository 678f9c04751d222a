"""The benchmark's report: each phase's rows/s next to COPY, the worker's memory,
the SQL statements per upload, and the figures ``python -m bench`` summarises."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from typing import Any

from benchkit import figure

from bulk.copy_baseline import CopyRun
from bulk.phases import PHASES
from bulk.price_lists import SKUS_PER_PRODUCT
from bulk.sql_statements import MIN_ROWS_PER_STATEMENT, StatementLog

COPY_TARGET = 0.1  # first upload: at least 0.1x COPY rows/s
RSS_TARGET_MB = 150.0


@dataclass
class Upload:
    phase: str
    round: int
    rows: int
    seconds: float
    peak_rss_mb: float
    counts: dict[str, int]
    app_cpu_s: float  # the gunicorn worker (and master)
    db_cpu_s: float  # the PostgreSQL backends of the bench database

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def render_report(
    args: argparse.Namespace,
    uploads: list[Upload],
    copies: list[CopyRun],
    sql: dict[int, dict[str, StatementLog]],
    memory: dict[str, Any],
    context: dict[str, str],
) -> tuple[str, list[dict[str, Any]]]:
    """The results as markdown (context, the table, statement counts, verdicts) and
    the verdicts as figures."""
    rows = args.rows
    copy_net = statistics.median(c.net for c in copies)
    copy_wall = statistics.median(c.wall for c in copies)
    startup = statistics.median(c.startup for c in copies)
    copy_timing = statistics.median(c.psql_timing for c in copies)
    copy_rps = rows / copy_net
    by_phase = {p: [u for u in uploads if u.phase == p] for p, _ in PHASES}
    peak = max(u.peak_rss_mb for u in uploads)
    statistics_note = (
        "ANALYZE before each upload"
        if args.analyze
        else "planner statistics as the shop and autovacuum leave them"
    )
    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; PostgreSQL "
        f"{context['postgres']}; 1-min load average before the run {context['loadavg']}. "
        f"gunicorn 1 sync worker; {args.rounds} round(s), each with a fresh SKU code prefix; "
        f"{statistics_note}; "
        f"a {rows:,}-row CSV of {context['csv_bytes'] / 2**20:.1f} MB "
        f"({context['products']:,} products, {SKUS_PER_PRODUCT} SKUs each, "
        f"{context['stock_levels']:,} stock levels; {context['with_warnings']:,} rows with "
        "CBEC warnings). Seconds and rows/s are "
        "medians over the rounds: the HTTP client's time from sending the request to the "
        "last byte of the report. CPU: seconds used during the upload by the gunicorn "
        "worker and by the database's PostgreSQL backends (medians).",
        "",
        "| phase | rows | seconds | rows/s | × COPY rows/s | worker peak RSS MB "
        "| CPU s: worker + PostgreSQL |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, title in PHASES:
        runs = by_phase[phase]
        seconds = statistics.median(u.seconds for u in runs)
        rps = statistics.median(u.rows_per_s for u in runs)
        counts = runs[0].counts
        what = ", ".join(
            f"{counts[k]:,} {k}" for k in ("created", "updated", "unchanged") if counts[k]
        )
        lines.append(
            f"| {title} ({what}) | {rows:,} | {seconds:.3f} | {rps:,.0f} "
            f"| {rps / copy_rps:.3f} | {max(u.peak_rss_mb for u in runs):.1f} "
            f"| {statistics.median(u.app_cpu_s for u in runs):.2f} + "
            f"{statistics.median(u.db_cpu_s for u in runs):.2f} |"
        )
    lines += [
        f"| `psql \\copy` into `bench_copy` (16 text columns), psql start-up subtracted "
        f"(the ratio's base) | {rows:,} | {copy_net:.3f} | {copy_rps:,.0f} | 1.000 | – | – |",
        f"| `psql \\copy`, wall clock with psql start-up ({startup * 1000:.0f} ms) "
        f"| {rows:,} | {copy_wall:.3f} | {rows / copy_wall:,.0f} "
        f"| {copy_net / copy_wall:.3f} | – | – |",
        f"| `psql \\copy` as psql's `\\timing` reports it (cross-check) "
        f"| {rows:,} | {copy_timing:.3f} | {rows / copy_timing:,.0f} "
        f"| {copy_net / copy_timing:.3f} | – | – |",
        "",
        "Per round, seconds: "
        + "; ".join(
            f"{phase} " + ", ".join(f"{u.seconds:.3f}" for u in by_phase[phase])
            for phase, _ in PHASES
        )
        + "; COPY (start-up subtracted) "
        + ", ".join(f"{c.net:.3f}" for c in copies)
        + ". First upload ÷ COPY rows/s per round: "
        + ", ".join(f"{c.net / u.seconds:.3f}" for u, c in zip(by_phase["a"], copies, strict=True))
        + ".",
        "",
        f"Worker memory: {memory['idle']:.1f} MB RSS after start-up and a 100-row warm-up "
        f"upload; peak {peak:.1f} MB ({memory['method']}); {memory['after']:.1f} MB RSS "
        "after the last upload.",
        "",
    ]
    lines += render_sql_counts(sql)
    first = statistics.median(u.rows_per_s for u in by_phase["a"]) / copy_rps
    trips_ok, trips_text, server_ok, server_text = sql_verdicts(sql)
    lines += [
        "",
        f"- first upload: {first:.3f}× COPY rows/s (COPY less psql's start-up; target ≥ "
        f"{COPY_TARGET}): {'met' if first >= COPY_TARGET else 'NOT met'}",
        f"- worker peak RSS: {peak:.1f} MB (target < {RSS_TARGET_MB:.0f} MB): "
        f"{'met' if peak < RSS_TARGET_MB else 'NOT met'}",
        f"- SQL round trips per upload (calls): {trips_text}: {'met' if trips_ok else 'NOT met'}",
        f"- no statement per row (statements PostgreSQL runs): {server_text}: "
        f"{'met' if server_ok else 'NOT met'}",
    ]
    first_rps = statistics.median(u.rows_per_s for u in by_phase["a"])
    figures = [
        figure(f"bulk upload rows/s, first upload of {rows:,} (× psql \\copy)", first_rps,
               baseline=copy_rps, target=f"ratio ≥ {COPY_TARGET}", met=first >= COPY_TARGET),
        figure("bulk upload worker peak RSS MB", peak, target=f"< {RSS_TARGET_MB:.0f} MB",
               met=peak < RSS_TARGET_MB),
        figure("bulk upload SQL round trips per extra row", None,
               target=f"≤ 1 per {MIN_ROWS_PER_STATEMENT} rows", met=trips_ok),
        figure("bulk upload statements PostgreSQL runs per extra row", None,
               target=f"≤ 1 per {MIN_ROWS_PER_STATEMENT} rows", met=server_ok),
    ]  # fmt: skip
    return "\n".join(lines) + "\n", figures


def _calls(seen: StatementLog, style: str) -> str:
    calls, rows = seen.styled(style)
    return f"{calls} ({rows:,} rows)" if calls else "0"


def render_sql_counts(sql: dict[int, dict[str, StatementLog]]) -> list[str]:
    lines = [
        "SQL per upload, counted in-process (test client): a before_cursor_execute listener "
        "on the engine, plus psycopg's `Cursor.copy` wrapped, since the shop's COPY goes "
        "through the DBAPI cursor and no SQLAlchemy event sees it. `calls`: statements the "
        "app sends and waits on. A COPY or a multi-row INSERT batch (SQLAlchemy "
        "insertmanyvalues) is one statement in PostgreSQL; an executemany call is one call, "
        "but psycopg pipelines one statement per row and PostgreSQL runs each. BEGIN and "
        "COMMIT are not counted.",
        "",
        "| upload | rows | calls | of which COPY | of which multi-row INSERT batches "
        "| of which executemany | statements PostgreSQL runs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, title in PHASES:
        for size in sorted(sql):
            seen = sql[size][phase]
            lines.append(
                f"| {title} | {size:,} | {seen.total} | {_calls(seen, 'copy')} "
                f"| {_calls(seen, 'batch')} "
                f"| {_calls(seen, 'executemany')} | {seen.in_postgres:,} |"
            )
    sizes = sorted(sql)
    lines += [
        "",
        "Calls by statement (verb and main table):",
        "",
        "| statement | "
        + " | ".join(f"({phase}) {size:,}" for phase, _ in PHASES for size in sizes)
        + " |",
        "|---|" + "---:|" * (len(PHASES) * len(sizes)),
    ]
    shapes: dict[str, dict[str, int]] = {}
    for phase, _ in PHASES:
        for size in sizes:
            for shape, n in sql[size][phase].by_shape().items():
                shapes.setdefault(shape, {})[f"{phase}{size}"] = n
    for shape, counts in sorted(shapes.items()):
        cells = [str(counts.get(f"{phase}{size}", 0)) for phase, _ in PHASES for size in sizes]
        lines.append(f"| `{shape}` | " + " | ".join(cells) + " |")
    return lines


def sql_verdicts(sql: dict[int, dict[str, StatementLog]]) -> tuple[bool, str, bool, str]:
    """Round trips and PostgreSQL statements from the smallest to the largest upload.

    Batched means the extra rows of the larger upload cost at most one call
    (or statement) per MIN_ROWS_PER_STATEMENT rows: chunks and batches, never rows.
    """
    small, large = min(sql), max(sql)
    extra = large - small

    def judge(measure) -> tuple[bool, str]:
        parts, ok = [], True
        for phase, _ in PHASES:
            a, b = measure(sql[small][phase]), measure(sql[large][phase])
            per_row = (b - a) / extra
            ok = ok and per_row <= 1 / MIN_ROWS_PER_STATEMENT
            parts.append(f"({phase}) {a:,} → {b:,}")
        return ok, f"{small:,} → {large:,} rows: " + ", ".join(parts)

    trips_ok, trips = judge(lambda seen: seen.total)
    server_ok, server = judge(lambda seen: seen.in_postgres)
    rule = f" (batched: at most 1 per {MIN_ROWS_PER_STATEMENT} extra rows)"
    return trips_ok, trips + rule, server_ok, server + rule
