"""Carrier adapters found as plugins, and the ``manual`` carrier (no outside
system). The CDEK adapter's own tests are test_cdek_requests.py (unit) and
tests/integration/test_cdek_fake.py (against a fake CDEK over HTTP)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from catalog.money import Money
from warehouse.carriers import (
    Address,
    Booking,
    BookingRequest,
    CarrierAdapter,
    CarrierConfigurationError,
    CarrierLoadError,
    CarrierRejected,
    NoLabel,
    Origin,
    Parcel,
    ParcelItem,
    UnknownCarrier,
    available_carriers,
    clear_carrier_cache,
    load_carrier,
)
from warehouse.carriers.cdek import CdekCarrier
from warehouse.carriers.manual import ManualCarrier

DUMMY_PLUGIN = Path(__file__).parents[1] / "plugins" / "dummy_carrier"
CDEK_SETTINGS = {"CDEK_CLIENT_ID": "id", "CDEK_CLIENT_SECRET": "secret"}


def booking_request(**overrides) -> BookingRequest:
    fields = {
        "shipment_number": "SCO-7KQ2-M9XD-1",
        "order_number": "P-20261101-0001",
        "origin": Origin("RU-WH", "RU", "Москва"),
        "destination": Address("RU", "Казань", "ул. Баумана, 1", "Иван Петров", "+79991234567"),
        "parcel": Parcel(
            900, (ParcelItem("TEA-1", "Иван-чай", 2, Money(Decimal("450"), "RUB"), 400),)
        ),
    }
    return BookingRequest(**{**fields, **overrides})


@pytest.fixture
def fresh_registry():
    clear_carrier_cache()
    yield
    clear_carrier_cache()


# ---------------------------------------------------------------------------
# registry


@pytest.mark.usefixtures("fresh_registry")
def test_the_shipped_carriers_are_found_by_their_entry_points():
    carriers = available_carriers()

    assert carriers["manual"] is ManualCarrier
    assert carriers["cdek"] is CdekCarrier
    assert available_carriers() == carriers  # loaded once, then kept


@pytest.mark.usefixtures("fresh_registry")
def test_load_carrier_builds_an_enabled_carrier_with_the_settings():
    carrier = load_carrier("cdek", {**CDEK_SETTINGS, "CDEK_TARIFF_CODE": 139}, {"manual", "cdek"})

    assert isinstance(carrier, CdekCarrier)
    assert carrier.tariff_code == 139
    assert isinstance(load_carrier("manual", {}, enabled=["manual"]), ManualCarrier)


@pytest.mark.usefixtures("fresh_registry")
@pytest.mark.parametrize("name", ["cdek", "dhl"])
def test_a_carrier_not_installed_or_not_enabled_is_a_422_on_carrier(name):
    with pytest.raises(UnknownCarrier) as refused:
        load_carrier(name, CDEK_SETTINGS, enabled={"manual"})

    error = refused.value
    assert (error.status, error.code) == (422, "unknown_carrier")
    assert error.errors == {"carrier": ["Must be one of: manual."]}
    assert name in error.detail


@pytest.mark.usefixtures("fresh_registry")
def test_the_refusal_reads_as_problem_json():
    from shop import create_app
    from shop.errors import handle_domain_error

    app = create_app({"PAVILION_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.test_request_context("/api/v1/shipments", method="POST"):
        try:
            load_carrier("pony-express", {}, enabled={"manual", "cdek"})
        except UnknownCarrier as error:
            response = handle_domain_error(error)

    body = response.get_json()
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert body["code"] == "unknown_carrier"
    assert body["errors"] == {"carrier": ["Must be one of: cdek, manual."]}


@pytest.mark.usefixtures("fresh_registry")
def test_a_carrier_installed_by_another_package_is_found_and_needs_enabling(monkeypatch):
    monkeypatch.syspath_prepend(str(DUMMY_PLUGIN))

    assert "dummy" in available_carriers()
    with pytest.raises(UnknownCarrier):
        load_carrier("dummy", {}, enabled={"manual", "cdek"})

    dummy = load_carrier("dummy", {}, enabled={"manual", "dummy"})
    booking = dummy.book(booking_request())
    assert isinstance(dummy, CarrierAdapter)
    assert type(dummy).__name__ == "DummyCarrier"
    assert (booking.state, booking.tracking_number) == ("registered", "DUMMY0001")


@pytest.mark.usefixtures("fresh_registry")
def test_a_broken_carrier_plugin_says_which_it_is_and_hides_no_other(monkeypatch, tmp_path):
    info = tmp_path / "broken_carrier-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-carrier\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pavilion.carriers]\nbroken = no_such_module:Carrier\nnotacarrier = json:dumps\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    assert {"manual", "cdek"} <= set(available_carriers())
    assert "broken" not in available_carriers()
    with pytest.raises(CarrierLoadError, match=r"'broken' \(no_such_module:Carrier\)"):
        load_carrier("broken", {}, enabled={"broken"})
    with pytest.raises(CarrierLoadError, match="not a CarrierAdapter"):
        load_carrier("notacarrier", {}, enabled={"notacarrier"})


@pytest.mark.usefixtures("fresh_registry")
def test_cdek_enabled_without_credentials_says_which_settings_are_missing():
    with pytest.raises(CarrierConfigurationError, match="CDEK_CLIENT_ID and CDEK_CLIENT_SECRET"):
        load_carrier("cdek", {}, enabled={"cdek"})


# ---------------------------------------------------------------------------
# manual


def test_a_manual_booking_is_registered_with_the_tracking_number_staff_typed():
    carrier = ManualCarrier({})

    booking = carrier.book(booking_request(tracking_number=" RA123456789RU ", service="EMS"))

    assert booking == Booking(
        "manual", "manual:SCO-7KQ2-M9XD-1", "registered", "RA123456789RU", service="EMS"
    )
    assert carrier.book(booking_request(tracking_number="RA123456789RU", service="EMS")) == booking
    assert carrier.booking_status(booking) == booking


def test_a_manual_booking_without_a_tracking_number_is_refused():
    with pytest.raises(CarrierRejected) as refused:
        ManualCarrier({}).book(booking_request())

    assert refused.value.errors == ("tracking_number: required for a manual booking",)


def test_the_manual_carrier_has_no_quotes_labels_tracking_or_webhooks():
    carrier = ManualCarrier({})
    booking = carrier.book(booking_request(tracking_number="RA123456789RU"))
    request = booking_request()

    assert carrier.quote(request.parcel, request.origin, request.destination) == []
    assert carrier.find_booking("SCO-7KQ2-M9XD-1") is None
    assert carrier.track(booking) == []
    assert carrier.cancel(booking) is None
    assert carrier.parse_webhook({}, b'{"type": "ORDER_STATUS"}') is None
    with pytest.raises(NoLabel):
        carrier.label(booking)


# ---------------------------------------------------------------------------
# the dataclasses


def test_a_shipment_number_longer_than_cdek_takes_is_refused_early():
    with pytest.raises(ValueError, match="1 to 40 characters"):
        booking_request(shipment_number="S" * 41)


def test_booking_states_are_the_three_the_port_names():
    with pytest.raises(ValueError, match="booking state"):
        Booking("cdek", "uuid", "SUCCESSFUL")


def test_money_on_parcel_items_is_money():
    with pytest.raises(TypeError):
        ParcelItem("TEA-1", "Tea", 1, Decimal("450"), 400)
