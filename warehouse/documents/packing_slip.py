"""The packing slip packed with the parcel: who, where, and a CN22/CN23-style
customs declaration. Laid out with platypus: a slip is a page or two."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

from warehouse.documents.barcodes import barcode_value
from warehouse.documents.inputs import PackingSlipDoc
from warehouse.documents.labels import labels_for
from warehouse.documents.page import (
    CONTENT_WIDTH,
    GRID_STYLE,
    HEADER_ROW_STYLE,
    SHOP_NAME,
    build_platypus_pdf,
    markup_paragraph,
    paragraph,
    printed_amount,
    printed_country,
    printed_time,
    title_block,
)

_SLIP_COLUMNS = [56 * mm, 14 * mm, 24 * mm, 28 * mm, 28 * mm]  # the rest: weight
_SLIP_COLUMNS.append(CONTENT_WIDTH - sum(_SLIP_COLUMNS))


def render_packing_slip_pdf(slip: PackingSlipDoc) -> bytes:
    """The slip packed with the parcel: who, where, and a CN22/CN23-style
    declaration of every line with totals, customs mode and the sender's
    declaration."""
    text = labels_for(slip.lang)
    code = barcode_value("shipment", slip.shipment_id)
    signed_on = printed_time(slip.created_at)[:10]
    title = f"{text['packing_slip']} {code}"
    facts = [
        (text["order"], slip.order_number),
        (text["shipment"], code),
        (text["node"], slip.node),
        (text["lane"], slip.lane or "—"),
        (text["date"], printed_time(slip.created_at)),
    ]
    story: list = [
        title_block(title, facts, code),
        Spacer(0, 3 * mm),
        markup_paragraph(f"{escape(text['order'])} {escape(slip.order_number)}", "order"),
        Spacer(0, 3 * mm),
        _parties(slip, text),
        Spacer(0, 5 * mm),
        paragraph(text["customs"], "section"),
        paragraph(text["category"], "body"),
        Spacer(0, 2 * mm),
        _customs_table(slip, text),
        Spacer(0, 4 * mm),
        _customs_mode(slip, text),
        Spacer(0, 5 * mm),
        KeepTogether(
            [
                paragraph(text["declaration"], "body"),
                Spacer(0, 8 * mm),
                paragraph(f"{text['signature']}: {signed_on}  ____________________", "body"),
            ]
        ),
    ]
    return build_platypus_pdf(story, title, slip.lang)


def _parties(slip: PackingSlipDoc, text: dict[str, str]) -> Table:
    sender = slip.sender_lines or (SHOP_NAME, f"{text['node']}: {slip.node}")
    recipient = [slip.recipient, *slip.address_lines]
    if slip.phone:
        recipient.append(f"{text['phone']}: {slip.phone}")
    destination = printed_country(slip.destination_country, slip.lang)
    recipient.append(f"{text['destination']}: {destination}")
    half = CONTENT_WIDTH / 2
    return Table(
        [
            [paragraph(text["sender"], "label"), paragraph(text["recipient"], "label")],
            [
                [paragraph(part, "body") for part in sender],
                [
                    paragraph(slip.recipient, "person"),
                    *(paragraph(part, "body") for part in recipient[1:]),
                ],
            ],
        ],
        colWidths=[half, half],
        style=TableStyle([*GRID_STYLE, *HEADER_ROW_STYLE, ("VALIGN", (0, 1), (-1, -1), "TOP")]),
    )


def _customs_table(slip: PackingSlipDoc, text: dict[str, str]) -> Table:
    header = [
        paragraph(text["description"], "head"),
        paragraph(text["qty"], "head"),
        paragraph(text["hs_code"], "head"),
        paragraph(text["origin"], "head"),
        paragraph(f"{text['value']}, {slip.currency}", "head"),
        paragraph(text["weight"], "head"),
    ]
    rows = [
        [
            [paragraph(line.name, "body"), paragraph(line.sku, "small")],
            paragraph(str(line.quantity), "num"),
            paragraph(line.hs_code, "body"),
            paragraph(printed_country(line.origin_country, slip.lang), "small"),
            paragraph(printed_amount(line.value), "num"),
            paragraph(str(line.weight_g * line.quantity), "num"),
        ]
        for line in slip.lines
    ]
    totals = [
        paragraph(text["total"], "head"),
        paragraph(str(slip.total_quantity), "num_bold"),
        "",
        "",
        paragraph(printed_amount(slip.total_value), "num_bold"),
        paragraph(str(slip.total_weight_g), "num_bold"),
    ]
    shipping = [
        paragraph(text["shipping"], "small"),
        "",
        "",
        "",
        paragraph(printed_amount(slip.shipping), "num"),
        "",
    ]
    last = len(rows) + 1
    return Table(
        [header, *rows, totals, shipping],
        colWidths=_SLIP_COLUMNS,
        repeatRows=1,
        style=TableStyle(
            [
                *GRID_STYLE,
                *HEADER_ROW_STYLE,
                ("LINEABOVE", (0, last), (-1, last), 1.2, colors.black),
                ("SPAN", (0, last + 1), (3, last + 1)),
            ]
        ),
    )


def _customs_mode(slip: PackingSlipDoc, text: dict[str, str]) -> Paragraph:
    mode = slip.customs_mode
    described = text.get(f"mode_{mode}", mode) if mode else text["mode_none"]
    return markup_paragraph(f"<b>{escape(text['customs_mode'])}:</b> {escape(described)}", "body")
