"""The storefront: server-rendered pages for shoppers, in zh, ru and en.

One blueprint, ``storefront``, whose routes live in modules over the same
services as the JSON API (no second copy of catalog, cart, duty or order
logic): ``browse`` (home, categories, search, product pages, pictures),
``cart_pages``, ``checkout_pages`` and ``order_pages``; ``order_wording`` is how
orders read to shoppers on the last two. ``context`` holds what every page
shares: the shopper's language, currency and destination, translations, price
formatting, CSRF and the cart cookie.
"""

from __future__ import annotations

from flask import Blueprint, Flask

storefront_bp = Blueprint("storefront", __name__)


def register_storefront(app: Flask) -> None:
    # Importing the modules attaches their routes and hooks to the blueprint.
    from shop.storefront import browse, cart_pages, checkout_pages, context, order_pages  # noqa: F401

    app.register_blueprint(storefront_bp)
