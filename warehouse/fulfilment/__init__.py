"""A node's work: stock in (receipts into bins, counted adjustments), pick lists that
walk the bins once, packing against the slip, and shipping.

Every service checks the node boundary first (``boundary``): a picker acts on their
own node only (another node's objects are 404, as if they did not exist); operators
on all. Each owns its transaction; stock changes go through the ledger. One module
per piece of that work; callers may import from here as before.
"""

from __future__ import annotations

from warehouse.fulfilment.overview import node_board, node_overview
from warehouse.fulfilment.parcel_numbers import number_parcels, parcel_numbers
from warehouse.fulfilment.pick_lists import (
    DEFAULT_PICK_LIST_SIZE,
    MAX_PICK_LIST_SIZE,
    STILL_TO_LEAVE_THE_BINS,
    NothingToPick,
    close_done_pick_list,
    close_finished_pick_lists,
    create_pick_list,
    pick_list_document,
    pick_list_pdf,
    sku_name,
)
from warehouse.fulfilment.shipments import (
    SHIPPED_BY_HAND,
    ScanMismatch,
    announce_shipped,
    consume_holds,
    list_shipments,
    order_number_of,
    pack_shipment,
    ship_shipment,
    shipment_for,
    shipment_summary,
    summary_of,
)
from warehouse.fulfilment.slips import packing_slip_pdf
from warehouse.fulfilment.stock_in import (
    MAX_RECEIPT_LINES,
    MAX_UNITS_PER_LINE,
    StockLine,
    adjust_stock,
    receive_stock,
)

__all__ = [
    "DEFAULT_PICK_LIST_SIZE",
    "MAX_PICK_LIST_SIZE",
    "MAX_RECEIPT_LINES",
    "MAX_UNITS_PER_LINE",
    "SHIPPED_BY_HAND",
    "STILL_TO_LEAVE_THE_BINS",
    "NothingToPick",
    "ScanMismatch",
    "StockLine",
    "adjust_stock",
    "announce_shipped",
    "close_done_pick_list",
    "close_finished_pick_lists",
    "consume_holds",
    "create_pick_list",
    "list_shipments",
    "node_board",
    "node_overview",
    "number_parcels",
    "order_number_of",
    "pack_shipment",
    "packing_slip_pdf",
    "parcel_numbers",
    "pick_list_document",
    "pick_list_pdf",
    "receive_stock",
    "ship_shipment",
    "shipment_for",
    "shipment_summary",
    "sku_name",
    "summary_of",
]
