"""The CDEK adapter without CDEK: the requests it builds, how it reads CDEK's
documented answers (api-docs.cdek.ru; cdek-it/sdk2.0), the status mapping,
and how HTTP failures become the port's errors (a canned transport mounted on
the adapter's own ``requests`` session). The same adapter over real HTTP
against a fake CDEK is tests/integration/test_cdek_fake.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from catalog.money import Money
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
    QuoteOption,
    WebhookHint,
)
from warehouse.carriers.cdek import (
    CdekCarrier,
    booking_from_creation,
    booking_from_order,
    error_strings,
    parse_cdek_datetime,
    quote_options,
    retry_after_seconds,
    tracking_events,
    tracking_status,
    webhook_hint,
)

API = "https://cdek.test"
SETTINGS = {
    "CDEK_API_BASE": API,
    "CDEK_CLIENT_ID": "account",
    "CDEK_CLIENT_SECRET": "secure",
    "CDEK_SENDER_LOCATIONS": {"RU-WH": 44, "CN-URC": "1234"},
}
ORDER_UUID = "72753031-4a23-4d32-9b3c-1bd5e7b3ad8a"
DROP_OFF = Handover("drop_off", office_code="MSK1")
MOSCOW = Origin("RU-WH", "RU", "Москва", "101000")
KAZAN = Address(
    country="RU",
    city="Казань",
    line1="ул. Баумана, 1",
    line2="кв. 5",
    recipient="Иван Петров",
    phone="+79991234567",
    postal_code="420111",
    region="Татарстан",
)


def rub(amount: str) -> Money:
    return Money(Decimal(amount), "RUB")


def parcel(**overrides) -> Parcel:
    fields = {
        "weight_g": 1500,
        "items": (
            ParcelItem("TEA-IVAN-100", "Иван-чай 100 г", 2, rub("450.00"), 120, "0902", "RU"),
            ParcelItem("HONEY-250", "Мёд 250 г", 1, rub("699.50"), 380),
        ),
        "length_mm": 301,
        "width_mm": 200,
        "height_mm": 95,
    }
    return Parcel(**{**fields, **overrides})


def booking_request(**overrides) -> BookingRequest:
    fields = {
        "shipment_number": "SCO-7KQ2-M9XD-1",
        "order_number": "P-20261101-0001",
        "origin": MOSCOW,
        "destination": KAZAN,
        "parcel": parcel(),
        "handover": DROP_OFF,
    }
    return BookingRequest(**{**fields, **overrides})


# ---------------------------------------------------------------------------
# building requests


def test_an_order_carries_our_shipment_number_the_tariff_and_both_locations():
    body = CdekCarrier(SETTINGS).order_body(booking_request())

    assert body["type"] == 1  # e-shop
    assert body["number"] == "SCO-7KQ2-M9XD-1"
    assert body["tariff_code"] == 137  # Посылка склад-дверь: dropped off, delivered home
    assert body["shipment_point"] == "MSK1"
    assert "from_location" not in body
    assert body["to_location"] == {
        "country_code": "RU",
        "city": "Казань",
        "address": "ул. Баумана, 1, кв. 5",
        "postal_code": "420111",
        "region": "Татарстан",
    }
    assert body["recipient"] == {"name": "Иван Петров", "phones": [{"number": "+79991234567"}]}
    json.dumps(body)  # goes over the wire as is


def test_a_package_is_in_grams_and_whole_centimetres_rounded_up_with_prepaid_items():
    body = CdekCarrier(SETTINGS).order_body(booking_request())

    (package,) = body["packages"]
    assert {k: package[k] for k in ("number", "weight", "length", "width", "height")} == {
        "number": "1",
        "weight": 1500,
        "length": 31,
        "width": 20,
        "height": 10,
    }
    assert package["items"] == [
        {
            "name": "Иван-чай 100 г",
            "ware_key": "TEA-IVAN-100",
            "payment": {"value": 0},
            "cost": 450,
            "weight": 120,
            "amount": 2,
            "country_code": "RU",
        },
        {
            "name": "Мёд 250 г",
            "ware_key": "HONEY-250",
            "payment": {"value": 0},
            "cost": 699.5,
            "weight": 380,
            "amount": 1,
        },
    ]
    assert body["items_cost_currency"] == "RUB"


def test_the_origin_s_own_carrier_location_wins_over_the_settings():
    carrier = CdekCarrier(SETTINGS)

    assert carrier.from_location(Origin("CN-URC", "CN", "Ürümqi")) == {"code": 1234}
    assert carrier.from_location(Origin("RU-WH", "RU", "Москва", carrier_location="270")) == {
        "code": 270
    }
    assert carrier.from_location(Origin("CN-SFH", "CN", "Suifenhe", "157300")) == {
        "country_code": "CN",
        "city": "Suifenhe",
        "postal_code": "157300",
    }


def test_a_service_names_the_tariff_and_anything_else_is_refused():
    carrier = CdekCarrier({**SETTINGS, "CDEK_TARIFF_CODE": "482"})

    # The configured family (Экспресс), on the member that fits a drop-off node.
    assert carrier.order_body(booking_request())["tariff_code"] == 482
    assert carrier.order_body(booking_request(service="137"))["tariff_code"] == 137
    with pytest.raises(CarrierRejected) as refused:
        carrier.order_body(booking_request(service="express"))
    assert refused.value.errors == ("service: 'express' is not a CDEK tariff code",)


def test_a_parcel_without_lines_is_one_item_at_its_declared_value():
    body = CdekCarrier(SETTINGS).order_body(
        booking_request(parcel=Parcel(2000), declared_value=Money(Decimal("1234.567"), "CNY"))
    )

    (package,) = body["packages"]
    assert package["items"] == [
        {
            "name": "Order P-20261101-0001",
            "ware_key": "SCO-7KQ2-M9XD-1",
            "payment": {"value": 0},
            "cost": 1234.57,
            "weight": 2000,
            "amount": 1,
        }
    ]
    assert body["items_cost_currency"] == "CNY"
    assert "length" not in package


def test_the_tariff_list_asks_in_cdek_s_currency_code_for_e_shop_parcels():
    carrier = CdekCarrier({**SETTINGS, "CDEK_CURRENCY": "cny"})

    body = carrier.tarifflist_body(parcel(), MOSCOW, KAZAN)

    assert body["currency"] == 6  # CDEK's code for CNY
    assert body["type"] == 1
    assert body["from_location"] == {"code": 44}
    assert body["to_location"]["city"] == "Казань"
    assert body["packages"] == [{"weight": 1500, "length": 31, "width": 20, "height": 10}]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"CDEK_CLIENT_ID": "account"}, "CDEK_CLIENT_SECRET"),
        ({**SETTINGS, "CDEK_CURRENCY": "XAU"}, "cannot price in XAU"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_once(settings, message):
    with pytest.raises(CarrierConfigurationError, match=message):
        CdekCarrier(settings)


def test_timeouts_are_connect_and_read_seconds():
    assert CdekCarrier(SETTINGS).timeout == (5.0, 15.0)
    assert CdekCarrier({**SETTINGS, "CDEK_TIMEOUT_SECONDS": 3}).timeout == (3.0, 3.0)
    assert CdekCarrier({**SETTINGS, "CDEK_TIMEOUT_SECONDS": [2, 8]}).timeout == (2.0, 8.0)


def test_urllib3_retries_only_gets_and_never_a_refused_connection():
    carrier = CdekCarrier({**SETTINGS, "CDEK_RETRIES": 3})

    retry = carrier.session.get_adapter(API).max_retries

    assert retry.allowed_methods == frozenset({"GET"})
    assert (retry.total, retry.read, retry.status, retry.connect) == (3, 3, 3, 0)
    assert not retry.is_retry("POST", 502)
    assert retry.is_retry("GET", 502)
    assert not retry.is_retry("GET", 429)  # the task waits Retry-After, not this thread


# ---------------------------------------------------------------------------
# reading answers


TARIFFLIST = {
    "tariff_codes": [
        {
            "tariff_code": 482,
            "tariff_name": "Экспресс дверь-дверь",
            "tariff_description": "",
            "delivery_mode": 1,
            "delivery_sum": Decimal("1070.0"),
            "period_min": 1,
            "period_max": 2,
            "calendar_min": 2,
            "calendar_max": 4,
        },
        {
            "tariff_code": 137,
            "tariff_name": "Посылка дверь-дверь",
            "tariff_description": "",
            "delivery_mode": 1,
            "delivery_sum": Decimal("630.5"),
            "period_min": 3,
            "period_max": 5,
        },
    ]
}


def test_a_tariff_list_becomes_quote_options_cheapest_first_in_decimal():
    options = quote_options(TARIFFLIST, "RUB")

    assert options == [
        QuoteOption("cdek", "137", rub("630.5"), 3, 5),
        QuoteOption("cdek", "482", rub("1070.0"), 1, 2),
    ]
    assert all(isinstance(o.price.amount, Decimal) for o in options)
    assert quote_options(TARIFFLIST, "RUB", tariffs=[482]) == [options[1]]


def test_a_tariff_list_with_only_errors_is_refused_with_cdek_s_codes():
    with pytest.raises(CarrierRejected) as refused:
        quote_options(
            {"errors": [{"code": "v2_entity_not_found", "message": "City is not found"}]}, "RUB"
        )

    assert refused.value.errors == ("v2_entity_not_found: City is not found",)
    assert quote_options({"tariff_codes": []}, "RUB") == []


@pytest.mark.parametrize(("state", "expected"), [("ACCEPTED", "pending"), ("WAITING", "pending")])
def test_an_accepted_order_is_pending_until_cdek_has_validated_it(state, expected):
    answer = {
        "entity": {"uuid": ORDER_UUID},
        "requests": [{"request_uuid": "r1", "type": "CREATE", "date_time": "", "state": state}],
    }

    assert booking_from_creation(answer) == Booking("cdek", ORDER_UUID, expected)


def test_an_order_refused_at_once_is_invalid_with_every_error():
    answer = {
        "entity": {"uuid": ORDER_UUID},
        "requests": [
            {
                "type": "CREATE",
                "state": "INVALID",
                "errors": [
                    {"code": "v2_field_is_empty", "message": "recipient.name"},
                    {"code": "v2_bad_request", "message": ""},
                ],
            }
        ],
    }

    booking = booking_from_creation(answer)

    assert booking.state == "invalid"
    assert booking.errors == ("v2_field_is_empty: recipient.name", "v2_bad_request")


def order_answer(state: str, cdek_number: str | None = None, statuses=()) -> dict:
    entity = {"uuid": ORDER_UUID, "tariff_code": 137, "number": "SCO-1", "statuses": statuses}
    if cdek_number:
        entity["cdek_number"] = cdek_number
    return {
        "entity": entity,
        "requests": [
            {"type": "CREATE", "state": state}
            | (
                {"errors": [{"code": "v2_entity_not_found", "message": "City"}]}
                if state == "INVALID"
                else {}
            )
        ],
    }


def test_an_order_lookup_is_registered_once_cdek_gave_its_number():
    assert booking_from_order(order_answer("SUCCESSFUL", "1106000001")) == Booking(
        "cdek", ORDER_UUID, "registered", "1106000001", service="137"
    )
    assert booking_from_order(order_answer("SUCCESSFUL")).state == "pending"
    assert booking_from_order(order_answer("ACCEPTED")).state == "pending"
    invalid = booking_from_order(order_answer("INVALID"))
    assert (invalid.state, invalid.errors) == ("invalid", ("v2_entity_not_found: City",))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ACCEPTED", "accepted"),
        ("CREATED", "accepted"),
        ("RECEIVED_AT_SHIPMENT_WAREHOUSE", "in_transit"),
        ("READY_FOR_SHIPMENT_IN_SENDER_CITY", "in_transit"),
        ("TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY", "in_transit"),
        ("SENT_TO_TRANSIT_CITY", "in_transit"),
        ("ACCEPTED_IN_TRANSIT_CITY", "in_transit"),
        ("SENT_TO_RECIPIENT_CITY", "in_transit"),
        ("ACCEPTED_AT_PICK_UP_POINT", "in_transit"),
        ("TAKEN_BY_COURIER", "in_transit"),
        ("IN_CUSTOMS_INTERNATIONAL", "in_transit"),
        ("SOMETHING_CDEK_ADDS_LATER", "in_transit"),
        ("DELIVERED", "delivered"),
        ("NOT_DELIVERED", "returned"),
        ("RETURNED_TO_SENDER_WAREHOUSE", "returned"),
        ("RETURNED_TO_DELIVERY_WAREHOUSE", "problem"),
        ("INVALID", "problem"),
        ("REMOVED", "problem"),
    ],
)
def test_cdek_status_codes_map_to_ours(code, status):
    assert tracking_status(code) == status


def test_statuses_become_events_oldest_first_with_aware_times_and_cities():
    answer = order_answer(
        "SUCCESSFUL",
        "1106000001",
        statuses=[  # CDEK lists the newest first
            {"code": "DELIVERED", "name": "Вручен", "date_time": "2026-11-06T12:30:00+0300",
             "city": "Казань"},
            {"code": "SENT_TO_RECIPIENT_CITY", "name": "Отправлен в г. получателя",
             "date_time": "2026-11-04T08:00:00+0000", "city": "Москва"},
            {"code": "CREATED", "name": "Создан", "date_time": "2026-11-02T10:00:00+0000"},
            {"code": "ACCEPTED", "name": "Принят", "date_time": "2026-11-02T10:00:00+0000"},
            {"code": "BROKEN", "name": "no time"},
        ],
    )  # fmt: skip

    events = tracking_events(answer)

    assert [(e.code, e.status) for e in events] == [
        ("ACCEPTED", "accepted"),
        ("CREATED", "accepted"),
        ("SENT_TO_RECIPIENT_CITY", "in_transit"),
        ("DELIVERED", "delivered"),
    ]
    assert events[-1].at == datetime(2026, 11, 6, 9, 30, tzinfo=UTC)
    assert (events[-1].location, events[-1].description) == ("Казань", "Вручен")
    assert events[0].location is None


def test_cdek_times_have_offsets_without_a_colon():
    assert parse_cdek_datetime("2026-11-02T10:15:00+0700") == datetime(
        2026, 11, 2, 10, 15, tzinfo=timezone(timedelta(hours=7))
    )
    assert parse_cdek_datetime("2026-11-02T10:15:00").tzinfo is UTC
    assert parse_cdek_datetime("yesterday") is None
    assert parse_cdek_datetime(None) is None


def test_errors_are_read_from_requests_and_from_the_top_level():
    body = {
        "errors": [{"code": "v2_internal_error", "message": "boom"}],
        "requests": [{"state": "INVALID", "errors": [{"code": "v2_token_expired"}]}],
    }

    assert error_strings(body) == ("v2_internal_error: boom", "v2_token_expired")
    assert error_strings("not a dict") == ()


def test_retry_after_is_seconds_or_an_http_date():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # long past


# ---------------------------------------------------------------------------
# webhooks

ORDER_STATUS_WEBHOOK = {
    "type": "ORDER_STATUS",
    "date_time": "2026-11-04T08:00:00+0700",
    "uuid": ORDER_UUID,
    "attributes": {
        "is_return": False,
        "cdek_number": "1106000001",
        "number": "SCO-7KQ2-M9XD-1",
        "status_code": "5",
        "code": "SENT_TO_RECIPIENT_CITY",
        "status_date_time": "2026-11-04T08:00:00+0700",
        "city_name": "Москва",
    },
}


def test_an_order_status_webhook_is_a_hint_naming_the_order_three_ways():
    hint = CdekCarrier(SETTINGS).parse_webhook(
        {"Content-Type": "application/json"}, json.dumps(ORDER_STATUS_WEBHOOK).encode()
    )

    assert hint == WebhookHint(
        ORDER_UUID,
        "1106000001",
        "SCO-7KQ2-M9XD-1",
        status_code="SENT_TO_RECIPIENT_CITY",
        status_at=datetime(2026, 11, 4, 1, 0, tzinfo=UTC),
    )


def test_a_notice_without_a_readable_status_still_names_its_order():
    body = {**ORDER_STATUS_WEBHOOK, "attributes": {"cdek_number": "1106000001",
                                                   "status_date_time": "yesterday"}}  # fmt: skip
    hint = webhook_hint(json.dumps(body).encode())
    assert hint == WebhookHint(ORDER_UUID, "1106000001")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b"null",
        b'{"type": "PRINT_FORM", "uuid": "x", "attributes": {"url": "http://x"}}',
        b'{"type": "ORDER_STATUS"}',
        b'{"type": "ORDER_STATUS", "uuid": {"x": 1}, "attributes": []}',
        b"\xff\xfe",
    ],
)
def test_other_or_unreadable_webhooks_are_none(body):
    assert webhook_hint(body) is None


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_no_webhook_body_makes_the_parser_raise(body):
    result = webhook_hint(body)
    assert result is None or isinstance(result, WebhookHint)


# ---------------------------------------------------------------------------
# HTTP failures -> the port's errors (a canned transport at the session's edge)


class CannedCdek(HTTPAdapter):
    """Answers queued for each API call; the token endpoint always answers a
    new token unless ``token_answers`` says otherwise. Keeps every request."""

    def __init__(self, *answers, token_answers=()):
        super().__init__()
        self.answers = list(answers)
        self.token_answers = list(token_answers)
        self.sent: list[requests.PreparedRequest] = []
        self.tokens_issued = 0

    def send(self, request, **kwargs):
        self.sent.append(request)
        if request.url.endswith("/v2/oauth/token"):
            if self.token_answers:
                return self._answer(request, self.token_answers.pop(0))
            self.tokens_issued += 1
            token = {"access_token": f"token-{self.tokens_issued}", "expires_in": 3600}
            return self._answer(request, (200, token))
        return self._answer(request, self.answers.pop(0))

    @staticmethod
    def _answer(request, answer):
        if isinstance(answer, Exception):
            raise answer
        status, body, *rest = answer
        response = requests.Response()
        response.status_code = status
        response.request = request
        response.url = request.url
        response.headers = CaseInsensitiveDict(rest[0] if rest else {})
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return response

    def api_calls(self):
        return [r for r in self.sent if not r.url.endswith("/v2/oauth/token")]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def canned_carrier(*answers, token_answers=(), clock=None, **settings):
    carrier = CdekCarrier({**SETTINGS, **settings}, clock=clock or Clock())
    transport = CannedCdek(*answers, token_answers=token_answers)
    carrier.session.mount(API, transport)
    return carrier, transport


BOOKED = Booking("cdek", ORDER_UUID, "registered", "1106000001")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_unavailable(status):
    carrier, _ = canned_carrier((status, b"<html>bad gateway</html>"))

    with pytest.raises(CarrierUnavailable, match=str(status)):
        carrier.track(BOOKED)


def test_a_429_is_unavailable_and_carries_retry_after():
    carrier, _ = canned_carrier((429, {}, {"Retry-After": "7"}))

    with pytest.raises(CarrierUnavailable) as unavailable:
        carrier.quote(parcel(), MOSCOW, KAZAN)

    assert unavailable.value.retry_after == 7.0


def test_a_400_is_rejected_with_cdek_s_error_codes():
    refusal = {
        "requests": [
            {
                "type": "CREATE",
                "state": "INVALID",
                "errors": [{"code": "v2_field_is_empty", "message": "Field recipient is empty"}],
            }
        ]
    }
    carrier, _ = canned_carrier((400, refusal))

    with pytest.raises(CarrierRejected) as refused:
        carrier.book(booking_request())

    assert refused.value.errors == ("v2_field_is_empty: Field recipient is empty",)


def test_a_connection_never_made_is_unavailable_with_a_known_outcome():
    carrier, transport = canned_carrier(requests.ConnectTimeout("connect timed out"))

    with pytest.raises(CarrierUnavailable) as unavailable:
        carrier.book(booking_request())

    assert unavailable.value.outcome_unknown is False
    assert len(transport.api_calls()) == 1


def test_a_booking_whose_answer_timed_out_may_exist():
    carrier, _ = canned_carrier(requests.ReadTimeout("read timed out"))

    with pytest.raises(CarrierUnavailable) as unavailable:
        carrier.book(booking_request())

    assert unavailable.value.outcome_unknown is True


def test_the_token_is_sent_as_a_bearer_and_reused_until_shortly_before_it_expires():
    clock = Clock()
    ok = (200, order_answer("SUCCESSFUL", "1106000001"))
    carrier, transport = canned_carrier(ok, ok, ok, clock=clock)

    carrier.track(BOOKED)
    clock.now += 3600 - 61
    carrier.track(BOOKED)
    clock.now += 2  # within the 60 s margin: renew
    carrier.track(BOOKED)

    auth = [r.headers["Authorization"] for r in transport.api_calls()]
    assert auth == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    token_request = transport.sent[0]
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "grant_type=client_credentials" in token_request.body
    assert "client_id=account" in token_request.body


def test_an_expired_token_is_renewed_once_and_the_call_sent_again():
    expired = (401, {"requests": [{"state": "INVALID", "errors": [{"code": "v2_token_expired"}]}]})
    carrier, transport = canned_carrier(expired, (200, order_answer("SUCCESSFUL", "1106000001")))

    assert carrier.booking_status(BOOKED).tracking_number == "1106000001"
    assert transport.tokens_issued == 2
    assert [r.headers["Authorization"] for r in transport.api_calls()] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_a_fresh_token_refused_again_is_a_configuration_problem():
    expired = (401, {"requests": [{"state": "INVALID", "errors": [{"code": "v2_token_expired"}]}]})
    carrier, transport = canned_carrier(expired, expired)

    with pytest.raises(CarrierConfigurationError, match="v2_token_expired"):
        carrier.track(BOOKED)
    assert transport.tokens_issued == 2


def test_refused_client_credentials_are_a_configuration_problem():
    carrier, transport = canned_carrier(token_answers=[(401, {"error": "invalid_client"})])

    with pytest.raises(CarrierConfigurationError, match="invalid_client"):
        carrier.track(BOOKED)
    assert transport.api_calls() == []


@pytest.mark.parametrize(
    "answer",
    [
        (404, {"requests": [{"state": "INVALID", "errors": [{"code": "v2_entity_not_found"}]}]}),
        (400, {"requests": [{"state": "INVALID", "errors": [{"code": "v2_order_not_found"}]}]}),
        (200, {"entity": {}, "requests": []}),
    ],
)
def test_an_unknown_shipment_number_is_not_booked(answer):
    carrier, transport = canned_carrier(answer)

    assert carrier.find_booking("SCO-7KQ2-M9XD-1") is None
    (call,) = transport.api_calls()
    assert call.method == "GET"
    assert call.url == f"{API}/v2/orders?im_number=SCO-7KQ2-M9XD-1"


def test_a_shipment_cdek_refused_is_found_as_invalid_not_missing():
    carrier, _ = canned_carrier((200, order_answer("INVALID")))

    found = carrier.find_booking("SCO-1")

    assert (found.state, found.errors) == ("invalid", ("v2_entity_not_found: City",))


def test_a_gateway_error_to_a_booking_leaves_its_outcome_unknown():
    carrier, _ = canned_carrier((504, b"gateway timeout"))

    with pytest.raises(CarrierUnavailable) as unavailable:
        carrier.book(booking_request())

    assert unavailable.value.outcome_unknown is True


def test_a_label_for_an_order_not_registered_yet_asks_cdek_nothing():
    carrier, transport = canned_carrier()

    with pytest.raises(LabelNotReady) as not_ready:
        carrier.label(Booking("cdek", ORDER_UUID, "pending"))

    assert not_ready.value.print_reference is None
    assert transport.sent == []


def test_a_label_on_another_host_is_downloaded_without_our_token():
    ready = {
        "entity": {
            "uuid": "print-1",
            "url": "https://files.example.org/print-1.pdf",
            "statuses": [{"code": "READY", "date_time": "2026-11-02T10:00:00+0000"}],
        }
    }
    carrier, transport = canned_carrier((200, ready), (200, b"%PDF-1.4 label"))
    carrier.session.mount("https://files.example.org", transport)

    assert carrier.label(BOOKED, print_reference="print-1") == b"%PDF-1.4 label"
    download = transport.api_calls()[-1]
    assert download.url == "https://files.example.org/print-1.pdf"
    assert "Authorization" not in download.headers


def test_cancelling_an_order_cdek_no_longer_has_is_harmless():
    gone = (404, {"requests": [{"state": "INVALID", "errors": [{"code": "v2_entity_not_found"}]}]})
    carrier, transport = canned_carrier(gone)

    assert carrier.cancel(BOOKED) is None
    assert transport.api_calls()[0].method == "DELETE"


def test_a_booking_without_a_cdek_uuid_cannot_be_asked_about():
    carrier, _ = canned_carrier()

    with pytest.raises(ValueError, match="no CDEK uuid"):
        carrier.booking_status(Booking("cdek", None, "invalid"))
