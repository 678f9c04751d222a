"""Customs order records for China (CEB311-style) through the admin API: orders to CN
placed through the real checkout, paid and shipped through the staff API, exported
as JSON and XML; the XML checked against our schema, the figures against the orders,
the full ID number shown here and nowhere else, every export audited without it."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from lxml import etree
from sqlalchemy import select, update

from catalog.models import Product
from orders.customs.order_records import CEB_NAMESPACE, EXTENSION_NAMESPACE, schema_path
from orders.models import Order, OrderLine
from shop.admin.customs_api import CustomsExportSchema
from shop.core.audit import AuditEntry
from shop.core.extensions import db
from tests.checkout_world import VALID_ID, build_world, cn_body, money, order_body
from tests.sql_count import count_statements
from warehouse.models import Shipment
from warehouse.services import create_staff

URL = "/api/v1/admin/customs/orders"
CHINA = ZoneInfo("Asia/Shanghai")
NS = {"ceb": CEB_NAMESPACE, "pav": EXTENSION_NAMESPACE}
CODES = {
    "CUSTOMS_PLATFORM_CODE": "3702960ABC",
    "CUSTOMS_PLATFORM_NAME": "SCO Pavilion",
    "CUSTOMS_ENTERPRISE_CODE": "3702960XYZ",
    "CUSTOMS_ENTERPRISE_NAME": "Qingdao SCO Trading Co.",
}


@pytest.fixture
def customs_app(app):
    app.config.update(CODES)
    with app.app_context():
        world = build_world()
        # The seller gave Chinese names to two of its products; the others have none.
        for code, name in (("ALENKA-100", "爱莲巧牛奶巧克力"), ("CRAB-1", "堪察加帝王蟹")):
            db.session.execute(update(Product).where(Product.code == code).values(name_zh=name))
        db.session.commit()
    app.config["WORLD"] = world
    return app


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def ship_order(app, body) -> dict:
    """Place the order through checkout, pay it by hand and ship every parcel."""
    client = app.test_client()
    operator = bearer(app.config["WORLD"]["operator"])
    placed = client.post("/api/v1/orders", json=body)
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    paid = client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={}, headers=operator)
    assert paid.status_code == 200, paid.get_json()
    for shipment in order["shipments"]:
        node = shipment["node"]
        picked = client.post(f"/api/v1/warehouse/nodes/{node}/pick-lists", json={},
                             headers=operator)  # fmt: skip
        assert picked.status_code == 201, picked.get_json()
    with app.app_context():
        shipment_ids = db.session.scalars(
            select(Shipment.id)
            .join(Order, Order.id == Shipment.order_id)
            .where(Order.number == order["number"])
        ).all()
    for shipment_id in shipment_ids:
        url = f"/api/v1/warehouse/shipments/{shipment_id}"
        packed = client.post(f"{url}/pack", json={"weight_g": 300}, headers=operator)
        assert packed.status_code == 200, packed.get_json()
        shipped = client.post(f"{url}/ship", json={"carrier": "manual",
                              "tracking_number": f"TN{shipment_id}"}, headers=operator)  # fmt: skip
        assert shipped.status_code == 200, shipped.get_json()
    return order


def china_day_shipped(app, number) -> str:
    with app.app_context():
        moment = db.session.scalar(
            select(Shipment.shipped_at)
            .join(Order, Order.id == Shipment.order_id)
            .where(Order.number == number)
            .order_by(Shipment.shipped_at)
            .limit(1)
        )
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA).date().isoformat()


def export(app, day, *, token=None, **params):
    token = token or app.config["WORLD"]["operator"]
    return app.test_client().get(URL, query_string={"date": day, **params},
                                 headers=bearer(token))  # fmt: skip


def ceb311_schema():
    with schema_path().open("rb") as handle:
        # Parsed from its path, so the extension schema it imports is found beside it.
        return etree.XMLSchema(etree.parse(handle, base_url=str(schema_path())))


def test_a_shipped_china_order_becomes_a_record_that_reconciles_with_the_order(customs_app):
    order = ship_order(customs_app, cn_body("ALENKA-100", 2))
    day = china_day_shipped(customs_app, order["number"])

    response = export(customs_app, day)

    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    CustomsExportSchema().load(body)
    assert body["problems"] == []
    [record] = body["records"]
    totals = order["totals"]
    assert record["order_no"] == order["number"]
    assert record["currency"] == "CNY"
    assert record["customs_currency"] == "142"
    assert Decimal(record["goods_value"]) == money(totals["goods"])
    assert Decimal(record["freight"]) == money(totals["shipping"])
    assert Decimal(record["tax_total"]) == money(totals["duties"]) > 0
    assert Decimal(record["actual_paid"]) == money(totals["grand_total"])
    lines = sum(Decimal(line["total_price"]) for line in record["goods"])
    assert lines == Decimal(record["goods_value"])
    assert (
        lines + Decimal(record["freight"]) + Decimal(record["insurance"])
        + Decimal(record["tax_total"]) - Decimal(record["discount"])
    ) == Decimal(record["actual_paid"])  # fmt: skip
    [line] = record["goods"]
    assert line["item_no"] == "ALENKA-100"
    assert line["item_name"] == "爱莲巧牛奶巧克力"
    assert line["hs_code"] == "180632"
    assert (line["quantity"], line["unit"], line["country"]) == (2, "011", "344")
    assert record["buyer"]["id_number"] == VALID_ID
    assert record["buyer"]["id_number_masked"] == "1101**********002X"
    assert record["id_number_available"] is True
    assert record["buyer"]["name"] == "张三"
    assert record["consignee"]["address"].startswith("Shandong Qingdao")
    assert record["customs_modes"] == ["1210"]
    assert record["nodes"] == ["CN-SFH"]
    assert record["shipments"][0]["tracking_number"].startswith("TN")
    assert record["conversion"] is None


def test_the_xml_is_valid_against_our_schema_and_carries_the_same_figures(customs_app):
    direct = ship_order(customs_app, cn_body("CRAB-1", 1))  # RU-USS: 9610 direct purchase
    bonded = ship_order(customs_app, cn_body("ALENKA-100", 1))  # CN-SFH: 1210 bonded
    day = china_day_shipped(customs_app, direct["number"])
    assert day == china_day_shipped(customs_app, bonded["number"])

    response = export(customs_app, day, format="xml")

    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Customs-Held-Back"] == ""
    document = etree.fromstring(response.data)
    schema = ceb311_schema()
    assert schema.validate(document), schema.error_log
    assert etree.QName(document).localname == "CEB311Message"
    heads = {
        head.findtext("ceb:orderNo", namespaces=NS): head
        for head in document.iterfind("ceb:Order/ceb:OrderHead", NS)
    }
    assert set(heads) == {direct["number"], bonded["number"]}
    for order in (direct, bonded):
        head = heads[order["number"]]
        assert Decimal(head.findtext("ceb:acturalPaid", namespaces=NS)) == money(
            order["totals"]["grand_total"]
        )
        assert head.findtext("ceb:buyerIdNumber", namespaces=NS) == VALID_ID
        assert head.findtext("ceb:currency", namespaces=NS) == "142"
        assert head.findtext("ceb:ebpCode", namespaces=NS) == CODES["CUSTOMS_PLATFORM_CODE"]
        items = head.getparent().findall("ceb:OrderList", NS)
        assert sum(Decimal(i.findtext("ceb:totalPrice", namespaces=NS)) for i in items) == (
            Decimal(head.findtext("ceb:goodsValue", namespaces=NS))
        )
    modes = {
        route.get("orderNo"): route.get("customsModes")
        for route in document.iterfind("pav:Extension/pav:OrderRoute", NS)
    }
    assert modes == {direct["number"]: "9610", bonded["number"]: "1210"}
    nodes = {s.get("node") for s in document.iterfind(".//pav:Shipment", NS)}
    assert nodes == {"RU-USS", "CN-SFH"}


def test_accept_application_xml_asks_for_the_xml_too(customs_app):
    order = ship_order(customs_app, cn_body("ALENKA-100", 1))
    day = china_day_shipped(customs_app, order["number"])
    response = customs_app.test_client().get(
        URL, query_string={"date": day},
        headers={**bearer(customs_app.config["WORLD"]["operator"]), "Accept": "application/xml"},
    )  # fmt: skip
    assert response.mimetype == "application/xml"
    assert ceb311_schema().validate(etree.fromstring(response.data))


def test_an_order_in_roubles_is_declared_in_yuan_at_the_orders_own_rates(customs_app):
    order = ship_order(customs_app, {**cn_body("ALENKA-100", 2), "currency": "RUB"})
    day = china_day_shipped(customs_app, order["number"])

    [record] = export(customs_app, day).get_json()["records"]

    conversion = record["conversion"]
    assert conversion["from"] == "RUB"
    assert conversion["to"] == "CNY"
    assert conversion["rates"], "the rates the order stored are named"
    assert conversion["order_grand_total"] == order["totals"]["grand_total"]
    factor = Decimal(conversion["factor"])
    converted = (money(order["totals"]["grand_total"]) * factor).quantize(Decimal("0.01"))
    assert abs(Decimal(record["actual_paid"]) - converted) <= Decimal("0.02")
    assert Decimal(conversion["rounding_difference"]) == Decimal(record["actual_paid"]) - converted
    parts = (
        sum(Decimal(line["total_price"]) for line in record["goods"])
        + Decimal(record["freight"]) + Decimal(record["tax_total"])
    )  # fmt: skip
    assert parts == Decimal(record["actual_paid"])
    xml = export(customs_app, day, format="xml")
    assert ceb311_schema().validate(etree.fromstring(xml.data))


def test_orders_to_other_countries_and_unshipped_ones_are_not_in_the_records(customs_app):
    china = ship_order(customs_app, cn_body("ALENKA-100", 1))
    russia = ship_order(customs_app, order_body("ALENKA-100", 1))
    unshipped = customs_app.test_client().post("/api/v1/orders", json=cn_body("HONEY-500", 1))
    assert unshipped.status_code == 201
    day = china_day_shipped(customs_app, china["number"])
    assert day == china_day_shipped(customs_app, russia["number"])

    body = export(customs_app, day).get_json()

    assert [r["order_no"] for r in body["records"]] == [china["number"]]
    assert body["problems"] == []


def test_the_window_is_the_china_day_of_the_first_parcel(customs_app):
    order = ship_order(customs_app, cn_body("ALENKA-100", 1))
    day = china_day_shipped(customs_app, order["number"])
    next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    assert export(customs_app, next_day).get_json()["records"] == []
    ranged = customs_app.test_client().get(
        URL, query_string={"from": day, "to": next_day},
        headers=bearer(customs_app.config["WORLD"]["operator"]),
    )  # fmt: skip
    assert [r["order_no"] for r in ranged.get_json()["records"]] == [order["number"]]


def test_an_order_placed_before_ids_were_encrypted_is_exported_masked_and_flagged(customs_app):
    order = ship_order(customs_app, cn_body("ALENKA-100", 1))
    with customs_app.app_context():
        db.session.execute(
            update(Order).where(Order.number == order["number"]).values(customs_id_encrypted=None)
        )
        db.session.commit()
    day = china_day_shipped(customs_app, order["number"])

    [record] = export(customs_app, day).get_json()["records"]
    xml = export(customs_app, day, format="xml").data

    assert record["id_number_available"] is False
    assert record["buyer"]["id_number"] == "1101**********002X"
    assert any("before full ID numbers were kept" in w for w in record["warnings"])
    document = etree.fromstring(xml)
    assert ceb311_schema().validate(document)
    route = document.find("pav:Extension/pav:OrderRoute", NS)
    assert route.get("idNumberAvailable") == "false"
    assert VALID_ID.encode() not in xml


def test_an_order_whose_figures_do_not_add_up_is_held_back_and_reported(customs_app):
    good = ship_order(customs_app, cn_body("ALENKA-100", 1))
    bad = ship_order(customs_app, cn_body("CRAB-1", 1))
    with customs_app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.number == bad["number"]))
        db.session.execute(
            update(OrderLine)
            .where(OrderLine.order_id == order_id)
            .values(unit_price_amount=Decimal("1.00"))
        )
        db.session.commit()
    day = china_day_shipped(customs_app, good["number"])

    body = export(customs_app, day).get_json()
    xml = export(customs_app, day, format="xml")

    assert [r["order_no"] for r in body["records"]] == [good["number"]]
    [problem] = body["problems"]
    assert problem["order_no"] == bad["number"]
    assert any("goods total" in reason for reason in problem["reasons"])
    assert xml.headers["X-Customs-Held-Back"] == bad["number"]
    assert bad["number"].encode() not in xml.data
    assert ceb311_schema().validate(etree.fromstring(xml.data))


def test_every_export_is_audited_without_the_id_number(customs_app):
    order = ship_order(customs_app, cn_body("ALENKA-100", 1))
    day = china_day_shipped(customs_app, order["number"])
    export(customs_app, day)
    export(customs_app, day, format="xml")

    with customs_app.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customs.export").order_by(AuditEntry.id)
        ).all()
        assert [(e.target_type, e.target_id) for e in entries] == [("customs_orders", day)] * 2
        assert [e.after["format"] for e in entries] == ["json", "xml"]
        assert all(e.after["orders"] == [order["number"]] for e in entries)
        assert all(e.actor.startswith("staff:") and e.staff_id for e in entries)
        for entry in entries:
            assert VALID_ID not in repr((entry.before, entry.after, entry.actor))
            assert "002X" not in repr(entry.after)


def test_the_full_id_number_is_shown_by_this_export_only(customs_app, caplog):
    caplog.set_level(logging.DEBUG)
    world = customs_app.config["WORLD"]
    client = customs_app.test_client()
    placed = client.post("/api/v1/orders", json=cn_body("ALENKA-100", 1))
    number, token = placed.get_json()["number"], placed.get_json()["token"]
    assert VALID_ID not in placed.get_data(as_text=True)
    as_shopper = client.get(f"/api/v1/orders/{number}", headers={"X-Order-Token": token})
    as_operator = client.get(f"/api/v1/orders/{number}", headers=bearer(world["operator"]))
    assert as_shopper.status_code == as_operator.status_code == 200
    for response in (as_shopper, as_operator):
        assert VALID_ID not in response.get_data(as_text=True)
        assert "1101**********002X" in response.get_data(as_text=True)
    with customs_app.app_context():
        stored = db.session.scalar(select(Order).where(Order.number == number))
        columns = {c.key: getattr(stored, c.key) for c in Order.__table__.columns}
    assert VALID_ID not in repr(columns), "never in clear in the database"
    assert columns["customs_id_encrypted"]
    ship_order_number = ship_order(customs_app, cn_body("ALENKA-100", 1))["number"]
    day = china_day_shipped(customs_app, ship_order_number)
    exported = export(customs_app, day)
    assert VALID_ID in exported.get_data(as_text=True)
    assert VALID_ID not in caplog.text


@pytest.mark.parametrize(
    ("who", "status"), [("picker_sfh", 404), ("merchant_token", 401), (None, 401)]
)
def test_only_operators_may_export(customs_app, who, status):
    order = ship_order(customs_app, cn_body("ALENKA-100", 1))
    day = china_day_shipped(customs_app, order["number"])
    headers = bearer(customs_app.config["WORLD"][who]) if who else {}
    response = customs_app.test_client().get(URL, query_string={"date": day}, headers=headers)
    assert response.status_code == status
    assert VALID_ID not in response.get_data(as_text=True)
    with customs_app.app_context():
        audited = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customs.export")
        ).all()
    assert audited == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "date"),
        ({"date": "2026-13-01"}, "date"),
        ({"date": "2026-12-01", "from": "2026-12-01"}, "date"),
        ({"to": "2026-12-01"}, "from"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "to"),
        ({"from": "2026-01-01", "to": "2026-03-01"}, "to"),
        ({"date": "2026-12-01", "format": "pdf"}, "format"),
        ({"date": "2026-12-01", "colour": "red"}, "colour"),
    ],
)
def test_bad_arguments_are_a_422_naming_the_field(customs_app, params, field):
    response = customs_app.test_client().get(
        URL, query_string=params, headers=bearer(customs_app.config["WORLD"]["operator"])
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_xml_without_the_customs_codes_is_refused_and_not_audited(customs_app):
    customs_app.config["CUSTOMS_ENTERPRISE_CODE"] = ""
    order = ship_order(customs_app, cn_body("ALENKA-100", 1))
    day = china_day_shipped(customs_app, order["number"])

    refused = export(customs_app, day, format="xml")
    json_export = export(customs_app, day)

    assert refused.status_code == 409
    assert refused.get_json()["code"] == "customs_codes_not_configured"
    assert "PAVILION_CUSTOMS_ENTERPRISE_CODE" in refused.get_json()["detail"]
    assert json_export.get_json()["missing_settings"] == ["PAVILION_CUSTOMS_ENTERPRISE_CODE"]
    with customs_app.app_context():
        formats = db.session.scalars(
            select(AuditEntry.after).where(AuditEntry.action == "customs.export")
        ).all()
    assert [f["format"] for f in formats] == ["json"]


def test_the_export_reads_a_fixed_number_of_statements_whatever_the_orders(customs_app):
    first = ship_order(customs_app, cn_body("ALENKA-100", 1))
    day = china_day_shipped(customs_app, first["number"])

    def statements_for_export():
        with customs_app.app_context(), count_statements(db.engine) as statements:
            response = export(customs_app, day, format="xml")
            assert response.status_code == 200
        return len(statements)

    with_one = statements_for_export()
    ship_order(customs_app, cn_body("CRAB-1", 1))
    ship_order(customs_app, {**cn_body("ALENKA-100", 1), "currency": "RUB"})
    with_three = statements_for_export()

    assert with_three == with_one


# ------------------------------------------------------------------ the admin pages

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def page_client(app, role):
    """A browser logged in through /warehouse/login as a new operator or picker."""
    email = f"{role}-pages@example.com"
    with app.app_context():
        password = create_staff(email, None if role == "operator" else "CN-SFH", role).password
    client = app.test_client()
    token = CSRF_FIELD.search(client.get("/warehouse/login").get_data(as_text=True)).group(1)
    logged_in = client.post(
        "/warehouse/login", data={"csrf_token": token, "email": email, "password": password}
    )
    assert logged_in.status_code == 303
    return client


def test_the_page_lists_the_days_records_masked_with_download_links(customs_app):
    order = ship_order(customs_app, cn_body("ALENKA-100", 1))
    day = china_day_shipped(customs_app, order["number"])
    browser = page_client(customs_app, "operator")

    page = browser.get("/admin/customs/", query_string={"date": day})

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    document = lxml.html.fromstring(page.get_data(as_text=True))
    [row] = document.xpath('//table[@id="records"]/tbody/tr')
    assert row.get("data-order") == order["number"]
    assert "1101**********002X" in row.text_content()
    assert "1210" in row.text_content()
    assert VALID_ID not in page.get_data(as_text=True)
    assert document.get_element_by_id("date").get("value") == day
    links = [a.get("href") for a in document.xpath('//*[@id="downloads"]//a')]
    assert links == [f"/admin/customs/orders.xml?date={day}",
                     f"/admin/customs/orders.json?date={day}"]  # fmt: skip
    with customs_app.app_context():
        assert db.session.scalars(select(AuditEntry)).all() == [], "looking is not exporting"

    xml = browser.get(links[0])
    as_json = browser.get(links[1])

    assert xml.status_code == as_json.status_code == 200
    assert xml.headers["Content-Disposition"] == (f'attachment; filename="ceb311-orders-{day}.xml"')
    assert ceb311_schema().validate(etree.fromstring(xml.data))
    assert VALID_ID.encode() in xml.data
    assert as_json.get_json()["records"][0]["buyer"]["id_number"] == VALID_ID
    with customs_app.app_context():
        formats = db.session.scalars(
            select(AuditEntry.after).where(AuditEntry.action == "customs.export")
        ).all()
    assert [f["format"] for f in formats] == ["xml", "json"]


def test_the_page_shows_held_back_orders_and_missing_settings(customs_app):
    customs_app.config["CUSTOMS_PLATFORM_CODE"] = ""
    bad = ship_order(customs_app, cn_body("CRAB-1", 1))
    with customs_app.app_context():
        db.session.execute(
            update(Order).where(Order.number == bad["number"]).values(paid_amount=Decimal(1))
        )
        db.session.commit()
    day = china_day_shipped(customs_app, bad["number"])

    page = page_client(customs_app, "operator").get("/admin/customs/", query_string={"date": day})

    document = lxml.html.fromstring(page.get_data(as_text=True))
    assert document.xpath('//*[@id="records"]') == []
    [held] = document.xpath('//table[@id="problems"]/tbody/tr')
    assert held.get("data-order") == bad["number"]
    assert "Paid 1.00" in held.text_content()
    missing = document.get_element_by_id("missing-settings").text_content()
    assert "PAVILION_CUSTOMS_PLATFORM_CODE" in missing


def test_a_bad_day_on_the_page_is_a_422_that_says_how_to_write_it(customs_app):
    browser = page_client(customs_app, "operator")
    page = browser.get("/admin/customs/", query_string={"date": "1 December"})
    assert page.status_code == 422
    assert "YYYY-MM-DD" in page.get_data(as_text=True)
    assert browser.get("/admin/customs/orders.xml?date=tomorrow").status_code == 422


def test_pickers_do_not_find_the_pages_and_strangers_are_sent_to_log_in(customs_app):
    picker = page_client(customs_app, "picker")
    assert picker.get("/admin/customs/").status_code == 404
    assert picker.get("/admin/customs/orders.xml?date=2026-12-01").status_code == 404
    stranger = customs_app.test_client().get("/admin/customs/orders.json?date=2026-12-01")
    assert stranger.status_code == 302
    assert "/warehouse/login" in stranger.headers["Location"]
    with customs_app.app_context():
        assert db.session.scalars(select(AuditEntry)).all() == []


def test_the_openapi_document_describes_both_formats_and_the_operator_token(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"][URL]["get"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "404", "409", "422"} <= set(operation["responses"])
    content = operation["responses"]["200"]["content"]
    assert {"application/json", "application/xml"} <= set(content)
    assert {p["name"] for p in operation["parameters"]} == {"date", "from", "to", "format"}
