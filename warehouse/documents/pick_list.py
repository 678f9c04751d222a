"""The pick list a picker walks with: one row per bin stop, in walking order, then
one Code 128 per shipment for the packing bench. Drawn on the canvas
(``canvas_grid``), as a list can run to thousands of lines."""

from __future__ import annotations

import io
from collections import defaultdict

from reportlab.lib.units import mm

from warehouse.documents.barcodes import barcode_value
from warehouse.documents.canvas_grid import (
    CELL_PADDING,
    SMALL_TEXT_FILL,
    BarcodeItem,
    Cell,
    Gap,
    Grid,
    Pages,
    TextLine,
    em_width,
    text_lines,
)
from warehouse.documents.fonts import FONT, FONT_BOLD, register_fonts
from warehouse.documents.inputs import PickDocLine, PickListDoc
from warehouse.documents.labels import labels_for
from warehouse.documents.page import CONTENT_WIDTH, new_canvas, printed_time, title_block

# #, bin, SKU barcode with code and name, quantity, shipments. The SKU's cell is wide
# so that a 20-30 character code still prints with bars of 0.2 mm (8 mil) or more.
PICK_COLUMNS = [8 * mm, 26 * mm, 0, 16 * mm, 36 * mm]
PICK_COLUMNS[2] = CONTENT_WIDTH - sum(PICK_COLUMNS)
_BATCH_COLUMNS = [56 * mm, CONTENT_WIDTH / 2 - 56 * mm] * 2


def render_pick_list_pdf(doc: PickListDoc) -> bytes:
    """The pick list a picker walks with: one row per bin stop, in walking order,
    then one Code 128 per shipment for the packing bench."""
    register_fonts()
    text = labels_for(doc.lang)
    code = barcode_value("pick_list", doc.id)
    title = f"{text['pick_list']} {code}"
    facts = [
        (text["node"], f"{doc.node} — {doc.node_name}" if doc.node_name else doc.node),
        (text["created_by"], doc.created_by),
        (text["created_at"], printed_time(doc.created_at)),
        (text["shipments"], str(doc.shipment_count)),
        (text["units"], str(doc.unit_count)),
        (text["lines"], str(len(doc.lines))),
    ]
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, title, doc.lang)
    pages = Pages(canvas, title, doc.lang)

    block = title_block(title, facts, code)
    _, height = block.wrapOn(canvas, CONTENT_WIDTH, pages.room)
    block.drawOn(canvas, pages.left, pages.y - height)
    pages.forget()
    pages.y -= height + 5 * mm

    inner = [width - 2 * CELL_PADDING for width in PICK_COLUMNS]
    header = [
        Cell(text_lines([(label, FONT_BOLD)], 8, width))
        for label, width in zip(
            ("#", text["bin"], f"{text['sku']} / {text['product']}", text["qty"],
             text["for_shipments"]),
            inner,
            strict=True,
        )
    ]  # fmt: skip
    grid = Grid(pages, PICK_COLUMNS, header)
    no_bin = text["no_bin"].replace("— ", "—\u00a0").replace(" —", "\u00a0—")  # dashes stay on
    for line in doc.lines:
        grid.add(_pick_row(line, no_bin, inner))
    if not doc.lines:
        grid.start_page_block()  # the header alone
    grid.close()

    _batch_section(pages, doc, text)
    pages.close()
    return buffer.getvalue()


def _shipment_label(shipment_id: int) -> str:
    return barcode_value("shipment", shipment_id)


def _pick_row(line: PickDocLine, no_bin: str, inner: list[float]) -> list:
    fed = ", ".join(
        f"{_shipment_label(shipment_id)}\u00a0×{quantity}"
        for shipment_id, quantity in line.shipments
    )
    if line.bin:
        # The bin large and on one line: the longest code (``ABC-123-123-123``) shrinks to fit.
        size = min(13.0, inner[1] / em_width(line.bin, FONT_BOLD))
        bin_items = [TextLine([(line.bin, FONT_BOLD)], size, size * 1.2)]
    else:
        bin_items = text_lines(no_bin, 9, inner[1])
    item = [
        BarcodeItem(barcode_value("sku", line.sku), inner[2], 9 * mm),
        Gap(2),
        *text_lines([(line.sku, FONT_BOLD), (f"\u2002{line.name}", FONT)], 9, inner[2]),
    ]
    return [
        Cell(text_lines(str(line.position), 9, inner[0])),
        Cell(bin_items),
        Cell(item),
        Cell([TextLine([(str(line.quantity), FONT_BOLD)], 20, 24)], "CENTER"),
        Cell(text_lines(fed, 7.5, inner[4], fill=SMALL_TEXT_FILL)),
    ]


def _batch_section(pages: Pages, doc: PickListDoc, text: dict[str, str]) -> None:
    """One Code 128 per shipment, for the packing bench: units and the lines that feed it."""
    units: dict[int, int] = defaultdict(int)
    positions: dict[int, list[int]] = defaultdict(list)
    for line in doc.lines:
        for shipment_id, quantity in line.shipments:
            units[shipment_id] += quantity
            positions[shipment_id].append(line.position)
    if not units:
        return
    inner = [width - 2 * CELL_PADDING for width in _BATCH_COLUMNS]
    cells = []
    for shipment_id in sorted(units):
        label = _shipment_label(shipment_id)
        listed = ", ".join(str(p) for p in sorted(positions[shipment_id]))
        cells.append(
            [
                Cell([BarcodeItem(label, 52 * mm, 11 * mm), *text_lines(label, 8, inner[0])],
                     "CENTER"),
                Cell([
                    *text_lines([(label, FONT_BOLD)], 8, inner[1]),
                    *text_lines(text["n_units"].format(n=units[shipment_id]), 9, inner[1]),
                    *text_lines(text["on_lines"].format(positions=listed), 7.5, inner[1],
                                fill=SMALL_TEXT_FILL),
                ]),
            ]
        )  # fmt: skip
    if len(cells) % 2:
        cells.append([Cell([]), Cell([])])
    rows = [left + right for left, right in zip(cells[::2], cells[1::2], strict=True)]

    pages.y -= 6 * mm
    heading = text_lines([(text["batch"], FONT_BOLD)], 14, CONTENT_WIDTH, leading=18)
    needed = sum(item.height for item in heading) + 2 + Grid.row_height(rows[0])
    if needed > pages.room:  # keep the heading with the first row
        pages.next()
    for item in heading:
        item.draw(pages, pages.left, pages.y)
        pages.y -= item.height
    pages.y -= 2
    grid = Grid(pages, _BATCH_COLUMNS)
    for row in rows:
        grid.add(row)
    grid.close()
