"""Checkout throughput of one shop instance against two, on one PostgreSQL database and
one Redis, next to pgbench in the same run.

Usage (from the repository root)::

    .venv/bin/python bench/scale.py [--duration 20] [--rounds 3] [--clients 16]
                                    [--workers 4] [--skus 24] [--scale 16] [--warmup 3]

Method, all in one invocation so that every figure comes from the same machine state:

1. A fresh ``pavilion_bench_<random>`` database, migrated and seeded as an operator
   does, SKUs stocked at RU-WH raised by 1,000,000 with their ledger rows: exactly as
   ``bench/checkout.py`` (its helpers are imported, not copied).
2. The shop as production runs it on several machines, here all on this one
   (``tests/shop_cluster.py``, the module the multi-instance test starts it with):
   two gunicorn instances of ``wsgi:app`` (``--workers`` sync workers each, the
   production gunicorn config) on two loopback ports, one Celery worker and one beat
   of ``wsgi:celery_app``; one environment for all (PAVILION_ENV=production, one
   SECRET_KEY, the database, Redis at BENCH_REDIS_URL, default
   ``redis://127.0.0.1:6379/13``, on a queue of the run's own; rate limits off: every
   client is 127.0.0.1).
3. Three targets, each warmed up for ``--warmup`` s, then ``--rounds`` timed runs of
   ``--duration`` s taking turns (one, two, pgbench; then two, pgbench, one; ...):

   - **one instance**: ``--clients`` threads POST ``/api/v1/orders`` to instance A
     only (B is up and idle), the load generator of ``bench/checkout.py``;
   - **two instances**: the same ``--clients``, half on A, half on B;
   - **pgbench** (the baseline): TPC-B-like, ``-c --clients -j 2``, in a second
     throwaway database of the same server, initialised with ``-s --scale``.

   Orders/s counts 201s; p95 is over every request of a target's rounds.
4. Around each checkout run the script reads from /proc the CPU time of each
   gunicorn (master and workers), of the Celery worker and beat, of the PostgreSQL
   backends connected to the bench database, and its own (the load generator), and
   the machine's busy share; each is reported in cores (CPU seconds per second of
   the run), so that the limiting resource is measured, not guessed, with CPU ms per
   order and orders per CPU-second of the shop's own processes (what a second
   instance would raise if it added capacity rather than a larger share of a busy
   machine).
5. After the load, orders in the database must equal the 201s, every order one
   RU-WH shipment, every stock level the sum of its ledger rows.

The report (markdown) is printed and written to ``bench/results/scale-<time>.md``
(figures beside it as JSON for ``python -m bench``). Every process is stopped and
both databases dropped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import tempfile
import threading
from collections import Counter
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
from bench_processes import log, proc_stat
from benchkit import clean_up, code_version, figure, machine_description, run_script, write_report
from placing_orders.load import (
    PGBENCH,
    children_cpu_s,
    pgbench_init,
    run_checkout_load,
    run_pgbench,
)
from placing_orders.runs import CheckoutRun, PgbenchRun, busy_share, machine_jiffies, percentile
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

from tests.shop_cluster import ShopCluster, shop_cluster

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
TARGETS = ("one", "two", "pgbench")
LABELS = {"one": "one instance", "two": "two instances", "pgbench": "pgbench"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per target, in turns")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, every target")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per instance")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--skus", type=int, default=24, help="SKUs the orders rotate over")
    parser.add_argument("--scale", type=int, default=16, help="pgbench -i scale factor")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- CPU, from /proc


def cpu_by_role(cluster: ShopCluster, database: str) -> dict[str, float]:
    """CPU seconds so far of each gunicorn (master and workers), the Celery processes,
    the PostgreSQL backends of ``database`` and this process (the load generator)."""
    roots = {p.pid: p.name for p in cluster.instances}
    roots.update({p.pid: "celery" for p in [*cluster.workers, *cluster.beats]})
    used: Counter[str] = Counter()
    tag = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is None:
            continue
        parent, seconds = stat
        role = roots.get(int(entry.name)) or roots.get(parent)
        if role is not None:
            used[role] += seconds
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if cmdline.startswith(b"postgres:") and tag in cmdline:
                used["postgres"] += seconds
    own = os.times()
    used["load generator"] = own.user + own.system
    return dict(used)


# ---------------------------------------------------------------- the load


def load_both(urls: list[str], bodies: list[bytes], seconds: float, clients: int) -> CheckoutRun:
    """``clients`` split over ``urls`` (each its own load generator threads), one run."""
    runs: list[CheckoutRun] = [None] * len(urls)  # type: ignore[list-item]
    shares = [clients // len(urls) + (i < clients % len(urls)) for i in range(len(urls))]

    def one(index: int) -> None:
        runs[index] = run_checkout_load(urls[index], bodies, seconds, shares[index])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return CheckoutRun(
        seconds=max(r.seconds for r in runs),
        latencies_ms=[x for r in runs for x in r.latencies_ms],
        statuses=sum((r.statuses for r in runs), Counter()),
        socket_errors=sum(r.socket_errors for r in runs),
        samples=[s for r in runs for s in r.samples],
    )


def timed_checkout(
    cluster: ShopCluster, urls: list[str], bodies: list[bytes], args, database: str
) -> tuple[CheckoutRun, dict[str, float]]:
    machine_before = machine_jiffies()
    before = cpu_by_role(cluster, database)
    run = load_both(urls, bodies, args.duration, args.clients)
    after = cpu_by_role(cluster, database)
    run.busy = busy_share(machine_before, machine_jiffies())
    cores = {role: (after.get(role, 0.0) - before.get(role, 0.0)) / run.seconds for role in after}
    return run, cores


# ---------------------------------------------------------------- report


def _ms(value: float) -> str:
    return "–" if value != value else f"{value:.1f}"


def render_report(
    args: argparse.Namespace,
    checkout: dict[str, list[tuple[CheckoutRun, dict[str, float]]]],
    pgbench: list[PgbenchRun],
    checks: dict[str, int],
    http_201: int,
    skus: list[str],
    context: dict[str, str],
) -> tuple[str, list[dict[str, Any]]]:
    tps = sum(r.tps * r.seconds for r in pgbench) / sum(r.seconds for r in pgbench)
    pg_p95 = percentile(sorted(x for r in pgbench for x in r.latencies_ms), 95)
    summary: dict[str, dict[str, Any]] = {}
    for target, runs in checkout.items():
        seconds = sum(r.seconds for r, _ in runs)
        roles: Counter[str] = Counter()
        for run, cores in runs:
            for role, share in cores.items():
                roles[role] += share * run.seconds / seconds
        summary[target] = {
            "rate": sum(r.orders for r, _ in runs) / seconds,
            "p95": percentile(sorted(x for r, _ in runs for x in r.latencies_ms), 95),
            "p50": percentile(sorted(x for r, _ in runs for x in r.latencies_ms), 50),
            "non_201": sum(r.non_201 for r, _ in runs),
            "socket_errors": sum(r.socket_errors for r, _ in runs),
            "busy": sum(r.busy for r, _ in runs) / len(runs),
            "rounds": ", ".join(f"{r.rate:,.1f}" for r, _ in runs),
            "cores": roles,
            "samples": [s for r, _ in runs for s in r.samples][:3],
        }
    one, two = summary["one"], summary["two"]
    gain = two["rate"] / one["rate"] if one["rate"] else float("nan")
    app_two = sum(v for k, v in two["cores"].items() if k.startswith("web-"))
    db_two = two["cores"].get("postgres", 0.0)
    limiting = "CPU: the gunicorn workers" if app_two >= db_two else "CPU: PostgreSQL"
    shop_roles = ("web-a", "web-b", "celery", "postgres")
    for s in summary.values():
        # Cores the shop's own processes used, and orders per second of their CPU: the
        # figure a second instance would raise if it added capacity, not just a share.
        s["shop_cores"] = sum(s["cores"].get(role, 0.0) for role in shop_roles)
        s["per_cpu_s"] = s["rate"] / s["shop_cores"] if s["shop_cores"] else float("nan")
        web = s["cores"].get("web-a", 0.0) + s["cores"].get("web-b", 0.0)
        each = 1000 / s["rate"] if s["rate"] else float("nan")
        s["ms_each"] = (web * each, s["cores"].get("celery", 0.0) * each,
                        s["cores"].get("postgres", 0.0) * each)  # fmt: skip
    cpus = os.cpu_count() or 1
    lines = [
        "## One shop instance against two (bench/scale.py)",
        "",
        f"- {context['date']}, {context['machine']}, PostgreSQL {context['postgres']} "
        f"({context['settings']}); {context['code']}",
        f"- load average when the load started: {context['loadavg']} (other work on the "
        "machine shows in it; figures are noisy)",
        f"- {args.rounds} timed runs of {args.duration:g} s per target, in turns, after "
        f"{args.warmup:g} s of warm-up each; {args.clients} clients; {args.workers} sync "
        f"gunicorn workers per instance; one Celery worker and one beat running; "
        f"{len(skus)} SKUs at {NODE} (stock raised by {STOCK_BUMP:,})",
        "",
        "| target | orders/s (tps) | rounds | p50 ms | p95 ms | non-201 | vs pgbench |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for target in ("one", "two"):
        s = summary[target]
        lines.append(
            f"| {LABELS[target]} | {s['rate']:,.1f} | {s['rounds']} | {_ms(s['p50'])} | "
            f"{_ms(s['p95'])} | {s['non_201']} (+{s['socket_errors']} socket errors) | "
            f"{s['rate'] / tps:.3f} |"
        )
    lines += [
        f"| pgbench (baseline) | {tps:,.0f} | {', '.join(f'{r.tps:,.0f}' for r in pgbench)} "
        f"| – | {_ms(pg_p95)} | {sum(r.failed for r in pgbench)} failed | 1 |",
        "",
        f"Two instances / one: **{gain:.2f}×** orders/s; orders per CPU-second of the shop's "
        f"own processes (gunicorn, Celery, the database's backends): one instance "
        f"{one['per_cpu_s']:.1f} ({one['shop_cores']:.2f} cores), two "
        f"{two['per_cpu_s']:.1f} ({two['shop_cores']:.2f} cores). CPU ms per order, "
        "gunicorn + Celery + PostgreSQL: "
        + "; ".join(
            f"{LABELS[t]} " + " + ".join(f"{ms:.1f}" for ms in summary[t]["ms_each"])
            for t in ("one", "two")
        )
        + ".",
        "",
        f"CPU in use during the checkout runs, in cores (of {cpus}), averaged over the runs:",
        "",
        "| target | machine busy | " + " | ".join(
            ["gunicorn A", "gunicorn B", "Celery", "PostgreSQL (bench db)", "load generator",
             "anything else"]
        ) + " |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    roles = ("web-a", "web-b", "celery", "postgres", "load generator")
    for target in ("one", "two"):
        c = summary[target]["cores"]
        # The machine's busy cores less this run's processes: other work on the machine,
        # PostgreSQL's own background processes and the kernel.
        rest = summary[target]["busy"] * cpus - sum(c.get(role, 0.0) for role in roles)
        lines.append(
            f"| {LABELS[target]} | {summary[target]['busy']:.0%} | "
            + " | ".join(f"{c.get(role, 0.0):.2f}" for role in roles)
            + f" | {rest:.2f} |"
        )
    lines += [
        "",
        f"Limiting resource: {limiting} ({app_two:.2f} cores in gunicorn, {db_two:.2f} in "
        f"PostgreSQL, with the machine {two['busy']:.0%} busy). "
        + (
            f"On {cpus} cores a second instance adds processes, not CPU: orders/s are "
            "expected flat once one instance has enough workers to fill the cores, and a "
            "gain in orders/s without one in orders per shop CPU-second is a larger share "
            "of a machine that other work is using too."
            if cpus <= 2
            else "A second instance on the same machine shares its cores."
        ),
        "",
        f"Integrity: {checks['orders']:,} orders for {http_201:,} answers 201; "
        f"{checks['not_single_ru_wh']} orders not one RU-WH shipment; "
        f"{checks['ledger_mismatches']} stock levels off their ledger.",
    ]
    samples = one["samples"] + two["samples"]
    if samples:
        lines += ["", "Non-201 samples:", *[f"- {status}: {body}" for status, body in samples]]
    figures = [
        figure("scale: orders/s, one instance", one["rate"], baseline=tps),
        figure("scale: orders/s, two instances", two["rate"], baseline=tps),
        figure("scale: two instances / one (orders/s)", two["rate"], baseline=one["rate"]),
        figure(
            "scale: orders per shop CPU-second, two instances (one)",
            two["per_cpu_s"],
            baseline=one["per_cpu_s"],
        ),
        figure("scale: p95 ms, one instance", one["p95"], baseline=pg_p95),
        figure("scale: p95 ms, two instances", two["p95"], baseline=pg_p95),
        figure(
            "scale: orders match 201s, one RU-WH shipment each, ledger",
            checks["orders"],
            baseline=http_201,
            target="equal, 0 and 0",
            met=checks["orders"] == http_201
            and checks["not_single_ru_wh"] == 0
            and checks["ledger_mismatches"] == 0,
        ),
    ]
    return "\n".join(lines) + "\n", figures


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PGBENCH.exists():
        raise SystemExit(f"{PGBENCH} is missing (apt-get install postgresql-client)")
    import redis

    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    urls: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-bench-scale-"))
    queue = f"pavilion-bench-{secrets.token_hex(4)}"
    try:
        url = create_database(admin_url)
        urls.append(url)
        pgbench_url = create_database(admin_url)
        urls.append(pgbench_url)
        database = url.rsplit("/", 1)[1]
        log(f"databases {database} (shop), {pgbench_url.rsplit('/', 1)[1]} (pgbench)")
        env = production_env(url, workdir)
        env.update({"CELERY_BROKER_URL": redis_url, "PAVILION_CELERY_QUEUE": queue})
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        picked = pick_skus(url, args.skus)
        log(f"{bump_stock(url, [i for i, _ in picked])} stock levels at {NODE} raised")
        log(f"pgbench -i -s {args.scale}")
        pgbench_init(pgbench_url, args.scale)

        with shop_cluster(env, workdir / "cluster", web_workers=args.workers) as cluster:
            a, b = cluster.urls
            log(f"instances {a} and {b}, a Celery worker and beat")
            skus, dropped = check_skus(a, [code for _, code in picked])
            if not skus:
                raise RuntimeError(f"no SKU could be checked out: {dropped}")
            http_201 = len(skus)
            bodies = [json.dumps(order_body([code])).encode() for code in skus]
            loadavg = f"{os.getloadavg()[0]:.2f}"
            targets = {"one": [a], "two": [a, b]}
            log(f"warm-up {args.warmup:g} s each")
            for target_urls in targets.values():
                http_201 += load_both(target_urls, bodies, args.warmup, args.clients).orders
            run_pgbench(pgbench_url, args.warmup, args.clients, workdir)

            checkout: dict[str, list[tuple[CheckoutRun, dict[str, float]]]] = {
                "one": [], "two": [],
            }  # fmt: skip
            pgbench: list[PgbenchRun] = []
            for number in range(args.rounds):
                shift = number % len(TARGETS)
                for target in TARGETS[shift:] + TARGETS[:shift]:
                    if target == "pgbench":
                        machine_before = machine_jiffies()
                        cpu_before = children_cpu_s()
                        result = run_pgbench(pgbench_url, args.duration, args.clients, workdir)
                        result.client_cpu_s = children_cpu_s() - cpu_before
                        result.busy = busy_share(machine_before, machine_jiffies())
                        pgbench.append(result)
                        log(f"round {number + 1} pgbench: {result.tps:,.0f} tps")
                        continue
                    run, cores = timed_checkout(cluster, targets[target], bodies, args, database)
                    checkout[target].append((run, cores))
                    http_201 += run.orders
                    log(
                        f"round {number + 1} {LABELS[target]}: {run.rate:,.1f} orders/s, "
                        f"p95 {percentile(sorted(run.latencies_ms), 95):.1f} ms, "
                        f"non-201 {run.non_201}, machine busy {run.busy:.0%}, cores "
                        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items()))
                    )
        checks = integrity(url)
        now = datetime.now(UTC)
        context = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "settings": server_settings(url),
            "loadavg": loadavg,
            "code": code_version(),
        }
        report, figures = render_report(args, checkout, pgbench, checks, http_201, skus, context)
        print(report)
        write_report("scale", "bench/scale.py", argv, report, now, figures)
        return 0
    finally:
        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
            client.close()
        clean_up(admin_url, databases=urls, workdir=workdir)


if __name__ == "__main__":
    run_script(main)
