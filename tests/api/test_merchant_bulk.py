"""Bulk upsert of SKUs from CSV and JSON (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from catalog.models import Product, Sku, SkuChange
from tests.api.test_merchant_skus import PROBLEM, Shop, alenka
from warehouse.models import StockLevel

HEADER = (
    "sku,product_code,category,name_en,name_ru,name_zh,description_en,description_ru,"
    "description_zh,origin_country,hs_code,weight_g,shelf_life_days,price,currency,stock"
)


def csv_rows(n, *, price="100.00", start=0):
    lines = [HEADER]
    for i in range(start, start + n):
        product = f"P{i // 2}"
        lines.append(
            f"RU-B-{i},{product},honey,Honey {i // 2},Мёд {i // 2},蜂蜜 {i // 2},"
            f'"Altai honey, jar",,,RU,040900,{500 + i % 2},720,{price},RUB,RU-WH:{i};CN-SFH:1'
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def shop(app):
    return Shop(app)


def upload(shop, body, query="", who="a", content_type="text/csv"):
    return shop.call("POST", f"/skus/bulk{query}", who=who, data=body, content_type=content_type)


def table_counts(app):
    from shop.core.extensions import db

    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Product, Sku, StockLevel, SkuChange)
        )


def test_csv_upload_creates_then_says_unchanged_then_updates_prices(shop):
    first = upload(shop, csv_rows(40))
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["counts"] == {
        "rows": 40, "created": 40, "updated": 0, "unchanged": 0, "failed": 0, "with_warnings": 0,
    }  # fmt: skip
    again = upload(shop, csv_rows(40)).get_json()
    assert again["counts"]["unchanged"] == 40
    assert again["status"] == "written"
    changed = csv_rows(4, price="120.00") + csv_rows(36, start=4)[len(HEADER) + 1 :]
    third = upload(shop, changed).get_json()
    assert (third["counts"]["updated"], third["counts"]["unchanged"]) == (4, 36)
    sku = shop.call("GET", "/skus/RU-B-3").get_json()
    assert sku["price"] == {"amount": "120.00", "currency": "RUB"}
    assert sku["stock"] == {"CN-SFH": 1, "RU-WH": 3}
    assert sku["description"]["en"] == "Altai honey, jar"
    products = shop.client.get("/api/v1/products?category=honey&per_page=100").get_json()
    assert products["total"] == 20


def test_a_json_list_is_upserted_like_a_csv(shop):
    rows = [alenka(), alenka(sku="RU-ALENKA-200", weight_g=200)]
    response = (
        upload(shop, None, content_type=None)
        if False
        else shop.call("POST", "/skus/bulk", json=rows)
    )
    assert response.status_code == 200
    assert response.get_json()["counts"]["created"] == 2


def test_reject_all_writes_nothing_and_names_each_bad_row(shop):
    upload(shop, csv_rows(4))
    before = table_counts(shop.app)
    body = csv_rows(6, price="150.00") + b"RU-BAD,PX,honey,,,,,,,ZZ,12,0,-1,abc,RUB,RU-WH:x\n"
    response = upload(shop, body)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    report = response.get_json()["report"]
    assert report["status"] == "rejected"
    assert report["counts"]["failed"] == 1
    bad = report["errors"][0]
    assert bad["row"] == 8  # header is line 1
    assert {"name.en", "origin_country", "hs_code", "weight_g", "price.amount"} <= set(
        bad["errors"]
    )
    assert table_counts(shop.app) == before
    assert shop.call("GET", "/skus/RU-B-1").get_json()["price"]["amount"] == "100.00"


def test_skip_failed_writes_the_good_rows_with_207(shop):
    body = csv_rows(3) + b"RU-BAD,PX,honey,Bad,,,,,,RU,040900,abc,1,1.00,RUB,\n"
    response = upload(shop, body, "?on_error=skip_failed")
    assert response.status_code == 207
    counts = response.get_json()["counts"]
    assert (counts["created"], counts["failed"]) == (3, 1)


def test_dry_run_reports_without_writing(shop):
    before = table_counts(shop.app)
    response = upload(shop, csv_rows(10), "?dry_run=true")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["counts"]["created"]) == ("validated", 10)
    assert table_counts(shop.app) == before


def test_duplicate_codes_in_one_upload_are_row_errors(shop):
    body = csv_rows(2) + csv_rows(1)[len(HEADER) + 1 :]
    report = upload(shop, body).get_json()["report"]
    assert report["errors"][0]["row"] == 4
    assert "first at row 2" in report["errors"][0]["errors"]["sku"][0]


def test_rows_of_one_product_must_agree_on_product_fields(shop):
    rows = [alenka(), alenka(sku="RU-ALENKA-200", category="honey", hs_code="040900")]
    response = shop.call("POST", "/skus/bulk", json=rows)
    assert response.status_code == 422
    assert "product_code" in response.get_json()["report"]["errors"][0]["errors"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"", "text/csv", 422, "empty_file"),
        (HEADER.encode() + b"\n", "text/csv", 422, "empty_file"),
        (HEADER.replace(",", ";").encode() + b"\nA;B\n", "text/csv", 422, "wrong_delimiter"),
        (b"sku,price\nA,1\n", "text/csv", 422, "missing_columns"),
        (HEADER.encode() + b'\n"RU-1,unterminated\n', "text/csv", 422, "unterminated_quote"),
        (HEADER.encode() + "\nRU-1,Шоколад".encode("cp1251"), "text/csv", 422, "not_utf8"),
        (b"<xml/>", "application/xml", 415, "unsupported_media_type"),
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"[]", "application/json", 422, "empty_file"),
        (b'{"sku": "x"}', "application/json", 422, "validation_error"),
    ],
)
def test_unusable_uploads_are_4xx_problems_and_write_nothing(
    shop, body, content_type, status, code
):
    before = table_counts(shop.app)
    response = upload(shop, body, content_type=content_type)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == code
    assert table_counts(shop.app) == before


def test_more_than_10000_rows_is_413(shop):
    response = upload(shop, csv_rows(10_001))
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_many_rows"
    as_json = shop.call("POST", "/skus/bulk", json=[{}] * 10_001)
    assert as_json.status_code == 413


def test_a_csv_with_a_bom_and_crlf_from_excel_is_read(shop):
    body = b"\xef\xbb\xbf" + csv_rows(2).replace(b"\n", b"\r\n")
    response = upload(shop, body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["counts"]["created"] == 2


def test_dimension_columns_are_optional_validated_and_stored_in_millimetres(shop):
    header = HEADER + ",length_mm,width_mm,height_mm"
    body = "\n".join(
        [
            header,
            "RU-D-1,PD1,honey,Jar,Банка,,,,,RU,040900,500,720,100.00,RUB,,90,90,110",
            "RU-D-2,PD2,honey,Jar,Банка,,,,,RU,040900,500,720,100.00,RUB,,,,",  # none: fine
        ]
    ).encode()
    written = upload(shop, body)
    assert written.status_code == 200, written.get_json()
    sku = shop.call("GET", "/skus/RU-D-1").get_json()
    assert (sku["length_mm"], sku["width_mm"], sku["height_mm"]) == (90, 90, 110)
    assert shop.call("GET", "/skus/RU-D-2").get_json()["length_mm"] is None

    before = table_counts(shop.app)
    bad = "\n".join(
        [
            header,
            "RU-D-3,PD3,honey,Jar,Банка,,,,,RU,040900,500,720,100.00,RUB,,90,,110",  # width missing
            "RU-D-4,PD4,honey,Jar,Банка,,,,,RU,040900,500,720,100.00,RUB,,0,abc,3001",
        ]
    ).encode()
    response = upload(shop, bad)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    errors = {row["row"]: row["errors"] for row in response.get_json()["report"]["errors"]}
    assert set(errors[2]) == {"width_mm"}
    assert "together" in errors[2]["width_mm"][0]
    assert set(errors[3]) == {"length_mm", "width_mm", "height_mm"}
    assert table_counts(shop.app) == before


def test_a_single_sku_takes_dimensions_and_a_partial_set_is_a_problem_naming_the_field(shop):
    created = shop.call("POST", "/skus", json=alenka(length_mm=170, width_mm=80, height_mm=10))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["height_mm"] == 10
    partial = shop.call("POST", "/skus", json=alenka(sku="RU-ALENKA-9", length_mm=170))
    assert partial.status_code == 422
    assert partial.mimetype == PROBLEM
    assert set(partial.get_json()["errors"]) == {"width_mm", "height_mm"}
