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
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_database import (
    DEFAULT_ADMIN_URL,
    create_database,
    migrate_and_seed,
    postgres_version,
    production_env,
)
from bench_processes import ROOT, Gunicorn, cpu_snapshot, free_port, log
from benchkit import clean_up, code_version, figure, machine_description, run_script, write_report

ORDERS_PATH = "/api/v1/orders"
NODE = "RU-WH"
STOCK_BUMP = 1_000_000
PGBENCH = Path("/usr/bin/pgbench")
SQL_LINE_COUNTS = (1, 2, 3, 5)
COLD = "first checkout of a fresh app (1 line)"

TARGET_RATIO = 0.25
TARGET_P95_MS = 150.0
TARGET_STATEMENTS = 25

ADDRESS = {
    "country": "RU",
    "region": "Moscow",
    "city": "Moscow",
    "postal_code": "101000",
    "line1": "Tverskaya 1",
    "recipient": "Ivan Petrov",
    "phone": "+7 900 000 00 00",
}


def order_body(skus: list[str]) -> dict[str, Any]:
    return {
        "lines": [{"sku": code, "quantity": 1} for code in skus],
        "currency": "RUB",
        "email": "bench@example.com",
        "shipping_address": ADDRESS,
        "payment": {"adapter": "manual"},
    }


# ----------------------------------------------------------------- results


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


# ----------------------------------------------------------- the world


def pick_skus(url: str, wanted: int) -> list[tuple[int, str]]:
    """(id, code) of active SKUs at RU-WH that no other node shipping to RU stocks,
    evenly spread by code."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.id, s.code FROM skus s "
                    "JOIN products p ON p.id = s.product_id "
                    "JOIN stock_levels sl ON sl.sku_id = s.id "
                    "JOIN nodes n ON n.id = sl.node_id "
                    "WHERE n.code = :node AND s.is_active AND p.is_active "
                    "AND s.deleted_at IS NULL AND sl.on_hand - sl.reserved > 0 "
                    "AND NOT EXISTS (SELECT 1 FROM stock_levels o JOIN lanes l "
                    "ON l.node_id = o.node_id WHERE o.sku_id = s.id AND o.node_id <> n.id "
                    "AND o.on_hand > 0 AND l.countries::jsonb ? 'RU') ORDER BY s.code"
                ),
                {"node": NODE},
            ).all()
    finally:
        engine.dispose()
    if not rows:
        raise RuntimeError(f"no SKU is stocked at {NODE} alone")
    step = max(1, len(rows) // wanted)
    return [(r[0], r[1]) for r in rows[::step][:wanted]]


def bump_stock(url: str, sku_ids: list[int]) -> int:
    """Raise RU-WH on-hand of ``sku_ids`` by STOCK_BUMP, with matching ledger rows."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            bumped = conn.execute(
                text(
                    "WITH bumped AS ("
                    " UPDATE stock_levels SET on_hand = on_hand + :bump, updated_at = now()"
                    " WHERE node_id = (SELECT id FROM nodes WHERE code = :node)"
                    " AND sku_id = ANY(:skus) RETURNING sku_id, node_id)"
                    " INSERT INTO stock_movements (sku_id, node_id, delta_on_hand,"
                    " delta_reserved, reason, actor, reference, created_at)"
                    " SELECT sku_id, node_id, :bump, 0, 'adjustment', 'bench/checkout.py',"
                    " 'stock for the checkout benchmark', now() FROM bumped"
                ),
                {"bump": STOCK_BUMP, "node": NODE, "skus": sku_ids},
            ).rowcount
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return bumped


def check_skus(base_url: str, skus: list[str]) -> tuple[list[str], dict[str, str]]:
    """One order per SKU over HTTP: kept when 201 with one shipment from RU-WH."""
    kept, dropped = [], {}
    for code in skus:
        status, body = http_post(base_url, ORDERS_PATH, json.dumps(order_body([code])).encode())
        if status != 201:
            dropped[code] = f"HTTP {status}: {body[:200].decode(errors='replace')}"
            continue
        nodes = [s["node"] for s in json.loads(body)["shipments"]]
        if nodes != [NODE]:
            dropped[code] = f"shipments from {nodes}"
            continue
        kept.append(code)
    return kept, dropped


def integrity(url: str) -> dict[str, int]:
    """Orders, orders not a single RU-WH shipment, stock levels off their ledger."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "orders": conn.scalar(text("SELECT count(*) FROM orders")),
                "not_single_ru_wh": conn.scalar(
                    text(
                        "SELECT count(*) FROM (SELECT s.order_id FROM shipments s "
                        "JOIN nodes n ON n.id = s.node_id GROUP BY s.order_id "
                        "HAVING count(*) <> 1 OR bool_or(n.code <> :node)) x"
                    ),
                    {"node": NODE},
                ),
                "ledger_mismatches": conn.scalar(
                    text(
                        "SELECT count(*) FROM stock_levels sl LEFT JOIN ("
                        " SELECT sku_id, node_id, sum(delta_on_hand) AS on_hand,"
                        " sum(delta_reserved) AS reserved FROM stock_movements"
                        " GROUP BY sku_id, node_id) m"
                        " ON m.sku_id = sl.sku_id AND m.node_id = sl.node_id"
                        " WHERE sl.on_hand <> coalesce(m.on_hand, 0)"
                        " OR sl.reserved <> coalesce(m.reserved, 0)"
                    )
                ),
            }
    finally:
        engine.dispose()


def server_settings(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            values = {
                name: conn.scalar(text(f"SHOW {name}"))
                for name in ("synchronous_commit", "fsync", "shared_buffers")
            }
    finally:
        engine.dispose()
    return ", ".join(f"{k}={v}" for k, v in values.items())


# ---------------------------------------------------------------- load


def http_post(base_url: str, path: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_checkout_load(
    base_url: str, bodies: list[bytes], seconds: float, clients: int
) -> CheckoutRun:
    """``clients`` threads POSTing orders for ``seconds``, the body rotating."""
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[Counter[int]] = [Counter() for _ in range(clients)]
    samples: list[list[tuple[int, str]]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]
    headers = {"Content-Type": "application/json", "Accept-Language": "en"}

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        position = index
        start_gate.wait()
        while (now := time.perf_counter()) < deadline[0]:
            position = (position + 1) % len(bodies)
            try:
                conn.request("POST", ORDERS_PATH, body=bodies[position], headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                continue
            latencies[index].append((time.perf_counter() - now) * 1000)
            statuses[index][response.status] += 1
            if response.status != 201 and len(samples[index]) < 3:
                samples[index].append((response.status, data[:300].decode(errors="replace")))
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    return CheckoutRun(
        seconds=time.perf_counter() - started,
        latencies_ms=[x for per_thread in latencies for x in per_thread],
        statuses=sum(statuses, Counter()),
        socket_errors=sum(errors),
        samples=[s for per_thread in samples for s in per_thread],
    )


def pgbench_conn_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Host, port, user and database for pgbench; the password goes in PGPASSWORD."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    if parsed.username:
        args += ["-U", parsed.username]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def pgbench_init(url: str, scale: int) -> None:
    from sqlalchemy.engine import make_url

    conn_args, env = pgbench_conn_args(url)
    argv = [str(PGBENCH), "-i", "-q", "-s", str(scale), *conn_args, str(make_url(url).database)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i failed:\n{done.stdout}\n{done.stderr}")


_PGBENCH_FIGURES = {
    "tps": re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE),
    "transactions": re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE),
    "failed": re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE),
    "latency": re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE),
}


def run_pgbench(url: str, seconds: float, clients: int, workdir: Path) -> PgbenchRun:
    """``pgbench -c clients -j 2 -T seconds -l``: tps as printed, latencies from its log."""
    from sqlalchemy.engine import make_url

    conn_args, env = pgbench_conn_args(url)
    logdir = Path(tempfile.mkdtemp(prefix="pgbench-log-", dir=workdir))
    argv = [
        str(PGBENCH), "-c", str(clients), "-j", "2", "-T", str(max(1, round(seconds))),
        "-l", "--log-prefix", str(logdir / "tx"), *conn_args, str(make_url(url).database),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    found = {name: pattern.search(done.stdout) for name, pattern in _PGBENCH_FIGURES.items()}
    if done.returncode != 0 or not found["tps"] or not found["transactions"]:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    latencies = []
    for log_file in logdir.iterdir():
        for line in log_file.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():  # "skipped" / "failed" are not
                latencies.append(int(parts[2]) / 1000)
    shutil.rmtree(logdir, ignore_errors=True)
    return PgbenchRun(
        tps=float(found["tps"].group(1)),
        transactions=int(found["transactions"].group(1)),
        failed=int(found["failed"].group(1)) if found["failed"] else 0,
        latency_avg_ms=float(found["latency"].group(1)) if found["latency"] else float("nan"),
        latencies_ms=latencies,
        seconds=elapsed,
    )


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------- in-process


@dataclass
class StatementCount:
    statements: list[str]
    transactions: list[tuple[int, str]]  # (statements before it, BEGIN/COMMIT/ROLLBACK)
    status: int
    shipments: list[str]
    error: str = ""

    @property
    def valid(self) -> bool:
        """A 201 with one shipment from RU-WH: the checkout the count is about."""
        return self.status == 201 and self.shipments == [NODE]

    def phases(self) -> list[tuple[int, str]]:
        """(transaction number, statement) for each statement."""
        marks = sorted(self.transactions)
        out = []
        for index, statement in enumerate(self.statements):
            number = sum(1 for at, kind in marks if kind == "BEGIN" and at <= index)
            out.append((number, statement))
        return out


def _transaction_listener(kind: str, statements: list[str], into: list[tuple[int, str]]):
    """An engine begin/commit/rollback listener noting where it fell among ``statements``."""

    def listener(*_args) -> None:
        into.append((len(statements), kind))

    return listener


def count_checkout_statements(url: str, codes: list[str]) -> dict[str, StatementCount]:
    """Statements of the fresh app's first checkout, then of 1-, 2-, 3- and 5-line ones."""
    from sqlalchemy import event

    from shop import create_app
    from shop.core.extensions import db
    from tests.sql_count import count_statements

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test", "LOG_LEVEL": "WARNING"}
    )
    plan = [(COLD, codes[:1])] + [
        (f"{n} line{'s' if n > 1 else ''}", codes[:n]) for n in SQL_LINE_COUNTS if n <= len(codes)
    ]
    results: dict[str, StatementCount] = {}
    with app.app_context():
        client = app.test_client()
        try:
            for label, lines in plan:
                transactions: list[tuple[int, str]] = []
                with count_statements(db.engine) as statements:
                    listeners = [
                        (name, _transaction_listener(name.upper(), statements, transactions))
                        for name in ("begin", "commit", "rollback")
                    ]
                    for name, listener in listeners:
                        event.listen(db.engine, name, listener)
                    try:
                        response = client.post(ORDERS_PATH, json=order_body(lines))
                    finally:
                        for name, listener in listeners:
                            event.remove(db.engine, name, listener)
                document = response.get_json(silent=True) or {}
                results[label] = StatementCount(
                    statements=list(statements),
                    transactions=transactions,
                    status=response.status_code,
                    shipments=[s["node"] for s in document.get("shipments", [])],
                    error="" if response.status_code == 201 else response.get_data(as_text=True),
                )
        finally:
            db.session.remove()
            db.engine.dispose()
    return results


_SHAPE = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|COPY)\s+\"?(\w+)?", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_WHERE = re.compile(r"\bWHERE\s+(.*?)(?:\s+ORDER BY|\s+LIMIT|\s+RETURNING|\s+FOR UPDATE|$)", re.I)


def statement_shape(statement: str) -> str:
    """``SELECT skus WHERE skus.id = …``: the verb, the main table and the condition's columns."""
    flat = " ".join(statement.split())
    match = _SHAPE.match(flat)
    if not match:
        return flat[:60]
    verb = match.group(1).upper()
    table = match.group(2)
    if verb == "SELECT":
        found = _FROM.search(flat)
        table = found.group(1) if found else "?"
        joins = re.findall(r"\bJOIN\s+(\w+)", flat, re.IGNORECASE)
        if joins:
            table += " ⋈ " + " ⋈ ".join(joins)
    shape = f"{verb} {table}"
    where = _WHERE.search(flat) if verb in ("SELECT", "UPDATE", "DELETE FROM") else None
    if where:
        columns = sorted(set(re.findall(r"\b([a-z_]+\.[a-z_]+)\b", where.group(1))))
        if columns:
            shape += " WHERE " + ", ".join(columns)
    return shape


PHASE_NAMES = {
    1: "read and plan",
    2: "write (one transaction)",
    3: "response document",
}


# ------------------------------------------------------------- report


def _ms(value: float) -> str:
    return "–" if value != value else f"{value:.1f}"


def render_report(
    args: argparse.Namespace,
    checkout_runs: list[CheckoutRun],
    pgbench_runs: list[PgbenchRun],
    counts: dict[str, StatementCount],
    skus: list[str],
    dropped: dict[str, str],
    checks: dict[str, int],
    http_201: int,
    context: dict[str, str],
) -> tuple[str, list[dict[str, Any]]]:
    seconds = sum(r.seconds for r in checkout_runs)
    orders = sum(r.orders for r in checkout_runs)
    rate = orders / seconds if seconds else 0.0
    lat = sorted(x for r in checkout_runs for x in r.latencies_ms)
    statuses = sum((r.statuses for r in checkout_runs), Counter())
    non_201 = sum(r.non_201 for r in checkout_runs)
    socket_errors = sum(r.socket_errors for r in checkout_runs)
    tps = sum(r.tps * r.seconds for r in pgbench_runs) / sum(r.seconds for r in pgbench_runs)
    pg_lat = sorted(x for r in pgbench_runs for x in r.latencies_ms)
    pg_tx = sum(r.transactions for r in pgbench_runs)
    pg_failed = sum(r.failed for r in pgbench_runs)
    ratio = rate / tps if tps else float("nan")
    round_ratios = ", ".join(
        f"{c.rate / p.tps:.3f}" for c, p in zip(checkout_runs, pgbench_runs, strict=True)
    )
    n = max(orders + non_201, 1)
    app_ms = sum(r.app_cpu_s for r in checkout_runs) * 1000 / n
    db_ms = sum(r.db_cpu_s for r in checkout_runs) * 1000 / n
    gen_ms = sum(r.loadgen_cpu_s for r in checkout_runs) * 1000 / n
    pg_client_ms = sum(r.client_cpu_s for r in pgbench_runs) * 1000 / max(pg_tx, 1)
    busy_c = sum(r.busy for r in checkout_runs) / len(checkout_runs)
    busy_p = sum(r.busy for r in pgbench_runs) / len(pgbench_runs)
    p95 = percentile(lat, 95)

    steady, cold = counts.get("1 line"), counts.get(COLD)
    if steady and cold and steady.valid and cold.valid:
        steady_n, cold_n = len(steady.statements), len(cold.statements)
        sql_verdict = (
            f"{steady_n} steady, {cold_n} on a fresh app's first (target ≤ {TARGET_STATEMENTS}): "
            + ("met" if max(steady_n, cold_n) <= TARGET_STATEMENTS else "NOT met")
        )
    else:
        sql_verdict = "not measured: the in-process checkouts did not answer 201 with one "
        sql_verdict += f"{NODE} shipment (see the table below)"

    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; "
        f"PostgreSQL {context['postgres']} ({context['settings']}); "
        f"1-min load average before the run {context['loadavg']}. "
        f"gunicorn {args.workers} sync workers; Python load generator, {args.clients} "
        f"clients; pgbench -c {args.clients} -j 2, scale {args.scale}. "
        f"{args.rounds} round(s) of {args.duration:g} s per target, alternating, after a "
        f"{args.warmup:g} s warm-up each. Orders: 1 line, quantity 1, RUB, to Moscow, manual "
        f"payment, rotating over {len(skus)} SKUs that only {NODE} holds for Russia.",
        "",
        "| target | per second | p50 ms | p95 ms | p99 ms | mean ms | × pgbench tps "
        "| requests (non-201 / failed) | CPU ms each: app + PostgreSQL + client "
        "| machine CPU busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| checkout `POST {ORDERS_PATH}` (orders/s) | {rate:,.1f} | {_ms(percentile(lat, 50))} "
        f"| {_ms(p95)} | {_ms(percentile(lat, 99))} "
        f"| {_ms(sum(lat) / len(lat) if lat else float('nan'))} | **{ratio:.3f}** "
        f"| {orders + non_201:,} ({non_201 + socket_errors}) "
        f"| {app_ms:.2f} + {db_ms:.2f} + {gen_ms:.2f} | {busy_c:.0%} |",
        f"| pgbench TPC-B-like (tps) | {tps:,.0f} | {_ms(percentile(pg_lat, 50))} "
        f"| {_ms(percentile(pg_lat, 95))} | {_ms(percentile(pg_lat, 99))} "
        f"| {_ms(sum(r.latency_avg_ms for r in pgbench_runs) / len(pgbench_runs))} | 1.000 "
        f"| {pg_tx:,} ({pg_failed}) | – + – + {pg_client_ms:.2f} | {busy_p:.0%} |",
        "",
        "Per round: orders/s "
        + ", ".join(f"{r.rate:.1f}" for r in checkout_runs)
        + "; pgbench tps "
        + ", ".join(f"{r.tps:,.0f}" for r in pgbench_runs)
        + f"; ratio {round_ratios}; checkout CPU ms per request, app + PostgreSQL: "
        + ", ".join(
            f"{r.app_cpu_s * 1000 / max(r.orders + r.non_201, 1):.1f} + "
            f"{r.db_cpu_s * 1000 / max(r.orders + r.non_201, 1):.1f}"
            for r in checkout_runs
        )
        + ".",
        "",
        f"- throughput: orders/s ÷ pgbench tps = {ratio:.3f} (target ≥ {TARGET_RATIO}): "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}",
        f"- checkout p95 = {p95:.1f} ms (target < {TARGET_P95_MS:g} ms): "
        f"{'met' if p95 < TARGET_P95_MS else 'NOT met'}",
        f"- SQL statements per single-shipment checkout (1 line): {sql_verdict}",
    ]
    if non_201 or socket_errors:
        lines.append(
            f"- WARNING: {non_201} non-201 responses {dict(statuses)}, {socket_errors} socket "
            "errors; samples:"
        )
        for status, body in [s for r in checkout_runs for s in r.samples][:5]:
            lines.append(f"  - {status}: `{body}`")
    else:
        lines.append(f"- every response was 201 ({orders:,} orders in the timed rounds)")
    lines.append(
        f"- after the load: {checks['orders']:,} orders in the database for {http_201:,} 201 "
        f"responses over HTTP; {checks['not_single_ru_wh']} orders not a single {NODE} "
        f"shipment; {checks['ledger_mismatches']} stock levels off their ledger"
    )
    if dropped:
        lines.append("- SKUs dropped by the first check: " + "; ".join(
            f"{code} ({why})" for code, why in dropped.items()))  # fmt: skip

    lines += [
        "",
        "SQL per checkout, counted in-process (test client on the bench database; a COPY "
        "counts as one statement; transaction control apart):",
        "",
        "| checkout | status | shipments | SQL statements | BEGIN + COMMIT + ROLLBACK "
        "| round trips in all |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for label, count in counts.items():
        kinds = Counter(kind for _, kind in count.transactions)
        control = kinds["BEGIN"] + kinds["COMMIT"] + kinds["ROLLBACK"]
        lines.append(
            f"| {label} | {count.status} | {', '.join(count.shipments) or '–'} "
            f"| {len(count.statements)} | {kinds['BEGIN']} + {kinds['COMMIT']} + "
            f"{kinds['ROLLBACK']} | {len(count.statements) + control} |"
        )
    for label, count in counts.items():
        if count.error:
            lines.append(f"\n{label}: HTTP {count.status}: `{' '.join(count.error.split())[:300]}`")
    for label in (COLD, "1 line"):
        if label not in counts:
            continue
        lines += ["", f"Statements of the {label} checkout:", "",
                  "| # | transaction | statement |", "|---:|---|---|"]  # fmt: skip
        for index, (number, statement) in enumerate(counts[label].phases(), 1):
            phase = f"{number}: {PHASE_NAMES.get(number, '?')}"
            lines.append(f"| {index} | {phase} | `{statement_shape(statement)}` |")
    figures = [
        figure("checkout orders/s (× pgbench tps)", rate, baseline=tps,
               target=f"ratio ≥ {TARGET_RATIO}", met=ratio >= TARGET_RATIO),
        figure("checkout p95 ms (pgbench p95)", p95, baseline=percentile(pg_lat, 95),
               target=f"< {TARGET_P95_MS:g} ms", met=p95 < TARGET_P95_MS),
        figure("checkout non-201 answers", non_201 + socket_errors, target="0",
               met=not (non_201 or socket_errors)),
    ]  # fmt: skip
    if steady and cold and steady.valid and cold.valid:
        worst = max(len(steady.statements), len(cold.statements))
        figures.append(figure("SQL statements per checkout (1 line, worst of cold/steady)",
                              worst, target=f"≤ {TARGET_STATEMENTS}",
                              met=worst <= TARGET_STATEMENTS))  # fmt: skip
    return "\n".join(lines) + "\n", figures


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
