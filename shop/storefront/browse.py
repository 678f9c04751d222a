"""Browsing pages: the pavilion's home, a category, search results, a product,
and the pictures they show. Thin views over catalog.services, the same reads
the JSON API makes; a page reads in one transaction and never writes.

Unlike the API, a page does not answer a bad query argument with 422: a price
box with letters in it is pointed out next to the box and the rest of the
page still shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, abort, redirect, request

from catalog import services
from orders.pricing import MAX_QUANTITY
from shop.core.i18n import country_codes, country_name
from shop.storefront import storefront_bp
from shop.storefront.context import (
    choices_for_link,
    error_page,
    gettext,
    path_with,
    prefs,
    remember_choices,
    render,
    safe_return_path,
    typed_text,
)
from shop.storefront.pictures import (
    PICTURE_NAMES,
    category_picture_url,
    product_picture_svg,
    product_picture_url,
)

PER_PAGE = 24
FEATURED_COUNT = 8
MAX_PAGE = 10_000
MAX_QUERY_LENGTH = 200
MAX_PRICE = Decimal("100000000")

# The page's sort names (readable in a link) and the catalog's.
SORTS = {
    "name": "name",
    "name_desc": "-name",
    "price_asc": "price",
    "price_desc": "-price",
    "newest": "newest",
}
# The catalog's own names are accepted too, for links written against the API.
SORT_ALIASES = {"-name": "name_desc", "price": "price_asc", "-price": "price_desc"}

# Where the pavilion's goods come from: the SCO member states and Mongolia (an
# observer whose merchants sell here). Offered as the origin filter whatever the
# page shows, so the filter does not cost a query of its own.
ORIGIN_COUNTRIES = ("BY", "CN", "IN", "IR", "KG", "KZ", "MN", "PK", "RU", "TJ", "UZ")


@dataclass
class ListingFilters:
    """What a category or search page was asked for, checked; ``errors`` names
    each box whose value was ignored."""

    q: str = ""
    country: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool = False
    sort: str = "name"
    page: int = 1
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def any_filter(self) -> bool:
        return bool(self.country or self.min_price is not None or self.max_price is not None
                    or self.in_stock)  # fmt: skip


def _price_arg(name: str, filters: ListingFilters) -> Decimal | None:
    raw = request.args.get(name, "").strip().replace(",", ".").replace(" ", "")
    filters.raw[name] = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value > MAX_PRICE:
        filters.errors[name] = gettext("Enter an amount such as 25 or 99.50.")
        return None
    return value


def read_listing_filters() -> ListingFilters:
    filters = ListingFilters()
    filters.q = typed_text(request.args.get("q"), MAX_QUERY_LENGTH)
    country = request.args.get("country", "").strip().upper()
    if country in country_codes():
        filters.country = country
    filters.min_price = _price_arg("min_price", filters)
    filters.max_price = _price_arg("max_price", filters)
    if (
        filters.min_price is not None
        and filters.max_price is not None
        and filters.min_price > filters.max_price
    ):
        filters.errors["max_price"] = gettext("The highest price is below the lowest.")
        filters.max_price = None
    filters.in_stock = request.args.get("in_stock") in ("1", "on", "true")
    sort = request.args.get("sort", "name")
    sort = SORT_ALIASES.get(sort, sort)
    filters.sort = sort if sort in SORTS else "name"
    filters.page = _page_number(request.args.get("page", ""))
    return filters


def _page_number(text: str) -> int:
    """The asked page, 1 for anything that is not one. Only ASCII digits, and few of
    them: ``str.isdigit`` also accepts "²", and ``int`` refuses over 4300 digits."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_PAGE)):
        return 1
    return min(max(int(text), 1), MAX_PAGE)


def _product_page(filters: ListingFilters, category: str | None) -> dict[str, Any]:
    shopper = prefs()
    return services.list_products(
        services.ProductQuery(
            lang=shopper.lang,
            currency=shopper.currency,
            category=category,
            country=filters.country,
            q=filters.q or None,
            min_price=filters.min_price,
            max_price=filters.max_price,
            in_stock=True if filters.in_stock else None,
            page=filters.page,
            per_page=PER_PAGE,
            sort=SORTS[filters.sort],
        )
    )


def _with_pictures(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        item["picture"] = product_picture_url(
            item["id"], item["category"]["slug"], item["origin_country"]["code"]
        )
    return items


# ------------------------------------------------------------ pages


@storefront_bp.get("/")
def home() -> Response:
    """The pavilion: its categories with their counts and pictures, and featured goods."""
    shopper = prefs()
    categories = services.list_categories(shopper.lang)["items"]
    for category in categories:
        category["picture"] = category_picture_url(category["slug"])
    product_total = sum(c["product_count"] for c in categories)
    return render(
        "storefront/home.html",
        categories=categories,
        featured=_with_pictures(featured_goods()),
        product_total=product_total,
    )


def featured_goods() -> list[dict[str, Any]]:
    """A shelf of goods in stock that changes every day: the first page of the
    catalog in one of its orders, a different order each day. One query, whatever
    the day or the size of the catalog."""
    shopper = prefs()
    orders = services.SORTS
    return services.list_products(
        services.ProductQuery(
            lang=shopper.lang,
            currency=shopper.currency,
            in_stock=True,
            per_page=FEATURED_COUNT,
            sort=orders[services.today_utc().toordinal() % len(orders)],
        )
    )["items"]


@storefront_bp.get("/c/<slug>")
def category(slug: str) -> Response:
    """One category's goods: filters, sorting and pages."""
    categories = services.list_categories(prefs().lang)["items"]
    current = next((c for c in categories if c["slug"] == slug), None)
    if current is None:
        return error_page(404)
    return _listing_page(categories, current)


@storefront_bp.get("/search")
def search() -> Response:
    """Search results across the pavilion (zh, ru and en text), with the same filters."""
    return _listing_page(services.list_categories(prefs().lang)["items"], None)


def _listing_page(categories: list[dict[str, Any]], current: dict[str, Any] | None) -> Response:
    """A category's goods (``current``) or the whole pavilion's, as the query filters them."""
    filters = read_listing_filters()
    page = _product_page(filters, current["slug"] if current else None)
    return render(
        "storefront/listing.html",
        category=current,
        categories=categories,
        filters=filters,
        results=page,
        items=_with_pictures(page["items"]),
        origin_countries=_origin_choices(filters),
        search_query=filters.q,
        sorts=SORTS,
    )


def _origin_choices(filters: ListingFilters) -> list[str]:
    """The origin filter's countries in the order of their names in the page language."""
    codes = set(ORIGIN_COUNTRIES)
    if filters.country:
        codes.add(filters.country)
    lang = prefs().lang
    return sorted(codes, key=lambda code: country_name(code, lang))


@storefront_bp.get("/p/<int(max=2147483647):product_id>")
def product(product_id: int) -> Response:
    """A product: its text in the shopper's language, price in their currency, and
    whether and when each SKU reaches the shopper's country."""
    shopper = prefs()
    found = services.get_product(
        product_id, shopper.lang, shopper.currency, destination=shopper.country
    )
    for sku in found["skus"]:
        sku["delivery"] = next(
            (a for a in sku["availability"] if a["country"] == shopper.country), None
        )
    return render(
        "storefront/product.html",
        product=found,
        max_quantity=MAX_QUANTITY,
        picture=product_picture_url(
            found["id"], found["category"]["slug"], found["origin_country"]["code"]
        ),
    )


@storefront_bp.route("/choose", methods=["GET", "POST"])
def choose() -> Response:
    """Where the language, currency and deliver-to switches post their choice: it is
    remembered in cookies and the shopper goes back to the page they were on (``next``).

    The form carries the CSRF token (checked before any storefront POST), so another
    site cannot change a shopper's settings. A GET, an old bookmark or a link from
    elsewhere, remembers nothing: it goes to ``next`` with the choice in the link,
    which shows that page with it as any shared link does, and the switches are there
    to keep it.
    """
    if request.method == "POST":
        response = redirect(safe_return_path(request.form.get("next")), code=303)
        remember_choices(response, request.form)
        return response
    target = safe_return_path(request.args.get("next"))
    return redirect(path_with(target, choices_for_link(request.args)), code=303)


@storefront_bp.get("/pictures/<slug>/<origin>/<int(max=2147483647):product_id>.svg")
def product_picture(slug: str, origin: str, product_id: int) -> Response:
    """A product's picture, drawn from its category's art, tinted per product and
    labelled with its origin. Everything it shows is in the URL, so it is the same
    for everyone forever: cached for a year, no database read."""
    if slug not in PICTURE_NAMES or origin not in country_codes():
        abort(404)
    response = Response(product_picture_svg(slug, origin, product_id), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
