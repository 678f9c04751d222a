"""The reports benchmark's world: ``--orders`` orders over ``--days`` days with their
lines, shipments, history and stock, made with ``INSERT … SELECT generate_series``
on PostgreSQL (minutes of data in seconds), then vacuumed and analysed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench_processes import log

PREFIX = "RB"


# Every pseudo-random choice is a hash of the order's serial number g (or of g and the
# line number n): the same world on every run, and no random() to seed.
H = "abs(hashtext('{salt}' || g::text)) % 1000"

WORLD_SQL = [
    # Orders: destination, currency, status, time.
    """
    CREATE TEMP TABLE bench_orders AS
    SELECT g,
           CASE WHEN d < 450 THEN 'CN' WHEN d < 750 THEN 'RU' WHEN d < 850 THEN 'KZ'
                WHEN d < 900 THEN 'BY' ELSE 'UZ' END AS destination,
           CASE WHEN s < 550 THEN 'delivered' WHEN s < 670 THEN 'shipped'
                WHEN s < 750 THEN 'paid' WHEN s < 780 THEN 'fulfilling'
                WHEN s < 810 THEN 'partially_refunded' WHEN s < 850 THEN 'refunded'
                WHEN s < 910 THEN 'cancelled' WHEN s < 960 THEN 'expired'
                ELSE 'pending_payment' END AS status,
           :now - (:span * g / :orders) - make_interval(secs => s) AS created_at,
           2 + (h % 97) AS ship_hours
    FROM (SELECT g, {d} AS d, {s} AS s, {h} AS h
          FROM generate_series(1, :orders) AS g) AS picked
    """.format(d=H.format(salt="dest"), s=H.format(salt="status"), h=H.format(salt="hours")),
    """
    INSERT INTO orders (number, status, currency, destination_country, token_hash, email,
        shipping_address, goods_total, shipping_total, duties_total, duties_status,
        grand_total, duties, exchange_rates, payment_adapter, payment_status, paid_amount,
        refunded_amount, placed_on, created_at, updated_at)
    SELECT :prefix || lpad(g::text, 8, '0'), status,
           CASE destination WHEN 'CN' THEN 'CNY' WHEN 'RU' THEN 'RUB' WHEN 'BY' THEN 'RUB'
                WHEN 'KZ' THEN 'KZT' ELSE 'USD' END,
           destination, '', 'bench@example.com', json_build_object('country', destination),
           0, 0, NULL,
           CASE WHEN destination = 'UZ' THEN 'unknown' ELSE 'estimated' END,
           0,
           json_build_object('policy', CASE
               WHEN destination = 'CN' THEN 'CN-CBEC'
               WHEN destination = 'UZ' THEN NULL
               WHEN created_at < '2026-07-01' THEN 'EAEU-2024-04'
               ELSE 'EAEU-2026-07' END),
           '[]', 'manual',
           CASE WHEN status IN ('pending_payment', 'expired') THEN 'pending'
                ELSE 'succeeded' END,
           0, 0, (created_at AT TIME ZONE 'UTC')::date, created_at, created_at
    FROM bench_orders ORDER BY g
    """,
    # Lines: distinct SKUs per order (a skewed start and a fixed stride), the SKU's
    # price converted to the order currency through CNY at the seeded rates.
    """
    INSERT INTO order_lines (order_id, sku_id, merchant_id, sku_code, product_name, quantity,
        unit_price_amount, unit_price_currency, hs_code, origin_country, weight_g)
    SELECT o.id, s.id, p.merchant_id, s.code, left(p.name_en, 300), 1 + (g * 7 + n) % 3,
           round(s.price_amount * sc.cny / oc.cny, 2), o.currency, p.hs_code,
           p.origin_country, s.weight_g
    FROM bench_orders b
    JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    CROSS JOIN LATERAL generate_series(1, 1 + abs(hashtext('lines' || g::text)) % 4) AS n
    JOIN bench_skus k ON k.position = (
        floor(:skus * power((abs(hashtext('sku' || g::text)) % 1000) / 1000.0, 2))::int
        + (n - 1) * 37) % :skus
    JOIN skus s ON s.id = k.sku_id
    JOIN products p ON p.id = s.product_id
    JOIN bench_cny sc ON sc.currency = s.price_currency
    JOIN bench_cny oc ON oc.currency = o.currency
    """,
    """
    UPDATE orders o SET goods_total = t.goods, shipping_total = 20,
        duties_total = CASE WHEN o.destination_country = 'UZ' THEN NULL
                            ELSE round(t.goods * 0.091, 2) END,
        grand_total = t.goods + 20 + CASE WHEN o.destination_country = 'UZ' THEN 0
                                          ELSE round(t.goods * 0.091, 2) END,
        paid_amount = CASE WHEN o.payment_status = 'succeeded'
                           THEN t.goods + 20 + round(t.goods * 0.091, 2) ELSE 0 END
    FROM (SELECT order_id, sum(quantity * unit_price_amount) AS goods
          FROM order_lines GROUP BY order_id) t
    WHERE t.order_id = o.id
    """,
    # One parcel per order at a node that serves the destination.
    """
    INSERT INTO shipments (order_id, order_number, node_id, lane_code, status, shipping_amount,
        duties_amount, currency, weight_g, last_error, shipped_at, created_at, updated_at)
    SELECT o.id, o.number, n.id, NULL,
           CASE b.status WHEN 'delivered' THEN 'delivered'
                WHEN 'shipped' THEN 'shipped' WHEN 'partially_refunded' THEN 'delivered'
                WHEN 'refunded' THEN 'returned' WHEN 'paid' THEN 'ready_to_pick'
                WHEN 'fulfilling' THEN 'picking' WHEN 'pending_payment' THEN 'awaiting_payment'
                ELSE 'cancelled' END,
           20, o.duties_total, o.currency, 500, '',
           CASE WHEN b.status IN ('delivered', 'shipped', 'partially_refunded', 'refunded')
                THEN b.created_at + interval '10 minutes' + make_interval(hours => b.ship_hours)
                END,
           b.created_at, b.created_at
    FROM bench_orders b
    JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    JOIN nodes n ON n.code = CASE
        WHEN b.destination = 'CN' THEN (ARRAY['CN-SFH', 'CN-URC', 'RU-USS'])[1 + b.g % 3]
        WHEN b.destination IN ('RU', 'BY') THEN 'RU-WH'
        WHEN b.destination = 'KZ' THEN (ARRAY['RU-WH', 'CN-URC'])[1 + b.g % 2]
        ELSE 'CN-URC' END
    """,
    """
    INSERT INTO shipment_lines (shipment_id, sku_id, quantity, reservation)
    SELECT s.id, l.sku_id, l.quantity,
           CASE WHEN s.shipped_at IS NOT NULL THEN 'consumed'
                WHEN s.status = 'cancelled' THEN 'released' ELSE 'held' END
    FROM shipments s JOIN order_lines l ON l.order_id = s.order_id
    JOIN orders o ON o.id = s.order_id WHERE o.number LIKE :prefix || '%'
    """,
    """
    INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, data,
        created_at)
    SELECT o.id, 'status', NULL, 'pending_payment', 'bench', 'order placed', '{}'::json,
           b.created_at
    FROM bench_orders b JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    UNION ALL
    SELECT o.id, 'status', 'pending_payment', 'paid', 'bench', 'paid', '{}'::json,
           b.created_at + interval '10 minutes'
    FROM bench_orders b JOIN orders o ON o.number = :prefix || lpad(b.g::text, 8, '0')
    WHERE b.status NOT IN ('pending_payment', 'expired')
    UNION ALL
    SELECT s.order_id, 'status', 'paid', 'shipped', 'bench', 'parcel left', '{}'::json, s.shipped_at
    FROM shipments s JOIN orders o ON o.id = s.order_id
    WHERE s.shipped_at IS NOT NULL AND o.number LIKE :prefix || '%'
    """,
]


def build_world(orders: int, days: int) -> dict[str, Any]:
    """Write the orders (app context); returns what was written."""
    from sqlalchemy import text

    from shop.core.extensions import db

    session = db.session
    # CNY per unit of each currency the seeded rates reach, newest rate first.
    session.execute(
        text(
            "CREATE TEMP TABLE bench_cny AS SELECT DISTINCT ON (currency) currency, cny FROM ("
            " SELECT 'CNY' AS currency, 1::numeric AS cny, DATE '9999-12-31' AS effective_on"
            " UNION ALL SELECT base_currency, rate, effective_on FROM exchange_rates"
            " WHERE quote_currency = 'CNY'"
            " UNION ALL SELECT quote_currency, 1 / rate, effective_on FROM exchange_rates"
            " WHERE base_currency = 'CNY') r ORDER BY currency, effective_on DESC"
        )
    )
    session.execute(
        text(
            "CREATE TEMP TABLE bench_skus AS SELECT row_number() OVER (ORDER BY s.id) - 1 "
            "AS position, s.id AS sku_id FROM skus s JOIN products p ON p.id = s.product_id "
            "JOIN bench_cny c ON c.currency = s.price_currency "
            "WHERE s.is_active AND p.is_active AND s.deleted_at IS NULL"
        )
    )
    skus = session.scalar(text("SELECT count(*) FROM bench_skus"))
    params = {
        "orders": orders,
        "now": datetime.now(UTC),
        "span": timedelta(days=days),
        "prefix": PREFIX,
        "skus": skus,
    }
    for statement in WORLD_SQL:
        started = time.perf_counter()
        session.execute(text(statement), params)
        log(f"{' '.join(statement.split())[:60]}… {time.perf_counter() - started:.1f} s")
    session.commit()
    counts = {
        table: session.scalar(text(f"SELECT count(*) FROM {table}"))
        for table in ("orders", "order_lines", "shipments", "shipment_lines", "order_events",
                      "stock_levels", "skus")
    }  # fmt: skip
    session.rollback()
    return {"skus_sold": skus, **counts}


def vacuum(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
