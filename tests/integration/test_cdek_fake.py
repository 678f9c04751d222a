"""The CDEK adapter over real HTTP against a fake CDEK on loopback
(tests/fake_cdek.py): the happy path, CDEK's asynchronous registration and
printing, token renewal, and the failures a booking task must survive without
ever booking a shipment twice."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import pytest
import requests
from pypdf import PdfReader

from catalog.money import Money
from tests import fake_cdek as fake_cdek_module
from warehouse.carriers import (
    Address,
    Booking,
    BookingRequest,
    CarrierConfigurationError,
    CarrierRejected,
    CarrierUnavailable,
    Handover,
    LabelNotReady,
    Origin,
    Parcel,
    ParcelItem,
)
from warehouse.carriers.cdek import CdekCarrier

fake_cdek = fake_cdek_module.fake_cdek

MOSCOW = Origin("RU-WH", "RU", "Москва")
KAZAN = Address("RU", "Казань", "ул. Баумана, 1", "Иван Петров", "+79991234567", "420111")
PARCEL = Parcel(
    1500,
    (ParcelItem("TEA-IVAN-100", "Иван-чай 100 г", 2, Money(Decimal("450.00"), "RUB"), 120),),
    length_mm=300,
    width_mm=200,
    height_mm=100,
)


DROP_OFF = Handover("drop_off", office_code="MSK1")  # an office the fake knows


def booking_request(number: str = "SCO-7KQ2-M9XD-1", destination: Address = KAZAN):
    return BookingRequest(number, "P-20261101-0001", MOSCOW, destination, PARCEL,
                          handover=DROP_OFF)  # fmt: skip


@pytest.fixture
def cdek(fake_cdek) -> CdekCarrier:
    return CdekCarrier(fake_cdek.settings())


def book_exactly_once(carrier: CdekCarrier, request: BookingRequest) -> Booking:
    """What a booking task does: look the shipment up before (re)sending it."""
    return carrier.find_booking(request.shipment_number) or carrier.book(request)


def registered(carrier: CdekCarrier, request: BookingRequest) -> Booking:
    booking = carrier.book(request)
    booking = carrier.booking_status(booking)
    assert booking.state == "registered"
    return booking


def test_a_quote_lists_cdek_s_tariffs_cheapest_first(cdek, fake_cdek):
    options = cdek.quote(PARCEL, MOSCOW, KAZAN)

    assert [(o.service, o.price, o.transit_days_min, o.transit_days_max) for o in options] == [
        ("139", Money(Decimal("550"), "RUB"), 3, 6),
        ("137", Money(Decimal("630"), "RUB"), 3, 5),
        ("482", Money(Decimal("1070"), "RUB"), 1, 2),
    ]
    assert {o.source for o in options} == {"carrier"}
    (call,) = fake_cdek.calls("POST", "/v2/calculator/tarifflist")
    assert call.json["from_location"] == {"code": 44}
    assert call.json["packages"] == [{"weight": 1500, "length": 30, "width": 20, "height": 10}]


def test_a_light_bulky_parcel_is_priced_by_its_volumetric_weight(cdek):
    # 0.5 kg in a 40 × 30 × 25 cm box: 30,000 cm³ / 5000 = 6 kg billed.
    bulky = Parcel(500, length_mm=400, width_mm=300, height_mm=250)
    small = Parcel(500, length_mm=100, width_mm=100, height_mm=100)

    prices = {o.service: o.price.amount for o in cdek.quote(bulky, MOSCOW, KAZAN)}
    assert prices["137"] == Decimal(450 + 90 * 6)
    assert {o.service: o.price.amount for o in cdek.quote(small, MOSCOW, KAZAN)}["137"] == (
        Decimal(450 + 90 * 1)
    )


def test_no_parcel_tariff_is_offered_for_a_package_over_30_kg(cdek, fake_cdek):
    heavy = Parcel(30_001, length_mm=500, width_mm=400, height_mm=400)

    offered = {o.service for o in cdek.quote(heavy, MOSCOW, KAZAN)}
    assert offered == {"482"}  # express only: every Посылка tariff is left out
    only_parcel_tariffs = CdekCarrier(fake_cdek.settings(CDEK_QUOTE_TARIFFS=[137, 139]))
    assert only_parcel_tariffs.quote(heavy, MOSCOW, KAZAN) == []
    at_the_limit = Parcel(30_000, length_mm=500, width_mm=400, height_mm=400)
    assert only_parcel_tariffs.quote(at_the_limit, MOSCOW, KAZAN)


def test_a_package_without_a_weight_is_refused(fake_cdek):
    token = requests.post(f"{fake_cdek.url}/v2/oauth/token", data={
        "grant_type": "client_credentials", "client_id": fake_cdek.client_id,
        "client_secret": fake_cdek.client_secret}, timeout=5).json()["access_token"]  # fmt: skip
    answer = requests.post(
        f"{fake_cdek.url}/v2/calculator/tarifflist",
        json={"from_location": {"code": 44}, "to_location": {"code": 424},
              "packages": [{"length": 10, "width": 10, "height": 10}]},
        headers={"Authorization": f"Bearer {token}"}, timeout=5,
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "v2_field_is_empty"


def test_a_booking_is_pending_until_a_poll_finds_it_registered_with_a_tracking_number(
    cdek, fake_cdek
):
    fake_cdek.polls_until_registered = 2

    booking = cdek.book(booking_request())
    assert (booking.state, booking.tracking_number) == ("pending", None)
    assert cdek.booking_status(booking).state == "pending"
    booking = cdek.booking_status(booking)

    (order,) = fake_cdek.orders_by_number["SCO-7KQ2-M9XD-1"]
    assert booking == Booking("cdek", order.uuid, "registered", order.cdek_number, service="137")
    assert order.body["packages"][0]["items"][0]["ware_key"] == "TEA-IVAN-100"


def test_an_order_cdek_finds_invalid_comes_back_invalid_with_its_error_codes(cdek, fake_cdek):
    fake_cdek.refuse_city("Атлантида", code="v2_entity_not_found", message="City not found")
    atlantis = Address("RU", "Атлантида", "ул. Морская, 1", "Немо", "+79990000000")

    booking = cdek.booking_status(cdek.book(booking_request(destination=atlantis)))

    assert booking.state == "invalid"
    assert booking.errors == ("v2_entity_not_found: City not found",)
    with pytest.raises(CarrierRejected) as refused:
        cdek.quote(PARCEL, MOSCOW, atlantis)
    assert refused.value.errors == ("v2_entity_not_found: City not found",)


def test_an_order_refused_at_once_is_rejected_and_one_refused_in_the_answer_is_invalid(
    cdek, fake_cdek
):
    nameless = Address("RU", "Казань", "ул. Баумана, 1", "", "+79991234567")
    with pytest.raises(CarrierRejected) as refused:
        cdek.book(booking_request(destination=nameless))
    assert refused.value.errors == ("v2_field_is_empty: Field recipient.name is empty",)

    fake_cdek.polls_until_registered = 0  # CDEK decides within the POST
    fake_cdek.refuse_city("Казань")
    booking = cdek.book(booking_request())
    assert booking.state == "invalid"
    assert booking.errors == ("v2_entity_not_found: City 'Казань' is not found",)


def test_an_expired_token_is_renewed_once_and_the_call_goes_through(cdek, fake_cdek):
    cdek.quote(PARCEL, MOSCOW, KAZAN)
    fake_cdek.expire_tokens()

    booking = cdek.book(booking_request())

    assert booking.state == "pending"
    assert len(fake_cdek.calls("POST", "/v2/oauth/token")) == 2
    posts = fake_cdek.calls("POST", "/v2/orders")
    assert len(posts) == 2  # the first was refused with 401 before CDEK did anything
    assert len(fake_cdek.orders_by_number["SCO-7KQ2-M9XD-1"]) == 1


def test_a_token_cdek_refuses_even_fresh_is_a_configuration_problem(cdek, fake_cdek):
    fake_cdek.token_ttl = 0  # every token is dead on arrival

    with pytest.raises(CarrierConfigurationError, match="v2_token_expired"):
        cdek.quote(PARCEL, MOSCOW, KAZAN)
    assert len(fake_cdek.calls("POST", "/v2/calculator/tarifflist")) == 2


def test_wrong_credentials_are_a_configuration_problem(fake_cdek):
    carrier = CdekCarrier(fake_cdek.settings(CDEK_CLIENT_SECRET="wrong"))

    with pytest.raises(CarrierConfigurationError, match="invalid_client"):
        carrier.quote(PARCEL, MOSCOW, KAZAN)


def test_a_502_on_booking_is_unavailable_sent_once_and_books_nothing(cdek, fake_cdek):
    fake_cdek.fail_next("/v2/orders", method="POST", status=502)

    with pytest.raises(CarrierUnavailable) as unavailable:
        cdek.book(booking_request())

    assert "502" in str(unavailable.value)
    assert unavailable.value.outcome_unknown is True  # a gateway may hide a registered order
    assert len(fake_cdek.calls("POST", "/v2/orders")) == 1  # urllib3 never retries a POST
    assert fake_cdek.orders_by_number == {}
    assert cdek.find_booking("SCO-7KQ2-M9XD-1") is None
    assert book_exactly_once(cdek, booking_request()).state == "pending"
    assert len(fake_cdek.orders_by_number["SCO-7KQ2-M9XD-1"]) == 1


def test_a_booking_whose_answer_is_lost_is_found_by_our_number_and_never_booked_twice(
    cdek, fake_cdek
):
    fake_cdek.hang_next("/v2/orders", method="POST")  # registers, then answers too late

    with pytest.raises(CarrierUnavailable) as unavailable:
        cdek.book(booking_request())
    assert unavailable.value.outcome_unknown is True

    found = cdek.find_booking("SCO-7KQ2-M9XD-1")
    assert found is not None
    assert book_exactly_once(cdek, booking_request()) == found
    assert cdek.booking_status(found).state == "registered"
    assert len(fake_cdek.calls("POST", "/v2/orders")) == 1
    assert len(fake_cdek.orders_by_number["SCO-7KQ2-M9XD-1"]) == 1


def test_a_gets_5xx_are_retried_by_urllib3_and_then_answered(cdek, fake_cdek):
    booking = cdek.book(booking_request())
    path = f"/v2/orders/{booking.reference}"
    fake_cdek.fail_next(path, times=2, status=503, method="GET")

    assert cdek.booking_status(booking).state == "registered"
    assert len(fake_cdek.calls("GET", path)) == 3


def test_a_get_failing_more_than_the_retries_is_unavailable(cdek, fake_cdek):
    booking = cdek.book(booking_request())
    fake_cdek.fail_next(f"/v2/orders/{booking.reference}", times=3, status=502, method="GET")

    with pytest.raises(CarrierUnavailable, match="502"):
        cdek.booking_status(booking)


def test_a_label_is_not_ready_then_ready_as_a_pdf_from_the_same_print_job(cdek, fake_cdek):
    fake_cdek.polls_until_label_ready = 2
    booking = registered(cdek, booking_request())

    with pytest.raises(LabelNotReady) as not_ready:
        cdek.label(booking)
    print_reference = not_ready.value.print_reference
    pdf = cdek.label(booking, print_reference=print_reference)

    assert pdf.startswith(b"%PDF")
    assert booking.tracking_number in PdfReader(BytesIO(pdf)).pages[0].extract_text()
    assert len(fake_cdek.calls("POST", "/v2/print/barcodes")) == 1
    download = fake_cdek.calls("GET", f"/v2/print/barcodes/{print_reference}.pdf")[0]
    assert download.headers["authorization"].startswith("Bearer ")


def test_an_expired_label_link_starts_a_new_print_job(cdek, fake_cdek):
    booking = registered(cdek, booking_request())
    cdek.label(booking)
    (first,) = fake_cdek.prints
    fake_cdek.expire_label(first)

    with pytest.raises(LabelNotReady) as not_ready:
        cdek.label(booking, print_reference=first)

    assert not_ready.value.print_reference not in (None, first)
    assert cdek.label(booking, not_ready.value.print_reference).startswith(b"%PDF")


def test_tracking_maps_cdek_s_statuses_oldest_first(cdek, fake_cdek):
    booking = registered(cdek, booking_request())
    for code in ("RECEIVED_AT_SHIPMENT_WAREHOUSE", "SENT_TO_RECIPIENT_CITY"):
        fake_cdek.add_status(booking.reference, code)
    fake_cdek.add_status(booking.reference, "DELIVERED", city="Казань")

    events = cdek.track(booking)

    assert [(e.code, e.status) for e in events] == [
        ("ACCEPTED", "accepted"),
        ("CREATED", "accepted"),
        ("RECEIVED_AT_SHIPMENT_WAREHOUSE", "in_transit"),
        ("SENT_TO_RECIPIENT_CITY", "in_transit"),
        ("DELIVERED", "delivered"),
    ]
    assert events[-1].location == "Казань"
    assert all(e.at.tzinfo is not None for e in events)


def test_cancelling_deletes_the_order_until_it_has_been_handed_over(cdek, fake_cdek):
    first = registered(cdek, booking_request("SCO-1"))
    second = registered(cdek, booking_request("SCO-2"))
    fake_cdek.add_status(second.reference, "RECEIVED_AT_SHIPMENT_WAREHOUSE")

    cdek.cancel(first)
    cdek.cancel(first)  # again: harmless

    assert fake_cdek.orders[first.reference].deleted
    assert cdek.find_booking("SCO-1") is None
    with pytest.raises(CarrierRejected, match="cannot be deleted"):
        cdek.cancel(second)


@pytest.mark.parametrize("mode", ["refused", "503"])
def test_an_outage_is_unavailable_and_the_next_call_after_it_works(cdek, fake_cdek, mode):
    cdek.quote(PARCEL, MOSCOW, KAZAN)
    fake_cdek.outage(mode=mode)

    with pytest.raises(CarrierUnavailable) as unavailable:
        cdek.book(booking_request())
    assert unavailable.value.outcome_unknown is False
    if mode == "503":
        assert unavailable.value.retry_after == 30.0
    with pytest.raises(CarrierUnavailable):
        cdek.find_booking("SCO-7KQ2-M9XD-1")

    fake_cdek.end_outage()
    assert book_exactly_once(cdek, booking_request()).state == "pending"
    assert len(fake_cdek.orders_by_number["SCO-7KQ2-M9XD-1"]) == 1


def test_an_order_status_webhook_names_the_order_and_is_only_a_hint(cdek, fake_cdek):
    booking = registered(cdek, booking_request())
    fake_cdek.add_status(booking.reference, "TAKEN_BY_COURIER", city="Казань")

    hint = cdek.parse_webhook(
        {"Content-Type": "application/json"}, fake_cdek.webhook_body(booking.reference)
    )

    named = (hint.reference, hint.tracking_number, hint.shipment_number)
    assert named == (booking.reference, booking.tracking_number, "SCO-7KQ2-M9XD-1")
    # The event it claims is the very pair an order answer lists (how a repeat is known).
    latest = cdek.track(booking)[-1]
    assert latest.code == "TAKEN_BY_COURIER"
    assert (hint.status_code, hint.status_at) == (latest.code, latest.at)
    assert cdek.parse_webhook({}, b'{"type": "PRINT_FORM", "uuid": "x"}') is None
    assert cdek.parse_webhook({}, b"<html>junk</html>") is None
