"""The shared invariant checker (tests/invariants.py) sees each kind of damage a fault
could leave: a checker that cannot fail proves nothing for the scenarios that call it."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, select, update

from orders.models import Order, Payment
from shop.core.extensions import db
from tests.checkout_world import build_world, order_body
from tests.invariants import assert_invariants, invariant_violations
from warehouse.models import Shipment, ShipmentLine, StockLevel


def _paid_order(app) -> dict:
    with app.app_context():
        world = build_world()
    client = app.test_client()
    order = client.post("/api/v1/orders", json=order_body("ALENKA-100", 2)).get_json()
    paid = client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                       headers={"Authorization": f"Bearer {world['operator']}"})  # fmt: skip
    assert paid.status_code == 200, paid.get_data(as_text=True)
    return order


def test_a_sound_shop_passes_and_each_kind_of_damage_is_named(app):
    order = _paid_order(app)
    assert_invariants(app, live_bookings=lambda number: 0)

    with app.app_context():
        placed = db.session.scalar(select(Order).where(Order.number == order["number"]))
        shipment_id = db.session.scalar(select(Shipment.id).where(Shipment.order_id == placed.id))
        # A hold written without its ledger row.
        db.session.execute(update(StockLevel).where(StockLevel.reserved > 0)
                           .values(reserved=StockLevel.reserved + 1))  # fmt: skip
        # A second charge kept for an order already paid.
        db.session.add(Payment(order_id=placed.id, adapter="stripe", reference="pi_twice",
                               amount=Decimal(placed.grand_total), currency=placed.currency,
                               status="succeeded"))  # fmt: skip
        # A shipment left without its lines.
        db.session.execute(delete(ShipmentLine).where(ShipmentLine.shipment_id == shipment_id))
        db.session.commit()
        db.session.remove()

    problems = "\n".join(invariant_violations(app, live_bookings=lambda number: 2))
    assert "differs from its ledger" in problems
    assert "but shipment lines hold" in problems
    assert "keeps 2 succeeded payments, not one" in problems
    assert "paid_amount" in problems
    assert f"shipment {shipment_id} has no lines" in problems
    assert "is booked 2 times" in problems
