"""Rebuild the vendored fonts from Noto Sans SC (OFL-1.1).

Not part of the application: run by hand when the fonts need to change.

    python -m venv /tmp/ft && /tmp/ft/bin/pip install fonttools
    /tmp/ft/bin/python warehouse/fonts/make_subset.py "/path/to/NotoSansSC[wght].ttf"

The source is Google Fonts' variable ``NotoSansSC[wght].ttf`` (TrueType outlines;
also shipped by the PyPI package ``justmytype-intl-cjk``). Its default instance
is Thin, so each weight is instanced first, then subset:

* Regular: Latin, Latin-1, Latin Extended-A, Cyrillic, punctuation and currency
  signs, CJK punctuation, full-width forms and every CJK Unified Ideograph the
  font has (U+4E00..U+9FFF, ~21,000): product names and Chinese addresses may
  use any of them (names such as 玥 or 喆 are outside GB 2312).
* Bold: the same minus the ideographs outside GB 2312 (6,763 hanzi): bold is
  only used for the documents' fixed labels, bins, codes and quantities.

Layout tables (GSUB/GPOS), vertical metrics and hinting are dropped: ReportLab
uses none of them, and printing does not need hinting.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

HERE = Path(__file__).parent

BASE = (
    set(range(0x20, 0x7F))  # Basic Latin
    | set(range(0xA0, 0x180))  # Latin-1, Latin Extended-A
    | set(range(0x400, 0x460))  # Cyrillic (Russian)
    | set(range(0x2000, 0x2070))  # General punctuation
    | set(range(0x20A0, 0x20C0))  # Currency signs
    | {0x2116, 0x2190, 0x2192, 0x2022, 0x25A1}  # №, arrows, bullet, box
    | set(range(0x3000, 0x3040))  # CJK symbols and punctuation
    | set(range(0xFF00, 0xFFF0))  # Full-width forms
)
ALL_IDEOGRAPHS = set(range(0x4E00, 0xA000))


def gb2312_hanzi() -> set[int]:
    """Rows 16-87 of GB 2312: its 6,763 hanzi (an unassigned code decodes to nothing)."""
    pairs = (bytes([high, low]) for high in range(0xB0, 0xF8) for low in range(0xA1, 0xFF))
    return {ord(char) for pair in pairs for char in pair.decode("gb2312", errors="ignore")}


def build(source: Path, weight: int, style: str, unicodes: set[int]) -> Path:
    font = instancer.instantiateVariableFont(TTFont(source), {"wght": weight})
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.drop_tables += ["vhea", "vmtx", "BASE", "STAT", "GSUB", "GPOS", "GDEF"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    names = font["name"]
    family, postscript = "Noto Sans SC", f"NotoSansSC-{style}"
    for record in list(names.names):
        if record.nameID in (1, 2, 3, 4, 6, 16, 17):
            names.removeNames(nameID=record.nameID)
    names.setName(family, 1, 3, 1, 0x409)
    names.setName(style, 2, 3, 1, 0x409)
    names.setName(f"{postscript};pavilion-subset", 3, 3, 1, 0x409)
    names.setName(f"{family} {style}", 4, 3, 1, 0x409)
    names.setName(postscript, 6, 3, 1, 0x409)
    font["OS/2"].usWeightClass = weight
    target = HERE / f"{postscript}.ttf"
    font.save(target)
    return target


def main(source: str) -> None:
    path = Path(source)
    for weight, style, unicodes in (
        (400, "Regular", BASE | ALL_IDEOGRAPHS),
        (700, "Bold", BASE | gb2312_hanzi()),
    ):
        target = build(path, weight, style, unicodes)
        print(target, target.stat().st_size)


if __name__ == "__main__":
    main(sys.argv[1])
