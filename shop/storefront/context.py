"""What every storefront page shares: who the shopper is to the page (language,
currency, where to deliver), its text in that language, prices as the
shopper reads them, CSRF on every form, and the cart cookie.

The shopper's choices come from the link first (``?lang=``, ``?currency=``,
``?country=``), then from the cookies that remember them, then from the
browser (``Accept-Language``), then from sensible defaults per language. A
page never refuses a bad choice: a person following an old link should still
get a page, so an unknown value is ignored, unlike in the JSON API.

A link's choice is shown, never remembered: any site can link here, so a link
that set the cookies would let another site change a shopper's currency or
destination. Only the switches' form (a POST to ``/choose`` with the CSRF
token) writes the cookies.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from babel.numbers import format_currency
from flask import Response, current_app, g, make_response, render_template, request, url_for
from markupsafe import Markup, escape

from catalog.money import Money
from shop.core.csrf import CSRF_FIELD, csrf_token, csrf_token_sent_is_valid
from shop.core.i18n import (
    SUPPORTED_LANGUAGES,
    UnsupportedLanguage,
    choose_language,
    country_codes,
    country_name,
)
from shop.storefront import storefront_bp
from shop.storefront.translations import translations_for

log = logging.getLogger(__name__)

LANG_COOKIE, CURRENCY_COOKIE, COUNTRY_COOKIE, CART_COOKIE = (
    "pv_lang",
    "pv_currency",
    "pv_country",
    "pv_cart",
)
PREFERENCE_COOKIE_AGE = 365 * 24 * 3600
CART_COOKIE_AGE = 30 * 24 * 3600

# Each language under its own name, in the order the pavilion lists them.
LANGUAGES = {"zh": "中文", "ru": "Русский", "en": "English"}
BABEL_LOCALES = {"zh": "zh_Hans_CN", "ru": "ru_RU", "en": "en_US"}
DEFAULT_CURRENCY = {"zh": "CNY", "ru": "RUB", "en": "USD"}
FALLBACK_CURRENCY = "CNY"  # the pavilion's home currency, which every rate reaches
# Pages where ``?country=`` means "made in", not "deliver to".
ORIGIN_FILTER_ENDPOINTS = frozenset({"storefront.category", "storefront.search"})
# Where the pavilion's shoppers are: Chinese and English readers mostly in China.
DEFAULT_COUNTRY = {"zh": "CN", "ru": "RU", "en": "CN"}
# The currencies of the SCO shoppers first in the switch, then any others the table has.
PREFERRED_CURRENCIES = ("CNY", "RUB", "KZT", "USD")

_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
# CLDR's currency spacing: a symbol that is letters (RUB, KZT) is kept apart from the digits.
_LETTERS_THEN_DIGIT = re.compile(r"([A-Za-z])(\d)")
_DIGIT_THEN_LETTERS = re.compile(r"(\d)([A-Za-z])")


@dataclass(frozen=True)
class ShopperPrefs:
    lang: str  # en | ru | zh
    currency: str  # ISO 4217, one the rate table can convert to
    country: str  # ISO 3166 alpha-2 "deliver to" country


# ------------------------------------------------------------ the shopper's choices


def _explicit_language() -> str | None:
    return _usable_language(request.args.get("lang"))


def _usable_language(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return choose_language(value, None)
    except UnsupportedLanguage:
        return None


def _known_language(value: str | None) -> str | None:
    return value if value in SUPPORTED_LANGUAGES else None


def offered_currencies() -> tuple[str, ...]:
    """The currencies the rate table can show prices in, SCO ones first.

    Without a database (an error page while it is down) only the home currency.
    """
    if g.get("storefront_without_database"):
        return (FALLBACK_CURRENCY,)
    try:
        from catalog.services import current_rates

        available = current_rates().table.currencies()
    except Exception:
        log.exception("rates unavailable for the currency switch")
        _recover_session()
        return (FALLBACK_CURRENCY,)
    first = [c for c in PREFERRED_CURRENCIES if c in available]
    return tuple(first + sorted(available - set(first)))


def _usable_currency(value: str | None, offered: tuple[str, ...]) -> str | None:
    if not value:
        return None
    value = value.strip().upper()
    return value if _CURRENCY_CODE.match(value) and value in offered else None


def _usable_country(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().upper()
    return value if _COUNTRY_CODE.match(value) and value in country_codes() else None


def prefs() -> ShopperPrefs:
    """The shopper's language, currency and destination for this request (cached on ``g``)."""
    cached = g.get("shopper_prefs")
    if cached is not None:
        return cached
    lang = (
        _explicit_language()
        or _known_language(request.cookies.get(LANG_COOKIE))
        or choose_language(None, request.headers.get("Accept-Language"))
    )
    offered = offered_currencies()
    default_currency = DEFAULT_CURRENCY[lang]
    currency = (
        _usable_currency(request.args.get("currency"), offered)
        or _usable_currency(request.cookies.get(CURRENCY_COOKIE), offered)
        or (default_currency if default_currency in offered else FALLBACK_CURRENCY)
    )
    country = (
        _usable_country(_explicit_destination())
        or _usable_country(request.cookies.get(COUNTRY_COOKIE))
        or DEFAULT_COUNTRY[lang]
    )
    g.shopper_prefs = ShopperPrefs(lang, currency, country)
    return g.shopper_prefs


def _explicit_destination() -> str | None:
    # On listing pages ``country`` filters by origin; ``ship_to`` names the destination anywhere.
    if request.args.get("ship_to"):
        return request.args["ship_to"]
    if request.endpoint in ORIGIN_FILTER_ENDPOINTS:
        return None
    return request.args.get("country")


def remember_choices(response: Response, sent: Mapping[str, str]) -> None:
    """Keep the switches' choices (``lang``, ``currency``, ``country`` as the
    destination) in cookies on ``response``. The caller has checked the CSRF token.
    Only a value a page would take is kept: ``currency=XYZ`` changes nothing."""
    usable = {
        LANG_COOKIE: _usable_language(sent.get("lang")),
        CURRENCY_COOKIE: _chosen_currency(sent.get("currency")),
        COUNTRY_COOKIE: _usable_country(sent.get("country")),
    }
    for cookie, value in usable.items():
        if value is not None:
            response.set_cookie(
                cookie,
                value,
                max_age=PREFERENCE_COOKIE_AGE,
                samesite="Lax",
                secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
                httponly=True,
            )


def choices_for_link(sent: Mapping[str, str]) -> dict[str, str]:
    """The usable choices in ``sent`` as a page's link names them (the destination is
    ``ship_to``, which means the destination on every page), to show without keeping."""
    found = {
        "lang": _usable_language(sent.get("lang")),
        "currency": _chosen_currency(sent.get("currency")),
        "ship_to": _usable_country(sent.get("country")),
    }
    return {name: value for name, value in found.items() if value is not None}


def _chosen_currency(value: str | None) -> str | None:
    # The rates are read only when a currency was sent.
    return _usable_currency(value, offered_currencies()) if value else None


def return_path(choice: str) -> str:
    """This page's address for a switch's ``next``, without the link's own value for what
    the switch sets (``lang``, ``currency`` or ``destination``): a link's choice wins
    over the cookie, so coming back with it would hide the choice just remembered."""
    dropped = {
        "lang": ("lang",),
        "currency": ("currency",),
        "destination": ("ship_to",)
        if request.endpoint in ORIGIN_FILTER_ENDPOINTS
        else ("ship_to", "country"),
    }[choice]
    return url_with(**dict.fromkeys(dropped))


@storefront_bp.after_request
def _pages_depend_on_the_shopper(response: Response) -> Response:
    """Say that pages depend on the shopper's choices (no shared cache may serve one
    shopper's page to another). Public responses (pictures) depend on nothing of the
    shopper."""
    if not response.cache_control.public:
        _mark_private(response)
    return response


def _mark_private(response: Response) -> None:
    if not response.cache_control.no_store:
        response.headers["Cache-Control"] = "private, no-cache"
    response.vary.update(("Cookie", "Accept-Language"))


# ------------------------------------------------------------ text and money


def gettext(message: str, **values: Any) -> str:
    """``message`` (English) in the shopper's language, with ``{name}`` fields filled."""
    text = translations_for(prefs().lang).gettext(message)
    return text.format(**values) if values else text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the shopper's language
    (Russian has three); ``{n}`` and other fields are filled."""
    text = translations_for(prefs().lang).ngettext(singular, plural, n)
    return text.format(n=n, **values)


def format_money(money: Mapping[str, Any] | Money | None, lang: str | None = None) -> str:
    """A price as the shopper reads it: ``¥18.50`` (zh), ``1 234,50 ₽`` (ru), ``$1,234.50`` (en).

    Takes what the services return (``{"amount": "18.5", "currency": "CNY"}``) or a Money.
    """
    if money is None:
        return "—"
    if isinstance(money, Money):
        amount, currency = money.amount, money.currency
    else:
        amount, currency = Decimal(str(money["amount"])), str(money["currency"])
    locale = BABEL_LOCALES.get(lang or prefs().lang, BABEL_LOCALES["en"])
    text = format_currency(amount, currency, locale=locale)
    text = _LETTERS_THEN_DIGIT.sub("\\1\u00a0\\2", text)
    return _DIGIT_THEN_LETTERS.sub("\\1\u00a0\\2", text)


# ------------------------------------------------------------ the cart cookie


def current_cart() -> tuple[str, str] | None:
    """The shopper's (cart id, cart token) from the ``pv_cart`` cookie, if any."""
    value = request.cookies.get(CART_COOKIE, "")
    cart_id, dot, token = value.partition(".")
    if not dot or not cart_id or not token or len(value) > 200:
        return None
    return cart_id, token


def remember_cart(response: Response, cart_id: str, token: str) -> None:
    """Tie the cart to this browser. The token is the key to the cart: httpOnly, so
    no script can read it; SameSite=Lax; Secure in production."""
    response.set_cookie(
        CART_COOKIE,
        f"{cart_id}.{token}",  # token_urlsafe never contains a dot
        max_age=CART_COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )


def forget_cart(response: Response) -> None:
    response.delete_cookie(
        CART_COOKIE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )


def cart_unit_count() -> int:
    """Units in the shopper's cart, for the header: one query, 0 without a (valid) cart.

    Fails soft: the header of an error page must render with the database down.
    """
    found = current_cart()
    if found is None or g.get("storefront_without_database"):
        return 0
    cart_id, token = found
    try:
        from orders.carts import unit_count

        return unit_count(cart_id, token)
    except Exception:
        log.exception("cart count unavailable")
        _recover_session()
        return 0


def _recover_session() -> None:
    # After a failed statement PostgreSQL refuses the rest of the transaction.
    try:
        from shop.core.extensions import db

        db.session.rollback()
    except Exception:
        log.exception("rollback after a failed storefront read failed")


# ------------------------------------------------------------ rendering


def render(template: str, status: int = 200, **context: Any) -> Response:
    """A page: the template rendered with ``context``, private to the shopper."""
    if request.blueprint != storefront_bp.name:
        # An error page for a URL no route matched: the blueprint's context
        # processor only runs for its own routes.
        context = {**_page_context(), **context}
    response = make_response(render_template(template, **context), status)
    _mark_private(response)
    return response


def csrf_field() -> Markup:
    """The hidden input every storefront form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token())
    )


def url_with(**args: Any) -> str:
    """This page's URL with the given query arguments replaced (``None`` removes one)."""
    query = request.args.copy()
    for name, value in args.items():
        query.pop(name, None)
        if value is not None and value != "":
            query[name] = str(value)
    base = request.script_root + request.path
    encoded = "&".join(
        f"{_quote(name)}={_quote(value)}" for name, values in query.lists() for value in values
    )
    return f"{base}?{encoded}" if encoded else base


def path_with(path: str, args: Mapping[str, str]) -> str:
    """``path`` (a path on this site, with or without a query) with ``args`` replacing
    the query arguments of the same names."""
    base, _, query = path.partition("?")
    kept = [(n, v) for n, v in parse_qsl(query, keep_blank_values=True) if n not in args]
    encoded = "&".join(f"{_quote(n)}={_quote(v)}" for n, v in [*kept, *args.items()])
    return f"{base}?{encoded}" if encoded else base


def typed_text(value: str | None, max_length: int) -> str:
    """What a shopper typed in a box, without control characters (PostgreSQL refuses a
    NUL in text, and no product name holds one), trimmed and at most ``max_length``."""
    kept = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in value or "")
    return kept.strip()[:max_length]


def safe_return_path(candidate: str | None, fallback: str = "/") -> str:
    """A path on this site to go back to; anything else (``//host``, ``/\\host``, a URL)
    is ``fallback``."""
    if (
        not candidate
        or len(candidate) > 2000
        or not candidate.startswith("/")
        or candidate.startswith("//")
        or any(ch in candidate for ch in "\\\r\n\t")
    ):
        return fallback
    return candidate


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def ship_to_countries() -> list[str]:
    """The countries some active lane delivers to, in the order of their names in the
    page language, and the shopper's own choice even if no lane serves it (the
    product page then says so). Without the database, only that choice."""
    chosen = prefs()
    codes: set[str] = {chosen.country}
    if not g.get("storefront_without_database"):
        try:
            from warehouse.services import routing_world

            codes.update(routing_world().destinations)
        except Exception:
            log.exception("lanes unavailable for the deliver-to switch")
            _recover_session()
    return sorted(codes, key=lambda code: country_name(code, chosen.lang))


def localized_country_name(code: str) -> str:
    return country_name(code, prefs().lang)


@storefront_bp.app_template_filter("money")
def _money_filter(money: Mapping[str, Any] | Money | None) -> str:
    return format_money(money)


@storefront_bp.context_processor
def _page_context() -> dict[str, Any]:
    shopper = prefs()
    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        "prefs": shopper,
        "money": format_money,
        "csrf_field": csrf_field,
        "country_name": localized_country_name,
        "languages": LANGUAGES,
        "currencies": offered_currencies(),
        "ship_to_countries": ship_to_countries(),
        "cart_count": cart_unit_count(),
        "url_with": url_with,
        "return_path": return_path,
    }


# ------------------------------------------------------------ CSRF


@storefront_bp.before_request
def _require_csrf_token() -> Response | None:
    """Every form the storefront takes carries the session's token (shop.core.csrf)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if csrf_token_sent_is_valid():
        return None
    log.warning("storefront CSRF token missing or wrong on %s %s", request.method, request.path)
    return error_page(
        400, gettext("The form has expired. Please go back, reload the page and try again.")
    )


def error_page(status: int, message: str | None = None) -> Response:
    """The storefront's error page (error.html in the shop's look) for ``status``."""
    return render(
        "storefront/error.html",
        status=status,
        error_status=status,
        message=message or default_error_message(status),
        home_url=url_for("storefront.home"),
        request_id=g.get("request_id") if status >= 500 else None,
    )


def error_page_without_database(status: int) -> Response:
    """An error page that reads nothing from the database (it may be what failed):
    no cart count, the home currency only. If even that cannot be drawn, plain HTML."""
    g.storefront_without_database = True
    try:
        return error_page(status)
    except Exception:
        log.exception("the storefront error page itself failed")
        response = make_response(
            f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Error {status}</title>'
            f"<h1>Error {status}</h1><p>Something went wrong. Please try again later.</p>"
            '<p><a href="/">SCO Pavilion</a></p></html>',
            status,
        )
        _mark_private(response)
        return response


def default_error_message(status: int) -> str:
    messages = {
        400: gettext("The request could not be processed."),
        404: gettext(
            "We could not find this page. It may have moved, or the product is no longer sold."
        ),
        405: gettext("This page does not take that kind of request."),
        414: gettext("This link is too long to open. Go back and try a shorter search."),
        429: gettext("Too many requests. Please wait a moment and try again."),
        503: gettext("The shop is briefly unavailable. Please try again in a minute."),
    }
    if status in messages:
        return messages[status]
    if status < 500:
        return messages[400]
    return gettext("Something went wrong on our side. Please try again later.")
