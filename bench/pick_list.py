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
import cProfile
import io
import logging
import os
import pstats
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_database import (
    DEFAULT_ADMIN_URL,
    add_synthetic_products,
    create_database,
    migrate_and_seed,
    postgres_version,
    production_env,
)
from bench_processes import ROOT, log
from benchkit import clean_up, code_version, figure, machine_description, run_script, write_report

NODE = "RU-WH"
ACTOR = "bench/pick_list.py"
ORDER_PREFIX = "PLB"
SMALL = 100
LONG_LINES = 2500
TARGET_SECONDS = 1.0


# ----------------------------------------------------------- the world


def ensure_skus(url: str, wanted: int) -> int:
    """At least ``wanted`` active SKUs; synthetic products fill in, with ledger rows
    for the stock the helper gives them. Returns how many SKUs were added."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    count_sql = text(
        "SELECT count(*) FROM skus s JOIN products p ON p.id = s.product_id "
        "WHERE s.is_active AND p.is_active AND s.deleted_at IS NULL"
    )
    try:
        with engine.connect() as conn:
            have = conn.scalar(count_sql)
        if have >= wanted:
            return 0
        added = add_synthetic_products(url, (wanted - have) // 2 + 10)
        with engine.begin() as conn:
            # The helper writes stock levels only: the ledger gets the matching rows.
            conn.execute(
                text(
                    "INSERT INTO stock_movements (sku_id, node_id, delta_on_hand, delta_reserved,"
                    " reason, actor, reference, created_at)"
                    " SELECT sl.sku_id, sl.node_id, sl.on_hand - coalesce(m.on_hand, 0),"
                    " sl.reserved - coalesce(m.reserved, 0), 'adjustment', :actor,"
                    " 'synthetic stock', now() FROM stock_levels sl LEFT JOIN ("
                    " SELECT sku_id, node_id, sum(delta_on_hand) AS on_hand,"
                    " sum(delta_reserved) AS reserved FROM stock_movements"
                    " GROUP BY sku_id, node_id) m"
                    " ON m.sku_id = sl.sku_id AND m.node_id = sl.node_id"
                    " WHERE sl.on_hand <> coalesce(m.on_hand, 0)"
                    " OR sl.reserved <> coalesce(m.reserved, 0)"
                ),
                {"actor": ACTOR},
            )
        return added["SKUs"]
    finally:
        engine.dispose()


def build_world(shipments: int, sku_count: int, seed: int = 20261201) -> dict[str, Any]:
    """Orders, ready shipments, held lines, stock, bins and ledger rows (app context)."""
    from sqlalchemy import select, text

    from catalog.models import Product, Sku
    from shop.core.extensions import db
    from warehouse.models import (
        Lane,
        Node,
        Shipment,
    )
    from warehouse.services import ledger_mismatches

    rng = random.Random(seed)
    node = db.session.scalar(select(Node).where(Node.code == NODE))
    lane = db.session.scalar(
        select(Lane.code).where(Lane.node_id == node.id, Lane.is_active).order_by(Lane.code)
    )
    sku_ids = list(
        db.session.scalars(
            select(Sku.id)
            .join(Product, Product.id == Sku.product_id)
            .where(Sku.is_active, Product.is_active, Sku.deleted_at.is_(None))
            .order_by(Sku.id)
        )
    )
    if len(sku_ids) < sku_count:
        raise RuntimeError(f"only {len(sku_ids)} active SKUs")
    sku_ids = rng.sample(sku_ids, sku_count)
    weights = [1 / (rank + 1) ** 0.7 for rank in range(sku_count)]  # a few SKUs sell most

    today = date.today()
    orders = [
        {"number": f"{ORDER_PREFIX}{i:06d}", "status": "paid", "currency": "RUB",
         "destination_country": "RU", "email": "bench@example.com", "payment_status": "paid",
         "placed_on": today}
        for i in range(1, shipments + 1)
    ]  # fmt: skip
    order_ids = _insert("orders", orders, returning=True)
    shipment_rows = []
    for order, order_id in zip(orders, order_ids, strict=True):
        deliver_by = today + timedelta(days=rng.randint(3, 20))
        shipment_rows.append(
            {"order_id": order_id, "order_number": order["number"], "node_id": node.id,
             "lane_code": lane, "status": "ready_to_pick", "currency": "RUB", "weight_g": 500,
             "deliver_from": deliver_by - timedelta(days=2), "deliver_by": deliver_by}
        )  # fmt: skip
    shipment_ids = _insert("shipments", shipment_rows, returning=True)
    line_rows, movements = [], []
    held: dict[int, int] = dict.fromkeys(sku_ids, 0)
    for order_id, shipment_id in zip(order_ids, shipment_ids, strict=True):
        chosen: set[int] = set()
        for _ in range(rng.randint(1, 4)):
            chosen.add(rng.choices(sku_ids, weights)[0])
        for sku_id in sorted(chosen):
            quantity = rng.randint(1, 3)
            held[sku_id] += quantity
            line_rows.append({"shipment_id": shipment_id, "sku_id": sku_id,
                              "quantity": quantity, "reservation": "held"})  # fmt: skip
            movements.append(
                {"sku_id": sku_id, "node_id": node.id, "delta_on_hand": 0,
                 "delta_reserved": quantity, "reason": "reservation", "actor": ACTOR,
                 "order_id": order_id, "shipment_id": shipment_id, "reference": "", "bin": None}
            )  # fmt: skip
    _insert("shipment_lines", line_rows)

    levels, bins = [], []
    for sku_id in sku_ids:
        received = held[sku_id] + rng.randint(0, 40)
        levels.append({"sku_id": sku_id, "node_id": node.id, "on_hand": received,
                       "reserved": held[sku_id]})  # fmt: skip
        in_bins = 0
        if rng.random() < 0.9:
            # Mostly enough in the bins; one SKU in eight has fewer there than is wanted.
            binned = received if rng.random() > 0.125 else max(1, held[sku_id] // 2)
            binned = min(binned, received)  # a SKU nobody ordered may have received 0
            codes = {f"{rng.choice('ABC')}-{rng.randint(1, 24)}-{rng.randint(1, 12):02d}"
                     for _ in range(rng.randint(1, 3))}  # fmt: skip
            shares = _split(binned, len(codes), rng)
            for code, units in zip(sorted(codes), shares, strict=True):
                if units:
                    bins.append({"sku_id": sku_id, "node_id": node.id, "bin": code,
                                 "on_hand": units})  # fmt: skip
                    movements.append(_receipt(sku_id, node.id, units, code))
                    in_bins += units
        if received > in_bins:
            movements.append(_receipt(sku_id, node.id, received - in_bins, None))
    _insert("stock_levels", levels, add_on_conflict=("sku_id", "node_id"))
    _insert("stock_bins", bins, add_on_conflict=("sku_id", "node_id", "bin"))
    _insert("stock_movements", movements)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    mismatches = ledger_mismatches()
    db.session.rollback()
    if mismatches:
        raise RuntimeError(f"stock levels off their ledger: {mismatches[:5]}")
    ready = db.session.scalar(
        select(db.func.count(Shipment.id)).where(
            Shipment.node_id == node.id, Shipment.status == "ready_to_pick"
        )
    )
    db.session.rollback()
    if ready != shipments:
        raise RuntimeError(f"{ready} ready shipments at {NODE}, expected {shipments}")
    return {
        "node_id": node.id,
        "shipments": len(shipment_ids),
        "lines": len(line_rows),
        "skus": sku_count,
        "skus_with_bins": len({b["sku_id"] for b in bins}),
        "bins": len(bins),
        "units": sum(held.values()),
        "movements": len(movements),
    }


def _insert(
    name: str,
    rows: list[dict[str, Any]],
    *,
    returning: bool = False,
    add_on_conflict: tuple[str, ...] = (),
) -> list[int]:
    """Bulk insert into a table as the migrated database has it (models may run ahead
    of the migrations while work is in progress): a NOT NULL column the rows leave
    out takes the model's Python-side default. ``add_on_conflict``: the unique key
    whose existing row gets ``on_hand`` (and ``reserved``) added instead."""
    from sqlalchemy import MetaData, Table, insert
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from shop.core.extensions import db

    table = Table(name, MetaData(), autoload_with=db.session.connection())
    model = db.metadata.tables[name]
    defaults: dict[str, Any] = {}
    for column in table.c:
        modelled = model.c.get(column.name)
        default = modelled.default if modelled is not None else None
        if column.primary_key or column.server_default is not None or default is None:
            continue
        defaults[column.name] = default.arg(None) if default.is_callable else default.arg
    filled = [{**{k: v for k, v in defaults.items() if k not in row}, **row} for row in rows]
    if add_on_conflict:
        statement = pg_insert(table)
        added = {c: table.c[c] + statement.excluded[c] for c in ("on_hand", "reserved") if c in
                 table.c}  # fmt: skip
        db.session.execute(
            statement.on_conflict_do_update(index_elements=list(add_on_conflict), set_=added),
            filled,
        )
        return []
    if returning:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(db.session.execute(statement, filled).scalars())
    db.session.execute(insert(table), filled)
    return []


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _receipt(sku_id: int, node_id: int, units: int, bin_code: str | None) -> dict[str, Any]:
    return {"sku_id": sku_id, "node_id": node_id, "delta_on_hand": units, "delta_reserved": 0,
            "reason": "receipt", "actor": ACTOR, "order_id": None, "shipment_id": None,
            "reference": "bench receipt", "bin": bin_code}  # fmt: skip


def reset(url: str, node_id: int) -> None:
    """Undo every pick list: shipments ready again, orders paid, their history gone."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            with conn.begin():
                conn.execute(
                    text(
                        "UPDATE shipments SET status = 'ready_to_pick', pick_list_id = NULL "
                        "WHERE node_id = :node AND pick_list_id IS NOT NULL"
                    ),
                    {"node": node_id},
                )
                conn.execute(text("DELETE FROM pick_list_lines"))
                conn.execute(text("DELETE FROM pick_lists"))
                conn.execute(
                    text("UPDATE orders SET status = 'paid' WHERE number LIKE :prefix"),
                    {"prefix": f"{ORDER_PREFIX}%"},
                )
                conn.execute(text("DELETE FROM order_events WHERE actor = :a"), {"a": ACTOR})
            for table in ("shipments", "orders", "order_events", "pick_lists", "pick_list_lines"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
    finally:
        engine.dispose()


# ----------------------------------------------------------- measured calls


def bare_lines(node_id: int, limit: int) -> int:
    """The baseline of create_pick_list: one statement reading the same held lines."""
    from sqlalchemy import text

    from shop.core.extensions import db

    rows = db.session.execute(
        text(
            "SELECT sl.shipment_id, sl.sku_id, s.code, sl.quantity FROM shipment_lines sl "
            "JOIN skus s ON s.id = sl.sku_id WHERE sl.reservation = 'held' AND sl.shipment_id IN "
            "(SELECT id FROM shipments WHERE node_id = :node AND status = 'ready_to_pick' "
            "ORDER BY deliver_by IS NULL, deliver_by, id LIMIT :limit)"
        ),
        {"node": node_id, "limit": limit},
    ).all()
    db.session.rollback()
    return len(rows)


def plain_text_pdf(doc: Any) -> bytes:
    """The rendering baseline: the same rows as plain text in the same embedded font,
    on A4 with ReportLab's canvas: no barcodes, no grid, no table layout."""
    from collections import defaultdict

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfgen.canvas import Canvas

    from warehouse import documents

    documents.register_fonts()
    font, size, leading = documents.FONT, 8, 10
    width, height = A4
    margin = 14 * mm
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, initialFontName=font, initialFontSize=size)
    y = height - margin

    def line(x: float, text: str) -> None:
        canvas.drawString(x, y, text)

    def advance(lines: int) -> None:
        nonlocal y
        y -= lines * leading
        if y < margin:
            canvas.showPage()
            canvas.setFont(font, size)
            y = height - margin - leading

    columns = (margin, margin + 10 * mm, margin + 32 * mm, margin + 130 * mm, margin + 142 * mm)
    line(margin, f"Pick list PL-{doc.id} {doc.node} {doc.created_by} {len(doc.lines)} lines")
    advance(2)
    units: dict[int, int] = defaultdict(int)
    positions: dict[int, list[int]] = defaultdict(list)
    for pick in doc.lines:
        fed = ", ".join(f"SH-{s} ×{q}" for s, q in pick.shipments)
        name = simpleSplit(f"{pick.sku} {pick.name}", font, size, 96 * mm)
        shipments = simpleSplit(fed, font, size, width - margin - columns[4])
        for shipment_id, quantity in pick.shipments:
            units[shipment_id] += quantity
            positions[shipment_id].append(pick.position)
        line(columns[0], str(pick.position))
        line(columns[1], pick.bin or "no bin")
        line(columns[3], str(pick.quantity))
        for index in range(max(len(name), len(shipments))):
            if index < len(name):
                line(columns[2], name[index])
            if index < len(shipments):
                line(columns[4], shipments[index])
            advance(1)
    advance(1)
    for shipment_id in sorted(units):
        listed = ", ".join(str(p) for p in positions[shipment_id])
        line(margin, f"SH-{shipment_id}   {units[shipment_id]} units   lines {listed}")
        advance(1)
    canvas.save()
    return buffer.getvalue()


def long_list(lang: str, node_id: int) -> Any:
    """A 2,500-line list from the same data: every held shipment line its own stop,
    at its SKU's first bin in walking order, with the localized name."""
    from sqlalchemy import select

    from catalog.models import Product, Sku
    from shop.core.extensions import db
    from warehouse import documents, fulfilment, picking
    from warehouse.models import Shipment, ShipmentLine, StockBin

    rows = db.session.execute(
        select(ShipmentLine.shipment_id, ShipmentLine.quantity, Sku, Product)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .join(Sku, Sku.id == ShipmentLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(Shipment.node_id == node_id, ShipmentLine.reservation == "held")
    ).all()
    first_bin: dict[int, str] = {}
    for sku_id, code in db.session.execute(
        select(StockBin.sku_id, StockBin.bin).where(StockBin.node_id == node_id)
    ):
        if sku_id not in first_bin or picking.bin_sort_key(code) < picking.bin_sort_key(
            first_bin[sku_id]
        ):
            first_bin[sku_id] = code
    stops = sorted(
        (
            (first_bin.get(sku.id), sku.code, fulfilment.sku_name(product, sku, lang),
             quantity, shipment_id)
            for shipment_id, quantity, sku, product in rows
        ),
        key=lambda s: (picking.bin_sort_key(s[0]), s[1], s[4]),
    )  # fmt: skip
    db.session.rollback()
    lines = tuple(
        documents.PickDocLine(position, code, name, bin_code, quantity, ((shipment_id, quantity),))
        for position, (bin_code, code, name, quantity, shipment_id) in enumerate(stops, 1)
    )
    return documents.PickListDoc(
        id=999_999,
        node=NODE,
        node_name="",
        created_at=datetime.now(UTC),
        created_by=ACTOR,
        lang=lang,
        lines=lines,
        shipment_count=len({s[4] for s in stops}),
        unit_count=sum(s[3] for s in stops),
    )


def check_pdf(pdf: bytes, doc: Any) -> str:
    """Read back with pypdf: A4, fonts embedded, every SKU, bin and shipment label."""
    import re

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    text = re.sub(r"[ \u00a0]+", " ", "\n".join(page.extract_text() for page in reader.pages))
    problems = []
    for page in reader.pages:
        if (round(float(page.mediabox.width)), round(float(page.mediabox.height))) != (595, 842):
            problems.append("a page is not A4")
            break
    for page in reader.pages:
        for font in page["/Resources"].get("/Font", {}).values():
            font = font.get_object()
            for described in [font, *(d.get_object() for d in font.get("/DescendantFonts", []))]:
                if described["/Subtype"] == "/Type0":
                    continue
                if "/FontFile2" not in described["/FontDescriptor"].get_object():
                    problems.append(f"{described['/BaseFont']} not embedded")
    missing = [line.sku for line in doc.lines if line.sku not in text]
    missing += [line.bin for line in doc.lines if line.bin and line.bin not in text]
    shipments = {s for line in doc.lines for s, _ in line.shipments}
    missing += [f"SH-{s}" for s in shipments if f"SH-{s} " not in text + " "]
    if missing:
        problems.append(f"{len(missing)} texts missing, e.g. {missing[:5]}")
    verdict = "; ".join(problems) if problems else "all present"
    return f"{len(reader.pages)} pages; pypdf read-back: {verdict}"


def forget_render_caches() -> None:
    """Empty what ``warehouse.documents`` keeps between documents (barcode bars, text
    widths), so each timed rendering starts as a new list's would (fonts stay loaded)."""
    from warehouse.documents.barcodes import code128_bars
    from warehouse.documents.canvas_grid import em_width

    code128_bars.cache_clear()
    em_width.cache_clear()


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def profile(call: Callable[[], Any], top: int = 18) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    body = out.getvalue()
    body = body[body.find("ncalls") :] if "ncalls" in body else body
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site = f"{Path(sys.prefix) / 'lib' / version / 'site-packages'}/"
    return "\n".join(
        line.replace(f"{ROOT}/", "").replace(site, "") for line in body.splitlines() if line.strip()
    )


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


# ---------------------------------------------------------------- report


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}" if values else "–"


def render_report(args: argparse.Namespace, world: dict[str, Any], info: dict[str, Any],
                  context: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:  # fmt: skip
    times, first, counts = info["times"], info["first"], info["counts"]
    sizes = info["sizes"]
    big_n = sizes[-1]
    pdf_doc, long_doc = info["pdf doc"], info["long doc"]
    m = {name: _median(values) for name, values in times.items()}

    def row(label: str, name: str, base: str | None, extra: str = "", statements: str = "–") -> str:
        ratio = f"**{m[name] / m[base]:.1f}×**" if base else "1.0×"
        return (
            f"| {label} | {m[name]:.3f} | {_spread(times[name])} | {ratio} "
            f"| {first.get(name, float('nan')):.3f} | {statements} | {extra} |"
        )

    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; PostgreSQL "
        f"{context['postgres']}; ReportLab {context['reportlab']}; 1-min load average before "
        f"the run {context['loadavg']}. {args.rounds} round(s), medians, after one warm-up "
        "call of each (first-call column).",
        "",
        f"World: {world['shipments']:,} `ready_to_pick` shipments at {NODE}, "
        f"{world['lines']:,} held lines, {world['units']:,} units, over {world['skus']} SKUs "
        f"({world['skus_with_bins']} with {world['bins']} bins); ledger consistent "
        f"({world['movements']:,} movements written, no stock level off its ledger).",
        "",
        "| target | median s | min–max s | × baseline | first call s | SQL statements | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for n in sizes:
        shipment_count, line_count, units = info[f"list {n}"]
        lines.append(
            row(
                f"`create_pick_list(max_shipments={n})`",
                f"create {n}",
                f"bare {n}",
                f"{shipment_count} shipments → {line_count} pick lines, {units} units; "
                "includes the document it returns",
                str(len(counts[f"create {n}"])),
            )
        )
        lines.append(
            row(
                f"baseline: bare SELECT of the same {n} shipments' lines",
                f"bare {n}",
                None,
                f"{info[f'bare rows {n}']:,} rows",
                "1",
            )
        )
    lines += [
        row(
            f"`pick_list_pdf` of the {big_n}-shipment list ({args.lang})",
            "pdf",
            "plain",
            f"{len(pdf_doc.lines)} lines, {pdf_doc.shipment_count} shipments; "
            f"{len(info['pdf']):,} bytes; {info['pdf check']}",
            str(len(counts["pdf"])),
        ),
        row("  of which `render_pick_list_pdf`", "render", "plain"),
        row(
            "baseline: plain-text PDF of the same rows (canvas, same font, no barcodes)",
            "plain",
            None,
            f"{info['plain bytes']:,} bytes",
        ),
        row(
            f"`render_pick_list_pdf`, {len(long_doc.lines):,}-line list ({args.lang})",
            "render long",
            "plain long",
            f"{long_doc.shipment_count} shipments; {len(info['long pdf']):,} bytes; "
            f"{info['long check']}",
        ),
        row(
            "baseline: plain-text PDF of the same 2,500 rows",
            "plain long",
            None,
            f"{info['plain long bytes']:,} bytes",
        ),
        "",
    ]
    create_counts = {n: len(counts[f"create {n}"]) for n in sizes}
    constant = len(set(create_counts.values())) == 1
    verdicts = [
        (f"`create_pick_list` of {big_n} shipments < {TARGET_SECONDS:g} s",
         m[f"create {big_n}"]),
        (f"PDF of the {big_n}-shipment list (`pick_list_pdf`) < {TARGET_SECONDS:g} s", m["pdf"]),
        (f"`render_pick_list_pdf` of {len(long_doc.lines):,} lines < {TARGET_SECONDS:g} s",
         m["render long"]),
    ]  # fmt: skip
    for label, value in verdicts:
        lines.append(f"- {label}: {value:.3f} s: {'met' if value < TARGET_SECONDS else 'NOT met'}")
    lines.append(
        "- SQL statements of `create_pick_list` constant in the number of shipments: "
        + ", ".join(f"{n} shipments {c}" for n, c in create_counts.items())
        + (": met" if constant else ": NOT met")
    )
    for name, statements in counts.items():
        lines += ["", f"Statements of `{name}`:", ""]
        lines += [f"{i}. `{' '.join(s.split())[:160]}`" for i, s in enumerate(statements, 1)]
    profiled = (
        ("profile create", f"create_pick_list({big_n})"),
        ("profile render", f"render_pick_list_pdf, {len(long_doc.lines)} lines"),
    )
    for key, title in profiled:
        if key in info:
            lines += ["", f"cProfile of {title} (cumulative):", "", "```", info[key], "```"]
    bases = (f"bare {big_n}", "plain", "plain long")
    figures = [
        figure(f"{label.split(' < ')[0]} (s)", value, baseline=m[base],
               target=f"< {TARGET_SECONDS:g} s", met=value < TARGET_SECONDS)
        for (label, value), base in zip(verdicts, bases, strict=True)
    ]  # fmt: skip
    figures.append(
        figure("SQL statements of `create_pick_list`, most", max(create_counts.values()),
               target="constant in shipments", met=constant)
    )  # fmt: skip
    return "\n".join(lines) + "\n", figures


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
