"""What the pick-list benchmark times besides the shop's own calls: the bare query of
the same lines, a plain-text PDF of the same rows, a long list rendered alone, the
PDF read back, and the timer and profiler it uses."""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_processes import ROOT

from pick_lists.world import ACTOR, NODE

SMALL = 100
LONG_LINES = 2500


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
