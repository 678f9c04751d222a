"""The catalog API on a small, exact catalog (both SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from shop.core.extensions import db
from tests import factories as f

PROBLEM = "application/problem+json"


@pytest.fixture
def catalog(app):
    """Three products in two categories, priced in RUB and KZT, stocked at two nodes."""
    with app.app_context():
        sweets = f.category()
        honey = f.category("honey", "Honey", "Мёд", "蜂蜜")
        f.category("crafts", "Crafts", "Ремёсла", "手工艺品")
        ru_wh = f.node("RU-WH", ["RU", "KZ"], priority=10)
        sfh = f.node("CN-SFH", ["CN"], country="CN", priority=30)
        f.node("CN-OFF", ["CN"], country="CN", active=False)
        f.rate("RUB", "CNY", "0.0880")
        f.rate("KZT", "CNY", "0.0138")
        f.rate("USD", "CNY", "7.10")
        ru = f.merchant()
        kz = f.merchant("Rakhat Trade", "KZ", "KZT")
        gone = f.merchant("Suspended Ltd", "RU", "RUB", active=False)
        f.product(
            ru,
            sweets,
            "ALENKA",
            en="Alenka milk chocolate",
            ru="Шоколад «Алёнка»",
            zh="爱莲巧牛奶巧克力",
            description_en="The classic Russian milk chocolate.",
            skus=[
                ("RU-ALENKA-100", "125.00", "RUB", {ru_wh: 400, sfh: 120}),
                ("RU-ALENKA-200", "230.00", "RUB", {ru_wh: 10}),
            ],
        )
        f.product(
            kz,
            sweets,
            "RAKHAT",
            en="Rakhat dark chocolate",
            ru="Шоколад Рахат тёмный",
            zh="拉哈特黑巧克力",
            country="KZ",
            skus=[("KZ-RAKHAT-100", "790.00", "KZT", {ru_wh: 5}, {ru_wh: 5})],
        )
        f.product(
            ru,
            honey,
            "ALTAI-HONEY",
            en="Altai mountain honey",
            ru="Алтайский горный мёд",
            zh="阿尔泰山蜂蜜",
            skus=[("RU-ALTAI-1KG", "1200.00", "RUB", {sfh: 7})],
        )
        f.product(
            gone, sweets, "HIDDEN", en="Hidden chocolate", skus=[("RU-HIDDEN", "1.00", "RUB", {})]
        )
        f.product(
            ru,
            sweets,
            "OFF",
            en="Withdrawn chocolate",
            active=False,
            skus=[("RU-OFF", "1.00", "RUB", {ru_wh: 1})],
        )
        db.session.commit()
    return app


def names(response):
    return [item["code"] for item in response.get_json()["items"]]


def test_categories_are_localized_with_counts_of_products_on_sale(client, catalog):
    body = client.get("/api/v1/categories?lang=zh").get_json()
    assert [c["slug"] for c in body["items"]] == ["confectionery", "honey", "crafts"]
    assert body["items"][0]["name"] == "巧克力与糖果"
    assert {c["slug"]: c["product_count"] for c in body["items"]} == {
        "confectionery": 2,
        "honey": 1,
        "crafts": 0,
    }


def test_categories_follow_accept_language(client, catalog):
    response = client.get("/api/v1/categories", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    body = response.get_json()
    assert body["items"][1]["name"] == "Мёд"
    assert body["lang"] == "ru"
    assert response.headers["Content-Language"] == "ru"


def test_product_list_hides_inactive_products_and_suspended_merchants(client, catalog):
    body = client.get("/api/v1/products?lang=en&currency=CNY").get_json()
    assert sorted(names_from(body)) == ["ALENKA", "ALTAI-HONEY", "RAKHAT"]
    assert body["total"] == 3


def names_from(body):
    return [item["code"] for item in body["items"]]


def test_prices_are_converted_to_the_asked_currency_and_rounded(client, catalog):
    body = client.get("/api/v1/products?currency=CNY&sort=price").get_json()
    prices = {i["code"]: i["price"] for i in body["items"]}
    # 125 RUB × 0.088 = 11.00 CNY (the cheaper of two SKUs); 790 KZT × 0.0138 = 10.902 → 10.90
    assert prices["ALENKA"] == {"amount": "11.00", "currency": "CNY"}
    assert prices["RAKHAT"] == {"amount": "10.90", "currency": "CNY"}
    assert names_from(body) == ["RAKHAT", "ALENKA", "ALTAI-HONEY"]


def test_cross_rate_through_the_pivot_currency(client, catalog):
    body = client.get("/api/v1/products?currency=KZT&q=alenka").get_json()
    # 125 RUB → CNY → KZT: 125 × 0.088 / 0.0138 = 797.1014… → 797.10
    assert body["items"][0]["price"] == {"amount": "797.10", "currency": "KZT"}


def test_default_currency_follows_the_language(client, catalog):
    assert client.get("/api/v1/products?lang=zh").get_json()["currency"] == "CNY"
    assert client.get("/api/v1/products?lang=ru").get_json()["currency"] == "RUB"
    assert client.get("/api/v1/products").get_json()["currency"] == "USD"


def test_price_range_filters_on_the_shown_price(client, catalog):
    # RAKHAT shows 10.90 CNY (raw 10.902), ALENKA 11.00, honey 105.60.
    assert names(client.get("/api/v1/products?currency=CNY&min_price=10.90&max_price=10.90")) == [
        "RAKHAT"
    ]
    assert names(client.get("/api/v1/products?currency=CNY&min_price=10.91&sort=price")) == [
        "ALENKA",
        "ALTAI-HONEY",
    ]
    assert names(client.get("/api/v1/products?currency=CNY&max_price=11&sort=price")) == [
        "RAKHAT",
        "ALENKA",
    ]


def test_filters_by_category_country_and_stock(client, catalog):
    assert names(client.get("/api/v1/products?category=honey")) == ["ALTAI-HONEY"]
    assert names(client.get("/api/v1/products?country=kz")) == ["RAKHAT"]
    # RAKHAT's only 5 units are reserved: not in stock.
    assert sorted(names(client.get("/api/v1/products?in_stock=true"))) == ["ALENKA", "ALTAI-HONEY"]
    assert names(client.get("/api/v1/products?in_stock=false")) == ["RAKHAT"]
    assert names(client.get("/api/v1/products?category=crafts")) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("АЛЁНКА", ["ALENKA"]),
        ("аленка", ["ALENKA"]),
        ("巧克力", ["ALENKA", "RAKHAT"]),
        ("CHOCOLATE dark", ["RAKHAT"]),
        ("мёд", ["ALTAI-HONEY"]),
        ("ru-altai-1kg", ["ALTAI-HONEY"]),
        ("classic russian", ["ALENKA"]),
        ("100%", []),
    ],
)
def test_search_matches_zh_ru_and_en_case_insensitively(client, catalog, query, expected):
    response = client.get("/api/v1/products", query_string={"q": query, "sort": "name"})
    assert sorted(names(response)) == expected


def test_sorting_and_names_follow_the_language(client, catalog):
    body = client.get("/api/v1/products?lang=ru&sort=name").get_json()
    assert [i["name"] for i in body["items"]] == [
        "Алтайский горный мёд",
        "Шоколад «Алёнка»",
        "Шоколад Рахат тёмный",
    ]
    assert body["items"][0]["origin_country"] == {"code": "RU", "name": "Россия"}
    assert names(client.get("/api/v1/products?sort=-price&currency=CNY")) == [
        "ALTAI-HONEY",
        "ALENKA",
        "RAKHAT",
    ]
    assert names(client.get("/api/v1/products?sort=-name")) == ["RAKHAT", "ALTAI-HONEY", "ALENKA"]
    assert len(names(client.get("/api/v1/products?sort=newest"))) == 3


def test_pagination_returns_the_total_and_stable_pages(client, catalog):
    first = client.get("/api/v1/products?per_page=2&page=1&sort=name").get_json()
    second = client.get("/api/v1/products?per_page=2&page=2&sort=name").get_json()
    assert (first["total"], first["pages"], second["total"]) == (3, 2, 3)
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert not set(names_from(first)) & set(names_from(second))
    beyond = client.get("/api/v1/products?per_page=2&page=9").get_json()
    assert (beyond["items"], beyond["total"]) == ([], 3)


def test_product_detail_has_skus_converted_prices_and_availability(client, catalog):
    listing = client.get("/api/v1/products?q=alenka").get_json()
    product_id = listing["items"][0]["id"]
    body = client.get(f"/api/v1/products/{product_id}?lang=zh&currency=CNY").get_json()
    assert body["name"] == "爱莲巧牛奶巧克力"
    assert body["description"] == "The classic Russian milk chocolate."  # no zh text: English
    assert body["price"] == {"amount": "11.00", "currency": "CNY"}
    first, second = body["skus"]
    assert first["sku"] == "RU-ALENKA-100"
    assert first["merchant_price"] == {"amount": "125.00", "currency": "RUB"}
    assert first["available"] == 520
    by_country = {option["country"]: option for option in first["availability"]}
    assert set(by_country) == {"CN", "KZ", "RU"}
    assert by_country["CN"]["node"] == "CN-SFH"
    assert by_country["RU"]["node"] == by_country["KZ"]["node"] == "RU-WH"
    china = by_country["CN"]
    assert china["deliverable"] is True
    assert china["lane"] == "CN-SFH-LANE"
    assert china["transit_days"] == {"min": 2, "max": 5}
    # one leg of 10 CNY + 2 CNY per started kg, for a 100 g bar
    assert china["shipping"] == {"amount": "12.00", "currency": "CNY"}
    assert china["delivery"]["from"] <= china["delivery"]["by"]
    assert second["price"] == {"amount": "20.24", "currency": "CNY"}
    assert body["availability"][0] == {"country": "CN", "deliverable": True, "nodes": ["CN-SFH"]}
    assert body["exchange_rates"] == [
        {
            "base": "RUB",
            "quote": "CNY",
            "rate": "0.0880000000",
            "effective_on": "2026-11-01",
            "source": "test",
        }
    ]


def test_product_detail_for_one_destination(client, catalog):
    product_id = client.get("/api/v1/products?q=honey").get_json()["items"][0]["id"]
    body = client.get(f"/api/v1/products/{product_id}?destination=RU").get_json()
    # honey sits in Suifenhe only, whose lane goes to China: no stock would bring it to
    # Russia, so the reason is the corridor, not the stock
    assert body["availability"] == [{"country": "RU", "deliverable": False, "nodes": []}]
    assert body["skus"][0]["availability"] == [
        {"country": "RU", "deliverable": False, "nodes": [], "reason": "corridor_refuses"}
    ]
    assert body["in_stock"] is True


def test_reserved_stock_is_not_available(client, catalog):
    product_id = client.get("/api/v1/products?q=rakhat").get_json()["items"][0]["id"]
    body = client.get(f"/api/v1/products/{product_id}").get_json()
    assert body["skus"][0]["available"] == 0
    assert body["in_stock"] is False


def test_unknown_or_hidden_product_is_404(client, catalog):
    for path in (
        "/api/v1/products/999999",
        "/api/v1/products/2147483647",
        "/api/v1/products/99999999999",
        "/api/v1/products/abc",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == PROBLEM
    hidden = client.get("/api/v1/products?q=hidden").get_json()
    assert hidden["items"] == []


def test_catalog_reads_are_cacheable_with_etags(client, catalog):
    first = client.get("/api/v1/products?lang=ru")
    assert first.headers["ETag"]
    assert "public" in first.headers["Cache-Control"]
    assert "max-age=60" in first.headers["Cache-Control"]
    assert "Accept-Language" in first.headers["Vary"]
    again = client.get("/api/v1/products?lang=ru", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    other = client.get("/api/v1/products?lang=zh", headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200
    categories = client.get("/api/v1/categories")
    assert (
        client.get(
            "/api/v1/categories", headers={"If-None-Match": categories.headers["ETag"]}
        ).status_code
        == 304
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=1000", "per_page"),
        ("per_page=0", "per_page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("sort=cheapest", "sort"),
        ("lang=fr", "lang"),
        ("currency=XYZ", "currency"),
        ("currency=JPY", "currency"),  # a real code, but no rate reaches it
        ("min_price=-5", "min_price"),
        ("min_price=abc", "min_price"),
        ("min_price=NaN", "min_price"),
        ("min_price=20&max_price=10", "min_price"),
        ("in_stock=maybe", "in_stock"),
        ("country=ZZ", "country"),
        ("category=nonsense", "category"),
        ("colour=red", "colour"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(client, catalog, query, field):
    response = client.get(f"/api/v1/products?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert field in body["errors"], body


def test_bad_detail_parameters_are_422(client, catalog):
    product_id = client.get("/api/v1/products").get_json()["items"][0]["id"]
    for query, field in (("lang=xx", "lang"), ("destination=ZZ", "destination"), ("foo=1", "foo")):
        body = client.get(f"/api/v1/products/{product_id}?{query}").get_json()
        assert field in body["errors"]


def test_empty_catalog_answers_cleanly(client):
    assert client.get("/api/v1/categories").get_json()["items"] == []
    response = client.get("/api/v1/products?currency=CNY")
    # No rates at all yet: the currency cannot be reached, and the caller is told so.
    assert response.status_code == 422
    assert "currency" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("q=%00", "q"),
        ("category=a%00b", "category"),
        ("lang=e%0an", "lang"),
        ("min_price=1e999999", "min_price"),
        ("max_price=Infinity", "max_price"),
        ("q=" + "x" * 201, "q"),
        ("page=99999999999999999999", "page"),
    ],
)
def test_hostile_parameters_are_422_never_500(client, catalog, query, field):
    response = client.get(f"/api/v1/products?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["errors"]


def test_garbage_headers_fall_back_quietly(client, catalog):
    headers = {"Accept-Language": "!!;q=abc, ,;;", "If-None-Match": '"unterminated'}
    response = client.get("/api/v1/products", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["lang"] == "en"
