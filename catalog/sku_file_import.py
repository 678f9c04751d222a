"""An operator's bulk upload for a merchant, from a file (the ``flask skus import``
command): the same upsert as the merchant API's bulk upload."""

from __future__ import annotations

from typing import Any

from catalog.models import Merchant
from catalog.sku_upsert import IncomingRow, upsert_skus
from shop.core.auth import MerchantPrincipal
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db


def import_file_for_merchant(
    path: str,
    merchant_id: int,
    *,
    dry_run: bool = False,
    on_error: str = "reject_all",
    progress=None,
    actor: str,
) -> dict[str, Any]:
    """The bulk upload, run by an operator from a file (CSV, or JSON by extension).

    The operator acts as the merchant: each SKU's history and the stock ledger record
    the change under ``actor`` (``cli:<user>``), with no token."""
    import json as jsonlib
    from pathlib import Path

    from catalog.sku_csv import MAX_ROWS, CsvProblem, parse_sku_csv

    if db.session.get(Merchant, merchant_id) is None:
        raise NotFound(f"No merchant {merchant_id}.")
    body = Path(path).read_bytes()
    if path.lower().endswith(".json"):
        try:
            items = jsonlib.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValidationFailed(f"{path} is not a JSON file: {exc}") from None
        if not isinstance(items, list) or not items or len(items) > MAX_ROWS:
            raise ValidationFailed(f"{path} must hold a list of 1 to {MAX_ROWS:,} SKU objects.")
        rows = [IncomingRow(n, item) for n, item in enumerate(items, start=1)]
    else:
        try:
            rows = [IncomingRow(r.line, r.data, r.errors) for r in parse_sku_csv(body)]
        except CsvProblem as problem:
            raise ValidationFailed(problem.detail, code=problem.code) from None
    principal = MerchantPrincipal(merchant_id, None, actor)
    report = upsert_skus(principal, rows, dry_run=dry_run, on_error=on_error, progress=progress)
    return report.as_json()
