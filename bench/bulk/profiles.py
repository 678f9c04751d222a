"""Where one upload spends its time (cProfile, by stage) and its memory
(tracemalloc, by line of the shop's code), in-process."""

from __future__ import annotations

import cProfile
import io
import linecache
import pstats
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from bench_processes import ROOT
from benchkit import short_path

from bulk.phases import PHASES, check_report, expected_counts
from bulk.price_lists import csv_bytes, price_list
from bulk.sql_statements import bench_app, client_upload, statement_shape, watch_copy

PROFILE_STAGES = (
    ("catalog/api.py", "bulk_rows_from_request", "reading the CSV (catalog.sku_csv)"),
    ("catalog/sku_upsert.py", "upsert_skus", "upsert_skus, all of it"),
    ("catalog/sku_rules.py", "check_sku_row", "validating rows (check_sku_row)"),
    ("catalog/sku_upsert.py", "_plan", "_plan: read existing rows, compare"),
    ("catalog/sku_upsert.py", "_write", "_write: the writes"),
    ("catalog/search.py", "build_search_text", "build_search_text (once per SKU row)"),
    ("warehouse/services/stock.py", "set_on_hand", "set_on_hand (stock rows)"),
    ("sqlalchemy/orm/session.py", "execute", "Session.execute (all statements)"),
    ("shop/core/bulk_insert.py", "insert_rows", "COPY of new rows (shop.core.bulk_insert)"),
    (
        "catalog/sku_upsert.py",
        "_refresh_statistics_after_a_large_load",
        "ANALYZE after a large load",
    ),
    ("catalog/sku_upsert.py", "_sku_codes_by_product", "_sku_codes_by_product"),
    ("sqlalchemy/engine/base.py", "_exec_insertmany_context", "insertmanyvalues batches"),
    ("psycopg/cursor.py", "executemany", "psycopg executemany (a statement per row, pipelined)"),
    ("psycopg/_queries.py", "_split_query", "psycopg parsing statement text (%(name)s to $n)"),
    ("sqlalchemy/orm/session.py", "commit", "Session.commit"),
    ("catalog/sku_upsert.py", "as_json", "UpsertReport.as_json"),
    ("flask/json/provider.py", "dumps", "JSON encoding of the report"),
)


def profile_upload(url: str, token: str, rows: int, top: int = 25) -> str:
    """One first upload of ``rows`` rows unprofiled, one under cProfile; markdown."""
    from shop.core.extensions import db

    app = bench_app(url)
    profiler = cProfile.Profile()
    with app.app_context():
        client = app.test_client()
        client_upload(client, token, csv_bytes(price_list("PROFWARM-", 30)))
        plain_body = csv_bytes(price_list("PROFPLAIN-", rows))
        started = time.perf_counter()
        status, document = client_upload(client, token, plain_body)
        plain_s = time.perf_counter() - started
        check_report("profile (plain)", status, document, expected_counts("a", rows))
        body = csv_bytes(price_list("PROF-", rows))
        started = time.perf_counter()
        profiler.enable()
        status, document = client_upload(client, token, body)
        profiler.disable()
        profiled_s = time.perf_counter() - started
        check_report("profile", status, document, expected_counts("a", rows))
        db.session.remove()
        db.engine.dispose()

    stats = pstats.Stats(profiler)
    table = [
        (cumtime, tottime, ncalls, short_path(filename), line, function)
        for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    request = [r for r in table if r[5] == "client_upload"]
    total = max(request[0][0] if request else stats.total_tt, 1e-9)
    out = io.StringIO()
    out.write(
        f"Profile: one first upload of {rows:,} rows through the test client, one process: "
        f"{plain_s:.2f} s ({profiled_s:.2f} s under cProfile). Shares are of the profiled "
        "request.\n\n| share (cumulative) | calls | where |\n|---:|---:|---|\n"
    )
    for suffix, name, what in PROFILE_STAGES:
        matches = [r for r in table if r[3].endswith(suffix) and r[5] == name]
        if matches:
            best = max(matches)
            out.write(f"| {best[0] / total:.1%} | {best[2]:,} | {what} |\n")
    waits = [r for r in table if r[3].endswith("psycopg/connection.py") and r[5] == "wait"]
    if waits:
        out.write(
            f"| {waits[0][1] / total:.1%} (own) | {waits[0][2]:,} | psycopg Connection.wait, "
            "own time: blocked on PostgreSQL and socket I/O |\n"
        )
    out.write(
        f"\nTop {top} by cumulative time:\n\n"
        "| cumulative | own | calls | function |\n|---:|---:|---:|---|\n"
    )
    for cumtime, tottime, ncalls, filename, line, function in sorted(table, reverse=True)[:top]:
        out.write(
            f"| {cumtime / total:.1%} | {tottime / total:.1%} | {ncalls:,} "
            f"| `{filename}:{line}({function})` |\n"
        )
    out.write("\nLargest own time:\n\n| own | calls | function |\n|---:|---:|---|\n")
    for _, tottime, ncalls, filename, line, function in sorted(
        table, key=lambda r: r[1], reverse=True
    )[:top]:
        out.write(f"| {tottime / total:.1%} | {ncalls:,} | `{filename}:{line}({function})` |\n")
    return out.getvalue()


def _app_frame(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame of the shop's own code (else the innermost frame)."""
    for frame in reversed(traceback):
        name = frame.filename
        if name.startswith(str(ROOT)) and "/.venv/" not in name and "/bench/" not in name:
            code = linecache.getline(name, frame.lineno).strip()
            code = code if len(code) <= 60 else code[:59] + "…"
            return f"{Path(name).relative_to(ROOT)}:{frame.lineno}` `{code}"
    frame = traceback[-1]
    return f"{short_path(frame.filename)}:{frame.lineno}"


def memory_profile(url: str, token: str, rows: int, top: int = 12) -> str:
    """Python allocations of one first upload and of the same file again, in-process.

    tracemalloc gives the peak of traced memory; a snapshot is taken after
    every statement (COPY included) that left the traced memory at a new
    high, and the largest one is broken down by the innermost frame in the
    shop's code.
    """
    from sqlalchemy.engine import default

    from shop.core.extensions import db

    best: dict[str, Any] = {}
    originals = {
        name: getattr(default.DefaultDialect, name) for name in ("do_execute", "do_executemany")
    }

    def watching(name: str):
        original = originals[name]

        def run(self, cursor, statement, parameters, context=None):
            result = original(self, cursor, statement, parameters, context)
            keep_if_highest(statement)
            return result

        return run

    def keep_if_highest(statement: str, rows: int = 0) -> None:
        current, _ = tracemalloc.get_traced_memory()
        if tracemalloc.is_tracing() and current > best.get("size", 0):
            best.update(size=current, snapshot=tracemalloc.take_snapshot(),
                        where=statement_shape(statement))  # fmt: skip

    app = bench_app(url)
    out = io.StringIO()
    out.write(
        f"Python allocations of one {rows:,}-row upload through the test client (tracemalloc; "
        "RSS adds the interpreter, the imported app and the allocator's slack):\n\n"
    )
    with app.app_context():
        client = app.test_client()
        client_upload(client, token, csv_bytes(price_list("MEMWARM-", 30)))
        body = csv_bytes(price_list("MEM-", rows))
        for name in originals:
            setattr(default.DefaultDialect, name, watching(name))
        try:
            for phase in ("a", "b"):
                best.clear()
                tracemalloc.start(25)
                try:
                    with watch_copy(keep_if_highest):
                        status, document = client_upload(client, token, body)
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                check_report(f"memory ({phase})", status, document, expected_counts(phase, rows))
                sizes: Counter[str] = Counter()
                if best:
                    for stat in best["snapshot"].statistics("traceback"):
                        sizes[_app_frame(stat.traceback)] += stat.size
                title = dict(PHASES)[phase]
                out.write(
                    f"{title}: peak {peak / 2**20:.1f} MB traced; the largest snapshot, "
                    f"{best.get('size', 0) / 2**20:.1f} MB, after `{best.get('where')}`:\n\n"
                    "| MB | allocated at |\n|---:|---|\n"
                )
                for where, size in sizes.most_common(top):
                    out.write(f"| {size / 2**20:.1f} | `{where}` |\n")
                out.write("\n")
        finally:
            for name, original in originals.items():
                setattr(default.DefaultDialect, name, original)
            db.session.remove()
            db.engine.dispose()
    return out.getvalue()
