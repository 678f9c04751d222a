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
import http.client
import json
import math
import os
import re
import shutil
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

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
    machine_description,
    run_script,
    write_report,
)
from bulk.copy_baseline import CopyRun, create_copy_table, psql, psql_conninfo, timed_copy
from bulk.phases import check_report, expected_counts
from bulk.price_lists import (
    SKUS_PER_PRODUCT,
    csv_bytes,
    price_list,
    with_new_prices,
)
from bulk.profiles import memory_profile, profile_upload
from bulk.report import Upload, render_report
from bulk.sql_statements import BULK_PATH, count_sql_statements

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
