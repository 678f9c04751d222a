"""Every SKU write of a merchant, one SKU or 10,000 at a time: ``upsert_skus``.

A single create, replace or patch (``catalog.merchant_skus``), a bulk upload
(CSV or JSON) and an operator's import from a file (``catalog.sku_file_import``)
all come here: the same validation (``catalog.sku_rules``), the same diff, the
same batched writes and the same audit. Writes are scoped by the calling
merchant; stock goes through the catalog's ``StockPort``, which the warehouse
fills in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from catalog.cbec import cbec_rules
from catalog.models import Category, Merchant, Product, Sku, SkuChange
from catalog.ports import NodeStock, OnHandUpdate, StockPort, port
from catalog.search import build_search_text
from catalog.services import load_rate_table
from catalog.sku_rules import CleanSku, SkuRuleContext, check_sku_row
from shop.core.auth import MerchantPrincipal
from shop.core.bulk_insert import insert_rows, insert_rows_returning_ids
from shop.core.clock import utcnow
from shop.core.errors import Conflict
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict

LANGS = ("en", "ru", "zh")
PRODUCT_FIELDS = (
    "category_id",
    "origin_country",
    "hs_code",
    *(f"{part}_{lang}" for part in ("name", "description") for lang in LANGS),
)
SKU_FIELDS = (
    "product_id",
    "price_amount",
    "price_currency",
    "weight_g",
    "shelf_life_days",
    "length_mm",
    "width_mm",
    "height_mm",
    "is_active",
    "deleted_at",
    *(f"label_{lang}" for lang in LANGS),
)
# SQLite accepts 32,766 parameters per statement and PostgreSQL 65,535;
# 500 codes per IN list stays far below both.
CHUNK = 500


@dataclass(frozen=True)
class IncomingRow:
    """One SKU as sent: its row number (CSV line, or position in a JSON list)."""

    row: int
    data: Mapping[str, Any]
    parse_errors: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass
class RowOutcome:
    row: int
    sku: str | None
    action: str  # created | updated | unchanged | failed
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    code_taken: bool = False  # the SKU code belongs to another merchant


@dataclass
class UpsertReport:
    dry_run: bool
    on_error: str
    outcomes: list[RowOutcome]
    written: bool = False

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def as_json(self) -> dict[str, Any]:
        if self.written:
            status = "written"
        elif self.dry_run:
            status = "validated"
        else:
            status = "rejected"
        return {
            "status": status,
            "dry_run": self.dry_run,
            "on_error": self.on_error,
            "counts": {
                "rows": len(self.outcomes),
                "created": self.count("created"),
                "updated": self.count("updated"),
                "unchanged": self.count("unchanged"),
                "failed": self.failed,
                "with_warnings": sum(1 for o in self.outcomes if o.warnings),
            },
            "errors": [
                {"row": o.row, "sku": o.sku, "errors": o.errors} for o in self.outcomes if o.errors
            ],
            "warnings": [
                {"row": o.row, "sku": o.sku, "warnings": o.warnings}
                for o in self.outcomes
                if o.warnings
            ],
        }


# ------------------------------------------------------------------ context


def sku_rule_context() -> SkuRuleContext:
    """What the validator needs from the database: categories and nodes."""
    categories = {
        slug: frozenset(chapters or ())
        for slug, chapters in db.session.execute(select(Category.slug, Category.hs_chapters))
    }
    nodes = port(StockPort).node_codes()
    return SkuRuleContext(categories=categories, node_codes=nodes, cbec=cbec_rules())


def lock_merchant(merchant_id: int) -> None:
    """Serialize one merchant's writes: a row lock on PostgreSQL, the write
    lock on SQLite (a no-op UPDATE takes both, at the start of the transaction)."""
    db.session.execute(
        update(Merchant).where(Merchant.id == merchant_id).values(is_active=Merchant.is_active)
    )


def hide_products_without_live_skus(product_ids: set[int]) -> None:
    if not product_ids:
        return
    live = select(Sku.id).where(Sku.product_id == Product.id, Sku.deleted_at.is_(None)).exists()
    db.session.execute(
        update(Product)
        .where(Product.id.in_(product_ids), ~live)
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )


# ------------------------------------------------------------------ the upsert


@dataclass
class _Planned:
    outcome: RowOutcome
    clean: CleanSku
    product_key: str
    sku_id: int | None = None
    product_id: int | None = None
    product_values: dict[str, Any] = field(default_factory=dict)
    sku_values: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, list[Any]] = field(default_factory=dict)
    # (node code, new on hand, the count it was planned against or None)
    stock: list[tuple[str, int, NodeStock | None]] = field(default_factory=list)


@retry_on_conflict()
def upsert_skus(
    merchant: MerchantPrincipal,
    rows: Sequence[IncomingRow],
    *,
    dry_run: bool = False,
    on_error: str = "reject_all",
    progress: Callable[[str, int, int], None] | None = None,
) -> UpsertReport:
    """Create or update SKUs by code, in one transaction with batched statements.

    ``on_error="reject_all"`` writes nothing if any row fails;
    ``"skip_failed"`` writes the good rows. ``dry_run`` writes nothing and
    reports what would happen. The merchant's row is locked for the whole
    read-compare-write, so two uploads of one merchant cannot interleave.
    """
    context = sku_rule_context()
    report = UpsertReport(dry_run=dry_run, on_error=on_error, outcomes=[])
    valid: list[tuple[RowOutcome, CleanSku]] = []
    first_row_of: dict[str, int] = {}
    report_progress = progress or (lambda stage, done, total: None)
    for position, incoming in enumerate(rows, start=1):
        if position % 1000 == 0:
            report_progress("validating", position, len(rows))
        verdict = check_sku_row(incoming.data, context)
        errors = {k: list(v) for k, v in verdict.errors.items()}
        for key, messages in incoming.parse_errors.items():
            errors.setdefault(key, []).extend(messages)
        code = verdict.sku.sku if verdict.sku else _raw_code(incoming.data)
        if code and code in first_row_of:
            errors.setdefault("sku", []).append(
                f"Appears again: first at row {first_row_of[code]}."
            )
        elif code:
            first_row_of[code] = incoming.row
        outcome = RowOutcome(incoming.row, code, "failed", errors, dict(verdict.warnings))
        report.outcomes.append(outcome)
        if not errors and verdict.sku is not None:
            valid.append((outcome, verdict.sku))

    try:
        if not dry_run:
            lock_merchant(merchant.merchant_id)
        report_progress("validating", len(rows), len(rows))
        planned = _plan(merchant, valid, context)
        nothing_to_write = dry_run or not planned or (report.failed and on_error == "reject_all")
        if nothing_to_write:
            db.session.rollback()
            return report
        _write(merchant, planned)
        db.session.commit()
        report.written = True
        _refresh_statistics_after_a_large_load(report.count("created"))
        report_progress("written", len(planned), len(planned))
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "Another change to the same SKUs or products was committed at the same time; "
            "nothing was written. Send the request again.",
            code="concurrent_change",
        ) from exc
    except Exception:
        db.session.rollback()
        raise
    return report


LARGE_LOAD = 1000


def _refresh_statistics_after_a_large_load(created: int) -> None:
    """ANALYZE the tables a large upload grew (PostgreSQL's advice after bulk loads).

    Until autovacuum gets to them, the planner believes the tables are as
    small as before the upload and picks plans that make the next upload's
    lookups by code 30 times slower.
    """
    if created < LARGE_LOAD or db.session.connection().dialect.name != "postgresql":
        return
    db.session.execute(text("ANALYZE products, skus, stock_levels"))
    db.session.commit()


def _raw_code(data: Mapping[str, Any]) -> str | None:
    value = data.get("sku") if isinstance(data, Mapping) else None
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _plan(
    merchant: MerchantPrincipal,
    valid: list[tuple[RowOutcome, CleanSku]],
    context: SkuRuleContext,
) -> list[_Planned]:
    """Compare each valid row with what is stored; fail rows that cannot apply."""
    if not valid:
        return []
    codes = [clean.sku for _, clean in valid]
    product_codes = sorted({clean.product_code for _, clean in valid})
    # Plain rows, not ORM objects: 10,000 identity-mapped instances cost more
    # than the queries that load them.
    sku_columns = [Sku.id, Sku.code, *(getattr(Sku, name) for name in SKU_FIELDS)]
    existing: dict[str, tuple[Any, int]] = {}
    for chunk in _chunks(codes):
        for row in db.session.execute(
            select(*sku_columns, Product.merchant_id.label("owner"))
            .join(Product, Product.id == Sku.product_id)
            .where(Sku.code.in_(chunk))
        ):
            existing[row.code] = (row, row.owner)
    product_columns = [Product.id, Product.code, *(getattr(Product, n) for n in PRODUCT_FIELDS)]
    products: dict[str, Any] = {}
    for chunk in _chunks(product_codes):
        for row in db.session.execute(
            select(*product_columns).where(
                Product.merchant_id == merchant.merchant_id, Product.code.in_(chunk)
            )
        ):
            products[row.code] = row
    stock: dict[int, dict[str, NodeStock]] = {}
    known_ids = [sku.id for sku, owner in existing.values() if owner == merchant.merchant_id]
    for chunk in _chunks(known_ids):
        for sku_id, levels in port(StockPort).counts(chunk).items():
            stock[sku_id] = {level.node: level for level in levels}
    category_ids = dict(db.session.execute(select(Category.slug, Category.id)).all())
    # A price in a currency no rate reaches could not be shown to any shopper.
    priced_in = load_rate_table().currencies()

    planned: list[_Planned] = []
    product_rows: dict[str, tuple[int, dict[str, Any]]] = {}
    for outcome, clean in valid:
        product_values = _product_values(clean, category_ids)
        first = product_rows.get(clean.product_code)
        if first and first[1] != product_values:
            outcome.errors["product_code"] = [
                f"Product fields (category, names, descriptions, origin, HS code) differ from "
                f"row {first[0]} of the same product."
            ]
            continue
        product_rows.setdefault(clean.product_code, (outcome.row, product_values))

        if clean.price.currency not in priced_in:
            outcome.errors["price.currency"] = [
                f"No exchange rate for {clean.price.currency} yet; ask the operator to add one."
            ]
            continue
        found = existing.get(clean.sku)
        if found and found[1] != merchant.merchant_id:
            outcome.errors["sku"] = ["This SKU code is already in use."]
            outcome.code_taken = True
            continue
        item = _Planned(outcome, clean, clean.product_code, product_values=product_values)
        product = products.get(clean.product_code)
        item.product_id = product.id if product else None
        sku = found[0] if found else None
        item.sku_id = sku.id if sku else None
        item.sku_values = _sku_values(clean)
        if sku is None:
            outcome.action = "created"
        else:
            before = {name: _comparable(getattr(sku, name)) for name in SKU_FIELDS}
            after = {**before, **{k: _comparable(v) for k, v in item.sku_values.items()}}
            if product is None or sku.product_id != product.id:
                after["product_id"] = "(new product)" if product is None else product.id
            item.changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if product is not None:
            for name, value in product_values.items():
                if _comparable(getattr(product, name)) != _comparable(value):
                    item.changes[name] = [_comparable(getattr(product, name)), value]
        if clean.stock is not None:
            levels = stock.get(item.sku_id or -1, {})
            for node_code, quantity in sorted(clean.stock.items()):
                level = levels.get(node_code)
                if level and quantity < level.reserved:
                    outcome.errors[f"stock.{node_code}"] = [
                        f"{level.reserved} units are reserved by orders at {node_code}; "
                        f"on hand cannot go below that."
                    ]
                if level is None or level.on_hand != quantity:
                    item.stock.append((node_code, quantity, level))
                    before = level.on_hand if level else None
                    item.changes[f"stock.{node_code}"] = [before, quantity]
        if outcome.errors:
            outcome.action = "failed"
            continue
        if outcome.action != "created":
            outcome.action = "updated" if item.changes else "unchanged"
        planned.append(item)
    return planned


def _product_values(clean: CleanSku, category_ids: Mapping[str, int]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "category_id": category_ids[clean.category],
        "origin_country": clean.origin_country,
        "hs_code": clean.hs_code,
    }
    for lang in LANGS:
        values[f"name_{lang}"] = clean.name.get(lang)
        values[f"description_{lang}"] = clean.description.get(lang)
    values["description_en"] = values["description_en"] or ""
    return values


def _sku_values(clean: CleanSku) -> dict[str, Any]:
    values: dict[str, Any] = {
        "price_amount": clean.price.amount,
        "price_currency": clean.price.currency,
        "weight_g": clean.weight_g,
        "shelf_life_days": clean.shelf_life_days,
        "deleted_at": None,
    }
    # Not given clears them, as with labels: the row is the whole SKU.
    length, width, height = clean.dimensions_mm or (None, None, None)
    values.update(length_mm=length, width_mm=width, height_mm=height)
    if clean.active is not None:
        values["is_active"] = clean.active
    for lang in LANGS:
        values[f"label_{lang}"] = clean.label.get(lang)
    return values


def _comparable(value: Any) -> Any:
    """Values as the audit stores and compares them (Decimals as normalized strings)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _write(merchant: MerchantPrincipal, planned: list[_Planned]) -> None:
    """The batched writes: a handful of statements whatever the number of rows."""
    touched = [p for p in planned if p.outcome.action in ("created", "updated")]
    if not touched:
        return
    now = utcnow()

    # Products: new ones inserted (ids back in parameter order), changed ones updated.
    product_ids: dict[str, int] = {p.product_key: p.product_id for p in planned if p.product_id}
    sku_codes = _sku_codes_by_product(planned, product_ids)
    new_products: dict[str, dict[str, Any]] = {}
    changed_products: dict[int, dict[str, Any]] = {}
    for item in touched:
        key = item.product_key
        if key in new_products or product_ids.get(key) in changed_products:
            continue  # one row per product: its rows agree (checked in _plan)
        existing_id = product_ids.get(key)
        # A price or stock change leaves the product as it is; new product
        # texts, a new or revived SKU (its code is searchable) or a move rewrite it.
        rewrites_product = (
            existing_id is None
            or item.outcome.action == "created"
            or any(name in item.changes for name in (*PRODUCT_FIELDS, "product_id", "deleted_at"))
        )
        if not rewrites_product:
            continue
        values = dict(item.product_values)
        values["search_text"] = build_search_text(
            [item.clean.product_code, *item.clean.name.values(),
             *item.clean.description.values(), *sorted(sku_codes[key])]
        )  # fmt: skip
        values["is_active"] = True
        if existing_id is not None:
            changed_products[existing_id] = {"id": existing_id, **values, "updated_at": now}
        else:
            new_products[key] = {"merchant_id": merchant.merchant_id, "code": key, **values}
    if new_products:
        new_rows = [{**row, "created_at": now, "updated_at": now} for row in new_products.values()]
        new_ids = insert_rows_returning_ids(Product.__table__, new_rows)
        product_ids.update(zip(new_products, new_ids, strict=True))
    if changed_products:
        db.session.execute(update(Product), list(changed_products.values()))

    # SKUs, then their stock and the audit.
    new_skus = [p for p in touched if p.sku_id is None]
    if new_skus:
        new_ids = insert_rows_returning_ids(
            Sku.__table__,
            [
                {
                    "code": p.clean.sku,
                    "product_id": product_ids[p.product_key],
                    **p.sku_values,
                    "is_active": p.sku_values.get("is_active", True),
                    "created_at": now,
                    "updated_at": now,
                }
                for p in new_skus
            ],
        )
        for item, sku_id in zip(new_skus, new_ids, strict=True):
            item.sku_id = sku_id
    old_products: set[int] = set()
    updates = []
    for item in touched:
        if item.outcome.action == "updated":
            if "product_id" in item.changes and isinstance(item.changes["product_id"][0], int):
                old_products.add(item.changes["product_id"][0])
            updates.append(
                {"id": item.sku_id, "product_id": product_ids[item.product_key],
                 **item.sku_values, "updated_at": now}
            )  # fmt: skip
    if updates:
        db.session.execute(update(Sku), updates)
    port(StockPort).set_on_hand(
        [
            OnHandUpdate(item.sku_id, node, quantity, seen)
            for item in touched
            for node, quantity, seen in item.stock
        ],
        reason="merchant update",
        actor=merchant.actor,
    )
    insert_rows(
        SkuChange.__table__,
        [
            {
                "sku_id": item.sku_id,
                "merchant_id": merchant.merchant_id,
                "token_id": merchant.token_id,
                "actor": merchant.actor,
                "action": item.outcome.action,
                "changes": item.changes if item.outcome.action == "updated" else _created(item),
                "changed_at": now,
            }
            for item in touched
        ],
    )
    hide_products_without_live_skus(old_products)


def _created(item: _Planned) -> dict[str, list[Any]]:
    values = {k: _comparable(v) for k, v in item.sku_values.items() if v is not None}
    return {k: [None, v] for k, v in values.items()} | item.changes


def _sku_codes_by_product(planned: list[_Planned], product_ids: Mapping[str, int]):
    """Every live SKU code of each product in the upload: products are found by them."""
    codes: dict[str, set[str]] = {}
    for item in planned:
        codes.setdefault(item.product_key, set()).add(item.clean.sku)
    key_of = {product_id: key for key, product_id in product_ids.items()}
    for chunk in _chunks(list(key_of)):
        for product_id, code in db.session.execute(
            select(Sku.product_id, Sku.code).where(
                Sku.product_id.in_(chunk), Sku.deleted_at.is_(None)
            )
        ):
            codes[key_of[product_id]].add(code)
    return codes
