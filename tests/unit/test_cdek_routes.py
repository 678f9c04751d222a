"""The CDEK order body per route and per node hand-over, as CDEK documents it
(api-docs.cdek.ru/33828802.html: shipment_point or from_location by the tariff's
sender side, delivery_point or to_location by its recipient side, the international
block between countries), and the courier intake that a дверь tariff needs
(api-docs.cdek.ru/33828859.html). Pure: no HTTP, no database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from catalog.money import Money
from warehouse.carriers import (
    Address,
    BookingRequest,
    CarrierRejected,
    CustomsDeclaration,
    Handover,
    Origin,
    Parcel,
    ParcelItem,
    Party,
    PickupRequest,
    RecipientIdentity,
)
from warehouse.carriers.cdek import CdekCarrier
from warehouse.carriers.cdek.customs import masked_body
from warehouse.carriers.cdek.tariffs import tariff_table
from warehouse.carriers.pickups import pickup_date

SETTINGS = {
    "CDEK_API_BASE": "https://cdek.test",
    "CDEK_CLIENT_ID": "account",
    "CDEK_CLIENT_SECRET": "secure",
    "CDEK_SENDER_LOCATIONS": {"RU-WH": 270, "RU-USS": 287, "CN-URC": 1234},
}
DROP_OFF = Handover("drop_off", office_code="NSK27")
INTAKE = Handover(
    "intake",
    window_from="10:00",
    window_to="16:00",
    timezone="Asia/Vladivostok",
    address="ул. Пушкина, 87, склад 3",
)
NOVOSIBIRSK = Origin("RU-WH", "RU", "Новосибирск")
USSURIYSK = Origin("RU-USS", "RU", "Уссурийск")
URUMQI = Origin("CN-URC", "CN", "Urumqi")
PRC_ID = "11010519491231002X"
SELLER = Party("ООО «Павильон ШОС»", "Москва, ул. Тверская, 1", tax_id="7701234567")


def money(amount: str, currency: str = "RUB") -> Money:
    return Money(Decimal(amount), currency)


def address(country: str, city: str) -> Address:
    return Address(country, city, "ул. Ленина, 1", "Анна Смирнова", "+79991234567")


def honey(currency: str = "RUB") -> ParcelItem:
    return ParcelItem("HONEY-ALTAI-500", "Мёд алтайский 500 г", 2, money("600", currency), 550,
                      hs_code="0409.00", origin_country="RU", name_i18n="Altai honey 500 g",
                      brand="Altai Bee")  # fmt: skip


def customs(identity: RecipientIdentity | None = None, currency: str = "RUB"):
    return CustomsDeclaration(
        invoice_date=date(2026, 12, 1),
        seller=SELLER,
        shipper=Party(SELLER.name, "Новосибирск, RU"),
        currency=currency,
        recipient_identity=identity,
    )


def request(origin, destination, *, handover=DROP_OFF, currency="RUB", **overrides):
    fields = {
        "shipment_number": "P-20261201-0007-12",
        "order_number": "P-20261201-0007",
        "origin": origin,
        "destination": destination,
        "parcel": Parcel(1300, (honey(currency),)),
        "handover": handover,
    }
    return BookingRequest(**{**fields, **overrides})


def body_of(req: BookingRequest, **settings) -> dict:
    body = CdekCarrier({**SETTINGS, **settings}).order_body(req)
    json.dumps(body)  # goes over the wire as is
    return body


# -- the tariff table ---------------------------------------------------------------


def test_the_parcel_tariffs_are_the_four_sides_cdek_documents():
    table = tariff_table()
    assert {code: (table[code].sender, table[code].recipient) for code in (136, 137, 138, 139)} == {
        136: ("warehouse", "warehouse"),
        137: ("warehouse", "door"),
        138: ("door", "warehouse"),
        139: ("door", "door"),
    }
    assert {table[code].max_weight_g for code in (136, 137, 138, 139)} == {30000}


# -- RU -> RU: the sender's side by the node's hand-over --------------------------------


def test_a_drop_off_node_books_склад_дверь_with_its_office_and_no_from_location():
    body = body_of(request(NOVOSIBIRSK, address("RU", "Казань")))

    assert body["tariff_code"] == 137
    assert body["shipment_point"] == "NSK27"
    assert "from_location" not in body
    assert body["to_location"]["city"] == "Казань"
    assert "date_invoice" not in body
    assert "seller" not in body


def test_an_intake_node_books_дверь_дверь_from_its_address_and_no_shipment_point():
    body = body_of(request(USSURIYSK, address("RU", "Владивосток"), handover=INTAKE))

    assert body["tariff_code"] == 139
    assert body["from_location"] == {"code": 287, "address": "ул. Пушкина, 87, склад 3"}
    assert "shipment_point" not in body


def test_a_chosen_pickup_point_is_sent_instead_of_the_address_on_a_склад_tariff():
    drop_off = body_of(request(NOVOSIBIRSK, address("RU", "Казань"), delivery_point="KZN3"))
    intake = body_of(
        request(USSURIYSK, address("RU", "Казань"), handover=INTAKE, delivery_point="KZN3")
    )

    assert (drop_off["tariff_code"], drop_off["delivery_point"]) == (136, "KZN3")
    assert (intake["tariff_code"], intake["delivery_point"]) == (138, "KZN3")
    assert "to_location" not in drop_off
    assert "to_location" not in intake


def test_a_checkout_tariff_is_honoured_when_it_fits_and_refused_when_it_does_not():
    fits = body_of(request(NOVOSIBIRSK, address("RU", "Казань"), service="482"))
    assert fits["tariff_code"] == 482

    with pytest.raises(CarrierRejected) as wrong_sender:
        body_of(request(NOVOSIBIRSK, address("RU", "Казань"), service="139"))
    assert "parcels are dropped off" in wrong_sender.value.errors[0]
    with pytest.raises(CarrierRejected) as wrong_recipient:
        body_of(request(NOVOSIBIRSK, address("RU", "Казань"), service="137", delivery_point="KZN3"))
    assert "pickup point" in wrong_recipient.value.errors[0]
    with pytest.raises(CarrierRejected):
        body_of(request(NOVOSIBIRSK, address("RU", "Казань"), service="1"))


def test_the_configured_tariff_picks_the_family_and_the_hand_over_picks_the_member():
    req = request(USSURIYSK, address("RU", "Владивосток"), handover=INTAKE)
    assert body_of(req, CDEK_TARIFF_CODE=137)["tariff_code"] == 139
    assert body_of(req, CDEK_TARIFF_CODE=482)["tariff_code"] == 480


def test_a_node_without_a_hand_over_and_a_parcel_over_30_kg_are_refused_before_sending():
    with pytest.raises(CarrierRejected) as no_handover:
        body_of(request(NOVOSIBIRSK, address("RU", "Казань"), handover=None))
    assert "RU-WH has no CDEK hand-over" in no_handover.value.errors[0]

    heavy = Parcel(30001, (honey(),))
    with pytest.raises(CarrierRejected) as too_heavy:
        body_of(request(NOVOSIBIRSK, address("RU", "Казань"), parcel=heavy))
    assert too_heavy.value.errors[0].startswith("packages[0].weight")


# -- across borders -------------------------------------------------------------------


def test_ru_to_cn_carries_the_block_and_the_buyer_s_prc_id():
    identity = RecipientIdentity("prc_resident_id", "王芳", PRC_ID)
    req = request(USSURIYSK, address("CN", "Qingdao"), handover=INTAKE, currency="CNY",
                  customs=customs(identity, "CNY"))  # fmt: skip
    body = body_of(req)

    assert body["date_invoice"] == "2026-12-01"
    assert body["shipper_name"] == SELLER.name
    assert body["shipper_address"] == "Новосибирск, RU"
    assert body["seller"] == {"name": SELLER.name, "address": SELLER.address, "inn": "7701234567"}
    assert (body["recipient_currency"], body["items_cost_currency"]) == ("CNY", "CNY")
    assert body["recipient"]["passport_number"] == PRC_ID
    (item,) = body["packages"][0]["items"]
    assert {k: item[k] for k in ("feacn_code", "name_i18n", "brand", "country_code")} == {
        "feacn_code": "040900",
        "name_i18n": "Altai honey 500 g",
        "brand": "Altai Bee",
        "country_code": "RU",
    }


def test_ru_to_cn_without_the_buyer_s_id_is_refused_before_sending():
    req = request(USSURIYSK, address("CN", "Qingdao"), handover=INTAKE, customs=customs())
    with pytest.raises(CarrierRejected) as refused:
        body_of(req)
    assert any(e.startswith("recipient.identity") for e in refused.value.errors)


def test_cn_to_ru_carries_the_block_and_no_identity_the_order_does_not_hold():
    req = request(URUMQI, address("RU", "Новосибирск"), handover=Handover("drop_off",
                  office_code="ZHK1"), currency="CNY", customs=customs(currency="CNY"))  # fmt: skip
    body = body_of(req)

    assert body["shipment_point"] == "ZHK1"
    assert body["date_invoice"] == "2026-12-01"
    assert body["seller"]["inn"] == "7701234567"
    assert "passport_number" not in body["recipient"]
    assert "tin" not in body["recipient"]
    assert body["packages"][0]["items"][0]["feacn_code"] == "040900"


def test_ru_to_kz_is_international_for_cdek_inside_the_eaeu_too():
    body = body_of(request(NOVOSIBIRSK, address("KZ", "Алматы"), customs=customs()))

    assert body["tariff_code"] == 137
    for name in ("date_invoice", "shipper_name", "shipper_address", "seller",
                 "recipient_currency", "items_cost_currency"):  # fmt: skip
        assert body[name], name


def test_an_international_parcel_without_paperwork_or_a_seller_s_tax_id_is_refused():
    with pytest.raises(CarrierRejected) as no_paperwork:
        body_of(request(NOVOSIBIRSK, address("KZ", "Алматы")))
    assert no_paperwork.value.errors[0].startswith("customs:")

    anonymous = CustomsDeclaration(date(2026, 12, 1), Party("Shop", ""), Party("Shop", "x"), "RUB")
    with pytest.raises(CarrierRejected) as incomplete:
        body_of(request(NOVOSIBIRSK, address("KZ", "Алматы"), customs=anonymous))
    assert {e.split(":")[0] for e in incomplete.value.errors} >= {"seller.address", "seller.tax_id"}


def test_the_id_number_is_never_shown_whole():
    identity = RecipientIdentity("prc_resident_id", "王芳", PRC_ID)
    req = request(USSURIYSK, address("CN", "Qingdao"), handover=INTAKE, customs=customs(identity))

    assert PRC_ID not in repr(identity)
    assert PRC_ID not in repr(req)
    shown = masked_body(body_of(req))
    assert shown["recipient"]["passport_number"] == "1101**********002X"
    assert PRC_ID not in json.dumps(shown)


# -- the courier intake -------------------------------------------------------------


def test_an_intake_names_the_order_and_the_node_s_window():
    body = CdekCarrier(SETTINGS).intake_body(
        PickupRequest(
            "order-uuid", "P-1-12", date(2026, 12, 7), "10:00", "16:00", 1300, "Order P-1"
        )
    )
    assert body == {
        "order_uuid": "order-uuid",
        "intake_date": "2026-12-07",
        "intake_time_from": "10:00",
        "intake_time_to": "16:00",
        "need_call": False,
        "name": "Order P-1",
    }


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 12, 6, 23, 0, tzinfo=UTC), date(2026, 12, 7)),  # 09:00 local: today
        (datetime(2026, 12, 7, 1, 0, tzinfo=UTC), date(2026, 12, 8)),  # 11:00: window began
        (datetime(2026, 12, 7, 6, 0, tzinfo=UTC), date(2026, 12, 8)),  # 16:00: after 15:00
    ],
)
def test_the_courier_comes_today_only_before_the_window_and_before_15_local(utc, expected):
    assert pickup_date(utc, INTAKE) == expected
