"""Code 128 barcodes, what hand scanners read out of the box: the text a document's
barcode encodes, the barcode as a platypus flowable, and its bars as PDF operators
for the pick list's canvas (``reportlab.graphics.barcode.code128`` computes them)."""

from __future__ import annotations

from functools import lru_cache

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.platypus import Flowable

BARCODE_KINDS = {"pick_list": "PL-", "shipment": "SH-", "sku": ""}


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


def code128(value: str, max_width: float, bar_height: float) -> Flowable:
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


class _BarRecorder:
    """Stands in for the canvas while a Code 128 draws: keeps its bars as PDF operators."""

    def __init__(self):
        self.ops: list[str] = []

    def rect(self, x, y, width, height, stroke=0, fill=1) -> None:
        self.ops.append(f"{x:.3f} {y:.3f} {width:.3f} {height:.3f} re")


@lru_cache(maxsize=2048)
def code128_bars(value: str, max_width: float, bar_height: float) -> tuple[str, float]:
    """A Code 128 as ``code128`` makes it (ReportLab computes the bars), as the PDF
    operators that fill its bars, and its width with the quiet zones. Made once per
    value and size: a SKU's barcode repeats on every line of that SKU."""
    code = code128(value, max_width, bar_height)
    recorder = _BarRecorder()
    code.canv = recorder
    code.draw()  # bars only: the human-readable line is off
    del code.canv
    return " ".join(recorder.ops) + " f", code.width
