"""Printed warehouse documents: the pick list and the packing slip, as A4 PDFs.

Pure rendering: the caller hands in frozen dataclasses (no models, no
database) and gets the PDF's bytes back. Built with ReportLab's platypus;
barcodes are Code 128 (``reportlab.graphics.barcode.code128``), what
hand scanners read out of the box.

Fonts. Every glyph on the page comes from a TrueType font embedded in the PDF
(a subset of the glyphs used), so a printer or viewer without Cyrillic or
Chinese fonts prints the same page. ReportLab embeds only TrueType (``glyf``)
outlines, not CFF/OpenType, and its CID fonts (STSong-Light) are never
embedded, so neither is used. The font is Noto Sans SC (SIL Open Font License
1.1, ``warehouse/fonts/OFL.txt``), which has Latin, Cyrillic and Chinese in one
face, so no per-run font switching is needed. The files are vendored subsets
(``warehouse/fonts/make_subset.py`` rebuilds them from Google Fonts' variable
``NotoSansSC[wght].ttf``, whose default instance is Thin and so cannot be used
as shipped by the PyPI packages that carry it):

* ``NotoSansSC-Regular.ttf`` (~7.4 MB): Latin, Latin-1/Extended-A, Cyrillic,
  punctuation, every CJK Unified Ideograph (U+4E00..U+9FFF) — product names
  and Chinese addresses may use any of them.
* ``NotoSansSC-Bold.ttf`` (~2.2 MB): the same but only the 6,763 GB 2312
  ideographs; bold is used only for the fixed labels, bins, codes and
  quantities, never for free text.

Neither has the ruble sign, so amounts print with ISO codes (``12.50 CNY``).
A character outside the font (rare ideographs beyond the BMP block, emoji)
prints as an empty box rather than failing the document.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from babel import Locale, UnknownLocaleError
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from catalog.money import Money, round_to_currency

FONT_DIR = Path(__file__).parent / "fonts"
FONT = "PavilionSans"
FONT_BOLD = "PavilionSans-Bold"
SHOP_NAME = "SCO Pavilion"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 14 * mm
FRAME_PADDING = 6  # platypus' default padding inside the page frame, each side
CONTENT_WIDTH = PAGE_WIDTH - 2 * (MARGIN + FRAME_PADDING)

BARCODE_KINDS = {"pick_list": "PL-", "shipment": "SH-", "sku": ""}


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class PickDocLine:
    position: int
    sku: str
    name: str
    bin: str | None
    quantity: int
    shipments: tuple[tuple[int, int], ...]  # (shipment_id, quantity), by shipment id


@dataclass(frozen=True)
class PickListDoc:
    id: int
    node: str
    node_name: str
    created_at: datetime
    created_by: str
    lang: str
    lines: tuple[PickDocLine, ...]
    shipment_count: int
    unit_count: int


@dataclass(frozen=True)
class SlipLine:
    sku: str
    name: str
    quantity: int
    hs_code: str
    origin_country: str
    unit_value: Money
    weight_g: int  # of one unit

    @property
    def value(self) -> Money:
        """Quantity × unit value, rounded to the currency as the slip prints it."""
        amount = self.unit_value.amount * self.quantity
        return Money(round_to_currency(amount, self.unit_value.currency), self.unit_value.currency)


@dataclass(frozen=True)
class PackingSlipDoc:
    shipment_id: int
    order_number: str
    node: str
    lane: str | None
    customs_mode: str | None  # "9610" direct, "1210" bonded, None: ordinary postal/courier
    created_at: datetime
    recipient: str
    address_lines: tuple[str, ...]
    phone: str
    destination_country: str
    lines: tuple[SlipLine, ...]
    shipping: Money
    lang: str
    # The sender block; empty: the shop's name and the node code.
    sender_lines: tuple[str, ...] = ()

    @property
    def currency(self) -> str:
        return self.lines[0].unit_value.currency if self.lines else self.shipping.currency

    @property
    def total_value(self) -> Money:
        """The contents' declared value (shipping excluded): the sum of the printed
        line values, so the form adds up. The lines must share one currency."""
        currencies = {line.unit_value.currency for line in self.lines}
        if len(currencies) > 1:
            raise ValueError(f"slip lines in several currencies: {sorted(currencies)}")
        total = sum((line.value.amount for line in self.lines), Decimal(0))
        return Money(total, self.currency)

    @property
    def total_weight_g(self) -> int:
        return sum(line.weight_g * line.quantity for line in self.lines)

    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


def barcode_value(kind: str, id_or_code: int | str) -> str:
    """What a document's Code 128 encodes: ``PL-12`` (pick list), ``SH-345``
    (shipment), a SKU's code as it is. Scanning it back gives the same text."""
    try:
        prefix = BARCODE_KINDS[kind]
    except KeyError:
        raise ValueError(f"no barcode kind {kind!r}; one of {sorted(BARCODE_KINDS)}") from None
    value = f"{prefix}{id_or_code}"
    if not value or not value.isascii() or not value.isprintable():
        # Code 128 has printable ASCII only; ReportLab would silently drop the rest.
        raise ValueError(f"{value!r} cannot be a Code 128 barcode (printable ASCII only)")
    return value


# ------------------------------------------------------------------ labels

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "pick_list": "Pick list",
        "node": "Node",
        "created_by": "Created by",
        "created_at": "Created",
        "shipments": "Shipments",
        "units": "Units",
        "lines": "Lines",
        "bin": "Bin",
        "sku": "SKU",
        "product": "Product",
        "qty": "Qty",
        "for_shipments": "For shipments",
        "no_bin": "— no bin —",
        "batch": "Shipments in this batch",
        "n_units": "{n} units",
        "on_lines": "lines {positions}",
        "page": "Page {page}",
        "packing_slip": "Packing slip",
        "shipment": "Shipment",
        "order": "Order",
        "lane": "Lane",
        "date": "Date",
        "sender": "Sender",
        "recipient": "Recipient",
        "phone": "Phone",
        "destination": "Destination",
        "customs": "Customs declaration CN22 / CN23",
        "category": "Category of item: sale of goods",
        "description": "Detailed description of contents",
        "hs_code": "HS tariff number",
        "origin": "Country of origin",
        "value": "Value",
        "weight": "Net weight, g",
        "total": "Total",
        "shipping": "Postage / shipping (not in declared value)",
        "customs_mode": "Customs mode",
        "mode_9610": "9610 — cross-border e-commerce, direct shipment",
        "mode_1210": "1210 — cross-border e-commerce, bonded import",
        "mode_none": "ordinary postal / courier clearance",
        "declaration": (
            "I, the undersigned, certify that the particulars given in this declaration "
            "are correct and that this item does not contain any dangerous article or "
            "articles prohibited by legislation or by postal or customs regulations."
        ),
        "signature": "Date and sender's signature",
    },
    "ru": {
        "pick_list": "Лист подбора",
        "node": "Склад",
        "created_by": "Создал",
        "created_at": "Создан",
        "shipments": "Отправления",
        "units": "Единиц",
        "lines": "Строк",
        "bin": "Ячейка",
        "sku": "Артикул",
        "product": "Товар",
        "qty": "Кол-во",
        "for_shipments": "Для отправлений",
        "no_bin": "— без ячейки —",
        "batch": "Отправления в этой партии",
        "n_units": "{n} ед.",
        "on_lines": "строки {positions}",
        "page": "Стр. {page}",
        "packing_slip": "Упаковочный лист",
        "shipment": "Отправление",
        "order": "Заказ",
        "lane": "Маршрут",
        "date": "Дата",
        "sender": "Отправитель",
        "recipient": "Получатель",
        "phone": "Телефон",
        "destination": "Страна назначения",
        "customs": "Таможенная декларация CN22 / CN23",
        "category": "Категория отправления: продажа товаров",
        "description": "Подробное описание вложения",
        "hs_code": "Код ТН ВЭД (HS)",
        "origin": "Страна происхождения",
        "value": "Стоимость",
        "weight": "Вес нетто, г",
        "total": "Итого",
        "shipping": "Доставка (не входит в объявленную стоимость)",
        "customs_mode": "Таможенный режим",
        "mode_9610": "9610 — трансграничная электронная торговля, прямая отправка",
        "mode_1210": "1210 — трансграничная электронная торговля, бондовый склад",
        "mode_none": "обычное почтовое / курьерское оформление",
        "declaration": (
            "Я, нижеподписавшийся, подтверждаю, что сведения, указанные в декларации, "
            "верны и что отправление не содержит опасных предметов и предметов, "
            "запрещённых законодательством, почтовыми или таможенными правилами."
        ),
        "signature": "Дата и подпись отправителя",
    },
    "zh": {
        "pick_list": "拣货单",
        "node": "仓库",
        "created_by": "创建人",
        "created_at": "创建时间",
        "shipments": "包裹数",
        "units": "件数",
        "lines": "行数",
        "bin": "货位",
        "sku": "SKU",
        "product": "商品",
        "qty": "数量",
        "for_shipments": "对应包裹",
        "no_bin": "— 无货位 —",
        "batch": "本批包裹",
        "n_units": "{n} 件",
        "on_lines": "第 {positions} 行",
        "page": "第 {page} 页",
        "packing_slip": "装箱单",
        "shipment": "包裹",
        "order": "订单",
        "lane": "线路",
        "date": "日期",
        "sender": "寄件人",
        "recipient": "收件人",
        "phone": "电话",
        "destination": "目的国",
        "customs": "海关申报单 CN22 / CN23",
        "category": "内件类别：商品销售",
        "description": "内件详细名称",
        "hs_code": "HS 编码",
        "origin": "原产国",
        "value": "价值",
        "weight": "净重（克）",
        "total": "合计",
        "shipping": "运费（不计入申报价值）",
        "customs_mode": "监管方式",
        "mode_9610": "9610 跨境电子商务零售进口（直购）",
        "mode_1210": "1210 保税跨境贸易电子商务",
        "mode_none": "普通邮件 / 快件清关",
        "declaration": (
            "本人保证申报单所填各项内容真实无误，且邮件内未装有任何法律、"
            "邮政或海关规定禁止寄递的危险物品或违禁物品。"
        ),
        "signature": "日期及寄件人签名",
    },
}


def labels_for(lang: str) -> dict[str, str]:
    """The fixed texts in ``lang``; English for a language the documents do not have."""
    return LABELS.get(lang, LABELS["en"])


# ------------------------------------------------------------------ fonts and styles


@cache
def register_fonts() -> None:
    """Register the embedded fonts with ReportLab once per process."""
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "NotoSansSC-Regular.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "NotoSansSC-Bold.ttf")))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD
    )


def _style(name: str, size: float, *, bold: bool = False, **extra) -> ParagraphStyle:
    extra.setdefault("leading", size * 1.25)
    return ParagraphStyle(name, fontName=FONT_BOLD if bold else FONT, fontSize=size, **extra)


@cache
def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    return {
        "title": _style("title", 18, bold=True, leading=22),
        "body": _style("body", 9),
        "small": _style("small", 7.5, textColor=colors.HexColor("#333333")),
        "label": _style("label", 7.5, bold=True),
        "head": _style("head", 8, bold=True),
        "bin": _style("bin", 12, bold=True),
        "code": _style("code", 8, alignment=TA_CENTER),
        "qty": _style("qty", 20, bold=True, alignment=TA_CENTER, leading=24),
        "num": _style("num", 9, alignment=TA_RIGHT),
        "num_bold": _style("num_bold", 9, bold=True, alignment=TA_RIGHT),
        "order": _style("order", 14, bold=True, leading=18),
        "section": _style("section", 14, bold=True, leading=18, keepWithNext=1, spaceAfter=2),
        "person": _style("person", 11, leading=14),  # free text: regular face, all ideographs
    }


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF


def _para(text: str, style: str) -> Paragraph:
    """Escaped text in a style; text with Chinese may wrap between any two characters."""
    base = _styles()[style]
    if any(_is_cjk(char) for char in text):
        base = ParagraphStyle(f"{base.name}-cjk", parent=base, wordWrap="CJK")
    return Paragraph(escape(text), base)


def _markup(markup: str, style: str) -> Paragraph:
    """Already-escaped markup (``<b>``, ``<br/>``)."""
    base = _styles()[style]
    return Paragraph(markup, base)


def _barcode(value: str, max_width: float, bar_height: float) -> Flowable:
    """A Code 128 that fits ``max_width`` with its 10-module quiet zones; bars no
    wider than 0.33 mm (ReportLab's human-readable line is off: we print the
    text ourselves in the embedded font)."""
    modules = Code128(value, barWidth=1, quiet=0).width
    bar_width = min(0.33 * mm, max_width / (modules + 20))
    return Code128(
        value,
        barWidth=bar_width,
        barHeight=bar_height,
        quiet=1,
        lquiet=10 * bar_width,
        rquiet=10 * bar_width,
        humanReadable=0,
    )


def _when(moment: datetime) -> str:
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def _amount(money: Money) -> str:
    return f"{round_to_currency(money.amount, money.currency)} {money.currency}"


def _country(code: str, lang: str) -> str:
    try:
        name = Locale.parse(lang).territories.get(code.upper())
    except (UnknownLocaleError, ValueError):
        name = None
    return f"{code} — {name}" if name else code


def _shipment_label(shipment_id: int) -> str:
    return barcode_value("shipment", shipment_id)


def _footer(title: str, lang: str):
    def draw(canvas, document):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.drawString(MARGIN, MARGIN / 2, f"{SHOP_NAME} · {title}")
        page = labels_for(lang)["page"].format(page=document.page)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN / 2, page)
        canvas.restoreState()

    return draw


def _build(story: list, title: str, lang: str) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author=SHOP_NAME,
        creator=SHOP_NAME,
        lang={"zh": "zh-CN"}.get(lang, lang),
        # Start each page in the embedded font: not even an unused Helvetica reference.
        initialFontName=FONT,
        initialFontSize=9,
    )
    footer = _footer(title, lang)
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


_GRID = [
    ("FONTNAME", (0, 0), (-1, -1), FONT),  # for plain-string cells: no stray Helvetica
    ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ("TOPPADDING", (0, 0), (-1, -1), 3),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
]
_HEADER_ROW = [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDDDDD"))]


def _title_block(title: str, facts: list[tuple[str, str]], barcode: str) -> Table:
    """Title and facts on the left, the document's barcode on the right."""
    left = [_para(title, "title"), Spacer(0, 3 * mm)]
    left.append(
        Table(
            [[_para(label, "label"), _para(value, "body")] for label, value in facts],
            colWidths=[30 * mm, 75 * mm],
            style=[
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ],
        )
    )
    right = [_barcode(barcode, 70 * mm, 16 * mm), _para(barcode, "code")]
    return Table(
        [[left, right]],
        colWidths=[CONTENT_WIDTH - 72 * mm, 72 * mm],
        style=[
            ("FONTNAME", (0, 0), (-1, -1), FONT),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ALIGN", (1, 0), (1, 0), "CENTER"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ],
    )


# ------------------------------------------------------------------ pick list
#
# A pick list can run to thousands of lines, so it is not laid out with platypus
# (a Paragraph per cell and Tables that re-measure every row on every split cost
# about 2 ms a line). It is drawn straight on the canvas by the small grid below:
# each cell is a column of unbreakable items (a line of text, a barcode), a row
# is as tall as its tallest cell, the header repeats on every page, and a row
# taller than what is left of a page (a line feeding hundreds of shipments)
# continues on the next. Text wraps at spaces, and between any two Chinese
# characters. A barcode's bars are computed once per value (a SKU's repeats on
# every line of that SKU) and written as PDF operators. Only the title block is
# platypus, drawn once.

# #, bin, SKU barcode with code and name, quantity, shipments. The SKU's cell is wide
# so that a 20-30 character code still prints with bars of 0.2 mm (8 mil) or more.
_PICK_COLUMNS = [8 * mm, 26 * mm, 0, 16 * mm, 36 * mm]
_PICK_COLUMNS[2] = CONTENT_WIDTH - sum(_PICK_COLUMNS)
_BATCH_COLUMNS = [56 * mm, CONTENT_WIDTH / 2 - 56 * mm] * 2
_PADDING = 3  # inside every cell, each side, as _GRID
_RULE = 0.4  # grid line width, as _GRID
_HEADER_FILL = colors.HexColor("#DDDDDD")
_SMALL_FILL = colors.HexColor("#333333")
_SPACES = " \u2002"
_LINE_BREAKS = str.maketrans("\t\n\r\v\f", "     ")  # wrapped like spaces, never printed
_CJK_RANGES = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
# A wrap token: one Chinese character, or a run of anything but spaces and Chinese,
# either with the spaces after it; or spaces alone (at the start of a text).
_TOKEN = re.compile(
    f"[{_CJK_RANGES}][{_SPACES}]*|[^{_SPACES}{_CJK_RANGES}]+[{_SPACES}]*|[{_SPACES}]+"
)


@lru_cache(maxsize=16384)
def _em_width(text: str, font: str) -> float:
    """Width of ``text`` at size 1 (TrueType widths are computed in Python: cached)."""
    return pdfmetrics.stringWidth(text, font, 1)


def _wrap(runs: list[tuple[str, str]], size: float, width: float) -> list[list[tuple[str, str]]]:
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
                    used += _em_width(token, font) * size
                continue
            if line and used + _em_width(word, font) * size > width:
                end_line()
            if _em_width(word, font) * size > width:  # longer than a line: cut it
                for char in word:
                    char_width = _em_width(char, font) * size
                    if line and used + char_width > width:
                        end_line()
                    put(char, font)
                    used += char_width
                token = token[len(word) :]
                if token and line:
                    put(token, font)
                    used += _em_width(token, font) * size
                continue
            put(token, font)
            used += _em_width(token, font) * size
    end_line()
    return lines or [[("", runs[0][1] if runs else FONT)]]


class _TextLine:
    """One line of text: segments of one size, each in its font."""

    __slots__ = ("fill", "height", "segments", "size", "width")

    def __init__(self, segments, size: float, leading: float, fill=colors.black):
        self.segments = segments
        self.size = size
        self.height = leading
        self.width = sum(_em_width(text, font) for text, font in segments) * size
        self.fill = fill

    def draw(self, pages: _Pages, x: float, top: float) -> None:
        # The baseline sits so that the middle of a capital is the line's middle.
        y = top - self.height / 2 - 0.35 * self.size
        pages.set_fill(self.fill)
        for text, font in self.segments:
            pages.set_font(font, self.size)
            pages.canvas.drawString(x, y, text)
            x += _em_width(text, font) * self.size


def _text(runs, size: float, width: float, *, leading: float | None = None, fill=colors.black):
    """Wrapped ``(text, font)`` runs as lines; a plain string is in the regular face."""
    if isinstance(runs, str):
        runs = [(runs, FONT)]
    leading = leading or size * 1.25
    return [_TextLine(line, size, leading, fill) for line in _wrap(runs, size, width)]


class _Gap:
    """Vertical space inside a cell."""

    __slots__ = ("height", "width")

    def __init__(self, height: float):
        self.height = height
        self.width = 0.0

    def draw(self, pages: _Pages, x: float, top: float) -> None:
        pass


class _BarRecorder:
    """Stands in for the canvas while a Code 128 draws: keeps its bars as PDF operators."""

    def __init__(self):
        self.ops: list[str] = []

    def rect(self, x, y, width, height, stroke=0, fill=1) -> None:
        self.ops.append(f"{x:.3f} {y:.3f} {width:.3f} {height:.3f} re")


@lru_cache(maxsize=2048)
def _bars(value: str, max_width: float, bar_height: float) -> tuple[str, float]:
    """A Code 128 as ``_barcode`` makes it (ReportLab computes the bars), as the PDF
    operators that fill its bars, and its width with the quiet zones. Made once per
    value and size: a SKU's barcode repeats on every line of that SKU."""
    code = _barcode(value, max_width, bar_height)
    recorder = _BarRecorder()
    code.canv = recorder
    code.draw()  # bars only: the human-readable line is off
    del code.canv
    return " ".join(recorder.ops) + " f", code.width


class _BarcodeItem:
    """A Code 128 in a cell, its bars in the current (black) fill colour."""

    __slots__ = ("bars", "height", "width")

    def __init__(self, value: str, max_width: float, bar_height: float):
        self.bars, self.width = _bars(value, max_width, bar_height)
        self.height = bar_height

    def draw(self, pages: _Pages, x: float, top: float) -> None:
        pages.set_fill(colors.black)
        pages.canvas.addLiteral(f"q 1 0 0 1 {x:.3f} {top - self.height:.3f} cm {self.bars} Q")


class _Cell:
    """A cell's items, top to bottom, and how they sit across the column."""

    __slots__ = ("align", "items")

    def __init__(self, items: list, align: str = "LEFT"):
        self.items = items
        self.align = align

    @property
    def height(self) -> float:
        return sum(item.height for item in self.items)

    def split(self, room: float) -> tuple[_Cell, _Cell]:
        """The items that fit in ``room`` and the rest (a row across two pages)."""
        used = 0.0
        for index, item in enumerate(self.items):
            if used + item.height > room:
                return _Cell(self.items[:index], self.align), _Cell(self.items[index:], self.align)
            used += item.height
        return self, _Cell([], self.align)

    def draw(self, pages: _Pages, left: float, width: float, top: float) -> None:
        for item in self.items:
            x = left + (width - item.width) / 2 if self.align == "CENTER" else left + _PADDING
            item.draw(pages, x, top)
            top -= item.height


class _Pages:
    """The page being drawn: the frame platypus would use, and the footer."""

    def __init__(self, canvas, title: str, lang: str):
        self.canvas = canvas
        self.footer = _footer(title, lang)
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


class _Grid:
    """Rows of cells in fixed columns, ruled like ``_GRID``, the header on every page."""

    def __init__(self, pages: _Pages, widths: list[float], header: list[_Cell] | None = None):
        self.pages = pages
        self.widths = widths
        self.edges = [pages.left]
        for width in widths:
            self.edges.append(self.edges[-1] + width)
        self.header = header
        self.header_height = self._height(header) if header else 0.0
        self.block_top: float | None = None  # where the grid starts on this page
        self.rules: list[float] = []  # y of every row's bottom on this page
        pages.on_break.append(self.finish_page)

    @staticmethod
    def _height(cells: list[_Cell]) -> float:
        return max(cell.height for cell in cells) + 2 * _PADDING

    def _start_page_block(self) -> None:
        self.block_top = self.pages.y
        if self.header:
            self._draw_row(self.header, self.header_height, fill=_HEADER_FILL)

    def _draw_row(self, cells: list[_Cell], height: float, *, fill=None, middle=True) -> None:
        pages, top = self.pages, self.pages.y
        if fill is not None:
            pages.set_fill(fill)
            pages.canvas.rect(self.edges[0], top - height, self.edges[-1] - self.edges[0],
                              height, stroke=0, fill=1)  # fmt: skip
        for cell, left, width in zip(cells, self.edges[:-1], self.widths, strict=True):
            offset = (height - 2 * _PADDING - cell.height) / 2 if middle else 0.0
            cell.draw(pages, left, width, top - _PADDING - offset)
        self.pages.y = top - height
        self.rules.append(self.pages.y)

    def add(self, cells: list[_Cell]) -> None:
        pages = self.pages
        full_page = pages.top - pages.bottom - self.header_height
        while True:
            if self.block_top is None:
                self._start_page_block()
            height = self._height(cells)
            room = pages.room
            if height <= room:
                self._draw_row(cells, height)
                return
            fresh = len(self.rules) == (1 if self.header else 0)
            if height <= full_page and not fresh:
                pages.next()  # the row fits on a page of its own: start one
                continue
            parts = [cell.split(room - 2 * _PADDING) for cell in cells]
            heads = [head for head, _ in parts]
            if not any(head.items for head in heads):
                if fresh:  # nothing fits even on an empty page: draw it and overflow
                    self._draw_row(cells, height)
                    return
                pages.next()
                continue
            self._draw_row(heads, self._height(heads), middle=False)
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
        (text["created_at"], _when(doc.created_at)),
        (text["shipments"], str(doc.shipment_count)),
        (text["units"], str(doc.unit_count)),
        (text["lines"], str(len(doc.lines))),
    ]
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title, doc.lang)
    pages = _Pages(canvas, title, doc.lang)

    block = _title_block(title, facts, code)
    _, height = block.wrapOn(canvas, CONTENT_WIDTH, pages.room)
    block.drawOn(canvas, pages.left, pages.y - height)
    pages.forget()
    pages.y -= height + 5 * mm

    inner = [width - 2 * _PADDING for width in _PICK_COLUMNS]
    header = [
        _Cell(_text([(label, FONT_BOLD)], 8, width))
        for label, width in zip(
            ("#", text["bin"], f"{text['sku']} / {text['product']}", text["qty"],
             text["for_shipments"]),
            inner,
            strict=True,
        )
    ]  # fmt: skip
    grid = _Grid(pages, _PICK_COLUMNS, header)
    no_bin = text["no_bin"].replace("— ", "—\u00a0").replace(" —", "\u00a0—")  # dashes stay on
    for line in doc.lines:
        grid.add(_pick_row(line, no_bin, inner))
    if not doc.lines:
        grid._start_page_block()  # the header alone
    grid.close()

    _batch_section(pages, doc, text)
    pages.close()
    return buffer.getvalue()


def _canvas(buffer: io.BytesIO, title: str, lang: str) -> Canvas:
    """A canvas set up as ``_build``'s document template sets up its own."""
    canvas = Canvas(
        buffer,
        pagesize=A4,
        lang={"zh": "zh-CN"}.get(lang, lang),
        # Start each page in the embedded font: not even an unused Helvetica reference.
        initialFontName=FONT,
        initialFontSize=9,
    )
    canvas.setTitle(title)
    canvas.setAuthor(SHOP_NAME)
    canvas.setCreator(SHOP_NAME)
    return canvas


def _pick_row(line: PickDocLine, no_bin: str, inner: list[float]) -> list:
    fed = ", ".join(
        f"{_shipment_label(shipment_id)}\u00a0×{quantity}"
        for shipment_id, quantity in line.shipments
    )
    if line.bin:
        # The bin large and on one line: the longest code (``ABC-123-123-123``) shrinks to fit.
        size = min(13.0, inner[1] / _em_width(line.bin, FONT_BOLD))
        bin_items = [_TextLine([(line.bin, FONT_BOLD)], size, size * 1.2)]
    else:
        bin_items = _text(no_bin, 9, inner[1])
    item = [
        _BarcodeItem(barcode_value("sku", line.sku), inner[2], 9 * mm),
        _Gap(2),
        *_text([(line.sku, FONT_BOLD), (f"\u2002{line.name}", FONT)], 9, inner[2]),
    ]
    return [
        _Cell(_text(str(line.position), 9, inner[0])),
        _Cell(bin_items),
        _Cell(item),
        _Cell([_TextLine([(str(line.quantity), FONT_BOLD)], 20, 24)], "CENTER"),
        _Cell(_text(fed, 7.5, inner[4], fill=_SMALL_FILL)),
    ]


def _batch_section(pages: _Pages, doc: PickListDoc, text: dict[str, str]) -> None:
    """One Code 128 per shipment, for the packing bench: units and the lines that feed it."""
    units: dict[int, int] = defaultdict(int)
    positions: dict[int, list[int]] = defaultdict(list)
    for line in doc.lines:
        for shipment_id, quantity in line.shipments:
            units[shipment_id] += quantity
            positions[shipment_id].append(line.position)
    if not units:
        return
    inner = [width - 2 * _PADDING for width in _BATCH_COLUMNS]
    cells = []
    for shipment_id in sorted(units):
        label = _shipment_label(shipment_id)
        listed = ", ".join(str(p) for p in sorted(positions[shipment_id]))
        cells.append(
            [
                _Cell([_BarcodeItem(label, 52 * mm, 11 * mm), *_text(label, 8, inner[0])],
                      "CENTER"),
                _Cell([
                    *_text([(label, FONT_BOLD)], 8, inner[1]),
                    *_text(text["n_units"].format(n=units[shipment_id]), 9, inner[1]),
                    *_text(text["on_lines"].format(positions=listed), 7.5, inner[1],
                           fill=_SMALL_FILL),
                ]),
            ]
        )  # fmt: skip
    if len(cells) % 2:
        cells.append([_Cell([]), _Cell([])])
    rows = [left + right for left, right in zip(cells[::2], cells[1::2], strict=True)]

    pages.y -= 6 * mm
    heading = _text([(text["batch"], FONT_BOLD)], 14, CONTENT_WIDTH, leading=18)
    needed = sum(item.height for item in heading) + 2 + _Grid._height(rows[0])
    if needed > pages.room:  # keep the heading with the first row
        pages.next()
    for item in heading:
        item.draw(pages, pages.left, pages.y)
        pages.y -= item.height
    pages.y -= 2
    grid = _Grid(pages, _BATCH_COLUMNS)
    for row in rows:
        grid.add(row)
    grid.close()


# ------------------------------------------------------------------ packing slip

_SLIP_COLUMNS = [56 * mm, 14 * mm, 24 * mm, 28 * mm, 28 * mm]  # the rest: weight
_SLIP_COLUMNS.append(CONTENT_WIDTH - sum(_SLIP_COLUMNS))


def render_packing_slip_pdf(slip: PackingSlipDoc) -> bytes:
    """The slip packed with the parcel: who, where, and a CN22/CN23-style
    declaration of every line with totals, customs mode and the sender's
    declaration."""
    text = labels_for(slip.lang)
    code = barcode_value("shipment", slip.shipment_id)
    title = f"{text['packing_slip']} {code}"
    facts = [
        (text["order"], slip.order_number),
        (text["shipment"], code),
        (text["node"], slip.node),
        (text["lane"], slip.lane or "—"),
        (text["date"], _when(slip.created_at)),
    ]
    story: list = [
        _title_block(title, facts, code),
        Spacer(0, 3 * mm),
        _markup(f"{escape(text['order'])} {escape(slip.order_number)}", "order"),
        Spacer(0, 3 * mm),
        _parties(slip, text),
        Spacer(0, 5 * mm),
        _para(text["customs"], "section"),
        _para(text["category"], "body"),
        Spacer(0, 2 * mm),
        _customs_table(slip, text),
        Spacer(0, 4 * mm),
        _customs_mode(slip, text),
        Spacer(0, 5 * mm),
        KeepTogether(
            [
                _para(text["declaration"], "body"),
                Spacer(0, 8 * mm),
                _para(
                    f"{text['signature']}: {_when(slip.created_at)[:10]}  ____________________",
                    "body",
                ),
            ]
        ),
    ]
    return _build(story, title, slip.lang)


def _parties(slip: PackingSlipDoc, text: dict[str, str]) -> Table:
    sender = slip.sender_lines or (SHOP_NAME, f"{text['node']}: {slip.node}")
    recipient = [slip.recipient, *slip.address_lines]
    if slip.phone:
        recipient.append(f"{text['phone']}: {slip.phone}")
    recipient.append(f"{text['destination']}: {_country(slip.destination_country, slip.lang)}")
    half = CONTENT_WIDTH / 2
    return Table(
        [
            [_para(text["sender"], "label"), _para(text["recipient"], "label")],
            [
                [_para(part, "body") for part in sender],
                [_para(slip.recipient, "person"), *(_para(part, "body") for part in recipient[1:])],
            ],
        ],
        colWidths=[half, half],
        style=TableStyle([*_GRID, *_HEADER_ROW, ("VALIGN", (0, 1), (-1, -1), "TOP")]),
    )


def _customs_table(slip: PackingSlipDoc, text: dict[str, str]) -> Table:
    header = [
        _para(text["description"], "head"),
        _para(text["qty"], "head"),
        _para(text["hs_code"], "head"),
        _para(text["origin"], "head"),
        _para(f"{text['value']}, {slip.currency}", "head"),
        _para(text["weight"], "head"),
    ]
    rows = [
        [
            [_para(line.name, "body"), _para(line.sku, "small")],
            _para(str(line.quantity), "num"),
            _para(line.hs_code, "body"),
            _para(_country(line.origin_country, slip.lang), "small"),
            _para(_amount(line.value), "num"),
            _para(str(line.weight_g * line.quantity), "num"),
        ]
        for line in slip.lines
    ]
    totals = [
        _para(text["total"], "head"),
        _para(str(slip.total_quantity), "num_bold"),
        "",
        "",
        _para(_amount(slip.total_value), "num_bold"),
        _para(str(slip.total_weight_g), "num_bold"),
    ]
    shipping = [
        _para(text["shipping"], "small"),
        "",
        "",
        "",
        _para(_amount(slip.shipping), "num"),
        "",
    ]
    last = len(rows) + 1
    return Table(
        [header, *rows, totals, shipping],
        colWidths=_SLIP_COLUMNS,
        repeatRows=1,
        style=TableStyle(
            [
                *_GRID,
                *_HEADER_ROW,
                ("LINEABOVE", (0, last), (-1, last), 1.2, colors.black),
                ("SPAN", (0, last + 1), (3, last + 1)),
            ]
        ),
    )


def _customs_mode(slip: PackingSlipDoc, text: dict[str, str]) -> Paragraph:
    mode = slip.customs_mode
    described = text.get(f"mode_{mode}", mode) if mode else text["mode_none"]
    return _markup(f"<b>{escape(text['customs_mode'])}:</b> {escape(described)}", "body")
