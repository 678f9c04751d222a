"""Printed warehouse documents: the pick list and the packing slip, as A4 PDFs.

Pure rendering: the caller hands in frozen dataclasses (``inputs``: no models, no
database) and gets the PDF's bytes back. Barcodes are Code 128, what hand scanners
read out of the box; every glyph comes from a TrueType font embedded in the PDF
(``fonts`` says which and why).

* ``inputs``: the dataclasses a caller fills in;
* ``labels``: the fixed texts, per language;
* ``fonts``: the embedded fonts, registered once per process;
* ``barcodes``: what a barcode encodes, and Code 128 as a flowable or as bars;
* ``page``: the A4 page both share: styles, footer, title block, PDF set-up;
* ``canvas_grid``: a grid drawn straight on the canvas, for thousands of rows;
* ``pick_list`` and ``packing_slip``: the two documents.
"""

from warehouse.documents.barcodes import BARCODE_KINDS, barcode_value
from warehouse.documents.fonts import FONT, FONT_BOLD, FONT_DIR, register_fonts
from warehouse.documents.inputs import PackingSlipDoc, PickDocLine, PickListDoc, SlipLine
from warehouse.documents.labels import LABELS, labels_for
from warehouse.documents.packing_slip import render_packing_slip_pdf
from warehouse.documents.page import SHOP_NAME
from warehouse.documents.pick_list import render_pick_list_pdf

__all__ = [
    "BARCODE_KINDS",
    "FONT",
    "FONT_BOLD",
    "FONT_DIR",
    "LABELS",
    "SHOP_NAME",
    "PackingSlipDoc",
    "PickDocLine",
    "PickListDoc",
    "SlipLine",
    "barcode_value",
    "labels_for",
    "register_fonts",
    "render_packing_slip_pdf",
    "render_pick_list_pdf",
]
