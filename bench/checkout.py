"""Checkout throughput and latency on PostgreSQL, next to pgbench in the same run.

Usage (from the repository root)::

    .venv/bin/python bench/checkout.py [--duration 20] [--rounds 3] [--clients 16]
                                       [--workers 4] [--skus 24] [--scale 16] [--warmup 3]

Method, all in one invocation so that both figures come from the same
machine state:

1. A fresh database ``pavilion_bench_<random>`` is created on the server of
   BENCH_POSTGRES_URL (default ``postgresql+psycopg://127.0.0.1:5432/postgres``),
   migrated with ``flask --app wsgi db upgrade`` and seeded with
   ``flask --app wsgi seed`` (subprocesses, production mode), as
   ``bench/catalog.py`` does (its helpers are imported, not copied).
2. SKUs: up to ``--skus`` active SKUs stocked at RU-WH and at no other node
   with a lane to Russia (RU-USS), spread evenly over that list by code.
   Their RU-WH on-hand is raised by 1,000,000 in one statement that also
   writes the matching ``adjustment`` rows to the stock ledger
   (``stock_movements``), so on-hand still equals the ledger's sum and no
   order can run short during the run.
3. The shop runs under gunicorn (``wsgi:app``, ``--workers`` sync workers,
   PAVILION_ENV=production, no access log). Each SKU is checked out once
   over HTTP first: it must answer 201 with one shipment from RU-WH, or it
   is dropped (and named in the report).
4. Load: ``--clients`` threads of a Python load generator, each over its own
   ``http.client`` connection (gunicorn's sync workers close it after each
   response; it reopens), POST ``/api/v1/orders``: one line, quantity 1,
   the SKU rotating, RUB, a Moscow address, manual payment, no
   Idempotency-Key. Orders/s counts 201 responses only; every other status
   is counted and a sample of bodies printed. Latency runs from sending the
   request to the last byte of the answer; p50/p95/p99 are over every
   request of all rounds.
5. Baseline: ``pgbench`` (TPC-B-like, the built-in script) in a second
   throwaway database ``pavilion_bench_<random>`` of the same server,
   initialised with ``pgbench -i -s --scale``, run as ``pgbench -c
   --clients -j 2 -T --duration`` with a per-transaction log (``-l``), from
   which its p50/p95 come; its tps is the one pgbench prints (without the
   initial connection time).
6. Each target gets a warm-up of ``--warmup`` seconds, then ``--rounds``
   timed runs of ``--duration`` seconds, the two taking turns (checkout,
   pgbench, pgbench, checkout, ...) so that a change in the machine's load
   hits both. Around each run the script reads from /proc the machine's busy
   CPU share and, for checkout, the CPU time of gunicorn (master and
   workers), of the PostgreSQL backends of the bench database and of this
   process (the load generator); for pgbench, pgbench's own CPU time.
7. After the load: orders in the database are compared with the 201
   responses, every order must have exactly one shipment, from RU-WH, and
   every stock level must equal the sums of its ledger rows.
8. SQL statements per checkout are counted in-process with
   ``tests.sql_count.count_statements`` (a ``before_cursor_execute``
   listener, plus psycopg's COPY, which the stock ledger uses): an app from
   ``create_app`` on the bench database, the test client, the first checkout
   of the fresh app (which fills the per-app caches: rates, routing world),
   then steady-state checkouts of 1, 2, 3 and 5 lines (one shipment each).
   Transaction control (BEGIN, COMMIT, ROLLBACK) is counted apart, from
   the engine's begin/commit/rollback events.

The results table (markdown) is printed and written to
``bench/results/checkout-<timestamp>.md``. gunicorn is stopped and both
databases dropped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import os
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
from bench_processes import ROOT, Gunicorn, cpu_snapshot, free_port, log
from benchkit import clean_up, code_version, machine_description, run_script, write_report
from placing_orders.load import (
    PGBENCH,
    children_cpu_s,
    pgbench_init,
    run_checkout_load,
    run_pgbench,
)
from placing_orders.report import render_report
from placing_orders.runs import CheckoutRun, PgbenchRun, busy_share, machine_jiffies, percentile
from placing_orders.statements import count_checkout_statements
from placing_orders.world import (
    NODE,
    STOCK_BUMP,
    bump_stock,
    check_skus,
    integrity,
    order_body,
    pick_skus,
    server_settings,
)

# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds per timed run (per target, per round)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed runs per target, alternating the targets"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, both targets")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--skus", type=int, default=24, help="SKUs the orders rotate over")
    parser.add_argument("--scale", type=int, default=16, help="pgbench -i scale factor")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0 even when a target is missed)."""
    args = parse_args(argv)
    if not PGBENCH.exists():
        raise SystemExit(f"{PGBENCH} is missing (apt-get install postgresql-client)")
    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = None
    urls: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-bench-"))
    try:
        url = create_database(admin_url)
        urls.append(url)
        pgbench_url = create_database(admin_url)
        urls.append(pgbench_url)
        database = url.rsplit("/", 1)[1]
        log(f"databases {database} (shop), {pgbench_url.rsplit('/', 1)[1]} (pgbench)")
        env = production_env(url, workdir)
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        picked = pick_skus(url, args.skus)
        log(f"{bump_stock(url, [i for i, _ in picked])} stock levels at {NODE} raised by "
            f"{STOCK_BUMP:,} (with ledger rows)")  # fmt: skip
        log(f"pgbench -i -s {args.scale}")
        started = time.perf_counter()
        pgbench_init(pgbench_url, args.scale)
        log(f"pgbench initialised in {time.perf_counter() - started:.1f} s")

        server = Gunicorn("checkout", "wsgi:app", free_port(), args.workers, env, ROOT, workdir)
        server.wait_healthy()
        skus, dropped = check_skus(server.base_url, [code for _, code in picked])
        if not skus:
            raise RuntimeError(f"no SKU could be checked out: {dropped}")
        http_201 = len(skus)
        log(f"{len(skus)} SKUs checked out once each ({len(dropped)} dropped)")
        bodies = [json.dumps(order_body([code])).encode() for code in skus]

        loadavg = f"{os.getloadavg()[0]:.2f}"
        log(f"warm-up {args.warmup:g} s each")
        http_201 += run_checkout_load(server.base_url, bodies, args.warmup, args.clients).orders
        run_pgbench(pgbench_url, args.warmup, args.clients, workdir)

        checkout_runs: list[CheckoutRun] = []
        pgbench_runs: list[PgbenchRun] = []
        for number in range(args.rounds):
            order = ("checkout", "pgbench") if number % 2 == 0 else ("pgbench", "checkout")
            for name in order:
                machine_before = machine_jiffies()
                if name == "checkout":
                    before = cpu_snapshot(server.process.pid, database)
                    run = run_checkout_load(server.base_url, bodies, args.duration, args.clients)
                    after = cpu_snapshot(server.process.pid, database)
                    run.app_cpu_s, run.db_cpu_s, run.loadgen_cpu_s = (
                        b - a for a, b in zip(before, after, strict=True)
                    )
                    run.busy = busy_share(machine_before, machine_jiffies())
                    checkout_runs.append(run)
                    http_201 += run.orders
                    log(
                        f"round {number + 1} checkout: {run.rate:,.1f} orders/s, "
                        f"p95 {percentile(sorted(run.latencies_ms), 95):.1f} ms, "
                        f"non-201 {run.non_201}, machine busy {run.busy:.0%}"
                    )
                else:
                    cpu_before = children_cpu_s()
                    result = run_pgbench(pgbench_url, args.duration, args.clients, workdir)
                    result.client_cpu_s = children_cpu_s() - cpu_before
                    result.busy = busy_share(machine_before, machine_jiffies())
                    pgbench_runs.append(result)
                    log(
                        f"round {number + 1} pgbench: {result.tps:,.0f} tps, "
                        f"machine busy {result.busy:.0%}"
                    )
        server.stop()

        checks = integrity(url)
        log("counting SQL statements in-process")
        counts = count_checkout_statements(url, skus)
        now = datetime.now(UTC)
        context = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "settings": server_settings(url),
            "loadavg": loadavg,
            "code": code_version(),
        }
        report, figures = render_report(
            args, checkout_runs, pgbench_runs, counts, skus, dropped, checks, http_201, context
        )
        print(report)
        write_report("checkout", "bench/checkout.py", argv, report, now, figures)
        return 0
    finally:
        clean_up(admin_url, servers=[server], databases=urls, workdir=workdir)


if __name__ == "__main__":
    run_script(main)
