"""Soak run: minutes of mixed traffic on PostgreSQL, with throughput, latency and the
gunicorn workers' memory sampled over time.

Usage (from the repository root)::

    .venv/bin/python bench/soak.py [--minutes 10] [--warmup 30] [--sample-seconds 10]
                                   [--clients 8] [--workers 4] [--seed 20261201]

Method:

1. A fresh database ``pavilion_bench_<random>`` on the server of BENCH_POSTGRES_URL
   (default ``postgresql+psycopg://127.0.0.1:5432/postgres``), migrated and seeded
   with the demo pavilion by ``flask db upgrade`` and ``flask seed`` (subprocesses,
   production mode), as bench/catalog.py does. In-process, with the shop's own
   services: a merchant "Soak LLC" (its uploads), an API token for each demo merchant
   whose SKUs are bought (their restocks) and an operator (mark-paid, pick lists).
2. The shop runs under gunicorn (``wsgi:app``, ``--workers`` sync workers,
   PAVILION_ENV=production). Before the clock starts, each stocked SKU is ordered
   once to Russia and once to China over HTTP; the ones answering 201 are what the
   shoppers buy there, and every stock level they ship from is raised through the
   merchant API.
3. Traffic: ``--clients`` threads, each with its own random generator (``--seed``
   plus its number), choosing per step: catalog API (``/api/v1/products`` with
   filters, product pages, categories), storefront pages (``/``, ``/c/<slug>``,
   ``/search?q=``, ``/p/<id>``), checkout (``POST /api/v1/orders``, manual payment,
   to Moscow in RUB or to Qingdao in CNY with a valid and new PRC ID each time), a
   cart (made, a line added, quoted, checked out two times in three) and a merchant
   upload (20 rows, CSV or JSON, from a pool of 200 SKUs, some prices changed).
   A back-office thread, every 15 s: the operator marks up to 10 new orders paid,
   makes a pick list at each node that has ready shipments and fetches it as JSON
   and as PDF; every 20 s each bought SKU whose availability fell under 150 at a
   node is restocked there with the merchant's ``PATCH /api/v1/merchant/skus/<code>``.
   The same seed gives the same choices, not the same interleaving.
4. Every ``--sample-seconds`` a sampler takes, per kind of traffic, requests/s and
   p50/p99 latency of the requests finished in that interval, the statuses (any
   5xx or broken connection is a failure), and each gunicorn worker's VmRSS from
   /proc/<pid>/status (workers are the master's children; a worker that changes
   pid is reported). The first ``--warmup`` seconds of traffic are not sampled.
5. Memory verdict over the sampled run, per worker: the least-squares slope of RSS
   over the second half (MB per minute) and the median of the last third against
   the median of the first third. Flat means every worker's slope is at most
   1 MB/min and its last-third median at most 5 % (or 5 MB, whichever is larger)
   above its first-third median.

The report (markdown) is printed and written to ``bench/results/soak-<time>.md``,
the figures to ``soak-<time>.json`` beside it. gunicorn is stopped and the
database dropped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import threading
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
from bench_processes import ROOT, Gunicorn, free_port, log
from benchkit import clean_up, code_version, machine_description, run_script, write_report
from mixed_traffic.memory import Sample, worker_rss_mb
from mixed_traffic.recording import Client, Recorder
from mixed_traffic.report import render_report
from mixed_traffic.traffic import (
    RESTOCK_EVERY_S,
    STAFF_EVERY_S,
    STEP_WEIGHTS,
    restock_round,
    staff_round,
    step_api,
    step_cart,
    step_checkout,
    step_storefront,
    step_upload,
    upload_pool,
)
from mixed_traffic.world import prepare_world, probe_skus

# ------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="sampled traffic, minutes")
    parser.add_argument("--warmup", type=float, default=30.0, help="unsampled traffic first, s")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="sampling interval")
    parser.add_argument("--clients", type=int, default=8, help="shopper/merchant threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--seed", type=int, default=20261201, help="random seed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; returns 0 even when memory grows or requests fail (the report says)."""
    args = parse_args(argv)
    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = None
    url = ""
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-soak-"))
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        url = create_database(admin_url)
        database = url.rsplit("/", 1)[1]
        log(f"database {database}")
        env = production_env(url, workdir)
        secret_key = env["SECRET_KEY"]
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        world, candidates = prepare_world(url, secret_key)
        world.upload_rows = upload_pool()

        server = Gunicorn("soak", "wsgi:app", free_port(), args.workers, env, ROOT, workdir)
        server.wait_healthy()
        recorder = Recorder()
        setup = Client(server.base_url, recorder)
        probe_skus(setup, world, candidates, random.Random(args.seed))
        log(f"bought: {len(world.ru_skus)} SKUs to RU, {len(world.cn_skus)} to CN")
        if not world.ru_skus:
            raise RuntimeError("no stocked SKU can be ordered to Russia")
        log(f"restocked {restock_round(setup, world)} stock levels through the merchant API")
        setup.close()

        steps = {
            "api": step_api,
            "storefront": step_storefront,
            "checkout": step_checkout,
            "cart": step_cart,
            "upload": step_upload,
        }
        kinds, weights = list(STEP_WEIGHTS), list(STEP_WEIGHTS.values())

        def shopper(index: int) -> None:
            rng = random.Random(args.seed + 1 + index)
            client = Client(server.base_url, recorder)
            while not stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                try:
                    steps[kind](client, world, rng)
                except Exception as exc:  # a bad answer the step could not read
                    recorder.add(kind, "-", "-", "error", 0.0, repr(exc).encode())
            client.close()

        def back_office() -> None:
            client = Client(server.base_url, recorder)
            next_staff = next_restock = time.monotonic()
            while not stop.is_set():
                now = time.monotonic()
                try:
                    if now >= next_staff:
                        staff_round(client, world)
                        next_staff = now + STAFF_EVERY_S
                    if now >= next_restock:
                        restock_round(client, world)
                        next_restock = now + RESTOCK_EVERY_S
                except Exception as exc:
                    recorder.add("staff", "-", "-", "error", 0.0, repr(exc).encode())
                stop.wait(1.0)
            client.close()

        threads = [threading.Thread(target=shopper, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=back_office))
        loadavg = f"{os.getloadavg()[0]:.2f}"
        log(f"traffic: {args.clients} clients; warm-up {args.warmup:g} s")
        for thread in threads:
            thread.start()
        stop.wait(args.warmup)

        master = server.process.pid
        first_workers = set(worker_rss_mb(master))
        restarts: list[str] = []
        samples: list[Sample] = []
        recorder.swap()
        recorder.recording = True
        started = last = time.monotonic()
        deadline = started + args.minutes * 60
        log(f"sampling for {args.minutes:g} min every {args.sample_seconds:g} s")
        while (now := time.monotonic()) < deadline:
            stop.wait(min(args.sample_seconds, deadline - now))
            now = time.monotonic()
            interval = recorder.swap()
            rss = worker_rss_mb(master)
            if set(rss) != first_workers:
                note = (
                    f"workers changed at {now - started:.0f} s: "
                    f"{sorted(first_workers)} → {sorted(rss)}"
                )
                if note not in restarts:
                    restarts.append(note)
                    log(note)
            samples.append(Sample(now - started, now - last, interval, rss))
            count = sum(len(v) for v in interval.latencies_ms.values())
            log(
                f"{now - started:5.0f} s: {count / (now - last):6.1f} req/s, "
                f"{recorder.failure_count} failures, RSS "
                + " / ".join(f"{v:.1f}" for _, v in sorted(rss.items()))
            )
            last = now
        recorder.recording = False
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

        now_utc = datetime.now(UTC)
        context = {
            "date": now_utc.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "loadavg": loadavg,
            "loadavg_end": f"{os.getloadavg()[0]:.2f}",
            "code": code_version(),
        }
        report, figures = render_report(args, samples, recorder, world, context, restarts)
        print(report)
        write_report("soak", "bench/soak.py", argv, report, now_utc, figures=figures)
        return 0
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        clean_up(admin_url, servers=[server], databases=[url], workdir=workdir)


if __name__ == "__main__":
    run_script(main)
