"""Migration 0018 (#18): payments keep the order's amount of a converted payment, on
SQLite and PostgreSQL; old payments read as "not converted" (null), and it goes back."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.integration.test_cli_and_migrations import flask_cli


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("postgres").create("migration_0018")
    return f"sqlite:///{tmp_path / 'migration.db'}"


def payment_columns(url: str) -> dict[str, dict]:
    engine = create_engine(url)
    try:
        return {column["name"]: column for column in inspect(engine).get_columns("payments")}
    finally:
        engine.dispose()


def test_payments_gain_a_nullable_order_amount_and_lose_it_on_downgrade(empty_database, tmp_path):
    flask_cli(empty_database, tmp_path, "db", "upgrade", "0017")
    assert "order_amount" not in payment_columns(empty_database)
    engine = create_engine(empty_database)
    with engine.begin() as conn:  # a payment from before #18
        conn.execute(text(
            "INSERT INTO orders (number, status, currency, destination_country, token_hash, "
            "email, shipping_address, goods_total, shipping_total, duties_status, grand_total, "
            "exchange_rates, payment_adapter, payment_status, placed_on, paid_amount, "
            "refunded_amount, created_at, updated_at) VALUES ('SCO-OLD0-0001', "
            "'pending_payment', 'CNY', 'CN', 'h', 'a@b.c', '{}', 10, 0, 'unknown', 10, '[]', "
            "'manual', 'pending', '2026-12-01', 0, 0, '2026-12-01', '2026-12-01')"
        ))  # fmt: skip
        order_id = conn.execute(text("SELECT id FROM orders")).scalar()
        conn.execute(text(
            "INSERT INTO payments (order_id, adapter, amount, currency, status, next_action, "
            "received_reference, last_error, created_at, updated_at) VALUES "
            f"({order_id}, 'manual', 10, 'CNY', 'pending', '{{}}', '', '', '2026-12-01', "
            "'2026-12-01')"
        ))  # fmt: skip
    engine.dispose()

    flask_cli(empty_database, tmp_path, "db", "upgrade")
    column = payment_columns(empty_database)["order_amount"]
    assert column["nullable"]
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT order_amount FROM payments")).scalar() is None
    engine.dispose()

    flask_cli(empty_database, tmp_path, "db", "downgrade", "0017")
    assert "order_amount" not in payment_columns(empty_database)
