"""Cart pages: the cart, putting a SKU in it, changing and removing its lines. The
cart is orders.carts'; the page finds it through the ``pv_cart`` cookie (context)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Response, flash, redirect, request, url_for

from orders import carts
from orders.pricing import MAX_QUANTITY, WantedLine
from shop.core.errors import DomainError, NotFound, ValidationFailed
from shop.storefront import storefront_bp
from shop.storefront.checkout_form import problem_message
from shop.storefront.context import (
    current_cart,
    forget_cart,
    gettext,
    localized_country_name,
    prefs,
    remember_cart,
    render,
    safe_return_path,
    typed_text,
)


@storefront_bp.post("/cart/add")
def add_to_cart() -> Response:
    """Put units of a SKU in the shopper's cart, making the cart (and its cookie) if
    there is none yet."""
    sku = typed_text(request.form.get("sku"), 64)
    quantity = _quantity(request.form.get("quantity", "1"), minimum=1)
    if not sku or quantity is None:
        flash(gettext("Choose a quantity from 1 to {max}.", max=MAX_QUANTITY), "error")
        return redirect(_back_url(), 303)
    line = WantedLine(sku, quantity)
    response = redirect(url_for("storefront.cart"), 303)
    found = current_cart()
    try:
        if found is not None:
            try:
                carts.add_line(*found, line)
            except NotFound:  # the cookie outlived its cart
                found = None
        if found is None:
            made = carts.create_cart(prefs().currency, [line])
            remember_cart(response, made.id, made.token)
    except DomainError as refused:
        flash(_cart_problem(refused), "error")
        return redirect(_back_url(), 303)
    flash(gettext("Added to your cart."), "success")
    return response


@storefront_bp.get("/cart")
def cart() -> Response:
    """The cart: lines with their quantities and prices, the goods total, and the way
    to checkout."""
    document = cart_document()
    response = render("storefront/cart.html", cart=document, max_quantity=MAX_QUANTITY)
    if document is None and current_cart() is not None:
        forget_cart(response)
    return response


@storefront_bp.post("/cart/lines/<int(max=2147483647):line_id>")
def update_cart_line(line_id: int) -> Response:
    """Set a line's quantity (0 removes it)."""
    quantity = _quantity(request.form.get("quantity", ""), minimum=0)
    if quantity is None:
        flash(gettext("Choose a quantity from 0 to {max}.", max=MAX_QUANTITY), "error")
    else:
        _change_cart(carts.set_line_quantity, line_id, quantity)
    return redirect(url_for("storefront.cart"), 303)


@storefront_bp.post("/cart/lines/<int(max=2147483647):line_id>/remove")
def remove_cart_line(line_id: int) -> Response:
    """Take a line out of the cart."""
    _change_cart(carts.remove_line, line_id)
    return redirect(url_for("storefront.cart"), 303)


def _change_cart(change: Callable[..., None], *args: Any) -> None:
    """``change(cart_id, token, *args)`` on the shopper's cart, its outcome flashed."""
    found = current_cart()
    if found is None:
        flash(gettext("Your cart is empty."), "error")
        return
    try:
        change(*found, *args)
    except DomainError as refused:
        flash(_cart_problem(refused), "error")
    else:
        flash(gettext("Your cart is updated."), "success")


def cart_document(**quote: Any) -> dict[str, Any] | None:
    """The shopper's cart priced in their currency (None without a live cart)."""
    found = current_cart()
    if found is None:
        return None
    try:
        return carts.cart_document(*found, lang=prefs().lang, currency=prefs().currency, **quote)
    except NotFound:
        return None


def _quantity(text: str | None, *, minimum: int) -> int | None:
    try:
        quantity = int((text or "").strip())
    except ValueError:
        return None
    return quantity if minimum <= quantity <= MAX_QUANTITY else None


def _cart_problem(refused: DomainError) -> str:
    if isinstance(refused, NotFound):
        return gettext("That line is no longer in your cart.")
    if isinstance(refused, ValidationFailed) and any(
        path.endswith("sku") for path in refused.errors or {}
    ):
        return gettext("This product is not on sale any more.")
    if isinstance(refused, ValidationFailed) and "lines" in (refused.errors or {}):
        return gettext("Your cart is full. Check out or remove something first.")
    return problem_message(refused.body(), gettext, localized_country_name)


def _back_url() -> str:
    """Where the shopper came from, if it was this shop; else the cart. The path is
    checked as /choose checks ``next``: ``http://shop//evil.example/`` is this host,
    yet its path alone would send the browser to another site."""
    came_from = urlsplit(request.referrer or "")
    if came_from.netloc != request.host:
        return url_for("storefront.cart")
    path = came_from.path + (f"?{came_from.query}" if came_from.query else "")
    return safe_return_path(path, fallback=url_for("storefront.cart"))
