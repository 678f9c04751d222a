"""A grid of text and barcodes drawn straight on a PDF canvas, page after page.

A pick list can run to thousands of lines, so it is not laid out with platypus
(a Paragraph per cell and Tables that re-measure every row on every split cost
about 2 ms a line). It is drawn by this small grid instead:
each cell is a column of unbreakable items (a line of text, a barcode), a row
is as tall as its tallest cell, the header repeats on every page, and a row
taller than what is left of a page (a line feeding hundreds of shipments)
continues on the next. Text wraps at spaces, and between any two Chinese
characters. A barcode's bars are computed once per value (a SKU's repeats on
every line of that SKU) and written as PDF operators. Only the title block is
platypus, drawn once.
"""

from __future__ import annotations

import re
from functools import lru_cache

from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics

from warehouse.documents.barcodes import code128_bars
from warehouse.documents.fonts import FONT
from warehouse.documents.page import FRAME_PADDING, MARGIN, PAGE_HEIGHT, page_footer

CELL_PADDING = 3  # inside every cell, each side, as GRID_STYLE
_RULE = 0.4  # grid line width, as GRID_STYLE
_HEADER_FILL = colors.HexColor("#DDDDDD")
SMALL_TEXT_FILL = colors.HexColor("#333333")
_SPACES = " \u2002"
_LINE_BREAKS = str.maketrans("\t\n\r\v\f", "     ")  # wrapped like spaces, never printed
_CJK_RANGES = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
# A wrap token: one Chinese character, or a run of anything but spaces and Chinese,
# either with the spaces after it; or spaces alone (at the start of a text).
_TOKEN = re.compile(
    f"[{_CJK_RANGES}][{_SPACES}]*|[^{_SPACES}{_CJK_RANGES}]+[{_SPACES}]*|[{_SPACES}]+"
)


@lru_cache(maxsize=16384)
def em_width(text: str, font: str) -> float:
    """Width of ``text`` at size 1 (TrueType widths are computed in Python: cached)."""
    return pdfmetrics.stringWidth(text, font, 1)


def wrap(runs: list[tuple[str, str]], size: float, width: float) -> list[list[tuple[str, str]]]:
    """Greedy line breaking of ``(text, font)`` runs into lines of ``(text, font)``
    segments no wider than ``width``: at spaces, between Chinese characters, and
    inside a word only when the word alone is wider than the line."""
    lines: list[list[tuple[str, str]]] = []
    line: list[tuple[str, str]] = []
    used = 0.0

    def put(text: str, font: str) -> None:
        if line and line[-1][1] == font:
            line[-1] = (line[-1][0] + text, font)
        else:
            line.append((text, font))

    def end_line() -> None:
        nonlocal line, used
        if line:
            line[-1] = (line[-1][0].rstrip(_SPACES), line[-1][1])
            lines.append(line)
        line, used = [], 0.0

    for text, font in runs:
        for token in _TOKEN.findall(text.translate(_LINE_BREAKS)):
            word = token.rstrip(_SPACES)
            if not word:  # spaces: kept between words, dropped at a line's start
                if line:
                    put(token, font)
                    used += em_width(token, font) * size
                continue
            if line and used + em_width(word, font) * size > width:
                end_line()
            if em_width(word, font) * size > width:  # longer than a line: cut it
                for char in word:
                    char_width = em_width(char, font) * size
                    if line and used + char_width > width:
                        end_line()
                    put(char, font)
                    used += char_width
                token = token[len(word) :]
                if token and line:
                    put(token, font)
                    used += em_width(token, font) * size
                continue
            put(token, font)
            used += em_width(token, font) * size
    end_line()
    return lines or [[("", runs[0][1] if runs else FONT)]]


class TextLine:
    """One line of text: segments of one size, each in its font."""

    __slots__ = ("fill", "height", "segments", "size", "width")

    def __init__(self, segments, size: float, leading: float, fill=colors.black):
        self.segments = segments
        self.size = size
        self.height = leading
        self.width = sum(em_width(text, font) for text, font in segments) * size
        self.fill = fill

    def draw(self, pages: Pages, x: float, top: float) -> None:
        # The baseline sits so that the middle of a capital is the line's middle.
        y = top - self.height / 2 - 0.35 * self.size
        pages.set_fill(self.fill)
        for text, font in self.segments:
            pages.set_font(font, self.size)
            pages.canvas.drawString(x, y, text)
            x += em_width(text, font) * self.size


def text_lines(runs, size: float, width: float, *, leading: float | None = None, fill=colors.black):
    """Wrapped ``(text, font)`` runs as lines; a plain string is in the regular face."""
    if isinstance(runs, str):
        runs = [(runs, FONT)]
    leading = leading or size * 1.25
    return [TextLine(line, size, leading, fill) for line in wrap(runs, size, width)]


class Gap:
    """Vertical space inside a cell."""

    __slots__ = ("height", "width")

    def __init__(self, height: float):
        self.height = height
        self.width = 0.0

    def draw(self, pages: Pages, x: float, top: float) -> None:
        pass


class BarcodeItem:
    """A Code 128 in a cell, its bars in the current (black) fill colour."""

    __slots__ = ("bars", "height", "width")

    def __init__(self, value: str, max_width: float, bar_height: float):
        self.bars, self.width = code128_bars(value, max_width, bar_height)
        self.height = bar_height

    def draw(self, pages: Pages, x: float, top: float) -> None:
        pages.set_fill(colors.black)
        pages.canvas.addLiteral(f"q 1 0 0 1 {x:.3f} {top - self.height:.3f} cm {self.bars} Q")


class Cell:
    """A cell's items, top to bottom, and how they sit across the column."""

    __slots__ = ("align", "items")

    def __init__(self, items: list, align: str = "LEFT"):
        self.items = items
        self.align = align

    @property
    def height(self) -> float:
        return sum(item.height for item in self.items)

    def split(self, room: float) -> tuple[Cell, Cell]:
        """The items that fit in ``room`` and the rest (a row across two pages)."""
        used = 0.0
        for index, item in enumerate(self.items):
            if used + item.height > room:
                return Cell(self.items[:index], self.align), Cell(self.items[index:], self.align)
            used += item.height
        return self, Cell([], self.align)

    def draw(self, pages: Pages, left: float, width: float, top: float) -> None:
        for item in self.items:
            x = left + (width - item.width) / 2 if self.align == "CENTER" else left + CELL_PADDING
            item.draw(pages, x, top)
            top -= item.height


class Pages:
    """The page being drawn: the frame platypus would use, and the footer."""

    def __init__(self, canvas, title: str, lang: str):
        self.canvas = canvas
        self.footer = page_footer(title, lang)
        self.left = MARGIN + FRAME_PADDING
        self.top = PAGE_HEIGHT - MARGIN - FRAME_PADDING
        self.bottom = MARGIN + FRAME_PADDING
        self.page = 1
        self.y = self.top
        self.footer(canvas, self)
        self.on_break: list = []  # called before a page ends
        self.forget()

    def forget(self) -> None:
        """The canvas' font and fill colour are unknown (a new page, platypus drew)."""
        self._font: tuple[str, float] | None = None
        self._fill = None

    def set_font(self, name: str, size: float) -> None:
        # canvas.setFont writes operators each time: only when the font changes.
        if self._font != (name, size):
            self.canvas.setFont(name, size)
            self._font = (name, size)

    def set_fill(self, color) -> None:
        if self._fill is not color:
            self.canvas.setFillColor(color)
            self._fill = color

    @property
    def room(self) -> float:
        return self.y - self.bottom

    def next(self) -> None:
        for finish in self.on_break:
            finish()
        self.canvas.showPage()
        self.page += 1
        self.y = self.top
        self.footer(self.canvas, self)
        self.forget()

    def close(self) -> None:
        for finish in self.on_break:
            finish()
        self.canvas.save()


class Grid:
    """Rows of cells in fixed columns, ruled like ``GRID_STYLE``, the header on every page."""

    def __init__(self, pages: Pages, widths: list[float], header: list[Cell] | None = None):
        self.pages = pages
        self.widths = widths
        self.edges = [pages.left]
        for width in widths:
            self.edges.append(self.edges[-1] + width)
        self.header = header
        self.header_height = self.row_height(header) if header else 0.0
        self.block_top: float | None = None  # where the grid starts on this page
        self.rules: list[float] = []  # y of every row's bottom on this page
        pages.on_break.append(self.finish_page)

    @staticmethod
    def row_height(cells: list[Cell]) -> float:
        return max(cell.height for cell in cells) + 2 * CELL_PADDING

    def start_page_block(self) -> None:
        self.block_top = self.pages.y
        if self.header:
            self._draw_row(self.header, self.header_height, fill=_HEADER_FILL)

    def _draw_row(self, cells: list[Cell], height: float, *, fill=None, middle=True) -> None:
        pages, top = self.pages, self.pages.y
        if fill is not None:
            pages.set_fill(fill)
            pages.canvas.rect(self.edges[0], top - height, self.edges[-1] - self.edges[0],
                              height, stroke=0, fill=1)  # fmt: skip
        for cell, left, width in zip(cells, self.edges[:-1], self.widths, strict=True):
            offset = (height - 2 * CELL_PADDING - cell.height) / 2 if middle else 0.0
            cell.draw(pages, left, width, top - CELL_PADDING - offset)
        self.pages.y = top - height
        self.rules.append(self.pages.y)

    def add(self, cells: list[Cell]) -> None:
        pages = self.pages
        full_page = pages.top - pages.bottom - self.header_height
        while True:
            if self.block_top is None:
                self.start_page_block()
            height = self.row_height(cells)
            room = pages.room
            if height <= room:
                self._draw_row(cells, height)
                return
            fresh = len(self.rules) == (1 if self.header else 0)
            if height <= full_page and not fresh:
                pages.next()  # the row fits on a page of its own: start one
                continue
            parts = [cell.split(room - 2 * CELL_PADDING) for cell in cells]
            heads = [head for head, _ in parts]
            if not any(head.items for head in heads):
                if fresh:  # nothing fits even on an empty page: draw it and overflow
                    self._draw_row(cells, height)
                    return
                pages.next()
                continue
            self._draw_row(heads, self.row_height(heads), middle=False)
            cells = [tail for _, tail in parts]
            pages.next()

    def finish_page(self) -> None:
        """Rule the grid drawn on this page: row lines, then the column lines."""
        if self.block_top is None or not self.rules:
            self.block_top = None
            return
        canvas = self.pages.canvas
        top, bottom = self.block_top, self.rules[-1]
        left, right = self.edges[0], self.edges[-1]
        lines = [(left, top, right, top)] + [(left, y, right, y) for y in self.rules]
        lines += [(x, top, x, bottom) for x in self.edges]
        canvas.setLineWidth(_RULE)
        canvas.lines(lines)
        self.block_top = None
        self.rules = []

    def close(self) -> None:
        self.finish_page()
        self.pages.on_break.remove(self.finish_page)
