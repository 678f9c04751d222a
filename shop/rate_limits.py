"""Rate limits on the endpoints worth guessing at or hammering: logins, checkouts,
lookups by a secret token, and operators issuing credentials.

One table, ``RATE_LIMITED_ENDPOINTS``, names each endpoint and the budget it
draws on; ``install_rate_limits`` wraps those view functions after every
blueprint is registered, so no view module knows about limits and a reader sees
every limit in one place. Counting is Flask-Limiter's, per client address
(``request.remote_addr``, which ProxyFix corrects when PAVILION_TRUSTED_PROXY_HOPS
is set), in the storage PAVILION_RATE_LIMIT_STORAGE_URL names: ``memory://`` (the
default) counts per process, so with several gunicorn workers or hosts each counts
alone (in production the app says so in its log at start); ``redis://host:6379/2``
shares the counts, and every instance of one shop must name the same one.

Settings are read from the app's config first, then from the environment:
``RATE_LIMITS`` (``on``/``off``; benchmarks and most tests run with ``off``),
``RATE_LIMIT_STORAGE_URL``, ``RATE_LIMIT_LOGIN``, ``RATE_LIMIT_CHECKOUT`` and
``RATE_LIMIT_TOKENS`` (each ``PAVILION_``-prefixed in the environment; limits in
Flask-Limiter's notation, e.g. ``10/minute;100/hour``).

A refused request is a 429 with ``Retry-After``: problem+json (code
``rate_limited``) on the API, the shop's error page in a browser; the staff and
admin pages draw their own 429 page through their blueprints' error handlers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from shop.core.errors import register_problem_types
from shop.errors import problem_response, storefront_page, wants_storefront_page

log = logging.getLogger(__name__)

DEFAULT_SETTINGS = {
    "RATE_LIMITS": "on",
    "RATE_LIMIT_STORAGE_URL": "memory://",
    # A person mistypes a password a few times; a script guessing tries thousands.
    "RATE_LIMIT_LOGIN": "10/minute;100/hour",
    # A shopper places an order every few minutes at most; each one reserves stock.
    "RATE_LIMIT_CHECKOUT": "20/minute",
    # Order numbers are short and sequential-looking: the token beside them is the
    # secret, and this keeps anyone from trying many of them quickly.
    "RATE_LIMIT_TOKENS": "30/minute",
}

# Which budget each endpoint draws on: (setting, HTTP methods counted, None = all).
RATE_LIMITED_ENDPOINTS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    # Passwords (the LoginAttempt throttle in warehouse/web.py also counts failures).
    "warehouse_pages.login": ("RATE_LIMIT_LOGIN", ("POST",)),
    # Operators issuing credentials: a stolen session must not mint tokens in bulk.
    "admin.MerchantTokens": ("RATE_LIMIT_LOGIN", ("POST",)),
    "admin.issue_staff_token": ("RATE_LIMIT_LOGIN", None),
    "admin.reset_staff_password": ("RATE_LIMIT_LOGIN", None),
    "admin_pages.issue_merchant_token": ("RATE_LIMIT_LOGIN", None),
    "admin_pages.reset_staff_password": ("RATE_LIMIT_LOGIN", None),
    # Checkouts.
    "orders.place_order": ("RATE_LIMIT_CHECKOUT", None),
    "storefront.place_order_from_form": ("RATE_LIMIT_CHECKOUT", ("POST",)),
    # Lookups by a token: an order's token, a cart's id.
    "orders.get_order": ("RATE_LIMIT_TOKENS", None),
    "storefront.order": ("RATE_LIMIT_TOKENS", None),
    "carts.OneCart": ("RATE_LIMIT_TOKENS", None),
    "carts.add_cart_line": ("RATE_LIMIT_TOKENS", None),
    "carts.change_cart_line": ("RATE_LIMIT_TOKENS", None),
}

register_problem_types({"rate_limited": "Too many requests from this client; see Retry-After."})


def rate_limit_setting(app: Flask, name: str) -> str:
    """A setting from the app's config, else ``PAVILION_<name>`` from the environment."""
    value = app.config.get(name)
    if value is None:
        value = os.environ.get(f"PAVILION_{name}", DEFAULT_SETTINGS[name])
    return str(value)


def rate_limits_enabled(app: Flask) -> bool:
    switch = rate_limit_setting(app, "RATE_LIMITS").strip().lower()
    if switch not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError(f"PAVILION_RATE_LIMITS must be on or off, not {switch!r}")
    return switch in ("on", "true", "1")


def install_rate_limits(app: Flask) -> Limiter | None:
    """Wrap the views in RATE_LIMITED_ENDPOINTS with their limits (call after every
    blueprint is registered). Off: nothing is installed, so nothing is counted."""
    if not rate_limits_enabled(app):
        return None
    storage = rate_limit_setting(app, "RATE_LIMIT_STORAGE_URL")
    if storage.startswith("memory://") and app.config.get("PAVILION_ENV") == "production":
        # Each gunicorn worker, on each instance, would allow the whole budget.
        log.warning(
            "rate limits count per process (PAVILION_RATE_LIMIT_STORAGE_URL=%s): with "
            "several workers or instances each allows the whole budget; point it at the "
            "Redis they share, e.g. redis://host:6379/2",
            storage,
        )
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage,
        key_prefix="pavilion",
        # Retry-After (and X-RateLimit-*) on the limited endpoints' answers.
        headers_enabled=True,
        # A Redis outage must not take checkout down with it: count nothing and log.
        swallow_errors=True,
    )
    for endpoint, (setting, methods) in RATE_LIMITED_ENDPOINTS.items():
        view = app.view_functions.get(endpoint)
        if view is None:  # a blueprint not registered in this app
            continue
        limit = rate_limit_setting(app, setting)
        app.view_functions[endpoint] = limiter.limit(
            limit, methods=list(methods) if methods else None, scope=endpoint
        )(_distinctly_named(endpoint, view))
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    return limiter


def _distinctly_named(endpoint: str, view: Callable[..., Any]) -> Callable[..., Any]:
    # Flask-Limiter keys a decorated limit by the view's qualified name, and every
    # MethodView's view function is the same `View.as_view.<locals>.view`: without a
    # name of its own, one endpoint's limit would be applied to all of them.
    @wraps(view)
    def limited_view(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    limited_view.__module__ = __name__
    limited_view.__qualname__ = f"limited[{endpoint}]"
    return limited_view


def _too_many_requests(error: RateLimitExceeded):
    log.warning("rate limit %s reached", error.description)
    # Registered for one exception, this handler is found by its status code before any
    # blueprint's HTTPException handler: hand the staff and admin pages back to theirs.
    for blueprint in request.blueprints:
        own_page = current_app.error_handler_spec.get(blueprint, {}).get(None, {})
        if HTTPException in own_page:
            return own_page[HTTPException](error)
    if wants_storefront_page():
        return storefront_page(429)
    return problem_response(
        429,
        "rate_limited",
        "Too many requests",
        f"This client sent more than {error.description}; retry after the Retry-After seconds.",
    )
