"""CDEK's order protocol as CDEK documents it, end to end on PostgreSQL through the fake
CDEK over loopback (tests/fake_cdek.py): a node that drops parcels off books a склад
tariff with its office and no address; a node whose courier collects books a дверь
tariff from its address and a courier intake (/v2/intakes) in a background job; a
parcel to another country carries its customs block, and CDEK refuses one without it;
``flask carriers cdek subscribe`` run twice leaves one ORDER_STATUS subscription."""

from __future__ import annotations

import logging
import os
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from sqlalchemy import select

from catalog.money import Money
from shop.core import background
from shop.core.audit import AuditEntry
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests import fake_cdek as fake_cdek_module
from tests.checkout_world import RU_ADDRESS, VALID_ID, build_world, cn_body, order_body
from tests.conftest import make_test_app
from warehouse.carriers import (
    Address,
    BookingRequest,
    CustomsDeclaration,
    Handover,
    Origin,
    Parcel,
    ParcelItem,
    Party,
    RecipientIdentity,
)
from warehouse.carriers.cdek import CdekCarrier
from warehouse.models import Shipment
from warehouse.services import HandoverChange, set_handover

fake_cdek = fake_cdek_module.fake_cdek

SELLER = {
    "name": "ООО «Павильон ШОС»",
    "tax_id": "7701234567",
    "address": "Москва, ул. Тверская, 1",
    "phone": "+74950000000",
}
KZ_ADDRESS = {**RU_ADDRESS, "country": "KZ", "region": "Almaty", "city": "Алматы",
              "postal_code": "050000"}  # fmt: skip
WEBHOOK_URL = "https://shop.example/api/v1/carriers/cdek/webhook"


@pytest.fixture
def cdek_shop(postgres, fake_cdek):
    url = postgres.create("cdek_protocol")
    app = make_test_app(
        url,
        CARRIERS=("manual", "cdek"),
        SELLER_OF_RECORD=SELLER,
        CDEK_WEBHOOK_URL=WEBHOOK_URL,
        **fake_cdek.settings(),
    )
    with app.app_context():
        db.create_all()
        app.config["WORLD"] = build_world()
    yield app, fake_cdek
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def shipped_through_cdek(app, address=None) -> int:
    """One paid order of one unit at RU-WH, picked, packed, handed to CDEK, and the
    background jobs run as the sweeper would; the shipment's id."""
    world = app.config["WORLD"]
    client = app.test_client()
    body = order_body("LAST-UNITS", 1, address=address, currency="CNY")
    order = client.post("/api/v1/orders", json=body).get_json()
    assert "number" in order, order
    client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                headers=bearer(world["operator"]))  # fmt: skip
    pick_list = client.post("/api/v1/warehouse/nodes/RU-WH/pick-lists", json={},
                            headers=bearer(world["picker_ru"])).get_json()  # fmt: skip
    (shipment_id,) = [s["id"] for s in pick_list["shipments"]]
    packed = client.post(f"/api/v1/warehouse/shipments/{shipment_id}/pack",
                         json={"weight_g": 700}, headers=bearer(world["picker_ru"]))  # fmt: skip
    assert packed.status_code == 200, packed.get_json()
    shipped = client.post(f"/api/v1/warehouse/shipments/{shipment_id}/ship",
                          json={"carrier": "cdek"}, headers=bearer(world["picker_ru"]))  # fmt: skip
    assert shipped.status_code == 202, shipped.get_json()
    now = utcnow()
    with app.app_context():
        for minute in range(1, 9):
            background.sweep_jobs(now + timedelta(minutes=minute * 20))
    return shipment_id


def shipment(app, shipment_id) -> Shipment:
    with app.app_context():
        row = db.session.get(Shipment, shipment_id)
        db.session.expunge(row)
        return row


def test_a_drop_off_node_books_its_office_as_shipment_point_and_calls_no_courier(cdek_shop):
    app, cdek = cdek_shop
    shipment_id = shipped_through_cdek(app)

    booked = shipment(app, shipment_id)
    assert booked.status == "shipped", booked.last_error
    (call,) = cdek.calls("POST", "/v2/orders")
    assert call.json["tariff_code"] == 137  # Посылка склад-дверь
    assert call.json["shipment_point"] == "NSK27"
    assert "from_location" not in call.json
    assert call.json["to_location"]["city"] == "Moscow"
    assert cdek.calls("POST", "/v2/intakes") == []
    assert booked.pickup_state is None


def test_an_intake_node_books_a_door_tariff_and_its_job_invites_the_courier(cdek_shop):
    app, cdek = cdek_shop
    with app.app_context():
        set_handover("test", "RU-WH", HandoverChange(
            carrier="cdek", kind="intake", window_from="10:00", window_to="17:00",
            timezone="Asia/Novosibirsk", address="ул. Складская, 5",
            contact_name="Склад", contact_phone="+73830000000",
        ))  # fmt: skip
    shipment_id = shipped_through_cdek(app)

    booked = shipment(app, shipment_id)
    assert booked.status == "shipped", booked.last_error
    (order_call,) = cdek.calls("POST", "/v2/orders")
    assert order_call.json["tariff_code"] == 139  # Посылка дверь-дверь
    assert order_call.json["from_location"]["address"] == "ул. Складская, 5"
    assert "shipment_point" not in order_call.json
    (intake_call,) = cdek.calls("POST", "/v2/intakes")
    (order,) = cdek.orders.values()
    assert intake_call.json["order_uuid"] == order.uuid
    assert (intake_call.json["intake_time_from"], intake_call.json["intake_time_to"]) == (
        "10:00",
        "17:00",
    )
    (intake,) = cdek.intakes.values()
    assert booked.pickup_state == "pending"
    assert booked.pickup_reference == intake["uuid"]
    assert booked.pickup_on.isoformat() == intake_call.json["intake_date"]


def test_a_parcel_to_kazakhstan_carries_its_customs_block(cdek_shop):
    app, cdek = cdek_shop
    shipment_id = shipped_through_cdek(app, address=KZ_ADDRESS)

    booked = shipment(app, shipment_id)
    assert booked.status == "shipped", booked.last_error
    (call,) = cdek.calls("POST", "/v2/orders")
    body = call.json
    assert body["seller"] == {"name": SELLER["name"], "address": SELLER["address"],
                              "inn": SELLER["tax_id"], "phone": SELLER["phone"]}  # fmt: skip
    assert body["shipper_name"] == SELLER["name"]
    assert body["shipper_address"].endswith("RU")
    assert body["date_invoice"]
    assert (body["recipient_currency"], body["items_cost_currency"]) == ("CNY", "CNY")
    (item,) = body["packages"][0]["items"]
    assert item["feacn_code"]
    assert item["name_i18n"] == "LAST-UNITS goods"
    assert item["brand"] == "Sladosti LLC"
    assert item["country_code"]


def test_without_a_seller_of_record_the_booking_is_refused_with_the_missing_fields(cdek_shop):
    app, cdek = cdek_shop
    app.config["SELLER_OF_RECORD"] = None
    shipment_id = shipped_through_cdek(app, address=KZ_ADDRESS)

    refused = shipment(app, shipment_id)
    assert refused.status == "packed"
    assert "seller.address" in refused.last_error
    assert cdek.calls("POST", "/v2/orders") == []


def test_the_fake_refuses_what_cdek_refuses(cdek_shop):
    """The fake, asked directly as CDEK would be: an order between countries without its
    block, a склад tariff with from_location, a дверь one with shipment_point, a Посылка
    package over 30 kg."""
    app, cdek = cdek_shop
    with app.app_context():
        from warehouse.shipping import carrier

        client = carrier("cdek").client

    def refusal(**changes):
        body = {
            "type": 1, "number": "RAW-1", "tariff_code": 137, "shipment_point": "NSK27",
            "to_location": {"country_code": "KZ", "city": "Алматы", "address": "ул. Абая, 1"},
            "recipient": {"name": "Айгерим", "phones": [{"number": "+77010000000"}]},
            "packages": [{"number": "1", "weight": 700, "items": [
                {"name": "Шоколад", "ware_key": "A", "payment": {"value": 0}, "cost": 50,
                 "weight": 700, "amount": 1}]}],
        }  # fmt: skip
        body.update(changes)
        body = {k: v for k, v in body.items() if v is not None}
        response = client.call("POST", "/v2/orders", json=body)
        assert response.status_code == 400, response.text
        return {e["code"] + ": " + e["message"] for e in response.json()["requests"][0]["errors"]}

    assert "v2_field_is_empty: Field date_invoice is empty" in refusal()
    assert any("shipment_point, not from_location" in e
               for e in refusal(from_location={"code": 270, "address": "x"}))  # fmt: skip
    assert any("from_location, not shipment_point" in e for e in refusal(tariff_code=139))
    domestic = {"country_code": "RU", "city": "Казань", "address": "ул. Баумана, 1"}
    heavy = [{"number": "1", "weight": 30001, "items": [{"name": "x", "ware_key": "A",
              "payment": {"value": 0}, "cost": 1, "weight": 30001, "amount": 1}]}]  # fmt: skip
    assert any("over 30 kg" in e for e in refusal(to_location=domestic, packages=heavy))
    assert cdek.orders == {}


def test_subscribe_twice_makes_one_subscription_audited_as_the_operator(cdek_shop):
    app, cdek = cdek_shop

    def run(*args):
        operator = {"LOGNAME": "ops-anna", "USER": "ops-anna"}
        with mock.patch.dict(os.environ, operator), app.app_context():
            result = app.test_cli_runner().invoke(args=list(args))
            db.session.remove()
        assert result.exit_code == 0, result.output
        return result.output

    first = run("carriers", "cdek", "subscribe")
    second = run("carriers", "cdek", "subscribe")

    assert first.startswith("subscribed: ")
    assert second.startswith("already subscribed: ")
    assert len(cdek.calls("POST", "/v2/webhooks")) == 1
    assert len(cdek.calls("GET", "/v2/webhooks")) == 2  # listed before deciding, each time
    (hook,) = cdek.webhooks.values()
    assert (hook["type"], hook["url"]) == ("ORDER_STATUS", WEBHOOK_URL)
    assert hook["uuid"] in run("carriers", "cdek", "subscriptions")
    with app.app_context():
        entries = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        assert [(e.action, e.actor) for e in entries] == [
            ("carrier.webhook.subscribe", "cli:ops-anna")
        ]
        assert entries[0].after["url"] == WEBHOOK_URL

    assert run("carriers", "cdek", "unsubscribe", hook["uuid"]).startswith("removed: ")
    assert cdek.webhooks == {}
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        assert actions == ["carrier.webhook.subscribe", "carrier.webhook.remove"]


def test_the_parcel_port_decrypts_the_buyer_s_id_only_for_the_carrier_and_shows_it_masked(
    cdek_shop,
):
    app, _ = cdek_shop
    order = app.test_client().post("/api/v1/orders", json=cn_body()).get_json()
    assert "number" in order, order
    with app.app_context():
        from orders.models import Order
        from warehouse.parcel_orders import parcel_orders

        order_id = db.session.scalar(select(Order.id).where(Order.number == order["number"]))
        identity = parcel_orders().customs_identity_of_parcel(order_id)
        assert (identity.kind, identity.number) == ("prc_resident_id", VALID_ID)
        assert VALID_ID not in repr(identity)
        assert identity.masked == "1101**********002X"


def test_a_ru_to_cn_booking_sends_the_id_to_cdek_and_never_to_the_logs(fake_cdek, caplog):
    caplog.set_level(logging.DEBUG)
    carrier = CdekCarrier(fake_cdek.settings())
    honey = ParcelItem("HONEY-1", "Мёд", 1, Money(Decimal("60"), "CNY"), 550,
                       hs_code="040900", origin_country="RU", name_i18n="Honey")  # fmt: skip
    seller = Party(SELLER["name"], SELLER["address"], SELLER["tax_id"])
    request = BookingRequest(
        "P-CN-1-3", "P-CN-1",
        Origin("RU-USS", "RU", "Уссурийск"),
        Address("CN", "Qingdao", "Xianggang Rd 1", "张三", "+8613800000000"),
        Parcel(700, (honey,)),
        handover=Handover("intake", window_from="10:00", window_to="16:00",
                          timezone="Asia/Vladivostok", address="ул. Пушкина, 87"),
        customs=CustomsDeclaration(date(2026, 12, 1), seller, Party(seller.name, "Уссурийск"),
                                   "CNY", RecipientIdentity("prc_resident_id", "张三", VALID_ID)),
    )  # fmt: skip

    booking = carrier.booking_status(carrier.book(request))

    assert booking.state == "registered"
    (order,) = fake_cdek.orders.values()
    assert order.body["recipient"]["passport_number"] == VALID_ID
    assert order.body["date_invoice"] == "2026-12-01"
    assert VALID_ID not in caplog.text


def test_nodes_handover_from_the_shell_is_audited_and_a_bad_one_changes_nothing(cdek_shop):
    app, _ = cdek_shop

    def run(*args):
        operator = {"LOGNAME": "ops-anna", "USER": "ops-anna"}
        with mock.patch.dict(os.environ, operator), app.app_context():
            result = app.test_cli_runner().invoke(args=list(args))
            db.session.remove()
        return result

    refused = run("nodes", "handover", "RU-USS", "--intake", "18:00-10:00",
                  "--timezone", "Asia/Vladivostok", "--address", "x")  # fmt: skip
    assert refused.exit_code != 0
    assert "window_to" in refused.output
    done = run("nodes", "handover", "RU-USS", "--office", "VVO5")
    assert done.exit_code == 0, done.output
    assert "VVO5" in run("nodes", "handovers", "--node", "RU-USS").output
    with app.app_context():
        (entry,) = db.session.scalars(select(AuditEntry))
        assert (entry.action, entry.actor, entry.target_id) == (
            "node.handover",
            "cli:ops-anna",
            "RU-USS",
        )
        assert entry.before["kind"] == "intake"
        assert entry.after == {"carrier": "cdek", "kind": "drop_off", "office_code": "VVO5"}
