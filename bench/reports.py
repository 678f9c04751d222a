"""Operators' reports on PostgreSQL over 100,000 orders, next to bare aggregates
measured in the same run.

Usage (from the repository root)::

    .venv/bin/python bench/reports.py [--orders 100000] [--days 365] [--rounds 5]
                                      [--explain]

Method, all in one invocation and one process:

1. A fresh database ``pavilion_bench_<random>`` on the server of BENCH_POSTGRES_URL
   (default ``postgresql+psycopg://127.0.0.1:5432/postgres``), migrated with
   ``flask --app wsgi db upgrade`` and seeded with ``flask --app wsgi seed``
   (subprocesses, as bench/catalog.py does; its helpers are imported).
2. ``--orders`` orders written by a handful of ``INSERT … SELECT … FROM
   generate_series`` statements (no ORM, no row crosses into Python), placed
   evenly over the last ``--days`` days up to now, deterministic (hash of the
   order number, no ``random()``):
   - destinations CN 45 %, RU 30 %, KZ 10 %, BY 5 %, UZ 10 %; currencies CNY,
     RUB, USD, KZT by destination; duty regimes as checkout stores them
     (``duties.policy`` CN-CBEC, EAEU-2024-04 before 2026-07-01 and
     EAEU-2026-07 from then, none for UZ with ``duties_total`` NULL);
   - statuses: 55 % delivered, 12 % shipped, 8 % paid, 3 % fulfilling, 3 %
     partially refunded, 4 % refunded, 6 % cancelled, 5 % expired, 4 %
     pending_payment (the newest days hold most unshipped ones in real life;
     here they are spread evenly, which makes no report cheaper);
   - 1 to 4 lines each (2.5 on average) of distinct seeded SKUs with a skewed
     popularity (SKUs priced in a currency the seeded rates reach), 1 to 3 units,
     the SKU's price converted to the order currency through CNY at those rates;
     ``goods_total``/``grand_total`` add up;
   - one shipment per order at a node that serves the destination, with its
     lines, and ``shipped_at`` 2 to 98 hours after payment for parcels that
     left;
   - history rows (``order_events``): placed, paid (for every order that was),
     shipped.
   Then ``VACUUM ANALYZE``.
3. Each report function of ``orders.reports`` is called in-process (an app from
   ``create_app`` on the bench database, an app context) for two ranges: the
   default (the last 28 days) and the longest (366 days: every order). Every
   call includes its conversion to CNY and the rates' read. Baselines in the
   same rounds: ``SELECT count(*) FROM orders`` and a bare one-statement
   aggregate of the same range (``SELECT currency, count(*), sum(grand_total)
   FROM orders WHERE created_at in range GROUP BY currency``), through the
   same session. ``--rounds`` rounds after one warm-up, targets and baselines
   taking turns; medians and spread.
4. Over HTTP in-process: each ``/api/v1/admin/reports/…`` endpoint for the
   default range through Flask's test client with an operator's token (auth,
   parsing, JSON included), and the whole ``/admin/reports/`` page (eleven
   reports, their charts and tables) logged in.
5. SQL statements per report are counted (``tests.sql_count``). A report
   whose median is over 500 ms — or every report with ``--explain`` — gets the
   ``EXPLAIN (ANALYZE, BUFFERS)`` of each of its statements in the report.

The results table (markdown) is printed and written to
``bench/results/reports-<timestamp>.md``. The database is dropped on the way
out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_database import (
    DEFAULT_ADMIN_URL,
    create_database,
    migrate_and_seed,
    postgres_version,
    production_env,
)
from bench_processes import log
from benchkit import clean_up, code_version, machine_description, run_script, write_report
from operator_reports.measured import API_PATHS, MONEY_REPORTS, REPORTS
from operator_reports.report import TARGET_SECONDS, figures, render_report
from operator_reports.world import build_world, vacuum

# In-process apps on the bench database; one client logs in for the page: no limits.
APP_SETTINGS = {"PAVILION_ENV": "test", "RATE_LIMITS": "off"}


# ----------------------------------------------------------- measured calls


def report_call(name: str, period: Any) -> Callable[[], Any]:
    from catalog.services import load_rate_table, today_utc
    from orders import reports

    function_name, kwargs = next((f, k) for n, f, k in REPORTS if n == name)
    function = getattr(reports, function_name)

    def call() -> Any:
        extra = dict(kwargs)
        if function_name in MONEY_REPORTS:
            today = today_utc()
            extra.update(currency="CNY", rates=load_rate_table(today), rates_on=today)
        return function(period, **extra)

    return call


def bare_count() -> int:
    from sqlalchemy import text

    from shop.core.extensions import db

    value = db.session.scalar(text("SELECT count(*) FROM orders"))
    db.session.rollback()
    return value


def bare_aggregate(period: Any) -> int:
    from sqlalchemy import text

    from shop.core.extensions import db

    first, after = period.bounds()
    rows = db.session.execute(
        text(
            "SELECT currency, count(*), sum(grand_total) FROM orders "
            "WHERE created_at >= :first AND created_at < :after GROUP BY currency"
        ),
        {"first": first, "after": after},
    ).all()
    db.session.rollback()
    return sum(row[1] for row in rows)


def bare_line_join(period: Any) -> int:
    """The floor of every report over order lines: the range's sold orders joined to
    their lines and summed, one statement, no grouping, no conversion."""
    from sqlalchemy import text

    from orders.reports import SOLD_STATUSES
    from shop.core.extensions import db

    first, after = period.bounds()
    value = db.session.scalar(
        text(
            "SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id "
            "WHERE o.created_at >= :first AND o.created_at < :after "
            "AND o.status = ANY(:sold)"
        ),
        {"first": first, "after": after, "sold": list(SOLD_STATUSES)},
    )
    db.session.rollback()
    return value


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def explain(call: Callable[[], Any]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement ``call`` sends, with its parameters."""
    from sqlalchemy import event

    from shop.core.extensions import db

    captured: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    plans = []
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in captured:
            if statement.lstrip().upper().startswith("SET"):
                cursor.execute(statement, parameters)  # the report's own settings
                continue
            if "FROM exchange_rates" in statement or not statement.lstrip().startswith("SELECT"):
                continue  # the rate table: a dozen rows
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            plans.append(f"{' '.join(statement.split())[:300]}\n\n{plan}")
        raw.rollback()
    finally:
        raw.close()
    return plans


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from catalog.services import today_utc
    from orders.reports import MAX_DAYS, report_range
    from shop import create_app
    from shop.core.extensions import db
    from tests.sql_count import count_statements

    today = today_utc()
    ranges = {
        "28 days": report_range(None, None, today),
        f"{MAX_DAYS} days": report_range(today - timedelta(days=MAX_DAYS - 1), today, today),
    }
    times: dict[str, list[float]] = {}
    first: dict[str, float] = {}
    info: dict[str, Any] = {"ranges": ranges, "counts": {}, "plans": {}, "rows": {}}
    app = create_app(APP_SETTINGS | {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        try:
            for number in range(args.rounds + 1):
                warmup = number == 0
                targets: list[tuple[str, Callable[[], Any]]] = [("count(*) FROM orders",
                                                                 bare_count)]  # fmt: skip
                for label, period in ranges.items():
                    targets.append((f"bare aggregate, {label}",
                                    lambda p=period: bare_aggregate(p)))  # fmt: skip
                    targets.append((f"bare line join, {label}",
                                    lambda p=period: bare_line_join(p)))  # fmt: skip
                    targets += [(f"{name}, {label}", report_call(name, period))
                                for name, _, _ in REPORTS]  # fmt: skip
                if number % 2 == 0:
                    targets.reverse()
                for name, call in targets:
                    seconds, result = timed(call)
                    if warmup:
                        first[name] = seconds
                    else:
                        times.setdefault(name, []).append(seconds)
                    info["rows"][name] = _size(result)
                log(f"{'warm-up' if warmup else f'round {number}'} done")
            for label, period in ranges.items():
                for name, _, _ in REPORTS:
                    with count_statements(db.engine) as statements:
                        report_call(name, period)()
                    info["counts"][f"{name}, {label}"] = len(statements)
            for name in list(times):
                if name.startswith(("bare", "count")):
                    continue
                if args.explain or statistics.median(times[name]) > TARGET_SECONDS:
                    report_name, label = name.rsplit(", ", 1)
                    info["plans"][name] = explain(report_call(report_name, ranges[label]))
            info["http"] = measure_http(app, args.rounds)
        finally:
            db.session.remove()
            db.engine.dispose()
    info["times"], info["first"] = times, first
    return info


def measure_http(app: Any, rounds: int) -> dict[str, list[float]]:
    """Each endpoint (default range) and the whole page, through Flask's test client."""
    import re as regex

    from shop.core.extensions import db
    from warehouse.services import create_staff

    staff = create_staff(f"bench-{secrets.token_hex(3)}@example.com", None, "operator")
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {staff.token}"}
    page_client = app.test_client()
    login = page_client.get("/warehouse/login").get_data(as_text=True)
    csrf = regex.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    logged = page_client.post("/warehouse/login", data={"csrf_token": csrf,
                              "email": staff.email, "password": staff.password})  # fmt: skip
    if logged.status_code != 303:
        raise RuntimeError(f"login failed: {logged.status_code}")
    results: dict[str, list[float]] = {}
    for number in range(rounds + 1):
        for path in API_PATHS.values():
            seconds, response = timed(
                lambda p=path: client.get(f"/api/v1/admin/reports{p}", headers=headers)
            )
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.data[:300]!r}")
            if number:
                results.setdefault(f"GET …/reports{path}", []).append(seconds)
        seconds, response = timed(lambda: page_client.get("/admin/reports/"))
        if response.status_code != 200:
            raise RuntimeError(f"page: {response.status_code}")
        if number:
            results.setdefault("GET /admin/reports/ (page: 11 reports, charts)", []).append(seconds)
    return results


def _size(result: Any) -> str:
    if isinstance(result, dict):
        rows = result.get("rows", [])
        total = result.get("totals", {})
        orders = total.get("orders") if isinstance(total, dict) else None
        return f"{len(rows)} rows" + (f", {orders:,} orders" if orders is not None else "")
    return f"{result:,}" if isinstance(result, int) else ""


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders to write")
    parser.add_argument("--days", type=int, default=365, help="spread over this many days")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds, after a warm-up")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN every report")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.days < 1:
        parser.error("--orders and --days: at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    url = None
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-bench-"))
    try:
        url = create_database(admin_url)
        log(f"database {url.rsplit('/', 1)[1]}")
        env = production_env(url, workdir)
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        from shop import create_app
        from shop.core.extensions import db

        app = create_app(APP_SETTINGS | {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            try:
                started = time.perf_counter()
                world = build_world(args.orders, args.days)
            finally:
                db.session.remove()
                db.engine.dispose()
        vacuum(url)
        log(f"world built in {time.perf_counter() - started:.1f} s: {world}")
        loadavg = f"{os.getloadavg()[0]:.2f}"
        info = measure(url, args)
        now = datetime.now(UTC)
        context = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "loadavg": loadavg,
            "code": code_version(),
        }
        report = render_report(args, world, info, context)
        print(report)
        write_report("reports", "bench/reports.py", argv, report, now, figures(info))
        return 0
    finally:
        clean_up(admin_url, databases=[url], workdir=workdir)


if __name__ == "__main__":
    run_script(main)
