"""The embedded fonts of the documents.

Every glyph on the page comes from a TrueType font embedded in the PDF
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

from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).parent.parent / "fonts"
FONT = "PavilionSans"
FONT_BOLD = "PavilionSans-Bold"


@cache
def register_fonts() -> None:
    """Register the embedded fonts with ReportLab once per process."""
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "NotoSansSC-Regular.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "NotoSansSC-Bold.ttf")))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD
    )
