"""The customs order record builder and its CEB311-style XML, without a database:
figures reconciled in the order's currency, converted to CNY at the order's rates,
and a message our schema accepts (and one it must refuse)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from orders.customs.id_vault import UndecryptableIdNumber
from orders.customs.order_records import (
    CEB_NAMESPACE,
    EXTENSION_NAMESPACE,
    CustomsParties,
    ExportWindow,
    LineFacts,
    OrderFacts,
    ShipmentFacts,
    Unreconciled,
    build_record,
    ceb_codes,
    schema_path,
    to_ceb311_xml,
)

NS = {"ceb": CEB_NAMESPACE, "pav": EXTENSION_NAMESPACE}
ID_NUMBER = "11010519491231002X"
SHIPPED = datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
WINDOW = ExportWindow(date(2026, 12, 1), date(2026, 12, 1))
PARTIES = CustomsParties("3702960ABC", "SCO Pavilion", "3702960XYZ", "Qingdao SCO Trading")


def line(sku="RU-ALENKA-100", quantity=2, price="18.50", currency="CNY", **changes):
    facts = LineFacts(
        sku=sku, quantity=quantity, unit_price=Decimal(price), currency=currency,
        name_en="Alenka milk chocolate 100 g", name_zh="爱莲巧牛奶巧克力", label_zh="100克",
        label_en="100 g", category="confectionery", hs_code="180632", origin_country="RU",
        weight_g=100,
    )  # fmt: skip
    return dataclasses.replace(facts, **changes)


def shipment(node="CN-SFH", mode="1210", shipment_id=7):
    return ShipmentFacts(
        id=shipment_id, node=node, customs_mode=mode, lane=f"{node}-CN", status="shipped",
        shipped_at=SHIPPED, carrier="manual", tracking_number="TN-7",
    )  # fmt: skip


def order(lines=None, **changes) -> OrderFacts:
    """37.00 of goods + 10.00 freight + 4.28 tax = 51.28 CNY, paid."""
    facts = OrderFacts(
        number="SCO-AAAA-0001", status="shipped", currency="CNY", email="buyer@example.com",
        shipping_address={"country": "CN", "region": "Shandong", "city": "Qingdao",
                          "postal_code": "266300", "line1": "Xianggang Rd 1",
                          "recipient": "张三", "phone": "+86 138 0000 0000"},
        customs_name="张三", id_masked="1101**********002X", id_encrypted="ciphertext",
        goods_total=Decimal("37.00"), shipping_total=Decimal("10.00"),
        duties_total=Decimal("4.28"), duties_status="estimated", duties_reason=None,
        grand_total=Decimal("51.28"), paid_amount=Decimal("51.28"), exchange_rates=[],
        first_shipped_at=SHIPPED, lines=tuple(lines or [line()]), shipments=(shipment(),),
        pay_adapter="manual", pay_reference="BANK-REF-1",
    )  # fmt: skip
    return dataclasses.replace(facts, **changes)


def decrypt(token: str) -> str:
    assert token == "ciphertext"
    return ID_NUMBER


def schema() -> etree.XMLSchema:
    with schema_path().open("rb") as handle:
        return etree.XMLSchema(etree.parse(handle, base_url=str(schema_path())))


def message(*records) -> etree._Element:
    xml = to_ceb311_xml(records, PARTIES, WINDOW, generated_at=SHIPPED)
    assert xml.startswith(b"<?xml")
    return etree.fromstring(xml)


def test_a_yuan_order_becomes_a_record_with_the_orders_own_figures():
    record = build_record(order(), ceb_codes(), decrypt)
    assert (record.goods_value, record.freight, record.tax_total, record.actual_paid) == (
        Decimal("37.00"), Decimal("10.00"), Decimal("4.28"), Decimal("51.28"),
    )  # fmt: skip
    assert record.insurance == record.discount == 0
    assert record.buyer_id_number == ID_NUMBER
    assert record.id_number_available is True
    assert record.conversion is None
    assert record.customs_modes == ["1210"]
    [goods] = record.goods
    assert (goods.item_name, goods.gmodel, goods.unit, goods.country) == (
        "爱莲巧牛奶巧克力", "100克", "011", "344",
    )  # fmt: skip
    assert record.warnings == ()


def test_the_message_is_valid_against_our_schema_in_the_ceb311_order():
    document = message(build_record(order(), ceb_codes(), decrypt))
    assert schema().validate(document), schema().error_log
    head = document.find("ceb:Order/ceb:OrderHead", NS)
    names = [etree.QName(child).localname for child in head]
    assert names[:10] == ["guid", "appType", "appTime", "appStatus", "orderType", "orderNo",
                          "ebpCode", "ebpName", "ebcCode", "ebcName"]  # fmt: skip
    assert head.findtext("ceb:appTime", namespaces=NS) == "20261201113000"  # China time
    assert head.findtext("ceb:acturalPaid", namespaces=NS) == "51.28"
    assert head.findtext("ceb:buyerIdType", namespaces=NS) == "1"
    assert head.findtext("ceb:payTransactionId", namespaces=NS) == "BANK-REF-1"
    item = document.find("ceb:Order/ceb:OrderList", NS)
    assert item.findtext("ceb:totalPrice", namespaces=NS) == "37.00"
    assert item.findtext("ceb:note", namespaces=NS) == "HS 180632"
    route = document.find("pav:Extension/pav:OrderRoute", NS)
    assert route.get("customsModes") == "1210"
    assert route.find("pav:Shipment", NS).get("node") == "CN-SFH"


def test_our_schema_refuses_a_message_customs_would_refuse():
    first = build_record(order(), ceb_codes(), decrypt)
    twice = message(first, first)  # the same order number twice in one message
    assert not schema().validate(twice)
    document = message(first)
    head = document.find("ceb:Order/ceb:OrderHead", NS)
    head.remove(head.find("ceb:orderNo", NS))
    assert not schema().validate(document)
    odd_mode = message(dataclasses.replace(first, shipments=(shipment(mode="0110"),)))
    assert not schema().validate(odd_mode)


def test_an_empty_day_is_a_valid_message_without_orders():
    document = message()
    assert schema().validate(document)
    assert document.findall("ceb:Order", NS) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"goods_total": Decimal("36.00")}, "goods total"),
        ({"grand_total": Decimal("51.00"), "paid_amount": Decimal("51.00")}, "grand total"),
        ({"paid_amount": Decimal("20.00")}, "Paid 20.00"),
        ({"lines": (line(origin_country="ZZ"),)}, "customs country code"),
        ({"shipments": (shipment(mode=None),)}, "customs mode"),
        ({"shipments": ()}, "no parcel"),
        ({"customs_name": None}, "real name"),
        ({"currency": "USD", "lines": (line(currency="USD"),)}, "exchange rate from USD"),
    ],
)
def test_an_order_that_does_not_reconcile_is_refused_with_the_reason(changes, reason):
    with pytest.raises(Unreconciled) as refused:
        build_record(order(**changes), ceb_codes(), decrypt)
    assert refused.value.order_no == "SCO-AAAA-0001"
    assert any(reason in said for said in refused.value.reasons), refused.value.reasons


RUB_RATES = [{"base": "CNY", "quote": "RUB", "rate": "11.3", "effective_on": "2026-11-30",
              "source": "cbr"}]  # fmt: skip
ZERO_RUB = Decimal("0.00")


def test_an_order_in_roubles_is_converted_at_its_own_rate_and_says_so():
    # 3 x 99.99 + 150.00 freight + 45.15 tax = 495.12 RUB; at 1 CNY = 11.3 RUB.
    facts = order(
        lines=(line(quantity=3, price="99.99", currency="RUB"),), currency="RUB",
        goods_total=Decimal("299.97"), shipping_total=Decimal("150.00"),
        duties_total=Decimal("45.15"), grand_total=Decimal("495.12"),
        paid_amount=Decimal("495.12"), exchange_rates=RUB_RATES,
    )  # fmt: skip
    record = build_record(facts, ceb_codes(), decrypt)
    [goods] = record.goods
    assert goods.price == Decimal("8.85")  # 99.99 / 11.3 = 8.8486...
    assert goods.total_price == Decimal("26.55")
    assert record.freight == Decimal("13.27")  # 13.2743...
    assert record.tax_total == Decimal("4.00")  # 3.9956...
    assert record.actual_paid == Decimal("43.82")
    # 495.12 / 11.3 = 43.8159... -> 43.82: the roundings happen to meet here.
    assert record.conversion["order_grand_total_in_cny"] == "43.82"
    assert record.conversion["rates"][0]["source"] == "cbr"
    assert record.conversion["factor"].startswith("0.0884955")
    document = message(record)
    assert schema().validate(document), schema().error_log
    conversion = document.find("pav:Extension/pav:OrderRoute/pav:Conversion", NS)
    assert conversion.get("from") == "RUB"
    assert "converted from RUB" in document.findtext("ceb:Order/ceb:OrderHead/ceb:note",
                                                     namespaces=NS)  # fmt: skip


def test_roundings_show_as_a_small_difference_never_a_silent_one():
    # 7 x 10.05 RUB at 11.3: the unit price rounds down 0.0006 seven times.
    facts = order(
        lines=(line(quantity=7, price="10.05", currency="RUB"),), currency="RUB",
        goods_total=Decimal("70.35"), shipping_total=ZERO_RUB, duties_total=ZERO_RUB,
        grand_total=Decimal("70.35"), paid_amount=Decimal("70.35"), exchange_rates=RUB_RATES,
    )  # fmt: skip
    record = build_record(facts, ceb_codes(), decrypt)
    assert record.actual_paid == Decimal("6.23")  # 7 x 0.89
    assert record.conversion["order_grand_total_in_cny"] == "6.23"  # 70.35 / 11.3 = 6.2256
    assert record.conversion["rounding_difference"] == "0.00"
    facts = dataclasses.replace(facts, lines=(line(quantity=9, price="10.05", currency="RUB"),),
                                goods_total=Decimal("90.45"), grand_total=Decimal("90.45"),
                                paid_amount=Decimal("90.45"))  # fmt: skip
    record = build_record(facts, ceb_codes(), decrypt)
    assert record.actual_paid == Decimal("8.01")  # 9 x 0.89
    assert record.conversion["order_grand_total_in_cny"] == "8.00"  # 90.45 / 11.3 = 8.0044
    assert record.conversion["rounding_difference"] == "0.01"


def test_an_order_placed_before_ids_were_kept_carries_the_masked_number():
    record = build_record(order(id_encrypted=None), ceb_codes(), decrypt)
    assert record.buyer_id_number == "1101**********002X"
    assert record.id_number_available is False
    assert any("before full ID numbers were kept" in w for w in record.warnings)
    document = message(record)
    assert schema().validate(document)
    route = document.find("pav:Extension/pav:OrderRoute", NS)
    assert route.get("idNumberAvailable") == "false"


def test_a_number_the_key_cannot_read_is_masked_with_a_warning():
    def wrong_key(token):
        raise UndecryptableIdNumber("cannot")

    record = build_record(order(), ceb_codes(), wrong_key)
    assert record.buyer_id_number == "1101**********002X"
    assert record.id_number_available is False
    assert any("cannot be decrypted" in w for w in record.warnings)


def test_without_a_decrypter_the_record_shows_only_the_masked_number():
    record = build_record(order(), ceb_codes(), None)
    assert record.buyer_id_number == "1101**********002X"
    assert ID_NUMBER not in repr(record.summary_json())


def test_tax_not_assessed_at_checkout_is_declared_zero_and_said():
    facts = order(duties_total=None, duties_status="unknown", grand_total=Decimal("47.00"),
                  paid_amount=Decimal("47.00"),
                  duties_reason="Consumption tax not modelled for: X (HS 2203).")  # fmt: skip
    record = build_record(facts, ceb_codes(), decrypt)
    assert record.tax_total == 0
    assert record.tax_status == "not_assessed"
    assert record.actual_paid == Decimal("47.00")
    assert any("HS 2203" in w for w in record.warnings)


def test_a_line_without_a_chinese_name_uses_the_english_one_and_says_so():
    record = build_record(order(lines=(line(name_zh=None),)), ceb_codes(), decrypt)
    assert record.goods[0].item_name == "Alenka milk chocolate 100 g"
    assert any("no Chinese name" in w for w in record.warnings)


def test_drinks_are_declared_by_the_bottle():
    assert ceb_codes().unit_for("beverages") == "142"
    assert ceb_codes().unit_for("honey") == "011"


def test_a_china_day_is_its_midnight_to_midnight_in_utc():
    start, end = ExportWindow(date(2026, 12, 1), date(2026, 12, 2)).utc_bounds()
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="ends before"):
        ExportWindow(date(2026, 12, 2), date(2026, 12, 1))


def test_text_from_shoppers_and_merchants_is_escaped_and_control_characters_dropped():
    address = {**order().shipping_address, "line1": 'Rd 1 <b>&"\x0b</b>\x01 楼', "city": "A&B"}
    odd = order(shipping_address=address, customs_name="张三\x07",
                lines=[line(name_zh="巧克力 <&> \x1f")])  # fmt: skip
    document = message(build_record(odd, ceb_codes(), decrypt))  # well-formed, or it raises
    assert schema().validate(document), schema().error_log
    text = etree.tostring(document, encoding="unicode")
    assert 'Rd 1 <b>&"</b> 楼' in "".join(document.itertext())
    assert not set("\x0b\x01\x07\x1f") & set(text)
