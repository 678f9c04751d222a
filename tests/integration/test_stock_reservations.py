"""Stock holds under load: no unit is ever sold twice, the ledger always balances,
expiry gives stock back exactly once (PostgreSQL, and SQLite for the embedded default)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from orders.expiry import expire_reservations
from orders.models import Order
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests import factories as f
from tests.conftest import make_test_app
from warehouse.models import Shipment, ShipmentLine, StockLevel
from warehouse.services import (
    Allocation,
    OnHandChange,
    StockShortage,
    ledger_mismatches,
    reserve_stock,
    set_on_hand,
)


@pytest.fixture(params=["postgresql", "sqlite"])
def stock_app(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").create("stock")
        app = make_test_app(
            url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 20, "max_overflow": 10, "pool_timeout": 60}
        )
    else:
        app = make_test_app(f"sqlite:///{tmp_path / 'stock.db'}")
    with app.app_context():
        db.create_all()
        f.rate("RUB", "CNY", "0.088")
        node = f.node("CN-SFH", ["CN"], country="CN")
        merchant = f.merchant()
        product = f.product(
            merchant, f.category(), "ALENKA", en="Alenka", ru="Алёнка",
            skus=[("RU-ALENKA-100", "125.00", "RUB", {})],
        )  # fmt: skip
        sku_id = product.skus[0].id
        set_on_hand([OnHandChange(sku_id, node.id, 20)], reason="receipt", actor="test")
        db.session.commit()
        app.config["TEST_IDS"] = (sku_id, node.id)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def buy(app, quantity=1, expires_in=timedelta(minutes=30)):
    """A minimal checkout: order, shipment, line and hold in one transaction."""
    sku_id, node_id = app.config["TEST_IDS"]
    with app.app_context():
        try:
            order = Order(
                number=uuid.uuid4().hex[:12], status="pending_payment", currency="CNY",
                destination_country="CN", reservation_expires_at=utcnow() + expires_in,
            )  # fmt: skip
            db.session.add(order)
            db.session.flush()
            shipment = Shipment(order_id=order.id, node_id=node_id)
            db.session.add(shipment)
            db.session.flush()
            db.session.add(ShipmentLine(shipment_id=shipment.id, sku_id=sku_id, quantity=quantity))
            reserve_stock(
                [Allocation(sku_id, node_id, quantity, shipment.id, "RU-ALENKA-100")],
                order_id=order.id,
                actor="test",
            )
            db.session.commit()
            return "ordered"
        except StockShortage:
            db.session.rollback()
            return "409"
        finally:
            db.session.remove()


def race(app, buyers):
    outcomes = []
    lock = threading.Lock()
    barrier = threading.Barrier(buyers)

    def shopper():
        barrier.wait()
        outcome = buy(app)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=shopper) for _ in range(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def stock(app):
    with app.app_context():
        level = db.session.scalars(select(StockLevel)).one()
        return level.on_hand, level.reserved


def test_the_last_20_units_are_sold_once_under_80_concurrent_buyers(stock_app):
    outcomes = race(stock_app, 80)
    assert len(outcomes) == 80
    assert outcomes.count("ordered") == 20
    assert outcomes.count("409") == 60
    assert stock(stock_app) == (20, 20)
    with stock_app.app_context():
        assert ledger_mismatches() == []


def test_expired_holds_return_the_stock_once_even_when_two_jobs_overlap(stock_app):
    for _ in range(5):
        assert buy(stock_app, expires_in=timedelta(minutes=-1)) == "ordered"
    assert buy(stock_app, quantity=2) == "ordered"  # still within its 30 minutes
    assert stock(stock_app) == (20, 7)
    counts = []

    def job():
        with stock_app.app_context():
            counts.append(expire_reservations())
            db.session.remove()

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(counts) == 5
    assert stock(stock_app) == (20, 2)
    with stock_app.app_context():
        statuses = sorted(db.session.scalars(select(Order.status)))
        assert statuses == ["expired"] * 5 + ["pending_payment"]
        held = db.session.scalars(select(ShipmentLine.reservation)).all()
        assert sorted(held) == ["expired"] * 5 + ["held"]
        assert ledger_mismatches() == []
        assert expire_reservations() == 0


def test_a_hold_larger_than_what_is_left_names_the_short_line(stock_app):
    assert buy(stock_app, quantity=15) == "ordered"
    sku_id, node_id = stock_app.config["TEST_IDS"]
    with stock_app.app_context():
        with pytest.raises(StockShortage) as shortage:
            reserve_stock(
                [Allocation(sku_id, node_id, 6, None, "RU-ALENKA-100")], order_id=None, actor="t"
            )
        db.session.rollback()
    assert shortage.value.extra["lines"] == [
        {"sku": "RU-ALENKA-100", "node": "CN-SFH", "wanted": 6, "available": 5}
    ]
    assert stock(stock_app) == (20, 15)
