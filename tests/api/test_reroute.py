"""Staff re-route a shipment its node cannot fulfil: stock moves, the decision is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from orders.models import Order
from shop.core.extensions import db
from tests import factories as f
from warehouse.models import NodeHandover, RoutingDecision, Shipment, ShipmentLine, StockLevel
from warehouse.services import (
    Allocation,
    OnHandChange,
    create_staff,
    ledger_mismatches,
    reserve_stock,
    set_on_hand,
)


@pytest.fixture
def depot_app(app):
    with app.app_context():
        f.rate("RUB", "CNY", "0.088")
        sfh = f.node("CN-SFH", ["CN"], country="CN", priority=30, days=(2, 5))
        urc = f.node("CN-URC", ["CN"], country="CN", priority=40, days=(3, 6))
        f.node("RU-WH", ["RU"], priority=10)
        product = f.product(
            f.merchant(), f.category(), "ALENKA", en="Alenka", ru="Алёнка",
            skus=[("RU-ALENKA-100", "125.00", "RUB", {})],
        )  # fmt: skip
        sku_id = product.skus[0].id
        set_on_hand(
            [OnHandChange(sku_id, sfh.id, 5), OnHandChange(sku_id, urc.id, 5)],
            reason="receipt", actor="test",
        )  # fmt: skip
        order = Order(number="PV-1", status="paid", currency="CNY", destination_country="CN")
        db.session.add(order)
        db.session.flush()
        shipment = Shipment(
            order_id=order.id, node_id=sfh.id, lane_code="CN-SFH-LANE", status="ready_to_pick"
        )
        db.session.add(shipment)
        db.session.flush()
        db.session.add(ShipmentLine(shipment_id=shipment.id, sku_id=sku_id, quantity=3))
        reserve_stock([Allocation(sku_id, sfh.id, 3, shipment.id)], order_id=order.id, actor="t")
        db.session.commit()
        app.config["IDS"] = {"shipment": shipment.id, "sfh": sfh.id, "urc": urc.id}
        app.config["TOKENS"] = {
            "sfh": create_staff("sfh@example.com", "CN-SFH").token,
            "urc": create_staff("urc@example.com", "CN-URC").token,
            "ops": create_staff("ops@example.com", None, "operator").token,
        }
    return app


def reroute(app, who, reason="Forklift down, cannot pick today", shipment=None):
    shipment = shipment or app.config["IDS"]["shipment"]
    return app.test_client().post(
        f"/api/v1/warehouse/shipments/{shipment}/reroute",
        json={"reason": reason},
        headers={"Authorization": f"Bearer {app.config['TOKENS'][who]}"},
    )


def levels(app):
    with app.app_context():
        rows = db.session.scalars(select(StockLevel).order_by(StockLevel.node_id)).all()
        return {r.node_id: (r.on_hand, r.reserved) for r in rows}


def test_a_shipment_moves_to_the_next_best_node_with_its_stock(depot_app):
    ids = depot_app.config["IDS"]
    response = reroute(depot_app, "sfh")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["from_node"] == "CN-SFH"
    assert [s["node"] for s in body["shipments"]] == ["CN-URC"]
    assert "CN-SFH" in str(body["explanation"])  # the excluded node and why
    assert levels(depot_app) == {ids["sfh"]: (5, 0), ids["urc"]: (5, 3)}
    with depot_app.app_context():
        old = db.session.get(Shipment, ids["shipment"])
        assert old.status == "rerouted"
        # The order is paid: the new parcel is ready to pick at its node, not a dead one.
        [new] = db.session.scalars(select(Shipment).where(Shipment.id != old.id)).all()
        assert new.status == "ready_to_pick"
        decision = db.session.scalars(select(RoutingDecision)).one()
        assert (decision.kind, decision.reason) == ("reroute", "Forklift down, cannot pick today")
        assert decision.explanation["shipments"][0]["node"] == "CN-URC"
        assert ledger_mismatches() == []
    again = reroute(depot_app, "ops")
    assert again.status_code == 409  # the old one is no longer a live shipment


def test_another_nodes_picker_gets_404_and_a_reason_is_required(depot_app):
    assert reroute(depot_app, "urc").status_code == 404
    assert reroute(depot_app, "sfh", shipment=999999).status_code == 404
    missing_reason = reroute(depot_app, "sfh", reason="")
    assert missing_reason.status_code == 422
    assert "reason" in missing_reason.get_json()["errors"]


def test_no_stock_elsewhere_is_a_409_and_changes_nothing(depot_app):
    ids = depot_app.config["IDS"]
    with depot_app.app_context():
        level = db.session.scalars(select(StockLevel).where(StockLevel.node_id == ids["urc"])).one()
        set_on_hand(
            [OnHandChange(level.sku_id, ids["urc"], 1, level.id, level.on_hand)],
            reason="adjustment", actor="test",
        )  # fmt: skip
        db.session.commit()
    before = levels(depot_app)
    response = reroute(depot_app, "ops")
    assert response.status_code == 409
    assert response.get_json()["code"] == "insufficient_stock"
    assert levels(depot_app) == before


@pytest.mark.parametrize(
    ("urc_handover", "kept_service"),
    [
        ({"kind": "drop_off", "office_code": "ZHK1"}, "136"),  # drops off as CN-SFH does
        ({"kind": "intake", "window_from": "10:00", "window_to": "16:00",
          "address": "Urumqi depot"}, None),  # a courier collects: 136 cannot start there
    ],
)  # fmt: skip
def test_a_re_routed_parcel_keeps_its_point_and_its_tariff_only_if_the_new_node_hands_over_alike(
    depot_app, urc_handover, kept_service
):
    ids = depot_app.config["IDS"]
    with depot_app.app_context():
        shipment = db.session.get(Shipment, ids["shipment"])
        shipment.quoted_carrier, shipment.quoted_service = "manual", "136"
        shipment.delivery_point, shipment.delivery_point_address = "KZN31", "ул. Пушкина, 12"
        db.session.add_all([
            NodeHandover(node_id=ids["sfh"], carrier="manual", kind="drop_off",
                         office_code="SFH1"),
            NodeHandover(node_id=ids["urc"], carrier="manual", **urc_handover),
        ])  # fmt: skip
        db.session.commit()

    response = reroute(depot_app, "sfh")

    assert response.status_code == 200, response.get_json()
    with depot_app.app_context():
        [new] = db.session.scalars(select(Shipment).where(Shipment.node_id == ids["urc"])).all()
        assert (new.quoted_carrier, new.delivery_point) == ("manual", "KZN31")
        assert new.quoted_service == kept_service
