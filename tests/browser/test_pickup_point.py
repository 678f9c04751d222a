"""A Russian shopper chooses to collect the parcel at a CDEK pickup point, in real
Chromium over real HTTP, with the shop asking a fake CDEK on loopback: the city's points
appear when pickup is chosen, the summary shows the tariff and the point, and the
order page shows the point."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, ServedPavilion
from tests.browser.storefront import (
    ORDER_PAGE,
    RUSSIAN_ADDRESS,
    add_to_cart,
    choose,
    fill_checkout,
    go_to_cart,
    go_to_checkout,
    open_product,
    place_order,
    search,
)
from tests.conftest import make_test_app
from tests.fake_cdek import FakeCdek
from tests.integration.test_delivery_choice import PARCEL_TARIFFS
from tests.live_server import live_server

pytestmark = pytest.mark.browser

BASHKIR_HONEY_RU = "Мёд башкирский липовый"
KAZAN = {**RUSSIAN_ADDRESS, "region": "Республика Татарстан", "city": "Казань",
         "postal_code": "420111", "line1": "ул. Баумана, д. 1, кв. 5"}  # fmt: skip


@pytest.fixture(scope="module")
def pavilion(postgres) -> Iterator[ServedPavilion]:
    """The demo pavilion, shipping through a fake CDEK (RU-WH drops parcels off at a
    CDEK office: tariffs 136 and 137)."""
    from shop.core.extensions import db
    from shop.seed import seed_demo_pavilion

    cdek = FakeCdek().start()
    cdek.tariffs = list(PARCEL_TARIFFS)
    app = make_test_app(postgres.create("browser_pickup"), CARRIERS=("manual", "cdek"),
                        **cdek.settings(CDEK_TARIFF_CODE=137))  # fmt: skip
    with app.app_context():
        db.create_all()
        seed_demo_pavilion()
    try:
        with live_server(app) as base_url:
            yield ServedPavilion(app, base_url)
    finally:
        cdek.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_russian_shopper_collects_the_parcel_at_a_pickup_point(open_shopper, pavilion):
    shopper = open_shopper(DESKTOP, locale="ru-RU")
    page = shopper.page
    shopper.goto("/?lang=ru")
    choose(page, "currency", "RUB")
    choose(page, "ship-to", "RU")
    search(page, "башкирский")
    open_product(page, BASHKIR_HONEY_RU)
    add_to_cart(page)
    go_to_cart(page)
    go_to_checkout(page)
    fill_checkout(page, KAZAN)
    grand_total = page.locator("#checkout-summary [data-testid=grand-total]")
    door_total = grand_total.inner_text()
    expect(page.locator("#checkout-summary [data-testid=door-delivery]")).to_be_visible()

    # The script fetches the summary again, now with Kazan's pickup points.
    page.get_by_label("Забрать в пункте выдачи или постамате").check()
    points = page.locator("#delivery_point")
    expect(points).to_be_visible()
    expect(points.locator("option")).to_have_count(3)
    points.select_option("KZN31")
    pickup_point = page.locator("#checkout-summary [data-testid=pickup-point]")
    expect(pickup_point).to_contain_text("ул. Пушкина, 12")
    expect(page.locator("#checkout-summary [data-testid=carrier-tariff]")).to_have_text(
        "CDEK, тариф 136"
    )
    expect(grand_total).not_to_have_text(door_total)
    shopper.shot("pickup-point-chosen")

    place_order(page)
    expect(page).to_have_url(ORDER_PAGE)
    expect(page.locator("main [data-testid=pickup-point]")).to_contain_text(
        re.compile(r"ул\. Пушкина, 12.*KZN31", re.S)
    )
    shopper.shot("order-to-pickup-point")
    assert shopper.script_errors == []
