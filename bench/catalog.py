"""Catalog page throughput and latency on PostgreSQL, next to a bare Flask baseline.

Usage (from the repository root)::

    .venv/bin/python bench/catalog.py [--duration 20] [--rounds 3] [--connections 16]
                                      [--workers 4] [--products 2000] [--profile 300]

Method, all in one invocation so that both figures come from the same machine
state:

1. A fresh database ``pavilion_bench_<random>`` is created on the server of
   BENCH_POSTGRES_URL (default ``postgresql+psycopg://127.0.0.1:5432/postgres``),
   migrated with ``flask --app wsgi db upgrade`` and seeded with
   ``flask --app wsgi seed``, both as subprocesses in production mode. Then
   ``--products`` synthetic products (with SKUs and stock, ``search_text``
   built as ``shop.seed`` builds it) are spread over the 11 categories, so
   that the tables are realistically larger than the demo pavilion, and the
   database is ANALYZEd.
2. The shop runs under gunicorn (``wsgi:app``, ``--workers`` sync workers,
   PAVILION_ENV=production, no access log). The baseline, ``bench/bare_app.py``
   (plain Flask and SQLAlchemy Core: 24 rows of the same ``products`` table
   ordered by name, LIMIT/OFFSET, as JSON), runs under a second gunicorn with
   the same number of workers on the same database.
3. Load: wrk (``/usr/bin/wrk``; the script tries ``apt-get install -y wrk``
   when it is missing) with ``--connections`` connections and 2 threads, or,
   without wrk, a Python load generator (threads over keep-alive
   ``http.client`` connections). Each target gets a warm-up, then
   ``--rounds`` timed runs of ``--duration`` seconds, the two targets taking
   turns (bare, catalog, catalog, bare, ...) so that a change in the
   machine's load hits both. Requests/s is over all rounds; p50 and p99 are
   the medians of the rounds' percentiles. The catalog target rotates over
   the 11 category pages
   (``/api/v1/products?category=…&per_page=24&lang=ru&currency=RUB``), the
   baseline over 11 page offsets. No If-None-Match is ever sent: every
   response is a full 200, and any other status is counted and reported.
   Around each timed run the script reads from /proc the CPU time of the
   target's gunicorn (master and workers) and of the PostgreSQL backends of
   the bench database, and its own and wrk's from getrusage: CPU
   milliseconds per request show where a saturated machine spends its cores.
4. SQL statements per catalog request are counted in-process: an app built
   with ``create_app`` on the bench database, a ``before_cursor_execute``
   listener on its engine, and the category page fetched through the test
   client: the fresh app's first request (which fills any per-process cache),
   then per_page 1, 24 and 100.
5. The page statement captured from the app is timed alone in PostgreSQL,
   with the server's plan cache mode and with a forced generic plan, and
   the plans PostgreSQL chose are counted (``page_statement_timing``).
6. ``--profile N`` (optional) runs N category pages through the test client
   under cProfile and prints the functions with the largest cumulative share.

The results table (markdown) is printed and written to
``bench/results/catalog-<timestamp>.md``. The gunicorns are stopped and the
database dropped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_database import (
    CATEGORIES,
    DEFAULT_ADMIN_URL,
    add_synthetic_products,
    create_database,
    migrate_and_seed,
    postgres_version,
    production_env,
    table_sizes,
)
from bench_load import WRK, LoadResult, check_responses, combine, ensure_wrk, run_load
from bench_processes import (
    BENCH_DIR,
    ROOT,
    Gunicorn,
    cpu_snapshot,
    free_port,
    log,
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

CATALOG_PATH = "/api/v1/products?category={slug}&per_page={per_page}&lang=ru&currency=RUB"
BARE_PATH = "/bare/products?page={page}"
SQL_COUNT_PAGE_SIZES = (1, 24, 100)
SQL_COUNT_TARGET = 3


# --------------------------------------------------------- in-process


COLD = "first request of a fresh app"


def count_sql_statements(url: str) -> dict[str, int]:
    """Statements the category page executes: on a fresh app's first request
    (per_page=24), then per ``per_page`` of SQL_COUNT_PAGE_SIZES.

    The first request also fills whatever the app keeps per process (today's
    exchange rates, for one); the later ones show the steady state.
    """
    from sqlalchemy import event

    from shop import create_app
    from shop.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    requests = [(COLD, CATEGORIES[1], 24)] + [
        (f"per_page={n}", CATEGORIES[0], n) for n in SQL_COUNT_PAGE_SIZES
    ]
    counts: dict[str, int] = {}
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            client = app.test_client()
            for label, slug, per_page in requests:
                statements.clear()
                path = CATALOG_PATH.format(slug=slug, per_page=per_page)
                response = client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {response.status_code}")
                counts[label] = len(statements)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
            db.engine.dispose()
    return counts


def page_statement_timing(url: str, executions: int = 300) -> str:
    """How PostgreSQL runs the catalog's page statement, taken from the app.

    The statement and its parameters are captured from one category page
    through the test client. The statement is then executed ``executions``
    times, the category rotating, on a fresh psycopg connection: first with
    the server's plan cache mode, then with ``plan_cache_mode =
    force_generic_plan``. psycopg prepares it after a few executions, as it
    does in the app. Returns markdown with milliseconds per execution and
    the generic and custom plans counted in ``pg_prepared_statements``.
    """
    import psycopg
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    from shop import create_app
    from shop.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    captured: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        captured.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            app.test_client().get(CATALOG_PATH.format(slug=CATEGORIES[0], per_page=24))
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
            db.engine.dispose()
    pages = [(st, params) for st, params in captured if "LIMIT" in st.upper()]
    if not pages or not isinstance(pages[-1][1], dict):
        return "Page statement: not captured (no LIMIT statement with named parameters).\n"
    statement, params = pages[-1]
    slug_keys = [key for key, value in params.items() if value == CATEGORIES[0]]
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    lines = [
        f"Page statement in PostgreSQL: {executions} executions on one connection, "
        "the category rotating, prepared by psycopg as in the app.",
        "",
        "| plan_cache_mode | ms per execution | generic plans | custom plans |",
        "|---|---:|---:|---:|",
    ]
    for mode in ("server default", "force_generic_plan"):
        with psycopg.connect(conninfo) as conn:
            if mode != "server default":
                conn.execute(f"SET plan_cache_mode = {mode}")
            shown = conn.execute("SHOW plan_cache_mode").fetchone()[0]
            with conn.cursor() as cursor:
                started = time.perf_counter()
                for i in range(executions):
                    for key in slug_keys:
                        params[key] = CATEGORIES[i % len(CATEGORIES)]
                    cursor.execute(statement, params)
                    cursor.fetchall()
                elapsed_ms = (time.perf_counter() - started) / executions * 1000
            generic, custom = conn.execute(
                "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
                "FROM pg_prepared_statements"
            ).fetchone()
            conn.rollback()
        label = f"{shown} (server default)" if mode == "server default" else f"{shown} (forced)"
        lines.append(f"| {label} | {elapsed_ms:.2f} | {generic} | {custom} |")
    return "\n".join(lines) + "\n"


# Functions worth a line of their own in the profile summary: (file suffix, name, what).
PROFILE_BREAKDOWN = (
    ("catalog/services.py", "list_products", "catalog.services.list_products, all of it"),
    ("catalog/services.py", "load_rate_table", "load_rate_table (rates query, ORM objects)"),
    ("catalog/services.py", "_price_in", "_price_in (CASE over currencies)"),
    ("sqlalchemy/orm/session.py", "execute", "Session.execute (compile, run, fetch; both queries)"),
    ("psycopg/connection.py", "wait", "waiting for PostgreSQL (psycopg wait)"),
    ("sqlalchemy/sql/cache_key.py", "_generate_cache_key", "SQL cache-key generation"),
    ("sqlalchemy/sql/coercions.py", "expect", "SQL expression building (coercions.expect)"),
    ("marshmallow/schema.py", "dump", "response schema (marshmallow dump)"),
    ("webargs/core.py", "parse", "query-string parsing (webargs)"),
    ("flask/json/provider.py", "dumps", "JSON encoding"),
    ("werkzeug/wrappers/response.py", "add_etag", "ETag (hash of the body)"),
    ("catalog/money.py", "as_json", "Money.as_json"),
)


def profile_catalog(url: str, requests: int, top: int = 25) -> str:
    """Time, then cProfile, ``requests`` category pages through the test client.

    Returns markdown: milliseconds per request with and without the profiler,
    a breakdown over the functions of PROFILE_BREAKDOWN, the ``top``
    functions by cumulative time and the largest own times. Shares are of
    the profiled total.
    """
    from shop import create_app
    from shop.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    paths = [CATALOG_PATH.format(slug=slug, per_page=24) for slug in CATEGORIES]
    profiler = cProfile.Profile()
    with app.app_context():
        try:
            client = app.test_client()
            for path in paths * 3:  # imports, connections, compiled-statement cache
                client.get(path)
            started = time.perf_counter()
            for i in range(requests):
                client.get(paths[i % len(paths)])
            plain_ms = (time.perf_counter() - started) / requests * 1000
            started = time.perf_counter()
            profiler.enable()
            for i in range(requests):
                client.get(paths[i % len(paths)])
            profiler.disable()
            profiled_ms = (time.perf_counter() - started) / requests * 1000
        finally:
            db.session.remove()
            db.engine.dispose()

    bare_ms = time_bare_in_process(url, requests)
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)
    rows = [
        (cumtime, tottime, ncalls, short_path(filename), line, function)
        for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    out = io.StringIO()
    out.write(
        f"Profile: {requests} category pages through the test client, one process: "
        f"{plain_ms:.2f} ms per request ({profiled_ms:.2f} ms under cProfile); "
        f"the bare endpoint, the same way: {bare_ms:.2f} ms. "
        "Shares are of the profiled time.\n\n"
        "| share (cumulative) | calls/request | where |\n|---:|---:|---|\n"
    )
    for suffix, name, what in PROFILE_BREAKDOWN:
        matches = [r for r in rows if r[3].endswith(suffix) and r[5] == name]
        if matches:
            best = max(matches)
            out.write(f"| {best[0] / total:.1%} | {best[2] / requests:.1f} | {what} |\n")
    out.write(
        f"\nTop {top} by cumulative time:\n\n"
        "| cumulative | own | calls/request | function |\n|---:|---:|---:|---|\n"
    )
    for cumtime, tottime, ncalls, filename, line, function in sorted(rows, reverse=True)[:top]:
        out.write(
            f"| {cumtime / total:.1%} | {tottime / total:.1%} | {ncalls / requests:.1f} "
            f"| `{filename}:{line}({function})` |\n"
        )
    out.write("\nLargest own time:\n\n| own | calls/request | function |\n|---:|---:|---|\n")
    for _, tottime, ncalls, filename, line, function in sorted(
        rows, key=lambda r: r[1], reverse=True
    )[: top // 2]:
        out.write(
            f"| {tottime / total:.1%} | {ncalls / requests:.1f} "
            f"| `{filename}:{line}({function})` |\n"
        )
    return out.getvalue()


def time_bare_in_process(url: str, requests: int) -> float:
    """Milliseconds per bare page through bare_app's test client (same rotation)."""
    sys.path.insert(0, str(BENCH_DIR))
    try:
        from bare_app import create_app as create_bare_app
    finally:
        sys.path.remove(str(BENCH_DIR))
    app = create_bare_app({"DATABASE_URL": url})
    client = app.test_client()
    paths = [BARE_PATH.format(page=page) for page in range(1, len(CATEGORIES) + 1)]
    try:
        for path in paths * 3:
            client.get(path)
        started = time.perf_counter()
        for i in range(requests):
            client.get(paths[i % len(paths)])
        return (time.perf_counter() - started) / requests * 1000
    finally:
        app.extensions["bare_engine"].dispose()


def _cpu_cell(result: LoadResult) -> str:
    return " + ".join(f"{ms:.2f}" for ms in result.cpu_ms_per_request())


def render_report(
    args: argparse.Namespace,
    rounds: dict[str, list[LoadResult]],
    sql_counts: dict[str, int],
    sizes: dict[str, int],
    body_sizes: dict[str, int],
    context: dict[str, str],
) -> str:
    """The results as markdown: a context line, the table, the verdicts."""
    catalog, bare = combine(rounds["catalog"]), combine(rounds["bare"])
    ratio = catalog.rps / bare.rps if bare.rps else float("nan")
    round_ratios = ", ".join(
        f"{c.rps / b.rps:.2f}" for c, b in zip(rounds["catalog"], rounds["bare"], strict=True)
    )
    steady = {k: v for k, v in sql_counts.items() if k != COLD}
    sql_ok = len(set(steady.values())) == 1 and max(sql_counts.values()) <= SQL_COUNT_TARGET
    sql_text = ", ".join(f"{k}: {v}" for k, v in steady.items())
    if COLD in sql_counts:
        sql_text += f"; {COLD}: {sql_counts[COLD]}"
    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; "
        f"PostgreSQL {context['postgres']}; "
        f"1-min load average before the run {context['loadavg']}. "
        f"gunicorn {args.workers} sync workers per target; {catalog.generator}; "
        f"{args.rounds} round(s) of {args.duration:g} s per target, alternating, after a "
        f"{args.warmup:g} s warm-up each (requests/s over all rounds, p50/p99: median of "
        f"rounds); {sizes['products']} products, {sizes['skus']} SKUs, "
        f"{sizes['stock_levels']} stock rows.",
        "",
        "| target | requests/s | p50 ms | p99 ms | × bare rps | responses (non-200) "
        "| body bytes | CPU ms/request: app + PostgreSQL + load gen. | SQL statements/request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| catalog `{CATALOG_PATH.format(slug='<11 rotating>', per_page=24)}` "
        f"| {catalog.rps:,.0f} | {catalog.p50_ms:.1f} | {catalog.p99_ms:.1f} | {ratio:.2f} "
        f"| {catalog.requests:,} ({catalog.non_200 + catalog.socket_errors}) "
        f"| {body_sizes['catalog']:,} | {_cpu_cell(catalog)} | {sql_text} |",
        f"| bare Flask `{BARE_PATH.format(page='<1..11>')}` "
        f"| {bare.rps:,.0f} | {bare.p50_ms:.1f} | {bare.p99_ms:.1f} | 1.00 "
        f"| {bare.requests:,} ({bare.non_200 + bare.socket_errors}) "
        f"| {body_sizes['bare']:,} | {_cpu_cell(bare)} | 1 |",
        "",
        f"- throughput: catalog/bare = {ratio:.2f} (rounds: {round_ratios}; target ≥ 0.90): "
        f"{'met' if ratio >= 0.9 else 'NOT met'}",
        f"- catalog p99 = {catalog.p99_ms:.1f} ms (target < 50 ms): "
        f"{'met' if catalog.p99_ms < 50 else 'NOT met'}",
        f"- SQL statements per catalog request: {sql_text} (target: constant, ≤ "
        f"{SQL_COUNT_TARGET}): {'met' if sql_ok else 'NOT met'}",
    ]
    if catalog.non_200 or bare.non_200 or catalog.socket_errors or bare.socket_errors:
        lines.append(
            f"- WARNING: non-200 responses or socket errors (catalog {catalog.statuses}, "
            f"{catalog.socket_errors} errors; bare {bare.statuses}, {bare.socket_errors} errors)"
        )
    return "\n".join(lines) + "\n"


def report_figures(
    rounds: dict[str, list[LoadResult]], sql_counts: dict[str, int]
) -> list[dict[str, Any]]:
    """The verdicts of ``render_report`` as figures for ``python -m bench``."""
    catalog, bare = combine(rounds["catalog"]), combine(rounds["bare"])
    worst_sql = max(sql_counts.values())
    steady = {v for k, v in sql_counts.items() if k != COLD}
    failures = catalog.non_200 + catalog.socket_errors
    return [
        figure("catalog page requests/s (× bare Flask)", catalog.rps, baseline=bare.rps,
               target="ratio ≥ 0.90", met=catalog.rps >= 0.9 * bare.rps),
        figure("catalog page p99 ms (bare Flask p99)", catalog.p99_ms, baseline=bare.p99_ms,
               target="< 50 ms", met=catalog.p99_ms < 50),
        figure("SQL statements per catalog page (worst)", worst_sql,
               target=f"constant, ≤ {SQL_COUNT_TARGET}",
               met=len(steady) == 1 and worst_sql <= SQL_COUNT_TARGET),
        figure("catalog non-200 answers", failures, target="0", met=failures == 0),
    ]  # fmt: skip


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds per timed run (per target, per round)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed runs per target, alternating the targets"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per target")
    parser.add_argument(
        "--products", type=int, default=2000, help="synthetic products added to the demo pavilion"
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (auto: wrk when available)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile N category pages in-process with cProfile",
    )
    parser.add_argument(
        "--seed-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for catalog/seed/pavilion.json to appear",
    )
    return parser.parse_args(argv)


def wait_for_seed_file(seconds: float) -> None:
    seed_file = ROOT / "catalog" / "seed" / "pavilion.json"
    deadline = time.monotonic() + seconds
    while not seed_file.exists():
        if time.monotonic() >= deadline:
            raise SystemExit(f"{seed_file.relative_to(ROOT)} is missing: the demo seed needs it")
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0 even when a target is missed)."""
    args = parse_args(argv)
    wait_for_seed_file(args.seed_wait)
    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and ensure_wrk())
    if args.generator == "wrk" and not WRK.exists():
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    # SIGTERM takes the same way out as Ctrl-C: through the finally below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    servers: list[Gunicorn] = []
    url = ""
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-bench-"))
    try:
        url = create_database(admin_url)
        log(f"database {url.rsplit('/', 1)[1]}")
        env = production_env(url, workdir)
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        if args.products > 0:
            log(f"adding {args.products} synthetic products")
            log(f"added {add_synthetic_products(url, args.products)}")
        sizes = table_sizes(url)

        shop = Gunicorn("catalog", "wsgi:app", free_port(), args.workers, env, ROOT, workdir)
        servers.append(shop)
        bare = Gunicorn("bare", "bare_app:app", free_port(), args.workers, env, BENCH_DIR, workdir)
        servers.append(bare)
        shop.wait_healthy()
        bare.wait_healthy()

        catalog_paths = [CATALOG_PATH.format(slug=slug, per_page=24) for slug in CATEGORIES]
        bare_paths = [BARE_PATH.format(page=page) for page in range(1, len(CATEGORIES) + 1)]
        body_sizes = {
            "catalog": check_responses(shop.base_url, catalog_paths),
            "bare": check_responses(bare.base_url, bare_paths),
        }
        targets = {"bare": (bare, bare_paths), "catalog": (shop, catalog_paths)}
        database = url.rsplit("/", 1)[1]
        generator = "wrk" if use_wrk else "python"
        log(
            f"load: {generator}, {args.connections} connections, {args.rounds} x "
            f"{args.duration:g} s per target"
        )
        loadavg = f"{os.getloadavg()[0]:.2f}"
        for name, (server, paths) in targets.items():
            run_load(use_wrk, server.base_url, paths, args.warmup, args.connections, workdir, name)
        rounds: dict[str, list[LoadResult]] = {name: [] for name in targets}
        for number in range(args.rounds):
            # Alternate the order so that a drift in the machine's state hits both.
            order = list(targets) if number % 2 == 0 else list(reversed(targets))
            for name in order:
                server, paths = targets[name]
                before = cpu_snapshot(server.process.pid, database)
                result = run_load(
                    use_wrk, server.base_url, paths, args.duration, args.connections, workdir, name
                )
                after = cpu_snapshot(server.process.pid, database)
                result.app_cpu_s, result.db_cpu_s, result.loadgen_cpu_s = (
                    b - a for a, b in zip(before, after, strict=True)
                )
                rounds[name].append(result)
                app_ms, db_ms, _ = result.cpu_ms_per_request()
                log(
                    f"round {number + 1} {name}: {result.rps:,.0f} req/s, "
                    f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                    f"CPU/request app {app_ms:.2f} ms, PostgreSQL {db_ms:.2f} ms"
                )
        for server in servers:
            server.stop()

        sql_counts = count_sql_statements(url)
        now = datetime.now(UTC)
        context = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "loadavg": loadavg,
            "code": code_version(),
        }
        report = render_report(args, rounds, sql_counts, sizes, body_sizes, context)
        report += "\n" + page_statement_timing(url)
        if args.profile > 0:
            log(f"profiling {args.profile} category pages")
            report += "\n" + profile_catalog(url, args.profile)
        print(report)
        figures = report_figures(rounds, sql_counts)
        write_report("catalog", "bench/catalog.py", argv, report, now, figures)
        return 0
    finally:
        clean_up(admin_url, servers=servers, databases=[url], workdir=workdir)


if __name__ == "__main__":
    run_script(main)
