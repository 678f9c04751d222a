"""Merchant bulk upload of a 10,000-row CSV price list on PostgreSQL, next to ``psql \\copy``.

Usage (from the repository root)::

    .venv/bin/python bench/bulk_upload.py [--rounds 3] [--rows 10000] [--profile]
                                          [--tracemalloc] [--analyze]

Method, all in one invocation so that every figure comes from the same
machine state:

1. A fresh database ``pavilion_bench_<random>`` is created on the server of
   BENCH_POSTGRES_URL (default ``postgresql+psycopg://127.0.0.1:5432/postgres``),
   migrated with ``flask --app wsgi db upgrade`` and seeded with
   ``flask --app wsgi seed`` (subprocesses, production mode). One merchant is
   registered with ``flask --app wsgi merchants create "Bench LLC" --country
   RU``; its API token is read from that command's output.
2. The price list: ``--rows`` rows (10,000: the most one upload accepts) in
   the columns of the bulk endpoint (sku, product_code, category, name_en,
   name_ru, name_zh, description_en, description_ru, description_zh,
   origin_country, hs_code, weight_g, shelf_life_days, price, currency,
   stock). Three SKUs (sizes) per product; each product takes its category,
   HS code, origin and English, Russian and Chinese names and descriptions
   from one of the demo pavilion's 126 products (``catalog/seed/pavilion.json``),
   the names marked with a batch number; prices in RUB; stock on 1 to 3
   nodes (``RU-WH:120;CN-SFH:40``). Each round has its own code prefix, so
   its first upload always creates every SKU. A sample of 50 rows is sent
   with ``dry_run=true`` first and must report 0 failed.
3. The shop runs under gunicorn (``wsgi:app``, one sync worker, so the
   worker's memory is the upload's; ``--timeout 120`` through
   GUNICORN_CMD_ARGS; PAVILION_ENV=production). A 100-row upload warms the
   worker up. Planner statistics are left to the shop (which ANALYZEs after
   a large load) and to autovacuum; ``--analyze`` runs ANALYZE before each
   upload instead. Each round then POSTs, with ``http.client`` on a new
   connection, ``Content-Type: text/csv``: (a) the file (every row created),
   (b) the same file again (every row unchanged), (c) the file with the
   price of every 10th row changed (1 in 10 updated). Each report's counts
   are checked. The worker's peak RSS per upload is its VmHWM from
   /proc/<pid>/status, reset before each upload by writing 5 to
   /proc/<pid>/clear_refs (where that is refused, the VmHWM since the
   worker started). Around each upload the CPU time of the gunicorn worker
   and of the database's PostgreSQL backends is read from /proc.
4. Baseline, in the same rounds, on the same database: ``psql -X -c "\\copy
   bench_copy FROM '<the round's file>' WITH (FORMAT csv, HEADER true)"``
   into a plain table of 16 text columns (``psql`` from PATH, wall clock of
   the subprocess), 3 times per round, truncated before each. ``psql -c
   'select 1'`` is timed the same way (median of 5) and subtracted: the
   ratio uses COPY without psql's start-up and connection. psql's own
   ``\\timing`` of the copy is reported next to it as a cross-check. Rounds
   alternate the order (COPY first, uploads first, ...). Figures are
   medians over the rounds.
5. SQL per upload is counted in-process: an app from ``create_app`` on the
   bench database, a ``before_cursor_execute`` listener on its engine, the
   same three uploads through the test client at 1,000 and at 10,000 rows
   (fresh code prefixes each). psycopg's ``Cursor.copy`` is wrapped too:
   the shop's COPY (``shop.core.bulk_insert``) goes through the DBAPI cursor,
   where no SQLAlchemy event sees it. Each call is a round trip the app
   waits on. A COPY or a multi-row INSERT batch (SQLAlchemy's
   insertmanyvalues) is one statement in PostgreSQL too; an ``executemany``
   call is one call, but psycopg pipelines one statement per row, and
   PostgreSQL runs each: both counts are reported. BEGIN and COMMIT are
   not counted.
6. ``--profile`` runs one more first upload of ``--rows`` rows through the
   test client under cProfile and prints the stages and the functions with
   the largest shares. ``--tracemalloc`` runs a first upload and the same
   file again under tracemalloc and breaks the largest snapshot down by the
   line of the shop's code that allocated it.

The results (markdown) are printed and written to
``bench/results/bulk-<timestamp>.md``. gunicorn is stopped and the database
dropped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import http.client
import io
import json
import linecache
import math
import os
import pstats
import random
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_database import (
    DEFAULT_ADMIN_URL,
    create_database,
    migrate_and_seed,
    postgres_version,
    production_env,
)
from bench_processes import (
    BIN_DIR,
    ROOT,
    Gunicorn,
    free_port,
    log,
    proc_stat,
    run_checked,
)
from benchkit import (
    clean_up,
    code_version,
    figure,
    machine_description,
    run_script,
    short_path,
    write_report,
)

BULK_PATH = "/api/v1/merchant/skus/bulk"
HEADER = (
    "sku", "product_code", "category", "name_en", "name_ru", "name_zh",
    "description_en", "description_ru", "description_zh", "origin_country", "hs_code",
    "weight_g", "shelf_life_days", "price", "currency", "stock",
)  # fmt: skip
NODES = ("RU-WH", "RU-USS", "CN-SFH", "CN-URC")
SKUS_PER_PRODUCT = 3
PRICE_CHANGE_EVERY = 10  # phase (c): one row in ten gets a new price
SQL_COUNT_SIZES = (1_000, 10_000)
MIN_ROWS_PER_STATEMENT = 100  # "batched": extra rows cost at most 1 statement per 100
COPY_TARGET = 0.1  # first upload: at least 0.1x COPY rows/s
RSS_TARGET_MB = 150.0
PHASES = (
    ("a", "(a) first upload: every row created"),
    ("b", "(b) same file again: every row unchanged"),
    ("c", "(c) 1 row in 10 with a new price: updated"),
)


# ---------------------------------------------------------------- the CSV


def _templates() -> list[dict[str, Any]]:
    """The demo pavilion's products: real names and descriptions in three languages."""
    data = json.loads((ROOT / "catalog" / "seed" / "pavilion.json").read_text(encoding="utf-8"))
    return data["products"]


def price_list(prefix: str, rows: int, seed: int = 20261124) -> list[list[str]]:
    """``rows`` CSV rows (no header) of SKUs coded ``<prefix>...``, three per product."""
    rng = random.Random(seed)
    templates = _templates()
    out: list[list[str]] = []
    for number in range(math.ceil(rows / SKUS_PER_PRODUCT)):
        template = templates[number % len(templates)]
        batch = number // len(templates) + 1
        product_code = f"{prefix}{template['code'][:32]}-{batch:03d}"
        name, description = template["name"], template["description"]
        first_sku = template["skus"][0]
        base_weight = max(int(first_sku["weight_g"]), 20)
        base_price = Decimal(rng.randrange(90, 2500))
        for size, (weight_factor, price_factor) in enumerate(
            ((1, Decimal(1)), (2, Decimal("1.85")), (5, Decimal("4.2")))[:SKUS_PER_PRODUCT]
        ):
            if len(out) == rows:
                break
            weight = base_weight * weight_factor
            stock_nodes = sorted(rng.sample(NODES, rng.randint(1, 3)))
            out.append(
                [
                    f"{product_code}-{size + 1}",
                    product_code,
                    template["category"],
                    f"{name['en']}, batch {batch}",
                    f"{name['ru']}, партия {batch}",
                    f"{name['zh']}（第{batch}批）",
                    description["en"],
                    description["ru"],
                    description["zh"],
                    template["origin_country"],
                    template["hs_code"],
                    str(weight),
                    str(first_sku["shelf_life_days"]),
                    f"{(base_price * price_factor).quantize(Decimal(1))}.00",
                    "RUB",
                    ";".join(f"{node}:{rng.choice((0, 12, 40, 120, 300))}" for node in stock_nodes),
                ]
            )
    return out


def with_new_prices(rows: list[list[str]], every: int = PRICE_CHANGE_EVERY) -> list[list[str]]:
    """A copy of the rows where every ``every``-th row costs 7 % more."""
    price = HEADER.index("price")
    changed = []
    for index, row in enumerate(rows):
        if index % every == 0:
            row = list(row)
            row[price] = f"{(Decimal(row[price]) * Decimal('1.07')).quantize(Decimal('0.01'))}"
        changed.append(row)
    return changed


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")  # what spreadsheets write
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


# ---------------------------------------------------------------- processes


def create_merchant(env: dict[str, str], name: str) -> tuple[int, str]:
    """``flask merchants create``; returns (merchant id, API token) from its output."""
    out = run_checked(
        [str(BIN_DIR / "flask"), "--app", "wsgi", "merchants", "create", name, "--country", "RU"],
        env,
        "flask merchants create",
    )
    merchant = re.search(r"^merchant id: (\d+)$", out, re.MULTILINE)
    token = re.search(r"^API token \(shown once\): (\S+)$", out, re.MULTILINE)
    if not merchant or not token:
        raise RuntimeError(f"no merchant id or token in the output of merchants create:\n{out}")
    return int(merchant.group(1)), token.group(1)


def worker_pid(master_pid: int, timeout: float = 30.0) -> int:
    """The one gunicorn worker: the master's child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = proc_stat(int(entry.name))
                if stat and stat[0] == master_pid:
                    return int(entry.name)
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker found")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB (2**20 bytes)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def process_cpu(master_pid: int, database: str) -> dict[tuple[str, int], float]:
    """CPU seconds so far of the gunicorn master and its worker ("app") and of the
    PostgreSQL backends connected to ``database`` ("db"), by process."""
    used: dict[tuple[str, int], float] = {}
    tag = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = proc_stat(pid)
        if stat is None:
            continue
        if master_pid in (pid, stat[0]):
            used[("app", pid)] = stat[1]
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if cmdline.startswith(b"postgres:") and tag in cmdline:
                used[("db", pid)] = stat[1]
    return used


def cpu_used(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> tuple[float, float]:
    """(app, db) CPU seconds between two snapshots; a process that ended in between
    (psql's backend after ANALYZE, say) is left out rather than counted negative."""
    totals = {"app": 0.0, "db": 0.0}
    for (kind, pid), seconds in after.items():
        totals[kind] += seconds - before.get((kind, pid), 0.0)
    return totals["app"], totals["db"]


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux 4.0+); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def post_csv(base_url: str, token: str, body: bytes, query: str = "") -> tuple[int, dict, float]:
    """POST the CSV on a new connection; (status, JSON body, seconds to the last byte)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    headers = {"Content-Type": "text/csv", "Authorization": f"Bearer {token}"}
    try:
        started = time.perf_counter()
        conn.request("POST", BULK_PATH + query, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    try:
        document = json.loads(raw)
    except ValueError:
        document = {"raw": raw[:2000].decode(errors="replace")}
    return response.status, document, elapsed


def expected_counts(phase: str, rows: int) -> dict[str, int]:
    changed = math.ceil(rows / PRICE_CHANGE_EVERY)
    created, updated, unchanged = {
        "a": (rows, 0, 0),
        "b": (0, 0, rows),
        "c": (0, changed, rows - changed),
    }[phase]
    return {"rows": rows, "created": created, "updated": updated, "unchanged": unchanged,
            "failed": 0}  # fmt: skip


def check_report(what: str, status: int, document: dict, expected: dict[str, int]) -> None:
    counts = document.get("counts", {})
    got = {key: counts.get(key) for key in expected}
    if status != 200 or got != expected:
        detail = json.dumps(document, ensure_ascii=False)[:3000]
        raise RuntimeError(f"{what}: HTTP {status}, counts {got}, expected {expected}\n{detail}")


# ---------------------------------------------------------------- COPY


@dataclass
class CopyRun:
    """One round of the baseline: medians of COPY_REPEATS loads of the round's file."""

    wall: float  # psql subprocess, start-up and connection included
    startup: float  # psql -c 'select 1', the same way
    psql_timing: float  # what psql's \timing says of the \copy alone

    @property
    def net(self) -> float:
        return self.wall - self.startup


COPY_REPEATS = 3
_TIMING = re.compile(r"^Time: ([0-9.]+) ms", re.MULTILINE)


def psql_conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def psql(conninfo: str, *commands: str) -> tuple[float, str]:
    """Run psql with the commands; (the subprocess's wall-clock seconds, its output)."""
    argv = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    for command in commands:
        argv += ["-c", command]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {commands}\n{done.stdout}{done.stderr}")
    return elapsed, done.stdout


def create_copy_table(conninfo: str) -> None:
    columns = ", ".join(f"{name} text" for name in HEADER)
    psql(conninfo, f"CREATE TABLE bench_copy ({columns})")


def copy_file(conninfo: str, path: Path, rows: int) -> tuple[float, float]:
    """Truncate bench_copy, then time ``\\copy`` of the file into it:
    (wall-clock seconds of psql, seconds psql's \\timing gives the copy)."""
    psql(conninfo, "TRUNCATE bench_copy")
    wall, out = psql(
        conninfo, "\\timing on", f"\\copy bench_copy FROM '{path}' WITH (FORMAT csv, HEADER true)"
    )
    timing = _TIMING.search(out)
    _, count = psql(conninfo, "SELECT count(*) FROM bench_copy")
    if int(count.strip()) != rows or not timing:
        raise RuntimeError(f"COPY loaded {count.strip()} rows, not {rows}:\n{out}")
    return wall, float(timing.group(1)) / 1000


def timed_copy(conninfo: str, path: Path, rows: int, number: int) -> CopyRun:
    """psql's start-up (median of 5 ``select 1``), then COPY_REPEATS loads of the file."""
    startup = statistics.median(psql(conninfo, "select 1")[0] for _ in range(5))
    loads = [copy_file(conninfo, path, rows) for _ in range(COPY_REPEATS)]
    run = CopyRun(
        wall=statistics.median(wall for wall, _ in loads),
        startup=startup,
        psql_timing=statistics.median(timing for _, timing in loads),
    )
    log(
        f"round {number} COPY: {run.wall:.3f} s wall, {run.net:.3f} s without psql start-up "
        f"({startup * 1000:.0f} ms), psql \\timing {run.psql_timing:.3f} s"
    )
    return run


# ---------------------------------------------------------------- in-process


@dataclass
class StatementLog:
    """What the before_cursor_execute listener saw during one upload.

    Each entry: (statement, style, rows). Style is ``single``, ``batch`` (one
    multi-row INSERT of SQLAlchemy's insertmanyvalues: one statement in
    PostgreSQL), ``executemany`` (psycopg pipelines one statement per row) or
    ``copy`` (a COPY … FROM STDIN on the DBAPI cursor, which SQLAlchemy's
    listener never sees: recorded by ``watch_copy``).
    """

    statements: list[tuple[str, str, int]] = field(default_factory=list)

    def record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        style_name = getattr(getattr(context, "execute_style", None), "name", "")
        if style_name == "INSERTMANYVALUES":
            # One batch's parameters, flattened: code__0, code__1, ... per row.
            keys = parameters.keys() if isinstance(parameters, dict) else ()
            rows = len({key.rsplit("__", 1)[-1] for key in keys if "__" in key}) or 1
            self.statements.append((statement, "batch", rows))
        elif executemany:
            self.statements.append((statement, "executemany", len(parameters)))
        else:
            self.statements.append((statement, "single", 1))

    @property
    def total(self) -> int:
        return len(self.statements)

    def styled(self, style: str) -> tuple[int, int]:
        """(calls of that style, rows they carried)."""
        rows = [n for _, s, n in self.statements if s == style]
        return len(rows), sum(rows)

    @property
    def in_postgres(self) -> int:
        """Statements PostgreSQL executes: an executemany call runs once per row."""
        return sum(n if style == "executemany" else 1 for _, style, n in self.statements)

    def record_copy(self, statement: str, rows: int) -> None:
        self.statements.append((statement, "copy", rows))

    def by_shape(self) -> Counter[str]:
        return Counter(
            statement_shape(statement) + ("" if style in ("single", "copy") else f" ({style})")
            for statement, style, _ in self.statements
        )


_WORDS = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|COPY)\s+\"?(\w+)?", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def statement_shape(statement: str) -> str:
    """``SELECT skus``, ``INSERT INTO products``, ...: the verb and the main table."""
    match = _WORDS.match(statement)
    if not match:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?"
    verb = match.group(1).upper()
    if verb == "SELECT":
        table = _FROM.search(statement)
        return f"SELECT {table.group(1) if table else '?'}"
    return f"{verb} {match.group(2)}"


@contextlib.contextmanager
def watch_copy(on_copy):
    """Call ``on_copy(statement, rows)`` after every psycopg COPY in this process.

    The shop sends COPY through the DBAPI cursor (``shop.core.bulk_insert``), past
    SQLAlchemy's events, so the benchmark wraps psycopg's ``Cursor.copy``.
    """
    import psycopg

    original = psycopg.Cursor.copy

    @contextlib.contextmanager
    def copy(self, statement, params=None, **kwargs):
        with original(self, statement, params, **kwargs) as copying:
            yield copying
        on_copy(str(statement), self.rowcount)

    psycopg.Cursor.copy = copy  # type: ignore[method-assign]
    try:
        yield
    finally:
        psycopg.Cursor.copy = original  # type: ignore[method-assign]


def bench_app(url: str):
    from shop import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})


def client_upload(client, token: str, body: bytes) -> tuple[int, dict]:
    """POST the CSV through the test client: (HTTP status, report)."""
    response = client.post(
        BULK_PATH, data=body, content_type="text/csv",
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    return response.status_code, response.get_json(silent=True) or {}


def count_sql_statements(url: str, token: str) -> dict[int, dict[str, StatementLog]]:
    """The three uploads at each size of SQL_COUNT_SIZES, through the test client."""
    from sqlalchemy import event

    from shop.core.extensions import db

    app = bench_app(url)
    results: dict[int, dict[str, StatementLog]] = {}
    with app.app_context():
        client = app.test_client()
        # Fill the per-process caches (rules, compiled statements) first.
        client_upload(client, token, csv_bytes(price_list("SQLWARM-", 30)))
        for size in SQL_COUNT_SIZES:
            rows = price_list(f"SQL{size}-", size)
            bodies = {
                "a": csv_bytes(rows),
                "b": csv_bytes(rows),
                "c": csv_bytes(with_new_prices(rows)),
            }
            results[size] = {}
            for phase, body in bodies.items():
                seen = StatementLog()
                event.listen(db.engine, "before_cursor_execute", seen.record)
                try:
                    with watch_copy(seen.record_copy):
                        status, document = client_upload(client, token, body)
                finally:
                    event.remove(db.engine, "before_cursor_execute", seen.record)
                check_report(
                    f"in-process {size} rows ({phase})",
                    status,
                    document,
                    expected_counts(phase, size),
                )
                results[size][phase] = seen
        db.session.remove()
        db.engine.dispose()
    return results


PROFILE_STAGES = (
    ("catalog/api.py", "bulk_rows_from_request", "reading the CSV (catalog.sku_csv)"),
    ("catalog/merchant_services.py", "upsert_skus", "upsert_skus, all of it"),
    ("catalog/sku_rules.py", "check_sku_row", "validating rows (check_sku_row)"),
    ("catalog/merchant_services.py", "_plan", "_plan: read existing rows, compare"),
    ("catalog/merchant_services.py", "_write", "_write: the writes"),
    ("catalog/search.py", "build_search_text", "build_search_text (once per SKU row)"),
    ("warehouse/services.py", "set_on_hand", "set_on_hand (stock rows)"),
    ("sqlalchemy/orm/session.py", "execute", "Session.execute (all statements)"),
    ("shop/core/bulk_insert.py", "insert_rows", "COPY of new rows (shop.core.bulk_insert)"),
    (
        "catalog/merchant_services.py",
        "_refresh_statistics_after_a_large_load",
        "ANALYZE after a large load",
    ),
    ("catalog/merchant_services.py", "_sku_codes_by_product", "_sku_codes_by_product"),
    ("sqlalchemy/engine/base.py", "_exec_insertmany_context", "insertmanyvalues batches"),
    ("psycopg/cursor.py", "executemany", "psycopg executemany (a statement per row, pipelined)"),
    ("psycopg/_queries.py", "_split_query", "psycopg parsing statement text (%(name)s to $n)"),
    ("sqlalchemy/orm/session.py", "commit", "Session.commit"),
    ("catalog/merchant_services.py", "as_json", "UpsertReport.as_json"),
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


# ---------------------------------------------------------------- report


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


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured sequences (a, b, c)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the price list")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also break down the Python allocations of an upload in-process",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE the database before each upload (default: statistics as the shop "
        "and autovacuum leave them)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one first upload in-process"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0 even when a target is missed)."""
    args = parse_args(argv)
    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    if shutil.which("psql") is None:
        raise SystemExit("psql is not on PATH (apt-get install postgresql-client)")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = None
    url = ""
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-bench-bulk-"))
    try:
        url = create_database(admin_url)
        database = url.rsplit("/", 1)[1]
        log(f"database {database}")
        env = {**production_env(url, workdir), "GUNICORN_CMD_ARGS": "--timeout 120"}
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        merchant_id, token = create_merchant(env, "Bench LLC")
        log(f"merchant {merchant_id} created")
        conninfo = psql_conninfo(url)
        create_copy_table(conninfo)

        files: list[tuple[Path, bytes, bytes, list[list[str]]]] = []
        for number in range(1, args.rounds + 1):
            rows = price_list(f"R{number}-", args.rows)
            first = csv_bytes(rows)
            path = workdir / f"price-list-r{number}.csv"
            path.write_bytes(first)
            files.append((path, first, csv_bytes(with_new_prices(rows)), rows))
        log(f"price lists: {args.rows:,} rows, {len(files[0][1]) / 2**20:.1f} MB each")

        server = Gunicorn("bulk", "wsgi:app", free_port(), 1, env, ROOT, workdir)
        server.wait_healthy()
        worker = worker_pid(server.process.pid)

        sample = csv_bytes(files[0][3][:50])
        status, document, _ = post_csv(server.base_url, token, sample, "?dry_run=true")
        check_report("dry run of 50 rows", status, document, expected_counts("a", 50))
        if document.get("status") != "validated":
            raise RuntimeError(f"the dry run says {document.get('status')!r}, not 'validated'")
        log(f"dry run of 50 rows: 0 failed, {document['counts']['with_warnings']} with warnings")
        warm = csv_bytes(price_list("WARM-", 100))
        status, document, _ = post_csv(server.base_url, token, warm)
        check_report("warm-up", status, document, expected_counts("a", 100))
        idle_rss = memory_mb(worker)["VmRSS"]
        peak_method = "VmHWM, reset before each upload through /proc/<pid>/clear_refs"

        uploads: list[Upload] = []
        copies: list[CopyRun] = []
        loadavg = f"{os.getloadavg()[0]:.2f}"
        for number, (path, first, changed, _) in enumerate(files, start=1):
            # Alternate the order so that a drift in the machine's state hits both.
            if number % 2 == 1:
                copies.append(timed_copy(conninfo, path, args.rows, number))
            for phase, body in (("a", first), ("b", first), ("c", changed)):
                if args.analyze:
                    psql(conninfo, "ANALYZE")
                if not reset_peak(worker):
                    peak_method = "VmHWM since the worker started (clear_refs refused)"
                before = process_cpu(server.process.pid, database)
                status, document, seconds = post_csv(server.base_url, token, body)
                after = process_cpu(server.process.pid, database)
                app_cpu, db_cpu = cpu_used(before, after)
                check_report(
                    f"round {number} ({phase})", status, document,
                    expected_counts(phase, args.rows),
                )  # fmt: skip
                upload = Upload(
                    phase, number, args.rows, seconds, memory_mb(worker)["VmHWM"],
                    document["counts"], app_cpu, db_cpu,
                )  # fmt: skip
                uploads.append(upload)
                log(
                    f"round {number} ({phase}): {seconds:.3f} s, "
                    f"{upload.rows_per_s:,.0f} rows/s, peak RSS {upload.peak_rss_mb:.1f} MB, "
                    f"CPU worker {upload.app_cpu_s:.2f} s, PostgreSQL {upload.db_cpu_s:.2f} s"
                )
            if number % 2 == 0:
                copies.append(timed_copy(conninfo, path, args.rows, number))
        memory = {"idle": idle_rss, "after": memory_mb(worker)["VmRSS"], "method": peak_method}
        server.stop()

        log("counting SQL statements in-process")
        sql = count_sql_statements(url, token)
        now = datetime.now(UTC)
        context = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "loadavg": loadavg,
            "code": code_version(),
            "csv_bytes": len(files[0][1]),
            "products": math.ceil(args.rows / SKUS_PER_PRODUCT),
            "stock_levels": sum(row[-1].count(":") for row in files[0][3]),
            "with_warnings": uploads[0].counts["with_warnings"],
        }
        report, figures = render_report(args, uploads, copies, sql, memory, context)
        if args.profile:
            if args.analyze:
                psql(conninfo, "ANALYZE")
            log(f"profiling one {args.rows:,}-row upload")
            report += "\n" + profile_upload(url, token, args.rows)
        if args.tracemalloc:
            log(f"tracing the allocations of a {args.rows:,}-row upload")
            if args.analyze:
                psql(conninfo, "ANALYZE")
            report += "\n" + memory_profile(url, token, args.rows)
        print(report)
        write_report("bulk", "bench/bulk_upload.py", argv, report, now, figures)
        return 0
    finally:
        clean_up(admin_url, servers=[server], databases=[url], workdir=workdir)


if __name__ == "__main__":
    run_script(main)
