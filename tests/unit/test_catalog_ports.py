"""The catalog's ports: an unconnected one fails naming itself, the app connects all."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from catalog import ports
from catalog.money import Money
from catalog.ports import (
    DeliveryOption,
    DeliveryPort,
    OpenOrdersPort,
    PortNotConnected,
    StockPort,
)


class NoOpenOrders:
    def unshipped_lines(self, sku_id: int) -> int:
        return 0


@pytest.fixture
def nothing_connected(monkeypatch):
    monkeypatch.setattr(ports, "_connected", {})


def test_an_unconnected_port_fails_naming_itself_and_where_it_is_connected(nothing_connected):
    with pytest.raises(PortNotConnected, match="OpenOrdersPort is not connected") as refusal:
        ports.port(OpenOrdersPort)
    assert "shop.create_app()" in str(refusal.value)


def test_a_connected_port_answers_with_its_implementation(nothing_connected):
    implementation = NoOpenOrders()
    ports.connect(OpenOrdersPort, implementation)
    assert ports.port(OpenOrdersPort) is implementation
    with pytest.raises(PortNotConnected, match="StockPort"):
        ports.port(StockPort)


def test_the_app_connects_every_port_of_the_catalog(nothing_connected):
    from shop import create_app

    create_app({"DATABASE_URL": "sqlite://"})
    for kind in (StockPort, DeliveryPort, OpenOrdersPort):
        assert ports.port(kind) is not None


def test_a_delivery_option_reads_as_the_catalog_answers_it():
    refused = DeliveryOption("KZ", deliverable=False, reason="no_lane")
    assert refused.as_json() == {
        "country": "KZ",
        "deliverable": False,
        "nodes": [],
        "reason": "no_lane",
    }
    planned = DeliveryOption(
        "CN",
        deliverable=True,
        nodes=("CN-SFH", "RU-WH"),
        node="CN-SFH",
        lane="SFH-CN",
        transit_days=(2, 4),
        delivery=(date(2026, 12, 7), date(2026, 12, 9)),
        shipping=Money(Decimal("12.00"), "CNY"),
    )
    assert planned.as_json() == {
        "country": "CN",
        "deliverable": True,
        "nodes": ["CN-SFH", "RU-WH"],
        "node": "CN-SFH",
        "lane": "SFH-CN",
        "transit_days": {"min": 2, "max": 4},
        "delivery": {"from": "2026-12-07", "by": "2026-12-09"},
        "shipping": Money(Decimal("12.00"), "CNY").as_json(),
    }
