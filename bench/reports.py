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

TARGET_SECONDS = 0.5
PREFIX = "RB"
# In-process apps on the bench database; one client logs in for the page: no limits.
APP_SETTINGS = {"PAVILION_ENV": "test", "RATE_LIMITS": "off"}

# ----------------------------------------------------------- the world

# Every pseudo-random choice is a hash of the order's serial number g (or of g and the
# line number n): the same world on every run, and no random() to seed.
H = "abs(hashtext('{salt}' || g::text)) % 1000"

WORLD_SQL = [
    # Orders: destination, currency, status, time.
    """
    CREATE TEMP TABLE bench_orders AS
    SELECT g,
           CASE WHEN d < 450 THEN 'CN' WHEN d < 750 THEN 'RU' WHEN d < 850 THEN 'KZ'
                WHEN d < 900 THEN 'BY' ELSE 'UZ' END AS destination,
           CASE WHEN s < 550 THEN 'delivered' WHEN s < 670 THEN 'shipped'
                WHEN s < 750 THEN 'paid' WHEN s < 780 THEN 'fulfilling'
                WHEN s < 810 THEN 'partially_refunded' WHEN s < 850 THEN 'refunded'
                WHEN s < 910 THEN 'cancelled' WHEN s < 960 THEN 'expired'
                ELSE 'pending_payment' END AS status,
           :now - (:span * g / :orders) - make_interval(secs => s) AS created_at,
           2 + (h % 97) AS ship_hours
    FROM (SELECT g, {d} AS d, {s} AS s, {h} AS h
          FROM generate_series(1, :orders) AS g) AS picked
    """.format(d=H.format(salt="dest"), s=H.format(salt="status"), h=H.format(salt="hours")),
    """
    INSERT INTO orders (number, status, currency, destination_country, token_hash, email,
        shipping_address, goods_total, shipping_total, duties_total, duties_status,
        grand_total, duties, exchange_rates, payment_adapter, payment_status, paid_amount,
        refunded_amount, placed_on, created_at, updated_at)
    SELECT :prefix || lpad(g::text, 8, '0'), status,
           CASE destination WHEN 'CN' THEN 'CNY' WHEN 'RU' THEN 'RUB' WHEN 'BY' THEN 'RUB'
                WHEN 'KZ' THEN 'KZT' ELSE 'USD' END,
           destination, '', 'bench@example.com', json_build_object('country', destination),
           0, 0, NULL,
           CASE WHEN destination = 'UZ' THEN 'unknown' ELSE 'estimated' END,
           0,
           json_build_object('policy', CASE
               WHEN destination = 'CN' THEN 'CN-CBEC'
               WHEN destination = 'UZ' THEN NULL
               WHEN created_at < '2026-07-01' THEN 'EAEU-2024-04'
               ELSE 'EAEU-2026-07' END),
           '[]', 'manual',
           CASE WHEN status IN ('pending_payment', 'expired') THEN 'pending'
                ELSE 'succeeded' END,
           0, 0, (created_at AT TIME ZONE 'UTC')::date, created_at, created_at
    FROM bench_orders ORDER BY g
    """,
    # Lines: distinct SKUs per order (a skewed start and a fixed stride), the SKU's
    # price converted to the order currency through CNY at the seeded rates.
    """
    INSERT INTO order_lines (order_id, sku_id, merchant_id, sku_code, product_name, quantity,
        unit_price_amount, unit_price_currency, hs_code, origin_country, weight_g)
    SELECT o.id, s.id, p.merchant_id, s.code, left(p.name_en, 300), 1 + (g * 7 + n) % 3,
           round(s.price_amount * sc.cny / oc.cny, 2), o.currency, p.hs_code,
           p.origin_country, s.weight_g
    FROM bench_orders b
    JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    CROSS JOIN LATERAL generate_series(1, 1 + abs(hashtext('lines' || g::text)) % 4) AS n
    JOIN bench_skus k ON k.position = (
        floor(:skus * power((abs(hashtext('sku' || g::text)) % 1000) / 1000.0, 2))::int
        + (n - 1) * 37) % :skus
    JOIN skus s ON s.id = k.sku_id
    JOIN products p ON p.id = s.product_id
    JOIN bench_cny sc ON sc.currency = s.price_currency
    JOIN bench_cny oc ON oc.currency = o.currency
    """,
    """
    UPDATE orders o SET goods_total = t.goods, shipping_total = 20,
        duties_total = CASE WHEN o.destination_country = 'UZ' THEN NULL
                            ELSE round(t.goods * 0.091, 2) END,
        grand_total = t.goods + 20 + CASE WHEN o.destination_country = 'UZ' THEN 0
                                          ELSE round(t.goods * 0.091, 2) END,
        paid_amount = CASE WHEN o.payment_status = 'succeeded'
                           THEN t.goods + 20 + round(t.goods * 0.091, 2) ELSE 0 END
    FROM (SELECT order_id, sum(quantity * unit_price_amount) AS goods
          FROM order_lines GROUP BY order_id) t
    WHERE t.order_id = o.id
    """,
    # One parcel per order at a node that serves the destination.
    """
    INSERT INTO shipments (order_id, order_number, node_id, lane_code, status, shipping_amount,
        duties_amount, currency, weight_g, last_error, shipped_at, created_at, updated_at)
    SELECT o.id, o.number, n.id, NULL,
           CASE b.status WHEN 'delivered' THEN 'delivered'
                WHEN 'shipped' THEN 'shipped' WHEN 'partially_refunded' THEN 'delivered'
                WHEN 'refunded' THEN 'returned' WHEN 'paid' THEN 'ready_to_pick'
                WHEN 'fulfilling' THEN 'picking' WHEN 'pending_payment' THEN 'awaiting_payment'
                ELSE 'cancelled' END,
           20, o.duties_total, o.currency, 500, '',
           CASE WHEN b.status IN ('delivered', 'shipped', 'partially_refunded', 'refunded')
                THEN b.created_at + interval '10 minutes' + make_interval(hours => b.ship_hours)
                END,
           b.created_at, b.created_at
    FROM bench_orders b
    JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    JOIN nodes n ON n.code = CASE
        WHEN b.destination = 'CN' THEN (ARRAY['CN-SFH', 'CN-URC', 'RU-USS'])[1 + b.g % 3]
        WHEN b.destination IN ('RU', 'BY') THEN 'RU-WH'
        WHEN b.destination = 'KZ' THEN (ARRAY['RU-WH', 'CN-URC'])[1 + b.g % 2]
        ELSE 'CN-URC' END
    """,
    """
    INSERT INTO shipment_lines (shipment_id, sku_id, quantity, reservation)
    SELECT s.id, l.sku_id, l.quantity,
           CASE WHEN s.shipped_at IS NOT NULL THEN 'consumed'
                WHEN s.status = 'cancelled' THEN 'released' ELSE 'held' END
    FROM shipments s JOIN order_lines l ON l.order_id = s.order_id
    JOIN orders o ON o.id = s.order_id WHERE o.number LIKE :prefix || '%'
    """,
    """
    INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, data,
        created_at)
    SELECT o.id, 'status', NULL, 'pending_payment', 'bench', 'order placed', '{}'::json,
           b.created_at
    FROM bench_orders b JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    UNION ALL
    SELECT o.id, 'status', 'pending_payment', 'paid', 'bench', 'paid', '{}'::json,
           b.created_at + interval '10 minutes'
    FROM bench_orders b JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    WHERE b.status NOT IN ('pending_payment', 'expired')
    UNION ALL
    SELECT s.order_id, 'status', 'paid', 'shipped', 'bench', 'parcel left', '{}'::json, s.shipped_at
    FROM shipments s JOIN orders o ON o.id = s.order_id
    WHERE s.shipped_at IS NOT NULL AND o.number LIKE :prefix || '%'
    """,
]


def build_world(orders: int, days: int) -> dict[str, Any]:
    """Write the orders (app context); returns what was written."""
    from sqlalchemy import text

    from shop.core.extensions import db

    session = db.session
    # CNY per unit of each currency the seeded rates reach, newest rate first.
    session.execute(
        text(
            "CREATE TEMP TABLE bench_cny AS SELECT DISTINCT ON (currency) currency, cny FROM ("
            " SELECT 'CNY' AS currency, 1::numeric AS cny, DATE '9999-12-31' AS effective_on"
            " UNION ALL SELECT base_currency, rate, effective_on FROM exchange_rates"
            " WHERE quote_currency = 'CNY'"
            " UNION ALL SELECT quote_currency, 1 / rate, effective_on FROM exchange_rates"
            " WHERE base_currency = 'CNY') r ORDER BY currency, effective_on DESC"
        )
    )
    session.execute(
        text(
            "CREATE TEMP TABLE bench_skus AS SELECT row_number() OVER (ORDER BY s.id) - 1 "
            "AS position, s.id AS sku_id FROM skus s JOIN products p ON p.id = s.product_id "
            "JOIN bench_cny c ON c.currency = s.price_currency "
            "WHERE s.is_active AND p.is_active AND s.deleted_at IS NULL"
        )
    )
    skus = session.scalar(text("SELECT count(*) FROM bench_skus"))
    params = {
        "orders": orders,
        "now": datetime.now(UTC),
        "span": timedelta(days=days),
        "prefix": PREFIX,
        "skus": skus,
    }
    for statement in WORLD_SQL:
        started = time.perf_counter()
        session.execute(text(statement), params)
        log(f"{' '.join(statement.split())[:60]}… {time.perf_counter() - started:.1f} s")
    session.commit()
    counts = {
        table: session.scalar(text(f"SELECT count(*) FROM {table}"))
        for table in ("orders", "order_lines", "shipments", "shipment_lines", "order_events",
                      "stock_levels", "skus")
    }  # fmt: skip
    session.rollback()
    return {"skus_sold": skus, **counts}


def vacuum(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


# ----------------------------------------------------------- measured calls

REPORTS: list[tuple[str, str, dict[str, Any]]] = [
    ("sales by day", "sales_report", {"by": "day"}),
    ("sales by category", "sales_report", {"by": "category"}),
    ("sales by origin", "sales_report", {"by": "origin"}),
    ("sales by destination", "sales_report", {"by": "destination"}),
    ("sales by node", "sales_report", {"by": "node"}),
    ("duties by regime", "duties_report", {}),
    ("orders by state", "orders_by_state_report", {}),
    ("fulfilment time", "fulfilment_time_report", {}),
    ("stock cover", "stock_cover_report", {}),
    ("top SKUs", "skus_report", {"kind": "top", "limit": 10}),
    ("slow SKUs", "skus_report", {"kind": "slow", "limit": 10}),
]
MONEY_REPORTS = {"sales_report", "duties_report", "orders_by_state_report", "skus_report"}
API_PATHS = {
    "sales by day": "/sales?by=day",
    "sales by category": "/sales?by=category",
    "sales by origin": "/sales?by=origin",
    "sales by destination": "/sales?by=destination",
    "sales by node": "/sales?by=node",
    "duties by regime": "/duties",
    "orders by state": "/orders-by-state",
    "fulfilment time": "/fulfilment-time",
    "stock cover": "/stock-cover",
    "top SKUs": "/skus?kind=top",
    "slow SKUs": "/skus?kind=slow",
}


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


# ---------------------------------------------------------------- report


def _median(values: list[float]) -> float:
    return statistics.median(values)


def render_report(args: argparse.Namespace, world: dict[str, Any], info: dict[str, Any],
                  context: dict[str, str]) -> str:  # fmt: skip
    times, first, counts = info["times"], info["first"], info["counts"]
    m = {name: _median(values) * 1000 for name, values in times.items()}

    def spread(name: str) -> str:
        return f"{min(times[name]) * 1000:.0f}–{max(times[name]) * 1000:.0f}"

    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; PostgreSQL "
        f"{context['postgres']}; 1-min load average before the run {context['loadavg']}. "
        f"{args.rounds} round(s), medians in ms, after one warm-up call of each.",
        "",
        f"World: {world['orders']:,} orders over the last {args.days} days, "
        f"{world['order_lines']:,} order lines, {world['shipments']:,} shipments "
        f"({world['shipment_lines']:,} lines), {world['order_events']:,} history rows, "
        f"{world['skus']:,} SKUs, {world['stock_levels']:,} stock levels.",
        "",
        "| target | range | median ms | min–max ms | × bare aggregate | × bare line join "
        "| first call ms "
        "| SQL statements | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    count_name = "count(*) FROM orders"
    lines.append(
        f"| baseline: `SELECT count(*) FROM orders` | all | {m[count_name]:.1f} | "
        f"{spread(count_name)} | – | – | {first[count_name] * 1000:.1f} | 1 | "
        f"{info['rows'][count_name]} |"
    )
    for label in info["ranges"]:
        bare, join = f"bare aggregate, {label}", f"bare line join, {label}"
        lines.append(
            f"| baseline: one `GROUP BY currency` aggregate of the range's orders | {label} | "
            f"{m[bare]:.1f} | {spread(bare)} | 1.0× | – | {first[bare] * 1000:.1f} | 1 | "
            f"{info['rows'][bare]} orders |"
        )
        lines.append(
            f"| baseline: the range's sold orders joined to their lines, counted | {label} | "
            f"{m[join]:.1f} | {spread(join)} | {m[join] / m[bare]:.1f}× | 1.0× | "
            f"{first[join] * 1000:.1f} | 1 | {info['rows'][join]} lines |"
        )
        for name, _, _ in REPORTS:
            key = f"{name}, {label}"
            lines.append(
                f"| {name} | {label} | {m[key]:.1f} | {spread(key)} | "
                f"{m[key] / m[bare]:.1f}× | {m[key] / m[join]:.1f}× | {first[key] * 1000:.1f} "
                f"| {counts[key]} | {info['rows'][key]} |"
            )
    lines += ["", "Through HTTP in-process (Flask test client, operator token or login; "
              "default range, 28 days):", "", "| request | median ms | min–max ms |",
              "|---|---:|---:|"]  # fmt: skip
    for name, values in info["http"].items():
        lines.append(
            f"| `{name}` | {_median(values) * 1000:.1f} | "
            f"{min(values) * 1000:.0f}–{max(values) * 1000:.0f} |"
        )
    lines.append("")
    slowest = max((k for k in m if not k.startswith(("bare", "count"))), key=lambda k: m[k])
    over = [k for k in m if not k.startswith(("bare", "count")) and m[k] > TARGET_SECONDS * 1000]
    lines.append(
        f"- Each report under {TARGET_SECONDS * 1000:.0f} ms on PostgreSQL: "
        + ("met" if not over else "NOT met for " + ", ".join(over))
        + f" (slowest: {slowest}, {m[slowest]:.1f} ms)."
    )
    for name, plans in info["plans"].items():
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS) of `{name}`:", ""]
        for plan in plans:
            lines += ["```", plan, "```", ""]
    return "\n".join(lines) + "\n"


def figures(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Each report's median per range, against the bare line join of that range, for
    ``python -m bench``'s summary."""
    from benchkit import figure

    medians = {name: _median(values) * 1000 for name, values in info["times"].items()}
    found = []
    for label in info["ranges"]:
        join = medians[f"bare line join, {label}"]
        for name, _, _ in REPORTS:
            value = medians[f"{name}, {label}"]
            found.append(figure(f"report ms: {name}, {label} (× bare line join)", value,
                                baseline=join, target=f"< {TARGET_SECONDS * 1000:.0f} ms",
                                met=value < TARGET_SECONDS * 1000))  # fmt: skip
    return found


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
