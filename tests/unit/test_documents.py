"""Pick list and packing slip PDFs: what a person reads on them, in every language,
in an embedded font, on A4 (text read back with pypdf; no database)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader
from reportlab.lib.units import mm

from catalog.money import Money
from warehouse import documents
from warehouse.documents import (
    LABELS,
    PackingSlipDoc,
    PickDocLine,
    PickListDoc,
    SlipLine,
    barcode_value,
    labels_for,
    render_packing_slip_pdf,
    render_pick_list_pdf,
)
from warehouse.documents.barcodes import code128, code128_bars
from warehouse.documents.canvas_grid import CELL_PADDING, wrap
from warehouse.documents.pick_list import PICK_COLUMNS

CHOCOLATE_RU = "Шоколад Алёнка"
CHOCOLATE_ZH = "爱莲巧牛奶巧克力"
CREATED = datetime(2025, 3, 1, 10, 5, tzinfo=UTC)


def read(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, re.sub(r"[ \u00a0]+", " ", text)


def shows(text: str, expected: str) -> bool:
    """``expected`` is on the page, perhaps wrapped inside a table cell (a wrapped
    Latin or Cyrillic text breaks at a space, Chinese anywhere)."""
    return any(expected in view for view in (text, text.replace("\n", " "), text.replace("\n", "")))


def has_number(text: str, number: int | str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(str(number))}(?![\d.])", text) is not None


def fonts_of(reader: PdfReader) -> list:
    """Every font a page uses, descending into Type0 (composite) fonts."""
    found = []
    for page in reader.pages:
        for font in page["/Resources"].get("/Font", {}).values():
            font = font.get_object()
            found.append(font)
            for descendant in font.get("/DescendantFonts", []):
                found.append(descendant.get_object())
    return found


def assert_print_ready(reader: PdfReader) -> None:
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == (595, 842)  # A4 portrait
    fonts = fonts_of(reader)
    assert fonts
    for font in fonts:
        if font["/Subtype"] == "/Type0":
            continue  # its descendant carries the descriptor
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
        assert "NotoSansSC" in font["/BaseFont"]


# ------------------------------------------------------------------ barcode values


def test_barcode_values_name_the_document_kind():
    assert barcode_value("pick_list", 12) == "PL-12"
    assert barcode_value("shipment", 345) == "SH-345"
    assert barcode_value("sku", "CHOC-ALYONKA-100G") == "CHOC-ALYONKA-100G"


def test_barcode_values_refuse_unknown_kinds_and_what_code_128_cannot_hold():
    with pytest.raises(ValueError, match="no barcode kind"):
        barcode_value("order", 1)
    with pytest.raises(ValueError, match="printable ASCII"):
        barcode_value("sku", "ШОК-1")
    with pytest.raises(ValueError, match="printable ASCII"):
        barcode_value("sku", "")


# ------------------------------------------------------------------ labels and fonts


def test_every_language_has_every_label():
    for lang in ("ru", "zh"):
        assert LABELS[lang].keys() == LABELS["en"].keys()
    assert labels_for("de") is LABELS["en"]


def test_both_fonts_have_every_glyph_of_every_label():
    """Labels are set in bold, whose subset has only GB 2312 ideographs: a new
    label with a rarer character would print as a box. Rebuild the font then."""
    documents.register_fonts()
    from reportlab.pdfbase import pdfmetrics

    for font_name in (documents.FONT, documents.FONT_BOLD):
        glyphs = pdfmetrics.getFont(font_name).face.charToGlyph
        for lang, labels in LABELS.items():
            for key, label in labels.items():
                missing = {char for char in label if ord(char) not in glyphs}
                assert not missing, f"{font_name} lacks {missing} of {lang}.{key}"


def test_the_regular_font_has_names_beyond_gb2312_and_russian():
    documents.register_fonts()
    from reportlab.pdfbase import pdfmetrics

    glyphs = pdfmetrics.getFont(documents.FONT).face.charToGlyph
    for char in "玥喆堃" + CHOCOLATE_ZH + CHOCOLATE_RU + "ЁёЩщЪъ×—№":
        assert ord(char) in glyphs, char


# ------------------------------------------------------------------ pick list


def pick_list(lang: str = "en", lines: tuple[PickDocLine, ...] | None = None) -> PickListDoc:
    if lines is None:
        lines = (
            PickDocLine(1, "CHOC-ALYONKA-100G", CHOCOLATE_RU, "A-2-05", 37, ((12, 2), (15, 35))),
            PickDocLine(2, "CHOC-AILIAN-90G", CHOCOLATE_ZH, "A-10-02", 58, ((15, 58),)),
            PickDocLine(
                3, "TEA-LONGJING", "Green tea <Longjing> & co", "CN-10-2-3", 91, ((17, 91),)
            ),
            PickDocLine(4, "HONEY-ALTAI", "Мёд алтайский", None, 6, ((12, 6),)),
        )
    return PickListDoc(
        id=12,
        node="RU-WH",
        node_name="Склад Москва",
        created_at=CREATED,
        created_by="picker@example.com",
        lang=lang,
        lines=lines,
        shipment_count=3,
        unit_count=sum(line.quantity for line in lines),
    )


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_pick_list_shows_every_stop_in_walking_order(lang):
    doc = pick_list(lang)
    reader, text = read(render_pick_list_pdf(doc))

    assert_print_ready(reader)
    labels = labels_for(lang)
    assert f"{labels['pick_list']} PL-12" in text
    for fact in ("RU-WH", "Склад Москва", "picker@example.com", "2025-03-01 10:05 UTC"):
        assert fact in text
    assert has_number(text, doc.unit_count)
    for line in doc.lines:
        assert line.sku in text
        assert has_number(text, line.quantity)
        for shipment_id, quantity in line.shipments:
            assert f"SH-{shipment_id} ×{quantity}" in text
    for name in (CHOCOLATE_RU, CHOCOLATE_ZH, "Green tea <Longjing> & co", "Мёд алтайский"):
        assert name in text
    assert shows(text, labels["no_bin"])
    stops = [text.index(code) for code in ("A-2-05", "A-10-02", "CN-10-2-3", "HONEY-ALTAI")]
    assert stops == sorted(stops)


def test_pick_list_ends_with_a_barcode_section_per_shipment():
    _, text = read(render_pick_list_pdf(pick_list("ru")))

    section = text[text.index(labels_for("ru")["batch"]) :]
    for shipment_id, units in ((12, 8), (15, 93), (17, 91)):
        assert f"SH-{shipment_id}" in section
        assert f"{units} ед." in section
    assert "строки 1, 4" in section  # where SH-12's units are on the list


def test_a_long_pick_list_runs_over_pages_with_every_line():
    lines = tuple(
        PickDocLine(
            n, f"SKU-{n:04d}", f"Товар {n} 商品", f"A-{n // 10 + 1}-{n % 10 + 1}", n, ((n, n),)
        )
        for n in range(1, 301)
    )
    reader, text = read(render_pick_list_pdf(pick_list("zh", lines)))

    assert len(reader.pages) > 5
    assert_print_ready(reader)
    assert all(f"SKU-{n:04d}" in text for n in range(1, 301))
    pages_with_lines = [page.extract_text() for page in reader.pages]
    pages_with_lines = [page for page in pages_with_lines if re.search(r"SKU-\d{4}", page)]
    assert len(pages_with_lines) > 5
    for page in pages_with_lines:  # the header repeats on every page of the list
        assert labels_for("zh")["for_shipments"] in page
    stops = [text.index(f"SKU-{n:04d}") for n in range(1, 301)]
    assert stops == sorted(stops)


def test_a_line_feeding_hundreds_of_shipments_splits_over_pages_instead_of_failing():
    shipments = tuple((n, 1) for n in range(1, 401))
    lines = (PickDocLine(1, "CHOC-ALYONKA-100G", CHOCOLATE_RU, "A-1", 400, shipments),)
    reader, text = read(render_pick_list_pdf(pick_list("en", lines)))

    assert len(reader.pages) > 1
    fed = text[: text.index(labels_for("en")["batch"])]
    assert all(f"SH-{n} ×1" in fed for n in range(1, 401))  # none lost where the row splits


def test_every_line_and_every_shipment_carries_its_code_128():
    """The bars on the page are exactly what ReportLab's Code 128 draws for each value:
    one per line (a SKU repeated on two lines has its barcode on both), one per shipment,
    and the pick list's own."""
    from reportlab.pdfgen.canvas import Canvas

    lines = (
        PickDocLine(1, "CHOC-ALYONKA-100G", CHOCOLATE_RU, "A-1-01", 2, ((12, 2),)),
        PickDocLine(2, "CHOC-ALYONKA-100G", CHOCOLATE_RU, "A-2-01", 1, ((15, 1),)),
        PickDocLine(3, "TEA-LONGJING-250G-TIN-GIFTBOX-XL", "Tea", "B-1", 1, ((15, 1),)),
    )
    reader = PdfReader(io.BytesIO(render_pick_list_pdf(pick_list("en", lines))))
    content = b"".join(page.get_contents().get_data() for page in reader.pages).decode("latin-1")

    def drawn(value, width, height):
        bars, bars_width = code128_bars(value, width, height)
        assert bars_width <= width + 0.01  # fits its cell, quiet zones included
        return content.count(bars)

    sku_width = PICK_COLUMNS[2] - 2 * CELL_PADDING
    assert drawn("CHOC-ALYONKA-100G", sku_width, 9 * mm) == 2
    assert drawn("TEA-LONGJING-250G-TIN-GIFTBOX-XL", sku_width, 9 * mm) == 1
    for shipment in ("SH-12", "SH-15"):
        assert drawn(shipment, 52 * mm, 11 * mm) == 1
    # The cached bars are ReportLab's own: the rectangles Code128.drawOn puts on a canvas.
    canvas = Canvas(io.BytesIO(), pageCompression=0)
    code128("SH-15", 52 * mm, 11 * mm).drawOn(canvas, 0, 0)
    by_reportlab = rectangles(canvas.getpdfdata().decode("latin-1"))
    assert by_reportlab == rectangles(code128_bars("SH-15", 52 * mm, 11 * mm)[0])
    assert len(by_reportlab) > 10


def rectangles(pdf_operators: str) -> list[tuple[float, ...]]:
    return [
        tuple(round(float(n), 2) for n in found)
        for found in re.findall(r"([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) re", pdf_operators)
    ]


def test_text_wraps_at_spaces_and_between_chinese_characters_within_the_width():
    documents.register_fonts()
    from reportlab.pdfbase import pdfmetrics

    width = 60
    for text in (
        "Шоколад Алёнка молочный с орехами",
        "爱莲巧牛奶巧克力爱莲巧牛奶巧克力",
        "SH-1\u00a0×2, SH-2\u00a0×3, SH-345\u00a0×1, SH-6789\u00a0×12",
        "SUPERCALIFRAGILISTICEXPIALIDOCIOUS-CHOCOLATE",  # a word wider than the line
    ):
        lines = wrap([(text, documents.FONT)], 9, width)
        assert len(lines) > 1, text
        printed = ["".join(segment for segment, _ in line) for line in lines]
        for line in printed:
            assert pdfmetrics.stringWidth(line, documents.FONT, 9) <= width + 0.01, line
        assert "".join(printed).replace(" ", "") == text.replace(" ", "")
        assert all("\u00a0" not in line[-1:] for line in printed)  # "SH-1 ×2" stays whole
    bold_then_regular = wrap(
        [("CHOC-1", documents.FONT_BOLD), ("\u2002Шоколад", documents.FONT)], 9, 200
    )
    assert bold_then_regular == [
        [("CHOC-1", documents.FONT_BOLD), ("\u2002Шоколад", documents.FONT)]
    ]


def test_the_longest_bin_code_stays_on_one_line():
    lines = (PickDocLine(1, "TEA-LONGJING", "Tea", "ABC-123-123-123", 1, ((1, 1),)),)
    _, text = read(render_pick_list_pdf(pick_list("en", lines)))
    assert "ABC-123-123-123" in text


def test_an_empty_pick_list_still_renders():
    reader, text = read(render_pick_list_pdf(pick_list("en", ())))
    assert "PL-12" in text
    assert_print_ready(reader)


# ------------------------------------------------------------------ packing slip


def slip(lang: str = "en", customs_mode: str | None = "9610", **changes) -> PackingSlipDoc:
    fields = {
        "shipment_id": 345,
        "order_number": "SCO-2025-000123",
        "node": "CN-SFH",
        "lane": "cn-sfh-to-ru-post",
        "customs_mode": customs_mode,
        "created_at": CREATED,
        "recipient": "王玥",
        "address_lines": ("北京市朝阳区建国路 88 号", "100022 北京"),
        "phone": "+86 138 0000 0000",
        "destination_country": "CN",
        "lines": (
            SlipLine(
                "CHOC-ALYONKA-100G", CHOCOLATE_RU, 2, "1806320000", "RU",
                Money(Decimal("12.50"), "CNY"), 100,
            ),
            SlipLine(
                "CHOC-AILIAN-90G", CHOCOLATE_ZH, 3, "1806900000", "CN",
                Money(Decimal("7.333"), "CNY"), 90,
            ),
        ),
        "shipping": Money(Decimal("30"), "CNY"),
        "lang": lang,
    }  # fmt: skip
    fields.update(changes)
    return PackingSlipDoc(**fields)


def test_slip_totals_add_up_the_printed_lines():
    doc = slip()
    assert doc.lines[1].value == Money(Decimal("22.00"), "CNY")  # 3 × 7.333, rounded
    assert doc.total_value == Money(Decimal("47.00"), "CNY")  # shipping not included
    assert doc.total_weight_g == 2 * 100 + 3 * 90
    with pytest.raises(ValueError, match="several currencies"):
        _ = slip(
            lines=(*doc.lines, SlipLine("X", "x", 1, "0101", "RU", Money(Decimal(1), "RUB"), 1))
        ).total_value


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_packing_slip_declares_every_line_for_customs(lang):
    reader, text = read(render_packing_slip_pdf(slip(lang)))

    assert_print_ready(reader)
    labels = labels_for(lang)
    for expected in (
        f"{labels['packing_slip']} SH-345",
        "SCO-2025-000123",
        "王玥",
        "北京市朝阳区建国路 88 号",
        "+86 138 0000 0000",
        CHOCOLATE_RU,
        CHOCOLATE_ZH,
        "CHOC-ALYONKA-100G",
        "1806320000",
        "1806900000",
        "25.00 CNY",
        "22.00 CNY",
        "47.00 CNY",  # total declared value
        "30.00 CNY",  # shipping, apart
        labels["customs"],
        labels["hs_code"],
        labels["origin"],
        labels["declaration"][:20],
        labels["signature"],
        labels["mode_9610"],
    ):
        assert shows(text, expected), expected
    for number in (2, 3, 5, 200, 270, 470):  # quantities, weights, totals
        assert has_number(text, number), number


@pytest.mark.parametrize(("mode", "key"), [("1210", "mode_1210"), (None, "mode_none")])
def test_packing_slip_names_the_customs_mode(mode, key):
    _, text = read(render_packing_slip_pdf(slip("ru", customs_mode=mode)))
    assert labels_for("ru")[key] in text


def test_packing_slip_in_an_unknown_language_falls_back_to_english():
    _, text = read(render_packing_slip_pdf(slip("de")))
    assert "Packing slip SH-345" in text


def test_packing_slip_prints_a_given_sender():
    _, text = read(render_packing_slip_pdf(slip(sender_lines=("ООО «Павильон»", "Москва"))))
    assert "ООО «Павильон»" in text
