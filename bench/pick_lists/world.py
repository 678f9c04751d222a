"""The pick-list benchmark's world, built with the shop's models in an app context:
paid orders with one ready shipment each, held lines over a few hundred SKUs, stock
and bins at one node; and put back as it was between measurements."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from bench_database import add_synthetic_products

NODE = "RU-WH"
ACTOR = "bench/pick_list.py"
ORDER_PREFIX = "PLB"


def ensure_skus(url: str, wanted: int) -> int:
    """At least ``wanted`` active SKUs; synthetic products fill in, with ledger rows
    for the stock the helper gives them. Returns how many SKUs were added."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    count_sql = text(
        "SELECT count(*) FROM skus s JOIN products p ON p.id = s.product_id "
        "WHERE s.is_active AND p.is_active AND s.deleted_at IS NULL"
    )
    try:
        with engine.connect() as conn:
            have = conn.scalar(count_sql)
        if have >= wanted:
            return 0
        added = add_synthetic_products(url, (wanted - have) // 2 + 10)
        with engine.begin() as conn:
            # The helper writes stock levels only: the ledger gets the matching rows.
            conn.execute(
                text(
                    "INSERT INTO stock_movements (sku_id, node_id, delta_on_hand, delta_reserved,"
                    " reason, actor, reference, created_at)"
                    " SELECT sl.sku_id, sl.node_id, sl.on_hand - coalesce(m.on_hand, 0),"
                    " sl.reserved - coalesce(m.reserved, 0), 'adjustment', :actor,"
                    " 'synthetic stock', now() FROM stock_levels sl LEFT JOIN ("
                    " SELECT sku_id, node_id, sum(delta_on_hand) AS on_hand,"
                    " sum(delta_reserved) AS reserved FROM stock_movements"
                    " GROUP BY sku_id, node_id) m"
                    " ON m.sku_id = sl.sku_id AND m.node_id = sl.node_id"
                    " WHERE sl.on_hand <> coalesce(m.on_hand, 0)"
                    " OR sl.reserved <> coalesce(m.reserved, 0)"
                ),
                {"actor": ACTOR},
            )
        return added["SKUs"]
    finally:
        engine.dispose()


def build_world(shipments: int, sku_count: int, seed: int = 20261201) -> dict[str, Any]:
    """Orders, ready shipments, held lines, stock, bins and ledger rows (app context)."""
    from sqlalchemy import select, text

    from catalog.models import Product, Sku
    from shop.core.extensions import db
    from warehouse.models import (
        Lane,
        Node,
        Shipment,
    )
    from warehouse.services import ledger_mismatches

    rng = random.Random(seed)
    node = db.session.scalar(select(Node).where(Node.code == NODE))
    lane = db.session.scalar(
        select(Lane.code).where(Lane.node_id == node.id, Lane.is_active).order_by(Lane.code)
    )
    sku_ids = list(
        db.session.scalars(
            select(Sku.id)
            .join(Product, Product.id == Sku.product_id)
            .where(Sku.is_active, Product.is_active, Sku.deleted_at.is_(None))
            .order_by(Sku.id)
        )
    )
    if len(sku_ids) < sku_count:
        raise RuntimeError(f"only {len(sku_ids)} active SKUs")
    sku_ids = rng.sample(sku_ids, sku_count)
    weights = [1 / (rank + 1) ** 0.7 for rank in range(sku_count)]  # a few SKUs sell most

    today = date.today()
    orders = [
        {"number": f"{ORDER_PREFIX}{i:06d}", "status": "paid", "currency": "RUB",
         "destination_country": "RU", "email": "bench@example.com", "payment_status": "paid",
         "placed_on": today}
        for i in range(1, shipments + 1)
    ]  # fmt: skip
    order_ids = _insert("orders", orders, returning=True)
    shipment_rows = []
    for order, order_id in zip(orders, order_ids, strict=True):
        deliver_by = today + timedelta(days=rng.randint(3, 20))
        shipment_rows.append(
            {"order_id": order_id, "order_number": order["number"], "node_id": node.id,
             "lane_code": lane, "status": "ready_to_pick", "currency": "RUB", "weight_g": 500,
             "deliver_from": deliver_by - timedelta(days=2), "deliver_by": deliver_by}
        )  # fmt: skip
    shipment_ids = _insert("shipments", shipment_rows, returning=True)
    line_rows, movements = [], []
    held: dict[int, int] = dict.fromkeys(sku_ids, 0)
    for order_id, shipment_id in zip(order_ids, shipment_ids, strict=True):
        chosen: set[int] = set()
        for _ in range(rng.randint(1, 4)):
            chosen.add(rng.choices(sku_ids, weights)[0])
        for sku_id in sorted(chosen):
            quantity = rng.randint(1, 3)
            held[sku_id] += quantity
            line_rows.append({"shipment_id": shipment_id, "sku_id": sku_id,
                              "quantity": quantity, "reservation": "held"})  # fmt: skip
            movements.append(
                {"sku_id": sku_id, "node_id": node.id, "delta_on_hand": 0,
                 "delta_reserved": quantity, "reason": "reservation", "actor": ACTOR,
                 "order_id": order_id, "shipment_id": shipment_id, "reference": "", "bin": None}
            )  # fmt: skip
    _insert("shipment_lines", line_rows)

    levels, bins = [], []
    for sku_id in sku_ids:
        received = held[sku_id] + rng.randint(0, 40)
        levels.append({"sku_id": sku_id, "node_id": node.id, "on_hand": received,
                       "reserved": held[sku_id]})  # fmt: skip
        in_bins = 0
        if rng.random() < 0.9:
            # Mostly enough in the bins; one SKU in eight has fewer there than is wanted.
            binned = received if rng.random() > 0.125 else max(1, held[sku_id] // 2)
            binned = min(binned, received)  # a SKU nobody ordered may have received 0
            codes = {f"{rng.choice('ABC')}-{rng.randint(1, 24)}-{rng.randint(1, 12):02d}"
                     for _ in range(rng.randint(1, 3))}  # fmt: skip
            shares = _split(binned, len(codes), rng)
            for code, units in zip(sorted(codes), shares, strict=True):
                if units:
                    bins.append({"sku_id": sku_id, "node_id": node.id, "bin": code,
                                 "on_hand": units})  # fmt: skip
                    movements.append(_receipt(sku_id, node.id, units, code))
                    in_bins += units
        if received > in_bins:
            movements.append(_receipt(sku_id, node.id, received - in_bins, None))
    _insert("stock_levels", levels, add_on_conflict=("sku_id", "node_id"))
    _insert("stock_bins", bins, add_on_conflict=("sku_id", "node_id", "bin"))
    _insert("stock_movements", movements)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    mismatches = ledger_mismatches()
    db.session.rollback()
    if mismatches:
        raise RuntimeError(f"stock levels off their ledger: {mismatches[:5]}")
    ready = db.session.scalar(
        select(db.func.count(Shipment.id)).where(
            Shipment.node_id == node.id, Shipment.status == "ready_to_pick"
        )
    )
    db.session.rollback()
    if ready != shipments:
        raise RuntimeError(f"{ready} ready shipments at {NODE}, expected {shipments}")
    return {
        "node_id": node.id,
        "shipments": len(shipment_ids),
        "lines": len(line_rows),
        "skus": sku_count,
        "skus_with_bins": len({b["sku_id"] for b in bins}),
        "bins": len(bins),
        "units": sum(held.values()),
        "movements": len(movements),
    }


def _insert(
    name: str,
    rows: list[dict[str, Any]],
    *,
    returning: bool = False,
    add_on_conflict: tuple[str, ...] = (),
) -> list[int]:
    """Bulk insert into a table as the migrated database has it (models may run ahead
    of the migrations while work is in progress): a NOT NULL column the rows leave
    out takes the model's Python-side default. ``add_on_conflict``: the unique key
    whose existing row gets ``on_hand`` (and ``reserved``) added instead."""
    from sqlalchemy import MetaData, Table, insert
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from shop.core.extensions import db

    table = Table(name, MetaData(), autoload_with=db.session.connection())
    model = db.metadata.tables[name]
    defaults: dict[str, Any] = {}
    for column in table.c:
        modelled = model.c.get(column.name)
        default = modelled.default if modelled is not None else None
        if column.primary_key or column.server_default is not None or default is None:
            continue
        defaults[column.name] = default.arg(None) if default.is_callable else default.arg
    filled = [{**{k: v for k, v in defaults.items() if k not in row}, **row} for row in rows]
    if add_on_conflict:
        statement = pg_insert(table)
        added = {c: table.c[c] + statement.excluded[c] for c in ("on_hand", "reserved") if c in
                 table.c}  # fmt: skip
        db.session.execute(
            statement.on_conflict_do_update(index_elements=list(add_on_conflict), set_=added),
            filled,
        )
        return []
    if returning:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(db.session.execute(statement, filled).scalars())
    db.session.execute(insert(table), filled)
    return []


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _receipt(sku_id: int, node_id: int, units: int, bin_code: str | None) -> dict[str, Any]:
    return {"sku_id": sku_id, "node_id": node_id, "delta_on_hand": units, "delta_reserved": 0,
            "reason": "receipt", "actor": ACTOR, "order_id": None, "shipment_id": None,
            "reference": "bench receipt", "bin": bin_code}  # fmt: skip


def reset(url: str, node_id: int) -> None:
    """Undo every pick list: shipments ready again, orders paid, their history gone."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            with conn.begin():
                conn.execute(
                    text(
                        "UPDATE shipments SET status = 'ready_to_pick', pick_list_id = NULL "
                        "WHERE node_id = :node AND pick_list_id IS NOT NULL"
                    ),
                    {"node": node_id},
                )
                conn.execute(text("DELETE FROM pick_list_lines"))
                conn.execute(text("DELETE FROM pick_lists"))
                conn.execute(
                    text("UPDATE orders SET status = 'paid' WHERE number LIKE :prefix"),
                    {"prefix": f"{ORDER_PREFIX}%"},
                )
                conn.execute(text("DELETE FROM order_events WHERE actor = :a"), {"a": ACTOR})
            for table in ("shipments", "orders", "order_events", "pick_lists", "pick_list_lines"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
    finally:
        engine.dispose()
