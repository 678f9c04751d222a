"""Pick lists on PostgreSQL: creating one for 1,000 ready shipments and printing it,
next to bare baselines measured in the same run.

Usage (from the repository root)::

    .venv/bin/python bench/pick_list.py [--rounds 5] [--shipments 1000] [--skus 200]
                                        [--lang ru] [--profile]

Method, all in one invocation and one process, so that every figure and its
baseline come from the same machine state:

1. A fresh database ``pavilion_bench_<random>`` is created on the server of
   BENCH_POSTGRES_URL (default ``postgresql+psycopg://127.0.0.1:5432/postgres``),
   migrated with ``flask --app wsgi db upgrade`` and seeded with
   ``flask --app wsgi seed`` (subprocesses), as ``bench/catalog.py`` does
   (its helpers are imported, not copied). When the demo seed has fewer
   active SKUs than ``--skus``, synthetic products are added with
   ``bench/catalog.py``'s helper, and the stock it gives them is written to
   the stock ledger as ``adjustment`` rows.
2. The world, inserted directly with bulk Core inserts on the app's own
   models (no HTTP, no checkout): ``--shipments`` paid orders, one
   ``ready_to_pick`` shipment each at RU-WH (an RU-WH lane, ``deliver_by``
   spread over 3-20 days), 1-4 lines each (2.5 on average) over ``--skus``
   SKUs with a skewed popularity, 1-3 units a line, reservation ``held``.
   RU-WH's stock levels of those SKUs gain on-hand and reserved to match;
   nine SKUs in ten get 1-3 bins (``stock_bins``) that hold most of the
   units, some less than the shipments want, so that a few lines come from
   "no bin". The stock ledger stays consistent: a ``receipt`` row per bin
   (naming it) and one for units in no bin, and a ``reservation`` row per
   shipment line (naming order and shipment), as checkout writes them;
   ``warehouse.services.ledger_mismatches`` must be empty before anything is
   measured. Orders have no ``order_lines``: nothing measured here reads them.
3. In-process measurement (an app from ``create_app`` on the bench database,
   an app context, ``warehouse.fulfilment`` called directly with a picker of
   RU-WH):

   a. ``create_pick_list(max_shipments=N)`` for N = 100 and ``--shipments``,
      each on a freshly reset world (shipments back to ``ready_to_pick``, pick
      lists, their lines and the orders' status history of earlier runs
      deleted, orders back to ``paid``, then VACUUM ANALYZE of those tables;
      all outside the timing). Its time includes what it returns (the list's
      document, read back). Baseline: the bare statement that reads the same
      N shipments' held lines with their SKU codes (``text()`` SQL through the
      same session), one statement, rows fetched.
   b. ``pick_list_pdf`` of the ``--shipments`` list (read from the database,
      rendered with ``warehouse.documents.render_pick_list_pdf``, which is
      wrapped to time the rendering apart). A list is one line per SKU and
      bin, so 1,000 shipments over 200 SKUs make a few hundred lines each
      feeding a dozen shipments, plus 1,000 shipment barcodes at the end.
   c. A 2,500-line list: the same shipment lines, one stop each (the worst
      case: no two shipments share a stop), with the same SKUs, names, bins
      and shipments, rendered with ``render_pick_list_pdf``.

   Before each timed rendering the renderer's per-process caches (barcode
   bars, text widths) are emptied: every round prints the same list, and a
   new list would find few of its shipments' barcodes cached.
   Baseline of b and c: ReportLab's canvas drawing the same rows as plain
   text in the same embedded font, no barcodes, no grid (position, bin, SKU,
   name, quantity and the shipments, wrapped with ``simpleSplit``; then one
   text line per shipment with its units and lines), written to the same
   A4 bytes.
   Every target and its baseline run ``--rounds`` times, taking turns
   (baseline first in odd rounds, target first in even ones), after one
   warm-up of each (reported apart: the first call of a process loads the
   fonts and fills SQLAlchemy's caches). Figures are the medians of the
   rounds, with the spread.
4. SQL statements are counted with ``tests.sql_count.count_statements`` (a
   ``before_cursor_execute`` listener plus psycopg's COPY) in separate,
   untimed calls: ``create_pick_list`` for N = 100 and ``--shipments``, and
   ``pick_list_pdf``. Transaction control is not counted.
5. Every PDF is read back once with pypdf (untimed): A4 pages, every font
   embedded, and every line's SKU and bin and every shipment's barcode label
   in the extracted text.
6. ``--profile`` adds the cProfile top functions of one ``create_pick_list``
   and of one 2,500-line rendering to the report.

The results table (markdown) is printed and written to
``bench/results/pick_list-<timestamp>.md``. The database is dropped on the
way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import tempfile
import time
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
from bench_processes import log
from benchkit import clean_up, code_version, machine_description, run_script, write_report
from pick_lists.calls import (
    SMALL,
    bare_lines,
    check_pdf,
    forget_render_caches,
    long_list,
    plain_text_pdf,
    profile,
    timed,
)
from pick_lists.report import render_report
from pick_lists.world import ACTOR, NODE, build_world, ensure_skus, reset

# ---------------------------------------------------------------- measure


def measure(url: str, args: argparse.Namespace, world: dict[str, Any]) -> dict[str, Any]:
    from shop import create_app
    from shop.core.auth import StaffPrincipal
    from shop.core.extensions import db
    from tests.sql_count import count_statements
    from warehouse import documents, fulfilment

    node_id = world["node_id"]
    staff = StaffPrincipal(staff_id=0, node_id=node_id, node_code=NODE, role="picker",
                           token_id=None, actor=ACTOR)  # fmt: skip
    sizes = sorted({min(SMALL, args.shipments), args.shipments})
    times: dict[str, list[float]] = {}
    first: dict[str, float] = {}
    info: dict[str, Any] = {"sizes": sizes}

    renders: list[tuple[Any, float]] = []
    original_render = documents.render_pick_list_pdf

    def render_and_time(doc: Any) -> bytes:
        forget_render_caches()
        seconds, pdf = timed(lambda: original_render(doc))
        renders.append((doc, seconds))
        return pdf

    def record(name: str, seconds: float, warmup: bool) -> None:
        if warmup:
            first[name] = seconds
        else:
            times.setdefault(name, []).append(seconds)

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    logging.getLogger("warehouse.fulfilment").setLevel(logging.WARNING)  # a line per list
    with app.app_context():
        documents.render_pick_list_pdf = render_and_time
        try:
            big = None
            for number in range(args.rounds + 1):
                warmup = number == 0
                baseline_first = number % 2 == 1
                for n in sizes:
                    reset(url, node_id)
                    steps = [("bare", n), ("create", n)]
                    for kind, size in steps if baseline_first else steps[::-1]:
                        if kind == "bare":
                            seconds, rows = timed(lambda size=size: bare_lines(node_id, size))
                            info[f"bare rows {size}"] = rows
                            record(f"bare {size}", seconds, warmup)
                        else:
                            seconds, listed = timed(
                                lambda size=size: fulfilment.create_pick_list(
                                    staff, NODE, max_shipments=size
                                )
                            )
                            info[f"list {size}"] = (
                                listed["shipment_count"],
                                len(listed["lines"]),
                                listed["unit_count"],
                            )
                            record(f"create {size}", seconds, warmup)
                            list_id = listed["id"]
                # The pick list of the largest size is in the database: print it.
                steps = ["plain", "pdf"]
                for kind in steps if baseline_first else steps[::-1]:
                    if kind == "pdf":
                        seconds, pdf = timed(
                            lambda pl=list_id: fulfilment.pick_list_pdf(staff, pl, args.lang)
                        )
                        record("pdf", seconds, warmup)
                        doc, render_seconds = renders[-1]
                        record("render", render_seconds, warmup)
                        info["pdf"] = pdf
                        info["pdf doc"] = doc
                    else:
                        seconds, plain = timed(lambda: plain_text_pdf(info["pdf doc"]))
                        record("plain", seconds, warmup)
                        info["plain bytes"] = len(plain)
                if big is None:
                    big = long_list(args.lang, node_id)
                steps = ["plain long", "render long"]
                for kind in steps if baseline_first else steps[::-1]:
                    if kind == "render long":
                        forget_render_caches()
                        seconds, pdf = timed(lambda big=big: original_render(big))
                        info["long pdf"] = pdf
                    else:
                        seconds, plain = timed(lambda big=big: plain_text_pdf(big))
                        info["plain long bytes"] = len(plain)
                    record(kind, seconds, warmup)
                latest = first if warmup else {name: values[-1] for name, values in times.items()}
                figures = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in latest.items())
                log(f"{'warm-up' if warmup else f'round {number}'}: {figures}")
            info["long doc"] = big

            log("counting SQL statements")
            counts: dict[str, list[str]] = {}
            for n in sizes:
                reset(url, node_id)
                with count_statements(db.engine) as statements:
                    listed = fulfilment.create_pick_list(staff, NODE, max_shipments=n)
                counts[f"create {n}"] = list(statements)
            with count_statements(db.engine) as statements:
                fulfilment.pick_list_pdf(staff, listed["id"], args.lang)
            counts["pdf"] = list(statements)
            info["counts"] = counts

            if args.profile:
                reset(url, node_id)
                info["profile create"] = profile(
                    lambda: fulfilment.create_pick_list(staff, NODE, max_shipments=args.shipments)
                )
                info["profile render"] = profile(lambda: original_render(big))
        finally:
            documents.render_pick_list_pdf = original_render
            db.session.remove()
            db.engine.dispose()
    log("reading the PDFs back with pypdf")
    info["pdf check"] = check_pdf(info["pdf"], info["pdf doc"])
    info["long check"] = check_pdf(info["long pdf"], info["long doc"])
    info["times"] = times
    info["first"] = first
    return info


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds, after a warm-up")
    parser.add_argument("--shipments", type=int, default=1000, help="ready shipments (≤ 1000)")
    parser.add_argument("--skus", type=int, default=200, help="SKUs the shipments use")
    parser.add_argument("--lang", default="ru", help="language of the printed lists")
    parser.add_argument("--profile", action="store_true", help="add cProfile tops to the report")
    args = parser.parse_args(argv)
    if not 1 <= args.shipments <= 1000:
        parser.error("--shipments: from 1 to 1000 (the most one pick list takes)")
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
        added = ensure_skus(url, args.skus)
        if added:
            log(f"{added} synthetic SKUs added")
        from shop import create_app
        from shop.core.extensions import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
        with app.app_context():
            try:
                started = time.perf_counter()
                world = build_world(args.shipments, args.skus)
            finally:
                db.session.remove()
                db.engine.dispose()
        log(f"world built in {time.perf_counter() - started:.1f} s: {world}")
        import reportlab

        loadavg = f"{os.getloadavg()[0]:.2f}"
        info = measure(url, args, world)
        now = datetime.now(UTC)
        context = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "reportlab": reportlab.Version,
            "loadavg": loadavg,
            "code": code_version(),
        }
        report, figures = render_report(args, world, info, context)
        print(report)
        write_report("pick_list", "bench/pick_list.py", argv, report, now, figures)
        return 0
    finally:
        clean_up(admin_url, databases=[url], workdir=workdir)


if __name__ == "__main__":
    run_script(main)
