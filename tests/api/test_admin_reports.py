"""Operators' reports on a small pavilion with known answers: five orders placed from
2026-11-02 to 2026-11-04 (three of them sold) and one on each side of that range,
written as rows with exact amounts and timestamps; each figure below is worked out by
hand in the comments."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import lxml.html
import pytest
from sqlalchemy import insert

from catalog.models import Category, Sku
from orders.models import Order, OrderEvent, OrderLine
from shop.admin.reports_api import (
    DutiesReportSchema,
    FulfilmentReportSchema,
    OrdersByStateReportSchema,
    SalesReportSchema,
    SkusReportSchema,
    StockCoverReportSchema,
)
from shop.core.auth import issue_token
from shop.core.extensions import db
from tests import factories as f
from warehouse.models import Shipment, ShipmentLine
from warehouse.services import create_staff

RANGE = {"from": "2026-11-02", "to": "2026-11-04"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def shop(app):
    """The pavilion; returns the operator's, a picker's and a merchant's tokens."""
    with app.app_context():
        ru_wh = f.node("RU-WH", ships_to=())
        cn_sfh = f.node("CN-SFH", ships_to=(), country="CN")
        f.node("CN-URC", ships_to=(), country="CN")  # holds nothing, ships nothing
        sweets = f.category()
        honey = f.category("honey", en="Honey", ru="Мёд", zh="蜂蜜")
        owner = f.merchant()
        f.rate("CNY", "RUB", "12.5")  # 1 CNY = 12.5 RUB
        f.rate("USD", "CNY", "7.2")
        f.product(
            owner,
            sweets,
            "ALENKA",
            en="Alenka",
            country="RU",
            skus=[("ALENKA-100", "10.00", "CNY", {ru_wh: 100}, {ru_wh: 4})],
        )
        f.product(
            owner,
            honey,
            "HONEY",
            en="Altai honey",
            country="KZ",
            skus=[("HONEY-500", "60.00", "CNY", {cn_sfh: 30})],
        )
        f.product(
            owner,
            sweets,
            "SLOW",
            en="Slow sweets",
            country="RU",
            skus=[("SLOW-1", "5.00", "CNY", {ru_wh: 50})],
        )
        f.product(owner, sweets, "GONE", en="Withdrawn", country="RU",
                  skus=[("GONE-1", "5.00", "CNY", {ru_wh: 10})], active=False)  # fmt: skip
        sku = {s.code: s.id for s in db.session.query(Sku)}
        nodes = {"RU-WH": ru_wh.id, "CN-SFH": cn_sfh.id}

        def order(number, created, status, currency, country, lines, *, grand, policy,
                  duties, paid_at=None, shipments=()):  # fmt: skip
            row = Order(
                number=number, status=status, currency=currency, destination_country=country,
                goods_total=sum(Decimal(p) * q for _, q, p in lines), grand_total=Decimal(grand),
                duties_total=Decimal(duties) if duties is not None else None,
                duties_status="estimated" if duties is not None else "unknown",
                duties={"policy": policy} if policy else {"policy": None},
                placed_on=created.date(), created_at=created, updated_at=created,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            db.session.execute(
                insert(OrderLine),
                [{"order_id": row.id, "sku_id": sku[code], "merchant_id": owner.id,
                  "sku_code": code, "product_name": code, "quantity": quantity,
                  "unit_price_amount": Decimal(price), "unit_price_currency": currency,
                  "origin_country": "KZ" if code.startswith("HONEY") else "RU"}
                 for code, quantity, price in lines],
            )  # fmt: skip
            placed = created - timedelta(minutes=2)
            events = [OrderEvent(order_id=row.id, kind="status", to_status="pending_payment",
                                 actor="test", created_at=placed)]  # fmt: skip
            if paid_at:
                events.append(OrderEvent(order_id=row.id, kind="status", to_status="paid",
                                         actor="test", created_at=paid_at))  # fmt: skip
            db.session.add_all(events)
            for node, shipment_status, shipped_at, shipment_lines in shipments:
                parcel = Shipment(order_id=row.id, node_id=nodes[node], status=shipment_status,
                                  currency=currency, shipped_at=shipped_at)  # fmt: skip
                db.session.add(parcel)
                db.session.flush()
                db.session.add_all(
                    ShipmentLine(shipment_id=parcel.id, sku_id=sku[code], quantity=quantity)
                    for code, quantity in shipment_lines
                )

        # Outside the range, one second before and at its end.
        order(
            "O0",
            at(1, 23, 59) + timedelta(seconds=59),
            "paid",
            "CNY",
            "CN",
            [("HONEY-500", 5, "60.00")],
            grand="300",
            policy="CN-CBEC",
            duties="27.30",
            paid_at=at(1, 23, 59),
            shipments=[("CN-SFH", "ready_to_pick", None, [("HONEY-500", 5)])],
        )
        order(
            "O6",
            at(5, 0),
            "paid",
            "CNY",
            "CN",
            [("HONEY-500", 5, "60.00")],
            grand="300",
            policy="CN-CBEC",
            duties="27.30",
            paid_at=at(5, 0),
            shipments=[("CN-SFH", "ready_to_pick", None, [("HONEY-500", 5)])],
        )
        # Sold: 80 CNY of goods to China, two parcels (24 h and 12 h after payment).
        order(
            "O1",
            at(2, 10),
            "shipped",
            "CNY",
            "CN",
            [("ALENKA-100", 2, "10.00"), ("HONEY-500", 1, "60.00")],
            grand="100",
            policy="CN-CBEC",
            duties="7.28",
            paid_at=at(2, 10),
            shipments=[
                ("RU-WH", "shipped", at(3, 10), [("ALENKA-100", 2)]),
                ("CN-SFH", "shipped", at(2, 22), [("HONEY-500", 1)]),
            ],
        )
        # Sold, not shipped: 500 RUB of goods (40 CNY), duties 25 RUB (2 CNY).
        order(
            "O2",
            at(3, 8),
            "paid",
            "RUB",
            "RU",
            [("ALENKA-100", 4, "125.00")],
            grand="600",
            policy="EAEU-2024-04",
            duties="25",
            paid_at=at(3, 9),
            shipments=[("RU-WH", "ready_to_pick", None, [("ALENKA-100", 4)])],
        )
        # Sold (a partial refund is still a sale): no rules for UZ; re-routed once, then
        # shipped from CN-SFH 6 h after payment.
        order(
            "O3",
            at(3, 23, 30),
            "partially_refunded",
            "CNY",
            "UZ",
            [("HONEY-500", 2, "60.00")],
            grand="150",
            policy=None,
            duties=None,
            paid_at=at(3, 23, 30),
            shipments=[
                ("RU-WH", "rerouted", None, [("HONEY-500", 2)]),
                ("CN-SFH", "delivered", at(4, 5, 30), [("HONEY-500", 2)]),
            ],
        )
        # Not sold: cancelled and unpaid.
        order(
            "O4",
            at(4, 12),
            "cancelled",
            "CNY",
            "CN",
            [("ALENKA-100", 10, "10.00")],
            grand="100",
            policy="CN-CBEC",
            duties="9.10",
            paid_at=at(4, 12),
            shipments=[("RU-WH", "cancelled", None, [("ALENKA-100", 10)])],
        )
        order("O5", at(4, 13), "pending_payment", "RUB", "RU", [("ALENKA-100", 1, "125.00")],
              grand="150", policy="EAEU-2024-04", duties="0",
              shipments=[("RU-WH", "awaiting_payment", None, [("ALENKA-100", 1)])])  # fmt: skip
        db.session.commit()
        operator = create_staff("ops@example.com", None, "operator")
        picker = create_staff("picker@example.com", "RU-WH")
        tokens = {
            "operator": operator.token,
            "picker": picker.token,
            "merchant": issue_token(merchant_id=owner.id),
        }
        db.session.commit()
    app.config["TOKENS"] = tokens
    app.config["LOGINS"] = {"operator": (operator.email, operator.password),
                            "picker": (picker.email, picker.password)}  # fmt: skip
    return app


def get(app, path, who="operator", **params):
    headers = bearer(app.config["TOKENS"][who]) if who else {}
    query = {**RANGE, **params}
    return app.test_client().get(f"/api/v1/admin/reports{path}", query_string=query,
                                 headers=headers)  # fmt: skip


def ok(response, schema):
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    schema().load(body)  # the documented shape, exactly
    return body


def money(amount: str, currency: str = "CNY") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


# No refunds in this pavilion: gross and net agree. The grand totals are the orders'
# (O1 100 + O2 600 RUB = 48 CNY + O3 150); tests/api/test_reports_net_of_refunds.py
# has the refunds.
SALES_TOTALS = {
    "orders": 3, "units": 9, "goods_gross": money("240.00"), "goods_refunded": money("0.00"),
    "goods": money("240.00"), "grand_total_gross": money("298.00"),
    "grand_total_refunded": money("0.00"), "grand_total": money("298.00"),
}  # fmt: skip


def rows_by(body, key):
    return {row[key]: row for row in body["rows"]}


# ------------------------------------------------------------------ sales


def test_sales_by_day_has_every_day_and_counts_only_sold_orders(shop):
    body = ok(get(shop, "/sales", by="day"), SalesReportSchema)
    assert (body["from"], body["to"], body["days"]) == ("2026-11-02", "2026-11-04", 3)
    assert [(r["key"], r["orders"], r["units"], r["goods"]) for r in body["rows"]] == [
        ("2026-11-02", 1, 3, money("80.00")),  # O1
        ("2026-11-03", 2, 6, money("160.00")),  # O2 500 RUB = 40 CNY, O3 120 CNY
        ("2026-11-04", 0, 0, money("0.00")),  # O4 cancelled, O5 unpaid
    ]
    assert body["totals"] == SALES_TOTALS
    assert body["currency"] == "CNY"
    assert [(r["base"], r["quote"], r["rate"]) for r in body["rates"]] == [
        ("CNY", "RUB", "12.5000000000")
    ]


def test_sales_convert_to_the_asked_currency_through_a_cross_rate(shop):
    rub = ok(get(shop, "/sales", by="day", currency="RUB"), SalesReportSchema)
    assert [r["goods"] for r in rub["rows"]] == [
        money("1000.00", "RUB"), money("2000.00", "RUB"), money("0.00", "RUB")
    ]  # fmt: skip
    assert rub["totals"]["goods"] == money("3000.00", "RUB")
    usd = ok(get(shop, "/sales", by="day", currency="usd"), SalesReportSchema)
    # 80 / 7.2 = 11.11; (40 + 120) / 7.2 = 22.22; 240 / 7.2 = 33.33 (RUB via CNY).
    assert [r["goods"]["amount"] for r in usd["rows"]] == ["11.11", "22.22", "0.00"]
    assert usd["totals"]["goods"] == money("33.33", "USD")
    assert {(r["base"], r["quote"]) for r in usd["rates"]} == {("CNY", "RUB"), ("USD", "CNY")}


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        # Sorted by value, largest first: (key, label, orders, units, goods CNY).
        ("category", [("honey", "Honey", 2, 3, "180.00"),
                      ("confectionery", "Chocolate and sweets", 2, 6, "60.00")]),
        ("origin", [("KZ", "Kazakhstan", 2, 3, "180.00"), ("RU", "Russia", 2, 6, "60.00")]),
        ("destination", [("UZ", "Uzbekistan", 1, 2, "120.00"), ("CN", "China", 1, 3, "80.00"),
                         ("RU", "Russia", 1, 4, "40.00")]),
        # The re-routed parcel of O3 and O4's cancelled one carry nothing.
        ("node", [("CN-SFH", "CN-SFH", 2, 3, "180.00"), ("RU-WH", "RU-WH", 2, 6, "60.00")]),
    ],
)  # fmt: skip
def test_sales_by_group(shop, by, expected):
    body = ok(get(shop, "/sales", by=by), SalesReportSchema)
    got = [(r["key"], r["label"], r["orders"], r["units"], r["goods"]["amount"])
           for r in body["rows"]]  # fmt: skip
    assert got == expected
    assert body["totals"] == SALES_TOTALS


def test_sales_as_csv_download(shop):
    response = get(shop, "/sales", by="day", format="csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="sales-by-day_2026-11-02_2026-11-04.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows == [
        ["key", "label", "orders", "units", "goods_gross_CNY", "goods_refunded_CNY", "goods_CNY"],
        ["2026-11-02", "2026-11-02", "1", "3", "80.00", "0.00", "80.00"],
        ["2026-11-03", "2026-11-03", "2", "6", "160.00", "0.00", "160.00"],
        ["2026-11-04", "2026-11-04", "0", "0", "0.00", "0.00", "0.00"],
    ]


def test_accept_text_csv_asks_for_csv_too(shop):
    response = shop.test_client().get(
        "/api/v1/admin/reports/orders-by-state",
        query_string=RANGE,
        headers={**bearer(shop.config["TOKENS"]["operator"]), "Accept": "text/csv"},
    )
    assert response.mimetype == "text/csv"
    header = next(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert header == ["status", "label", "orders", "grand_total_CNY"]


# ------------------------------------------------------------------ other reports


def test_duties_by_regime(shop):
    body = ok(get(shop, "/duties"), DutiesReportSchema)
    assert [(r["regime"], r["orders"], r["unknown_orders"], r["duties"]["amount"],
             r["goods"]["amount"]) for r in body["rows"]] == [
        ("CN-CBEC", 1, 0, "7.28", "80.00"),
        ("EAEU-2024-04", 1, 0, "2.00", "40.00"),  # 25 RUB, 500 RUB
        ("unknown", 1, 1, "0.00", "120.00"),
    ]  # fmt: skip
    assert body["totals"] == {
        "orders": 3, "unknown_orders": 1, "duties_gross": money("9.28"),
        "duties_refunded": money("0.00"), "duties": money("9.28"),
        "goods_gross": money("240.00"), "goods_refunded": money("0.00"),
        "goods": money("240.00"),
    }  # fmt: skip
    assert "CBEC" in rows_by(body, "regime")["CN-CBEC"]["label"]


def test_orders_by_state_lists_every_state(shop):
    body = ok(get(shop, "/orders-by-state", currency="RUB"), OrdersByStateReportSchema)
    states = rows_by(body, "status")
    assert {s: (r["orders"], r["grand_total"]["amount"]) for s, r in states.items()
            if r["orders"]} == {
        "shipped": (1, "1250.00"),  # 100 CNY
        "paid": (1, "600.00"),
        "partially_refunded": (1, "1875.00"),  # 150 CNY
        "cancelled": (1, "1250.00"),
        "pending_payment": (1, "150.00"),
    }  # fmt: skip
    assert states["expired"]["orders"] == 0
    assert body["totals"] == {"orders": 5, "grand_total": money("5125.00", "RUB")}


def test_fulfilment_time_from_payment_to_leaving_the_node(shop):
    body = ok(get(shop, "/fulfilment-time"), FulfilmentReportSchema)
    assert [(r["node"], r["shipments"], r["average_hours"], r["longest_hours"])
            for r in body["rows"]] == [
        ("CN-SFH", 2, "9.0", "12.0"),  # 12 h (O1) and 6 h (O3)
        ("CN-URC", 0, None, None),
        ("RU-WH", 1, "24.0", "24.0"),
    ]  # fmt: skip
    assert body["totals"] == {"shipments": 3, "average_hours": "14.0", "longest_hours": "24.0"}


def test_fulfilment_time_counts_parcels_by_the_day_they_left(shop):
    body = ok(get(shop, "/fulfilment-time", **{"from": "2026-11-03", "to": "2026-11-03"}),
              FulfilmentReportSchema)  # fmt: skip
    assert {r["node"]: r["shipments"] for r in body["rows"]} == {
        "CN-SFH": 0, "CN-URC": 0, "RU-WH": 1
    }  # fmt: skip


def test_stock_cover_per_node_and_what_runs_out_first(shop):
    body = ok(get(shop, "/stock-cover"), StockCoverReportSchema)
    assert [(r["node"], r["on_hand"], r["reserved"], r["units_sold"], r["daily_units"],
             r["days_of_cover"]) for r in body["rows"]] == [
        ("CN-SFH", 30, 0, 3, "1.00", "30.0"),  # 30 / (3 / 3 days)
        ("CN-URC", 0, 0, 0, "0.00", None),
        ("RU-WH", 160, 4, 6, "2.00", "80.0"),  # ALENKA 100 + SLOW 50 + GONE 10
    ]  # fmt: skip
    assert [(r["node"], r["sku"], r["days_of_cover"]) for r in body["running_out"]] == [
        ("CN-SFH", "HONEY-500", "30.0"),
        ("RU-WH", "ALENKA-100", "50.0"),  # 100 / (6 / 3)
    ]
    assert body["totals"]["days_of_cover"] == "63.3"  # 190 / (9 / 3)


def test_top_and_slow_skus(shop):
    top = ok(get(shop, "/skus", kind="top"), SkusReportSchema)
    assert [(r["rank"], r["sku"], r["units"], r["orders"], r["goods"]["amount"], r["on_hand"],
             r["days_of_cover"]) for r in top["rows"]] == [
        (1, "ALENKA-100", 6, 2, "60.00", 100, "50.0"),
        (2, "HONEY-500", 3, 2, "180.00", 30, "30.0"),
    ]  # fmt: skip
    slow = ok(get(shop, "/skus", kind="slow", limit=2), SkusReportSchema)
    # Withdrawn products are not slow movers; nothing sold comes first.
    assert [(r["sku"], r["units"], r["on_hand"], r["days_of_cover"]) for r in slow["rows"]] == [
        ("SLOW-1", 0, 50, None),
        ("HONEY-500", 3, 30, "30.0"),
    ]


# ------------------------------------------------------------------ range and access


def test_a_backwards_range_is_a_422_naming_from(shop):
    response = get(shop, "/sales", **{"from": "2026-11-05", "to": "2026-11-01"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert set(response.get_json()["errors"]) == {"from"}


def test_a_range_longer_than_a_year_is_a_422_naming_to(shop):
    response = get(shop, "/duties", **{"from": "2025-01-01", "to": "2026-11-01"})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"to"}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"by": "week"}, "by"), ({"currency": "XYZ"}, "currency"), ({"from": "yesterday"}, "from"),
     ({"colour": "red"}, "colour"), ({"currency": "CHF"}, "currency")],
)  # fmt: skip
def test_bad_parameters_are_422_naming_the_field(shop, params, field):
    response = get(shop, "/sales", **params)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_default_range_is_the_last_28_days(shop):
    response = shop.test_client().get(
        "/api/v1/admin/reports/orders-by-state", headers=bearer(shop.config["TOKENS"]["operator"])
    )
    body = ok(response, OrdersByStateReportSchema)
    today = datetime.now(UTC).date()
    assert (body["to"], body["days"]) == (today.isoformat(), 28)
    assert date.fromisoformat(body["from"]) == today - timedelta(days=27)


@pytest.mark.parametrize(
    "path", ["/sales", "/duties", "/orders-by-state", "/fulfilment-time", "/stock-cover", "/skus"]
)
def test_operators_only(shop, path):
    assert get(shop, path, who=None).status_code == 401
    assert get(shop, path, who="merchant").status_code == 401
    assert get(shop, path, who="picker").status_code == 404
    assert get(shop, path).status_code == 200


def test_category_labels_come_from_the_catalog(shop):
    with shop.app_context():
        db.session.query(Category).filter_by(slug="honey").update({"name_en": "Bee honey"})
        db.session.commit()
    body = ok(get(shop, "/sales", by="category"), SalesReportSchema)
    assert rows_by(body, "key")["honey"]["label"] == "Bee honey"


# ------------------------------------------------------------------ the page

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def logged_in(app, who: str):
    client = app.test_client()
    email, password = app.config["LOGINS"][who]
    token = CSRF_FIELD.search(client.get("/warehouse/login").get_data(as_text=True)).group(1)
    response = client.post(
        "/warehouse/login", data={"csrf_token": token, "email": email, "password": password}
    )
    assert response.status_code == 303
    return client


def test_the_page_shows_each_report_as_a_chart_a_table_and_a_csv_link(shop):
    client = logged_in(shop, "operator")
    page = client.get("/admin/reports/", query_string={**RANGE, "currency": "RUB"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = lxml.html.fromstring(page.get_data(as_text=True))
    sections = html.xpath("//section[@id]")
    assert [s.get("id") for s in sections] == [
        "sales-day", "sales-category", "sales-origin", "sales-destination", "sales-node",
        "duties", "orders-by-state", "fulfilment-time", "stock-cover", "skus-top", "skus-slow",
    ]  # fmt: skip
    for section in sections:
        svg = section.xpath(".//*[local-name()='svg']")
        assert len(svg) == 1, section.get("id")
        assert svg[0].get("role") == "img", section.get("id")
        assert section.xpath(".//*[local-name()='desc']")[0].text_content()
        assert section.xpath(".//table//th"), section.get("id")
        assert section.xpath(".//a[text()='Download CSV']"), section.get("id")
    day_rows = [[td.text_content() for td in tr.xpath("td")]
                for tr in html.xpath("//section[@id='sales-day']//tbody/tr")]  # fmt: skip
    assert day_rows == [["2026-11-02", "1", "3", "1000.00", "0.00", "1000.00"],
                        ["2026-11-03", "2", "6", "2000.00", "0.00", "2000.00"],
                        ["2026-11-04", "0", "0", "0.00", "0.00", "0.00"]]  # fmt: skip
    assert html.xpath("//select[@name='currency']/option[@selected]")[0].get("value") == "RUB"
    assert "1 CNY = 12.5000000000 RUB" in html.text_content()
    duties = html.xpath("//section[@id='duties']//a[text()='Download CSV']")[0].get("href")
    download = client.get(duties)
    assert download.mimetype == "text/csv"
    api = get(shop, "/duties", currency="RUB", format="csv")
    assert download.data == api.data  # the page and the API say the same


def test_the_page_explains_a_bad_range_beside_the_field(shop):
    client = logged_in(shop, "operator")
    page = client.get("/admin/reports/", query_string={"from": "2026-11-05", "to": "2026-11-01"})
    assert page.status_code == 422
    html = lxml.html.fromstring(page.get_data(as_text=True))
    assert html.xpath("//input[@name='from']/@aria-invalid") == ["true"]
    assert html.xpath("//*[@id='report-from-error']")
    assert not html.xpath("//section")


def test_the_page_is_for_operators_only(shop):
    assert logged_in(shop, "picker").get("/admin/reports/").status_code == 404
    assert logged_in(shop, "picker").get("/admin/reports/duties.csv").status_code == 404
    anonymous = shop.test_client().get("/admin/reports/")
    assert anonymous.status_code in (302, 303)
    assert "/warehouse/login" in anonymous.headers["Location"]
    assert logged_in(shop, "operator").get("/admin/reports/nothing.csv").status_code == 404
