"""CDEK's parcel tariffs by the two ends of the trip, its office list read as pickup
points, and an order to a pickup point (pure: no HTTP)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.money import Money
from warehouse.carriers import Address, BookingRequest, Origin, Parcel
from warehouse.carriers.base import QuoteOption
from warehouse.carriers.cdek import CdekCarrier
from warehouse.carriers.cdek.offices import city_code, delivery_points, offices_query
from warehouse.carriers.cdek.tariffs import (
    DOOR,
    LOCKER,
    OFFICE,
    parcel_tariff,
    recipient_end,
)
from warehouse.carriers.manual import ManualCarrier
from warehouse.carriers.pickups import Handover
from warehouse.shipping.delivery_points import pick_option

SETTINGS = {"CDEK_CLIENT_ID": "id", "CDEK_CLIENT_SECRET": "secret"}
KAZAN = Address("RU", "Казань", "ул. Баумана, 1", "Иван Петров", "+79991234567", "420111")


@pytest.mark.parametrize(
    ("sender", "end", "tariff"),
    [
        (OFFICE, OFFICE, 136), (OFFICE, DOOR, 137), (DOOR, OFFICE, 138), (DOOR, DOOR, 139),
        (DOOR, LOCKER, 366), (OFFICE, LOCKER, 368),
    ],
)  # fmt: skip
def test_the_tariff_follows_the_node_s_hand_over_and_where_the_shopper_takes_it(
    sender, end, tariff
):
    assert parcel_tariff(sender, end) == tariff
    assert recipient_end(tariff, sender) == end


def test_a_tariff_that_needs_another_hand_over_or_another_family_delivers_no_known_way():
    assert recipient_end(139, OFFICE) is None  # needs a courier at the node
    assert recipient_end(482, OFFICE) is None  # express: not the parcel family


def rub(amount):
    return Money(Decimal(amount), "RUB")


def test_the_shop_takes_the_cheapest_option_that_delivers_the_chosen_way():
    options = [
        QuoteOption("cdek", "139", rub("300"), 3, 5),  # cheapest, but no fit: delivery None
        QuoteOption("cdek", "136", rub("350"), 3, 6, delivery="office"),
        QuoteOption("cdek", "368", rub("330"), 3, 6, delivery="locker"),
        QuoteOption("cdek", "137", rub("420"), 3, 5, delivery="door"),
    ]
    assert pick_option(options, "office").service == "136"
    assert pick_option(options, "locker").service == "368"
    assert pick_option(options, "door").service == "137"
    # A carrier that says nothing of how it delivers is a door carrier.
    silent = [QuoteOption("post", "EMS", rub("500"), 5, 9)]
    assert pick_option(silent, "door").service == "EMS"
    assert pick_option(silent, "office") is None


OFFICES = [
    {
        "code": "KZN207",
        "name": "Постамат ТЦ Кольцо",
        "type": "POSTAMAT",
        "work_time": "Пн-Вс 08:00-22:00",
        "location": {"city_code": 424, "city": "Казань", "postal_code": "420111",
                     "address": "ул. Петербургская, 1"},
    },
    {
        "code": "KZN12",
        "name": "На Баумана",
        "type": "PVZ",
        "location": {"city": "Казань", "address_full": "420111, Казань, ул. Баумана, 44"},
    },
    {"name": "no code, skipped"},
    "junk",
]  # fmt: skip


def test_cdek_s_offices_become_pickup_points_offices_before_lockers():
    points = delivery_points(OFFICES)

    assert [(p.code, p.kind) for p in points] == [("KZN12", "office"), ("KZN207", "locker")]
    assert points[0].address == "420111, Казань, ул. Баумана, 44"
    assert points[1].work_time == "Пн-Вс 08:00-22:00"
    assert points[1].postal_code == "420111"
    assert delivery_points({"errors": []}) == []


def test_the_office_query_asks_by_city_code_else_by_postal_code_for_points_that_hand_out():
    assert offices_query("RU", city_code=424, postal_code="420111") == {
        "country_code": "RU", "type": "ALL", "is_handout": "true", "city_code": 424,
    }  # fmt: skip
    assert offices_query("KZ", postal_code="050000")["postal_code"] == "050000"
    cities = [{"code": 1, "city": "Казанское"}, {"code": 424, "city": "Казань"}]
    assert city_code(cities, "казань") == 424
    assert city_code([], "Атлантида") is None


# The node drops its parcels off at a CDEK office: the склад sender tariffs.
DROP_OFF = Handover("drop_off", office_code="MSK1")


def booking(**overrides):
    return BookingRequest("SCO-7KQ2-M9XD-1", "SCO-7KQ2-M9XD", Origin("RU-WH", "RU", "Москва"),
                          KAZAN, Parcel(700), **{"handover": DROP_OFF, **overrides})  # fmt: skip


def test_an_order_to_a_pickup_point_names_the_point_instead_of_the_address():
    carrier = CdekCarrier(SETTINGS)

    to_point = carrier.order_body(booking(service="136", delivery_point="KZN31"))
    to_door = carrier.order_body(booking())

    assert to_point["tariff_code"] == 136
    assert to_point["delivery_point"] == "KZN31"
    assert "to_location" not in to_point
    assert to_door["to_location"]["city"] == "Казань"
    assert "delivery_point" not in to_door


def test_the_manual_carrier_has_no_pickup_points():
    assert ManualCarrier({}).delivery_points("RU", "Казань") == []
