"""Door or pickup point on the storefront's checkout, without script (the Flask test
client posts the form as a browser with JavaScript off does): the city's pickup points
are listed, the summary shows the tariff and the point, the order is placed with them,
and the order page shows the point."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from orders.models import Order
from shop.core.extensions import db
from tests import fake_cdek as fake_cdek_module
from tests.api.test_storefront_shopping import (
    ORDER_PAGE,
    add_to_cart,
    checkout_form,
    post,
    shopper,
    shown_total,
    text_of_testid,
)
from tests.checkout_world import RU_ADDRESS, build_world
from tests.conftest import make_test_app
from tests.integration.test_delivery_choice import PARCEL_TARIFFS
from warehouse.models import Shipment

fake_cdek = fake_cdek_module.fake_cdek

KAZAN = {**RU_ADDRESS, "region": "Республика Татарстан", "city": "Казань",
         "postal_code": "420111", "line1": "ул. Баумана, 1"}  # fmt: skip


@pytest.fixture
def shop(backend, postgres_scratch_url, fake_cdek):
    url = "sqlite://" if backend == "sqlite" else postgres_scratch_url
    app = make_test_app(url, CARRIERS=("manual", "cdek"),
                        **fake_cdek.settings(CDEK_TARIFF_CODE=137))  # fmt: skip
    fake_cdek.tariffs = list(PARCEL_TARIFFS)
    with app.app_context():
        if backend == "sqlite":
            db.create_all()
        else:
            from tests.conftest import _truncate_all

            _truncate_all(app)
        app.config["WORLD"] = build_world()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def options(page):
    return re.findall(r'<option value="([^"]+)"( selected)?>', page)


def test_the_shopper_chooses_a_pickup_point_and_the_order_goes_there(shop):
    client = shopper(shop, lang="ru")
    add_to_cart(client, "LAST-UNITS", 1)
    door = client.get("/checkout?country=RU&city=Казань&postal_code=420111")
    page = door.get_data(as_text=True)
    assert 'id="delivery_method-door" value="door" checked' in page
    assert 'id="delivery_method-pickup"' in page
    assert "Забрать в пункте выдачи или постамате" in page
    assert 'id="delivery_point"' not in page  # no list until pickup is chosen
    door_total = shown_total(page)

    # No script: choosing "pickup" and pressing "Update totals" lists Kazan's points.
    form = checkout_form(KAZAN, delivery_method="pickup", update_totals="1")
    page = post(client, "/checkout", **form).get_data(as_text=True)
    assert [code for code, _ in options(page) if code.startswith("KZN")] == [
        "KZN12", "KZN31", "KZN207",
    ]  # fmt: skip
    assert "Пункт выдачи в городе Казань" in page
    assert "ул. Пушкина, 12" in page
    assert "постамат" in page  # the locker says it is one

    form = checkout_form(KAZAN, delivery_method="pickup", delivery_point="KZN31",
                         update_totals="1")  # fmt: skip
    page = post(client, "/checkout", **form).get_data(as_text=True)
    assert ("KZN31", " selected") in options(page)
    assert "На Пушкина, ул. Пушкина, 12" in text_of_testid(page, "pickup-point")
    assert text_of_testid(page, "carrier-tariff") == "CDEK, тариф 136"
    seen = shown_total(page)
    assert seen != door_total

    placed = post(client, "/checkout", **checkout_form(
        KAZAN, delivery_method="pickup", delivery_point="KZN31", shown_total=seen))  # fmt: skip
    assert placed.status_code == 303, placed.get_data(as_text=True)
    number = ORDER_PAGE.match(placed.headers["Location"]).group(1)
    with shop.app_context():
        order = db.session.scalar(select(Order).where(Order.number == number))
        assert f"{order.grand_total:.2f} {order.currency}" == seen
        [shipment] = db.session.scalars(select(Shipment).where(Shipment.order_id == order.id))
        assert (shipment.quoted_service, shipment.delivery_point) == ("136", "KZN31")
    order_page = client.get(placed.headers["Location"]).get_data(as_text=True)
    assert "Получение в пункте выдачи: На Пушкина, ул. Пушкина, 12" in order_page
    assert "(KZN31)" in text_of_testid(order_page, "pickup-point")


def test_a_pickup_point_gone_from_the_city_s_list_is_named_next_to_the_choice(shop):
    client = shopper(shop, lang="en")
    add_to_cart(client, "LAST-UNITS", 1)

    refused = post(client, "/checkout", **checkout_form(
        KAZAN, delivery_method="pickup", delivery_point="MSK27"))  # fmt: skip

    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Pickup point: " in page  # in the error summary, by the field's name
    assert "not in the list for your city any more" in page
    with shop.app_context():
        assert db.session.scalar(select(Order.id)) is None
