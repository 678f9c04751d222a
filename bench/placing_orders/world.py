"""The orders the checkout benchmark places (one line or a few, RUB, to Moscow,
manual payment) and the world it places them in: SKUs with plenty of stock at
RU-WH, checked to be orderable; and the database's integrity afterwards."""

from __future__ import annotations

import json
from typing import Any

from bench_processes import http_post

ORDERS_PATH = "/api/v1/orders"
NODE = "RU-WH"
STOCK_BUMP = 1_000_000

ADDRESS = {
    "country": "RU",
    "region": "Moscow",
    "city": "Moscow",
    "postal_code": "101000",
    "line1": "Tverskaya 1",
    "recipient": "Ivan Petrov",
    "phone": "+7 900 000 00 00",
}


def order_body(skus: list[str]) -> dict[str, Any]:
    return {
        "lines": [{"sku": code, "quantity": 1} for code in skus],
        "currency": "RUB",
        "email": "bench@example.com",
        "shipping_address": ADDRESS,
        "payment": {"adapter": "manual"},
    }


def pick_skus(url: str, wanted: int) -> list[tuple[int, str]]:
    """(id, code) of active SKUs at RU-WH that no other node shipping to RU stocks,
    evenly spread by code."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.id, s.code FROM skus s "
                    "JOIN products p ON p.id = s.product_id "
                    "JOIN stock_levels sl ON sl.sku_id = s.id "
                    "JOIN nodes n ON n.id = sl.node_id "
                    "WHERE n.code = :node AND s.is_active AND p.is_active "
                    "AND s.deleted_at IS NULL AND sl.on_hand - sl.reserved > 0 "
                    "AND NOT EXISTS (SELECT 1 FROM stock_levels o JOIN lanes l "
                    "ON l.node_id = o.node_id WHERE o.sku_id = s.id AND o.node_id <> n.id "
                    "AND o.on_hand > 0 AND l.countries::jsonb ? 'RU') ORDER BY s.code"
                ),
                {"node": NODE},
            ).all()
    finally:
        engine.dispose()
    if not rows:
        raise RuntimeError(f"no SKU is stocked at {NODE} alone")
    step = max(1, len(rows) // wanted)
    return [(r[0], r[1]) for r in rows[::step][:wanted]]


def bump_stock(url: str, sku_ids: list[int]) -> int:
    """Raise RU-WH on-hand of ``sku_ids`` by STOCK_BUMP, with matching ledger rows."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            bumped = conn.execute(
                text(
                    "WITH bumped AS ("
                    " UPDATE stock_levels SET on_hand = on_hand + :bump, updated_at = now()"
                    " WHERE node_id = (SELECT id FROM nodes WHERE code = :node)"
                    " AND sku_id = ANY(:skus) RETURNING sku_id, node_id)"
                    " INSERT INTO stock_movements (sku_id, node_id, delta_on_hand,"
                    " delta_reserved, reason, actor, reference, created_at)"
                    " SELECT sku_id, node_id, :bump, 0, 'adjustment', 'bench/checkout.py',"
                    " 'stock for the checkout benchmark', now() FROM bumped"
                ),
                {"bump": STOCK_BUMP, "node": NODE, "skus": sku_ids},
            ).rowcount
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return bumped


def check_skus(base_url: str, skus: list[str]) -> tuple[list[str], dict[str, str]]:
    """One order per SKU over HTTP: kept when 201 with one shipment from RU-WH."""
    kept, dropped = [], {}
    for code in skus:
        status, body = http_post(base_url, ORDERS_PATH, json.dumps(order_body([code])).encode())
        if status != 201:
            dropped[code] = f"HTTP {status}: {body[:200].decode(errors='replace')}"
            continue
        nodes = [s["node"] for s in json.loads(body)["shipments"]]
        if nodes != [NODE]:
            dropped[code] = f"shipments from {nodes}"
            continue
        kept.append(code)
    return kept, dropped


def integrity(url: str) -> dict[str, int]:
    """Orders, orders not a single RU-WH shipment, stock levels off their ledger."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "orders": conn.scalar(text("SELECT count(*) FROM orders")),
                "not_single_ru_wh": conn.scalar(
                    text(
                        "SELECT count(*) FROM (SELECT s.order_id FROM shipments s "
                        "JOIN nodes n ON n.id = s.node_id GROUP BY s.order_id "
                        "HAVING count(*) <> 1 OR bool_or(n.code <> :node)) x"
                    ),
                    {"node": NODE},
                ),
                "ledger_mismatches": conn.scalar(
                    text(
                        "SELECT count(*) FROM stock_levels sl LEFT JOIN ("
                        " SELECT sku_id, node_id, sum(delta_on_hand) AS on_hand,"
                        " sum(delta_reserved) AS reserved FROM stock_movements"
                        " GROUP BY sku_id, node_id) m"
                        " ON m.sku_id = sl.sku_id AND m.node_id = sl.node_id"
                        " WHERE sl.on_hand <> coalesce(m.on_hand, 0)"
                        " OR sl.reserved <> coalesce(m.reserved, 0)"
                    )
                ),
            }
    finally:
        engine.dispose()


def server_settings(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            values = {
                name: conn.scalar(text(f"SHOW {name}"))
                for name in ("synchronous_commit", "fsync", "shared_buffers")
            }
    finally:
        engine.dispose()
    return ", ".join(f"{k}={v}" for k, v in values.items())
