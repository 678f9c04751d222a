"""The checkout benchmark's report and the figures ``python -m bench`` summarises."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from benchkit import figure

from placing_orders.runs import CheckoutRun, PgbenchRun, percentile
from placing_orders.statements import COLD, PHASE_NAMES, StatementCount, statement_shape
from placing_orders.world import NODE, ORDERS_PATH

TARGET_RATIO = 0.25
TARGET_P95_MS = 150.0
TARGET_STATEMENTS = 25


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
