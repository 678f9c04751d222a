"""The storefront's browsing pages (home, category, search, product, errors)
through the Flask test client, on the seeded pavilion, on SQLite and PostgreSQL.

Pages are read as HTML with lxml; where a page shows what the JSON API also
answers (which products, which prices, which delivery window), the API is
the oracle.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from urllib.parse import urlsplit

import lxml.etree
import lxml.html
import pytest

from shop.core.extensions import db
from tests.sql_count import count_statements

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def page(client, url, **kwargs):
    headers = {**HTML, **kwargs.pop("headers", {})}
    response = client.get(url, headers=headers, **kwargs)
    return response, lxml.html.fromstring(response.get_data(as_text=True))


_SIMPLE_PART = re.compile(r'\.([\w-]+)|#([\w-]+)|\[([\w-]+)(?:="([^"]*)")?\]')


def _xpath_of(selector: str) -> str:
    """The few CSS selectors these tests use (tag, .class, #id, [attr], [attr="v"],
    descendant, comma) as XPath: lxml's own needs the cssselect package."""
    alternatives = []
    for alternative in selector.split(","):
        steps = []
        for simple in alternative.split():
            tag = re.match(r"[a-z0-9]*", simple).group(0) or "*"
            conditions = []
            for class_name, element_id, attribute, value in _SIMPLE_PART.findall(
                simple[len(tag.strip("*")) :]
            ):
                if class_name:
                    conditions.append(
                        f"contains(concat(' ', normalize-space(@class), ' '), ' {class_name} ')"
                    )
                elif element_id:
                    conditions.append(f"@id='{element_id}'")
                elif value:
                    conditions.append(f"@{attribute}='{value}'")
                else:
                    conditions.append(f"@{attribute}")
            steps.append(tag + "".join(f"[{c}]" for c in conditions))
        alternatives.append("descendant-or-self::" + "/descendant::".join(steps))
    return " | ".join(alternatives)


def css(tree, selector: str) -> list:
    return tree.xpath(_xpath_of(selector))


def text_of(tree) -> str:
    return " ".join(tree.text_content().split())


def card_ids(tree) -> list[int]:
    """Product ids of the result cards, in page order."""
    ids = []
    for card in css(tree, "li.product-card"):
        href = css(card, "a")[0].get("href")
        ids.append(int(re.fullmatch(r"/p/(\d+)", href).group(1)))
    return ids


def api_ids(client, **query) -> list[int]:
    body = client.get("/api/v1/products", query_string={"per_page": 24, **query}).get_json()
    return [item["id"] for item in body["items"]]


def first_product_id(client, **query) -> int:
    return api_ids(client, **query)[0]


# ------------------------------------------------------------ language


@pytest.mark.parametrize(
    ("lang", "home_heading", "buy_button"),
    [("en", "Categories", "Add to cart"), ("ru", "Категории", "В корзину"),
     ("zh", "商品分类", "加入购物车")],
)  # fmt: skip
def test_every_page_speaks_the_asked_language(seeded_client, lang, home_heading, buy_button):
    product_id = first_product_id(seeded_client, category="honey")
    urls = [f"/?lang={lang}", f"/c/honey?lang={lang}", f"/search?q=tea&lang={lang}",
            f"/p/{product_id}?lang={lang}", f"/no-such-page?lang={lang}"]  # fmt: skip
    for url in urls:
        response, tree = page(seeded_client, url)
        assert response.status_code in (200, 404), url
        assert tree.get("lang") == lang, url
        assert css(tree, 'nav.languages button[aria-current="true"]')[0].get("lang") == lang
    _, home = page(seeded_client, f"/?lang={lang}")
    assert home_heading in [h.text_content().strip() for h in css(home, "h2")]
    _, product = page(seeded_client, f"/p/{product_id}?lang={lang}")
    assert product.get_element_by_id("add-to-cart").text_content().strip() == buy_button
    api_name = seeded_client.get(f"/api/v1/products/{product_id}?lang={lang}").get_json()["name"]
    assert css(product, "h1")[0].text_content().strip() == api_name


def csrf_token_of(tree) -> str:
    return css(tree, 'nav.languages input[name="csrf_token"]')[0].get("value")


def test_the_language_button_is_remembered_in_a_cookie(seeded_client):
    _, home = page(seeded_client, "/?lang=zh")
    response = seeded_client.post(
        "/choose", data={"csrf_token": csrf_token_of(home), "lang": "zh", "next": "/"}
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("pv_lang="))
    assert cookie.startswith("pv_lang=zh;")
    assert "SameSite=Lax" in cookie
    assert "Max-Age=31536000" in cookie
    _, tree = page(seeded_client, "/c/honey")  # no ?lang=: the cookie decides
    assert tree.get("lang") == "zh"
    _, tree = page(seeded_client, "/c/honey", headers={"Accept-Language": "ru"})
    assert tree.get("lang") == "zh", "a remembered choice beats the browser's default"


def test_accept_language_decides_without_a_choice_and_a_bad_lang_is_ignored(seeded_client):
    _, tree = page(seeded_client, "/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert tree.get("lang") == "ru"
    response, tree = page(seeded_client, "/?lang=fr", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 200
    assert tree.get("lang") == "zh"
    assert not any(c.startswith("pv_lang=") for c in response.headers.getlist("Set-Cookie"))


def test_language_buttons_keep_the_page_and_say_their_language(seeded_client):
    _, tree = page(seeded_client, "/c/honey?sort=price_asc&lang=en")
    buttons = {b.get("value"): b for b in css(tree, 'nav.languages button[name="lang"]')}
    assert set(buttons) == {"en", "ru", "zh"}
    for code, button in buttons.items():
        assert button.get("lang") == code
    target = urlsplit(css(tree, 'nav.languages input[name="next"]')[0].get("value"))
    assert target.path == "/c/honey"
    assert target.query == "sort=price_asc"  # the link's lang would hide the one chosen


# ------------------------------------------------------------ money


def test_prices_follow_the_chosen_currency_in_the_shoppers_format(seeded_client):
    product_id = first_product_id(seeded_client, category="honey")
    in_rub = seeded_client.get(f"/api/v1/products/{product_id}?currency=RUB").get_json()
    rub = Decimal(in_rub["price"]["amount"])
    _, tree = page(seeded_client, f"/p/{product_id}?lang=ru&currency=RUB")
    whole, cents = f"{rub:.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", "\u00a0")
    assert tree.get_element_by_id("price").text_content().strip() == f"{grouped},{cents}\u00a0₽"

    in_cny = seeded_client.get(f"/api/v1/products/{product_id}?currency=CNY").get_json()
    cny = Decimal(in_cny["price"]["amount"])
    _, tree = page(seeded_client, f"/p/{product_id}?lang=zh&currency=CNY")
    assert tree.get_element_by_id("price").text_content().strip() == f"¥{cny:,.2f}"


def test_the_currency_switch_is_a_labelled_form_and_its_choice_sticks(seeded_client):
    _, tree = page(seeded_client, "/?lang=en")
    select = tree.get_element_by_id("currency")
    assert css(tree, 'label[for="currency"]')
    assert {"CNY", "RUB", "KZT", "USD"} <= {o.get("value") for o in css(select, "option")}
    form = select.getparent()
    assert form.get("method") == "post"
    assert css(form, 'button[type="submit"]')

    response = seeded_client.post(
        "/choose",
        data={"csrf_token": csrf_token_of(tree), "currency": "KZT", "next": "/c/honey"},
        headers=HTML,
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/c/honey")
    _, tree = page(seeded_client, "/c/honey?lang=ru")
    prices = [p.text_content() for p in css(tree, ".product-card .price")]
    assert prices
    assert all(p.endswith("\u00a0KZT") for p in prices), prices


# ------------------------------------------------------------ home


def test_home_links_every_category_with_its_count_and_picture(seeded_client):
    categories = seeded_client.get("/api/v1/categories?lang=ru").get_json()["items"]
    response, tree = page(seeded_client, "/?lang=ru")
    assert response.status_code == 200
    cards = css(tree, "li.category-card a")
    assert len(cards) == len(categories) == 11
    for card, category in zip(cards, categories, strict=True):
        assert card.get("href") == f"/c/{category['slug']}"
        assert category["name"] in card.text_content()
        assert str(category["product_count"]) in css(card, ".count")[0].text_content()
        picture = css(card, "img")[0].get("src")
        assert seeded_client.get(picture).status_code == 200
    assert css(tree, "li.product-card"), "featured goods are shown"


def test_pages_are_private_to_the_shopper(seeded_client):
    response, _ = page(seeded_client, "/")
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert {"Cookie", "Accept-Language"} <= set(response.vary)


# ------------------------------------------------------------ listings


@pytest.mark.parametrize(("query", "lang"), [("honey", "en"), ("мёд", "ru"), ("蜂蜜", "zh")])
def test_search_finds_honey_in_each_language(seeded_client, query, lang):
    honey = set(api_ids(seeded_client, category="honey", per_page=100))
    response, tree = page(seeded_client, "/search", query_string={"q": query, "lang": lang})
    assert response.status_code == 200
    found = card_ids(tree)
    assert found
    assert set(found) & honey
    assert found == api_ids(seeded_client, q=query, lang=lang)
    assert tree.get_element_by_id("search").get("value") == query
    assert tree.get_element_by_id("search").get("type") == "search"


def test_category_filters_sort_and_match_the_catalog(seeded_client):
    query = {"country": "RU", "in_stock": "1", "sort": "price_desc"}
    _, tree = page(seeded_client, "/c/confectionery", query_string={**query, "lang": "en"})
    expected = api_ids(seeded_client, category="confectionery", country="RU", in_stock="true",
                       sort="-price", lang="en")  # fmt: skip
    assert card_ids(tree) == expected
    assert expected
    assert tree.get_element_by_id("in-stock").get("checked") is not None
    chosen = css(tree, "#filter-country option[selected]")[0]
    assert chosen.get("value") == "RU"


def test_price_range_is_in_the_shoppers_currency(seeded_client):
    query = {"min_price": "20", "max_price": "60", "currency": "CNY", "lang": "zh"}
    _, tree = page(seeded_client, "/search", query_string={"q": "", **query})
    expected = api_ids(seeded_client, min_price="20", max_price="60", currency="CNY", lang="zh")
    assert card_ids(tree) == expected
    assert expected
    for price in css(tree, ".product-card .price"):
        assert Decimal("20") <= Decimal(price.text_content().strip("¥").replace(",", "")) <= 60


def test_a_bad_price_box_is_pointed_out_not_refused(seeded_client):
    response, tree = page(seeded_client, "/c/honey?min_price=cheap&lang=en")
    assert response.status_code == 200
    box = tree.get_element_by_id("min-price")
    assert box.get("aria-invalid") == "true"
    assert tree.get_element_by_id(box.get("aria-describedby")).text_content().strip()
    assert card_ids(tree) == api_ids(seeded_client, category="honey", lang="en")


def test_pages_walk_through_the_results(seeded_client):
    everything = seeded_client.get("/api/v1/products?per_page=100&sort=name&lang=en").get_json()
    assert everything["total"] > 24
    _, first = page(seeded_client, "/search?q=&lang=en")
    _, second = page(seeded_client, "/search?q=&lang=en&page=2")
    ids = [item["id"] for item in everything["items"]]
    assert card_ids(first) == ids[:24]
    assert card_ids(second) == ids[24:48]
    next_link = css(first, '.pagination a[rel="next"]')[0].get("href")
    assert "page=2" in next_link
    assert css(second, '.pagination a[rel="prev"]')


def test_every_form_field_has_a_label(seeded_client):
    product_id = first_product_id(seeded_client)
    for url in ("/", "/c/honey", "/search?q=tea", f"/p/{product_id}", "/gone"):
        _, tree = page(seeded_client, url)
        for field in css(tree, "input, select, textarea"):
            if field.get("type") in ("hidden", "submit"):
                continue
            field_id = field.get("id")
            assert field_id, (url, field.get("name"))
            assert css(tree, f'label[for="{field_id}"]'), (url, field_id)
        levels = [int(h.tag[1]) for h in tree.iter("h1", "h2", "h3", "h4")]
        assert levels[0] == 1, (url, levels)
        assert levels.count(1) == 1, (url, levels)
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), (url, levels)


# ------------------------------------------------------------ product


@pytest.mark.parametrize(("country", "lang"), [("CN", "zh"), ("RU", "ru")])
def test_product_page_shows_the_delivery_window_to_the_shoppers_country(
    seeded_client, country, lang
):
    product_id = first_product_id(seeded_client, category="honey", in_stock="true")
    detail = seeded_client.get(
        f"/api/v1/products/{product_id}?lang={lang}&destination={country}"
    ).get_json()
    response, tree = page(seeded_client, f"/p/{product_id}?lang={lang}&country={country}")
    assert response.status_code == 200
    assert css(tree, "#ship-to option[selected]")[0].get("value") == country
    for sku in detail["skus"]:
        row = tree.get_element_by_id(f"sku-{sku['sku']}")
        option = next(a for a in sku["availability"] if a["country"] == country)
        cell = text_of(css(row, "td.delivery")[0])
        if sku["in_stock"] and option["deliverable"]:
            days = option["transit_days"]
            assert f"{days['min']}–{days['max']}" in cell
        else:
            assert "–" not in cell


def test_product_page_says_honestly_when_it_cannot_deliver(seeded_client):
    product_id = first_product_id(seeded_client, category="honey", in_stock="true")
    _, tree = page(seeded_client, f"/p/{product_id}?lang=en&country=BR")
    for cell in css(tree, "td.delivery"):
        assert "Not deliverable to Brazil" in text_of(cell) or "Out of stock" in text_of(cell)


def test_product_page_has_the_add_to_cart_form(seeded_client):
    product_id = first_product_id(seeded_client, in_stock="true")
    detail = seeded_client.get(f"/api/v1/products/{product_id}").get_json()
    _, tree = page(seeded_client, f"/p/{product_id}?lang=en")
    form = css(tree, "form.add-to-cart")[0]
    assert form.get("method") == "post"
    assert form.get("action") == "/cart/add"
    assert css(form, 'input[type="hidden"][name="csrf_token"]')[0].get("value")
    sku_field = css(form, '[name="sku"]')[0]
    if len(detail["skus"]) > 1:
        assert sku_field.tag == "select"
        assert {o.get("value") for o in css(sku_field, "option")} == {
            s["sku"] for s in detail["skus"]
        }
    else:
        assert sku_field.get("value") == detail["skus"][0]["sku"]
    quantity = tree.get_element_by_id("quantity")
    assert (quantity.get("type"), quantity.get("min"), quantity.get("value")) == (
        "number",
        "1",
        "1",
    )
    button = tree.get_element_by_id("add-to-cart")
    assert button.tag == "button"
    assert button.get("type") == "submit"
    facts = text_of(css(tree, "dl.facts")[0])
    assert detail["origin_country"]["name"] in facts
    assert f"{detail['skus'][0]['weight_g']} g" in text_of(tree)


def test_product_pictures_are_drawn_here_and_cached_for_long(seeded_client):
    product_id = first_product_id(seeded_client, category="tea-coffee")
    _, tree = page(seeded_client, f"/p/{product_id}")
    picture = css(tree, ".product-picture img")[0]
    assert picture.get("alt")
    response = seeded_client.get(picture.get("src"))
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    svg = lxml.etree.fromstring(response.data)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert seeded_client.get("/pictures/not-a-shelf/RU/1.svg", headers=HTML).status_code == 404


# ------------------------------------------------------------ errors


def test_unknown_product_and_category_are_404_pages_in_the_shops_look(seeded_client):
    for url in ("/p/999999?lang=ru", "/c/no-such-shelf?lang=ru", "/no/such/page?lang=ru"):
        response, tree = page(seeded_client, url)
        assert response.status_code == 404, url
        assert response.mimetype == "text/html"
        assert tree.get("lang") == "ru"
        assert css(tree, "header.site-header")
        assert css(tree, "main h1")
        assert css(tree, 'a[href="/"]')


def test_the_api_keeps_answering_problems(seeded_client):
    for url in ("/api/v1/products/999999", "/api/v1/nothing-here"):
        response = seeded_client.get(url, headers=HTML)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "not_found"
    # A client that asks for no HTML gets a problem even outside the API.
    response = seeded_client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.mimetype == "application/problem+json"


def test_a_storefront_post_without_the_csrf_token_is_refused(seeded_app):
    posts = [
        rule.rule
        for rule in seeded_app.url_map.iter_rules()
        if rule.endpoint.startswith("storefront.") and "POST" in rule.methods
    ]
    if not posts:
        pytest.skip("the storefront has no form that posts yet")
    client = seeded_app.test_client()
    for path in posts:
        url = re.sub(r"<[^>]+>", "1", path)
        response = client.post(url, data={"sku": "X", "quantity": "1"}, headers=HTML)
        assert response.status_code == 400, url
        assert response.mimetype == "text/html"
        assert "The form has expired" in response.get_data(as_text=True)


def test_the_error_page_renders_with_the_database_down():
    from tests.conftest import make_test_app

    # Nothing listens on port 1: every statement fails as with a database that is down.
    app = make_test_app("postgresql+psycopg://127.0.0.1:1/pavilion?connect_timeout=2")
    response = app.test_client().get("/", headers=HTML)
    assert response.status_code == 503
    tree = lxml.html.fromstring(response.get_data(as_text=True))
    assert css(tree, "header.site-header")
    assert css(tree, "main h1")
    assert css(tree, ".cart-count")[0].text_content().strip() == "0"
    assert response.headers["Retry-After"] == "5"


# ------------------------------------------------------------ the page loads nothing from elsewhere


def test_no_page_refers_to_another_host(seeded_client):
    product_id = first_product_id(seeded_client)
    for url in ("/", "/c/dairy", "/search?q=tea", f"/p/{product_id}", "/missing"):
        _, tree = page(seeded_client, url)
        for element in tree.iter():
            for attribute in ("src", "href", "action", "srcset", "poster", "data"):
                value = element.get(attribute)
                if value is None:
                    continue
                parts = urlsplit(value.strip())
                assert not parts.netloc, (url, value)
                assert parts.scheme in ("", "data"), (url, value)


# ------------------------------------------------------------ statement counts


def _add_products(count: int) -> None:
    from catalog.models import Category, Merchant
    from tests import factories
    from warehouse.models import Node

    honey = db.session.query(Category).filter_by(slug="honey").one()
    seller = db.session.query(Merchant).order_by(Merchant.id).first()
    warehouse = db.session.query(Node).filter_by(code="RU-WH").one()
    for n in range(count):
        factories.product(
            seller, honey, f"EXTRA-HONEY-{n}", en=f"Extra honey {n}", ru=f"Мёд {n}",
            zh=f"蜂蜜 {n}", skus=[(f"EXTRA-HONEY-{n}-250", "30.00", "CNY", {warehouse: 5})],
        )  # fmt: skip
    db.session.commit()


def test_home_and_category_pages_cost_the_same_statements_at_any_catalog_size(app):
    from shop.seed import seed_demo_pavilion

    with app.app_context():
        seed_demo_pavilion()
    client = app.test_client()
    urls = ("/?lang=ru", "/c/honey?lang=zh&sort=price_asc", "/search?q=honey&in_stock=1")

    def statements_per_page() -> dict[str, int]:
        counts = {}
        for url in urls:
            assert client.get(url, headers=HTML).status_code == 200  # rates and lanes cached
            with app.app_context(), count_statements(db.engine) as statements:
                assert client.get(url, headers=HTML).status_code == 200
            counts[url] = len(statements)
        return counts

    small = statements_per_page()
    with app.app_context():
        _add_products(60)
    large = statements_per_page()
    assert small == large
    assert all(n <= 3 for n in small.values()), small


def test_a_choice_the_page_did_not_take_is_not_remembered(seeded_client):
    response, tree = page(seeded_client, "/?currency=XYZ&lang=en")
    assert response.status_code == 200
    assert css(tree, "#currency option[selected]")[0].get("value") == "USD"
    assert not any(c.startswith("pv_currency=") for c in response.headers.getlist("Set-Cookie"))


def test_on_listings_country_is_the_origin_and_ship_to_the_destination(seeded_client):
    response, tree = page(seeded_client, "/c/honey?country=KZ&ship_to=RU&lang=en")
    assert css(tree, "#filter-country option[selected]")[0].get("value") == "KZ"
    assert css(tree, "#ship-to option[selected]")[0].get("value") == "RU"
    assert card_ids(tree) == api_ids(seeded_client, category="honey", country="KZ", lang="en")
    # Shown, not remembered: only the deliver-to form keeps a destination.
    assert not any(c.startswith("pv_country=") for c in response.headers.getlist("Set-Cookie"))
