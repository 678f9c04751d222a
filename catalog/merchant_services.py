"""Where the merchant use cases used to live, kept importable while callers move.

It held several responsibilities; each now has its own home:

- ``catalog.merchant_skus``: a merchant's own SKUs one at a time (read, create,
  replace, patch, delete);
- ``catalog.sku_upsert``: every SKU write, single or bulk (``upsert_skus``);
- ``catalog.sku_file_import``: an operator's upload from a file;
- ``catalog.cbec``: the CBEC rules (``cbec_rules``);
- ``orders.merchant_orders``: the merchant's view of its orders (the catalog may
  not import orders, so that one is not re-exported here).

Import from those modules; this one goes once nothing imports it.
"""

from catalog.cbec import cbec_rules
from catalog.merchant_skus import (
    SkuCodeTaken,
    create_sku,
    delete_sku,
    get_merchant_sku,
    list_merchant_skus,
    merge_patch,
    patch_sku,
    put_sku,
)
from catalog.sku_file_import import import_file_for_merchant
from catalog.sku_upsert import (
    IncomingRow,
    RowOutcome,
    UpsertReport,
    sku_rule_context,
    upsert_skus,
)

__all__ = [
    "IncomingRow",
    "RowOutcome",
    "SkuCodeTaken",
    "UpsertReport",
    "cbec_rules",
    "create_sku",
    "delete_sku",
    "get_merchant_sku",
    "import_file_for_merchant",
    "list_merchant_skus",
    "merge_patch",
    "patch_sku",
    "put_sku",
    "sku_rule_context",
    "upsert_skus",
]
