"""The A4 page both documents share: its geometry, the paragraph styles, how
times, amounts and countries print, the footer, the title block with the
document's barcode, and the PDF set up the same way whether platypus lays it out
(the packing slip) or it is drawn on the canvas (the pick list)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from functools import cache
from xml.sax.saxutils import escape

from babel import Locale, UnknownLocaleError
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

from catalog.money import Money, round_to_currency
from warehouse.documents.barcodes import code128
from warehouse.documents.fonts import FONT, FONT_BOLD, register_fonts
from warehouse.documents.labels import labels_for

SHOP_NAME = "SCO Pavilion"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 14 * mm
FRAME_PADDING = 6  # platypus' default padding inside the page frame, each side
CONTENT_WIDTH = PAGE_WIDTH - 2 * (MARGIN + FRAME_PADDING)


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


def paragraph(text: str, style: str) -> Paragraph:
    """Escaped text in a style; text with Chinese may wrap between any two characters."""
    base = _styles()[style]
    if any(_is_cjk(char) for char in text):
        base = ParagraphStyle(f"{base.name}-cjk", parent=base, wordWrap="CJK")
    return Paragraph(escape(text), base)


def markup_paragraph(markup: str, style: str) -> Paragraph:
    """Already-escaped markup (``<b>``, ``<br/>``)."""
    base = _styles()[style]
    return Paragraph(markup, base)


def printed_time(moment: datetime) -> str:
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def printed_amount(money: Money) -> str:
    return f"{round_to_currency(money.amount, money.currency)} {money.currency}"


def printed_country(code: str, lang: str) -> str:
    try:
        name = Locale.parse(lang).territories.get(code.upper())
    except (UnknownLocaleError, ValueError):
        name = None
    return f"{code} — {name}" if name else code


def page_footer(title: str, lang: str):
    def draw(canvas, document):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.drawString(MARGIN, MARGIN / 2, f"{SHOP_NAME} · {title}")
        page = labels_for(lang)["page"].format(page=document.page)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN / 2, page)
        canvas.restoreState()

    return draw


def build_platypus_pdf(story: list, title: str, lang: str) -> bytes:
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
    footer = page_footer(title, lang)
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


GRID_STYLE = [
    ("FONTNAME", (0, 0), (-1, -1), FONT),  # for plain-string cells: no stray Helvetica
    ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ("TOPPADDING", (0, 0), (-1, -1), 3),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
]
HEADER_ROW_STYLE = [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDDDDD"))]


def title_block(title: str, facts: list[tuple[str, str]], barcode: str) -> Table:
    """Title and facts on the left, the document's barcode on the right."""
    left = [paragraph(title, "title"), Spacer(0, 3 * mm)]
    left.append(
        Table(
            [[paragraph(label, "label"), paragraph(value, "body")] for label, value in facts],
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
    right = [code128(barcode, 70 * mm, 16 * mm), paragraph(barcode, "code")]
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


def new_canvas(buffer: io.BytesIO, title: str, lang: str) -> Canvas:
    """A canvas set up as ``build_platypus_pdf``'s document template sets up its own."""
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
