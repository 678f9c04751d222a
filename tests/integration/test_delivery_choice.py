"""Door or pickup point, against the fake CDEK over loopback: the tariff and pickup point
shown at checkout are the ones stored on the order and booked with CDEK, and a point
that is not CDEK's in that city is refused before anything is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from catalog.models import Sku
from orders.models import Order
from shop.core import background
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests import fake_cdek as fake_cdek_module
from tests.checkout_world import RU_ADDRESS, build_world, order_body
from tests.conftest import make_test_app
from warehouse.models import Shipment
from warehouse.services import HandoverChange, set_handover

fake_cdek = fake_cdek_module.fake_cdek

KAZAN = {**RU_ADDRESS, "region": "Республика Татарстан", "city": "Казань",
         "postal_code": "420111", "line1": "ул. Баумана, 1"}  # fmt: skip
# The parcel family as CDEK's tariff table names it: sender side, then recipient side.
PARCEL_TARIFFS = [
    (136, "Посылка склад-склад", 4, 300, 50, 3, 6),
    (137, "Посылка склад-дверь", 3, 420, 70, 3, 5),
    (138, "Посылка дверь-склад", 2, 380, 60, 3, 6),
    (139, "Посылка дверь-дверь", 1, 500, 80, 3, 5),
    (368, "Посылка склад-постамат", 7, 280, 50, 3, 6),
]


@pytest.fixture
def cdek_shop(backend, postgres_scratch_url, fake_cdek):
    url = "sqlite://" if backend == "sqlite" else postgres_scratch_url
    # RU-WH drops parcels off at a CDEK office: the "склад" sender tariffs 136 and 137.
    app = make_test_app(url, CARRIERS=("manual", "cdek"),
                        **fake_cdek.settings(CDEK_TARIFF_CODE=137))  # fmt: skip
    fake_cdek.tariffs = list(PARCEL_TARIFFS)
    with app.app_context():
        if backend == "sqlite":
            db.create_all()
        else:
            from tests.conftest import _truncate_all

            _truncate_all(app)
        world = build_world()
    app.config["WORLD"] = world
    app.extensions["fake_cdek"] = fake_cdek
    yield app, fake_cdek
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def book_with_cdek(app, number: str, shipment_id: int):
    """Pay, pick, pack and ship as staff do; the booking job books with CDEK. The order
    CDEK registered."""
    world, client = app.config["WORLD"], app.test_client()
    client.post(f"/api/v1/orders/{number}/mark-paid", json={},
                headers=bearer(world["operator"]))  # fmt: skip
    client.post("/api/v1/warehouse/nodes/RU-WH/pick-lists", json={},
                headers=bearer(world["picker_ru"]))  # fmt: skip
    packed = client.post(f"/api/v1/warehouse/shipments/{shipment_id}/pack",
                         json={"weight_g": 700}, headers=bearer(world["picker_ru"]))  # fmt: skip
    assert packed.status_code == 200, packed.get_json()
    shipped = client.post(f"/api/v1/warehouse/shipments/{shipment_id}/ship",
                          json={"carrier": "cdek"}, headers=bearer(world["picker_ru"]))  # fmt: skip
    assert shipped.status_code == 202, shipped.get_json()
    with app.app_context():
        for minute in range(1, 6):
            background.sweep_jobs(utcnow() + timedelta(minutes=minute * 20))
        assert db.session.get(Shipment, shipment_id).status == "shipped"
    [booked] = app.extensions["fake_cdek"].orders_by_number[f"{number}-{shipment_id}"]
    return booked


def names(errors: dict, path: str) -> bool:
    """Whether a problem's ``errors`` name ``path``: the schema nests them
    (``{"delivery": {"point": [...]}}``), the services write them dotted."""
    if path in errors:
        return True
    head, _, rest = path.partition(".")
    return bool(rest) and isinstance(errors.get(head), dict) and names(errors[head], rest)


def pickup(point):
    return {"method": "pickup", "point": point}


def test_the_pickup_points_of_a_city_are_cdek_s_offices_there(cdek_shop):
    app, cdek = cdek_shop
    client = app.test_client()

    listed = client.get("/api/v1/delivery-points?country=RU&city=Казань")

    assert listed.status_code == 200, listed.get_json()
    points = listed.get_json()["points"]
    assert [(p["code"], p["kind"]) for p in points] == [
        ("KZN12", "office"), ("KZN31", "office"), ("KZN207", "locker"),
    ]  # fmt: skip
    assert points[0]["address"] == "ул. Баумана, 44"
    assert points[0]["carrier"] == "cdek"
    # CDEK was asked for Kazan's code, then for its offices that hand parcels out.
    [lookup] = cdek.calls("GET", "/v2/location/cities")
    assert lookup.query == {"country_codes": ["RU"], "city": ["Казань"]}
    [offices] = cdek.calls("GET", "/v2/deliverypoints")
    assert offices.query["city_code"] == ["424"]
    # Kept for a while: the checkout that follows does not ask again.
    client.get("/api/v1/delivery-points?country=RU&city=Казань")
    assert len(cdek.calls("GET", "/v2/deliverypoints")) == 1
    nowhere = client.get("/api/v1/delivery-points?country=RU&city=Атлантида").get_json()
    assert nowhere["points"] == []


def test_the_tariff_and_pickup_point_shown_at_checkout_are_the_ones_booked(cdek_shop):
    app, _ = cdek_shop
    client = app.test_client()
    cart = client.post("/api/v1/carts", json={"lines": [{"sku": "LAST-UNITS", "quantity": 1}],
                       "currency": "RUB"}).get_json()  # fmt: skip
    query = "destination=RU&region=Республика Татарстан&city=Казань&postal_code=420111"
    door = client.get(f"/api/v1/carts/{cart['id']}?{query}",
                      headers={"X-Cart-Token": cart["token"]}).get_json()["quote"]  # fmt: skip
    shown = client.get(f"/api/v1/carts/{cart['id']}?{query}&delivery=pickup&point=KZN31",
                       headers={"X-Cart-Token": cart["token"]}).get_json()["quote"]  # fmt: skip

    [door_parcel] = door["shipments"]
    assert door_parcel["carrier_service"]["service"] == "137"  # склад-дверь
    [parcel] = shown["shipments"]
    assert parcel["carrier_service"]["service"] == "136"  # склад-склад: to the pickup point
    assert parcel["carrier_service"]["point"]["code"] == "KZN31"
    assert parcel["carrier_service"]["point"]["address"] == "ул. Пушкина, 12"
    assert shown["delivery"] == {"method": "pickup", "point": "KZN31"}
    assert parcel["shipping"] != door_parcel["shipping"]

    placed = client.post("/api/v1/orders", json=order_body(
        "LAST-UNITS", 1, address=KAZAN, delivery=pickup("KZN31")))  # fmt: skip
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    [stored] = order["shipments"]
    assert stored["shipping"] == parcel["shipping"]
    assert stored["delivery_choice"]["service"] == "136"
    assert stored["delivery_choice"]["method"] == "pickup"
    assert stored["delivery_choice"]["point"]["code"] == "KZN31"
    assert "ул. Пушкина, 12" in stored["delivery_choice"]["point"]["address"]

    booked = book_with_cdek(app, order["number"], stored["id"])
    assert booked.body["tariff_code"] == 136
    assert booked.body["delivery_point"] == "KZN31"
    assert "to_location" not in booked.body  # CDEK takes one or the other


def test_a_parcel_locker_is_quoted_and_booked_with_the_locker_tariff(cdek_shop):
    app, _ = cdek_shop
    placed = app.test_client().post("/api/v1/orders", json=order_body(
        "LAST-UNITS", 1, address=KAZAN, delivery=pickup("KZN207")))  # fmt: skip
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    [stored] = order["shipments"]
    assert stored["delivery_choice"]["service"] == "368"  # склад-постамат

    booked = book_with_cdek(app, order["number"], stored["id"])
    assert (booked.body["tariff_code"], booked.body["delivery_point"]) == (368, "KZN207")


def test_a_door_order_is_booked_with_the_door_tariff_it_was_quoted(cdek_shop):
    app, _ = cdek_shop
    client = app.test_client()
    placed = client.post("/api/v1/orders", json=order_body(
        "LAST-UNITS", 1, address=KAZAN, delivery={"method": "door"}))  # fmt: skip
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    [stored] = order["shipments"]
    assert stored["delivery_choice"] == {"method": "door", "carrier": "cdek",
                                         "service": "137", "point": None}  # fmt: skip

    booked = book_with_cdek(app, order["number"], stored["id"])
    assert booked.body["tariff_code"] == 137
    assert booked.body["to_location"]["city"] == "Казань"
    assert "delivery_point" not in booked.body


@pytest.mark.parametrize(
    ("delivery", "field"),
    [
        (pickup("MSK27"), "delivery.point"),  # CDEK's, but in Moscow, not in Kazan
        (pickup("NOPE1"), "delivery.point"),
        ({"method": "pickup"}, "delivery.point"),
        ({"method": "helicopter"}, "delivery.method"),
    ],
)
def test_a_pickup_point_not_in_cdek_s_list_for_the_city_is_refused(cdek_shop, delivery, field):
    app, _ = cdek_shop
    client = app.test_client()

    refused = client.post("/api/v1/orders", json=order_body(
        "LAST-UNITS", 1, address=KAZAN, delivery=delivery))  # fmt: skip

    assert refused.status_code == 422, refused.get_json()
    assert refused.content_type == "application/problem+json"
    assert names(refused.get_json()["errors"], field)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_pickup_points_cannot_be_checked_while_cdek_is_down(cdek_shop):
    app, cdek = cdek_shop
    cdek.outage()
    refused = app.test_client().post("/api/v1/orders", json=order_body(
        "LAST-UNITS", 1, address=KAZAN, delivery=pickup("KZN31")))  # fmt: skip

    assert refused.status_code == 503, refused.get_json()
    assert refused.get_json()["code"] == "pickup_points_unavailable"


def test_the_adapter_asks_cdek_by_postal_code_and_the_fake_refuses_what_cdek_refuses(fake_cdek):
    from warehouse.carriers import CarrierRejected
    from warehouse.carriers.cdek import CdekCarrier

    cdek = CdekCarrier(fake_cdek.settings())

    points = cdek.delivery_points("RU", "Казань", "420015")

    assert {p.code for p in points} == {"KZN12", "KZN31", "KZN207"}  # the city's, not the code's
    [call] = fake_cdek.calls("GET", "/v2/deliverypoints")
    assert call.query["postal_code"] == ["420015"]
    assert not fake_cdek.calls("GET", "/v2/location/cities")
    with pytest.raises(CarrierRejected):
        cdek.client.json_or_raise_list(
            cdek.client.call("GET", "/v2/deliverypoints", params={"type": "SHOP"}), "office list"
        )


def test_each_split_parcel_stores_and_books_its_own_quoted_tariff_and_the_point(cdek_shop):
    """70 jars of honey (35 kg) to a Kazan pickup point leave RU-WH in two parcels of its
    30 kg lane: each parcel is quoted on its own, and each shipment row stores and books
    the tariff its quote chose, to the point the shopper chose."""
    app, cdek = cdek_shop
    client = app.test_client()
    world = app.config["WORLD"]
    with app.app_context():
        db.session.execute(update(Sku).where(Sku.code == "HONEY-500").values(weight_g=500))
        db.session.commit()
    received = client.post(
        "/api/v1/warehouse/nodes/RU-WH/receipts",
        json={"lines": [{"sku": "HONEY-500", "quantity": 100, "bin": "H-1-01"}],
              "reference": "DN-HONEY"},
        headers=bearer(world["picker_ru"]),
    )  # fmt: skip
    assert received.status_code in (200, 201), received.get_json()

    placed = client.post("/api/v1/orders", json=order_body(
        "HONEY-500", 70, address=KAZAN, delivery=pickup("KZN31")))  # fmt: skip

    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    shipments = order["shipments"]
    assert [(s["node"], s["parcel"]["of"]) for s in shipments] == [("RU-WH", 2)] * 2
    assert [s["delivery_choice"]["service"] for s in shipments] == ["136", "136"]
    assert [s["delivery_choice"]["point"]["code"] for s in shipments] == ["KZN31"] * 2
    # Each parcel was quoted with its own weight: two bands, two calculator calls.
    weights = sorted(
        call.json["packages"][0]["weight"]
        for call in cdek.calls("POST", "/v2/calculator/tarifflist")
    )
    assert len(weights) == 2
    assert sum(weights) >= 35000

    for stored in shipments:
        booked = book_with_cdek(app, order["number"], stored["id"])
        assert (booked.body["tariff_code"], booked.body["delivery_point"]) == (136, "KZN31")
        assert "to_location" not in booked.body


@pytest.mark.parametrize(("delivery", "tariff"), [(pickup("KZN31"), "138"),
                                                  ({"method": "door"}, "139")])  # fmt: skip
def test_a_courier_intake_node_is_quoted_the_door_sender_tariffs_its_booking_accepts(
    cdek_shop, delivery, tariff
):
    """A node whose CDEK courier collects (an intake, like RU-USS) can only send on a
    дверь sender tariff: the quote offers 138 to a pickup point and 139 to the door,
    never the склад ones a drop-off node gets, and the booking books it."""
    app, cdek = cdek_shop
    cdek.tariffs = [*PARCEL_TARIFFS, (366, "Посылка дверь-постамат", 6, 260, 50, 3, 6)]
    with app.app_context():
        set_handover("test", "RU-WH", HandoverChange(
            carrier="cdek", kind="intake", window_from="10:00", window_to="17:00",
            timezone="Asia/Novosibirsk", address="ул. Складская, 5",
            contact_name="Склад", contact_phone="+73830000000",
        ))  # fmt: skip

    placed = app.test_client().post("/api/v1/orders", json=order_body(
        "LAST-UNITS", 1, address=KAZAN, delivery=delivery))  # fmt: skip

    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    [stored] = order["shipments"]
    assert stored["delivery_choice"]["service"] == tariff
    booked = book_with_cdek(app, order["number"], stored["id"])
    assert booked.body["tariff_code"] == int(tariff)
    assert booked.body["from_location"]["address"] == "ул. Складская, 5"
