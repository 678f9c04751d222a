"""Shopping pages: the cart, checkout and the order, over the services the JSON API uses
(orders.carts, orders.checkout, orders.services); no rule of theirs is copied here.

The browser holds two secrets, each in an httpOnly cookie: the cart's token
(``pv_cart``, see context) and, after checkout, the order's token
(``pv_order``, scoped to that order's path). The order e-mail's link carries
the token as ``?token=``: the page moves it into the cookie and redirects to
the clean URL, so it does not stay in the address bar or the history.

The checkout form carries a one-time key (``checkout_key``) that goes through
the API's Idempotency-Key machinery: a second press of "Place order" lands on
the order the first one made.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date
from flask import Response, current_app, flash, redirect, request, url_for
from sqlalchemy import select

from catalog.models import Product, Sku
from orders import carts, checkout, lifecycle, payments_service, services
from orders.customs import requires_customs_identity
from orders.pricing import MAX_QUANTITY, WantedLine
from shop.core.clock import utcnow
from shop.core.errors import DomainError, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_codes
from shop.core.idempotency import derived_secret, idempotent
from shop.core.web_hardening import SECURITY_HEADERS
from shop.storefront import storefront_bp
from shop.storefront.checkout_form import (
    CheckoutForm,
    check_order_body,
    order_body,
    place_errors,
    problem_message,
)
from shop.storefront.context import (
    BABEL_LOCALES,
    current_cart,
    error_page,
    forget_cart,
    format_money,
    gettext,
    localized_country_name,
    ngettext,
    prefs,
    remember_cart,
    render,
    safe_return_path,
    ship_to_countries,
    typed_text,
)

ORDER_COOKIE = "pv_order"
# Parcels take weeks; the e-mail link sets the cookie again when it has gone.
ORDER_COOKIE_AGE = 90 * 24 * 3600
CHECKOUT_KEY_FIELD = "checkout_key"
UPDATE_TOTALS_FIELD = "update_totals"
# The grand total the summary showed ("1090.00 CNY"), sent back with the form.
SHOWN_TOTAL_FIELD = "shown_total"
ORDER_NUMBER = "string(maxlength=32)"

# The nodes of the seeded pavilion, as a shopper reads them; others show their code.
NODE_NAMES = {
    "RU-WH": "Russian overseas warehouse",
    "RU-USS": "Ussuriysk depot (Russia)",
    "CN-SFH": "Suifenhe depot (China)",
    "CN-URC": "Urumqi depot (China)",
}
ORDER_STATUS_LABELS = {
    "pending_payment": "Awaiting payment",
    "paid": "Paid",
    "fulfilling": "Being prepared",
    "partially_shipped": "Partly shipped",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
    "partially_refunded": "Partly refunded",
    "expired": "Expired: not paid in time",
}
SHIPMENT_STATUS_LABELS = {
    "awaiting_payment": "Awaiting payment",
    "ready_to_pick": "Waiting to be packed",
    "picking": "Being picked",
    "packed": "Packed",
    "booking_requested": "Being handed to the carrier",
    "shipped": "Parcel shipped",
    "in_transit": "On its way",
    "delivered": "Parcel delivered",
    "returned": "Parcel returned",
    "cancelled": "Parcel cancelled",
    "rerouted": "Moved to another warehouse",
}
PAYMENT_STATUS_LABELS = {
    "creating": "Payment being set up",
    "requires_action": "Waiting for your payment",
    "pending": "Waiting for your payment",
    "succeeded": "Payment received",
    "failed": "Payment failed",
    "canceled": "Payment cancelled",
    "unavailable": "The payment service did not answer",
}
PAYMENT_METHOD_LABELS = {
    "manual": "Bank transfer or cash on delivery",
    "stripe": "Card (Stripe)",
}


# ------------------------------------------------------------------ the cart


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
    document = _cart_document()
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


def _cart_document(**quote: Any) -> dict[str, Any] | None:
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


# ------------------------------------------------------------------ checkout


@storefront_bp.get("/checkout")
def checkout_page() -> Response:
    """The checkout form, with the cart quoted for the chosen destination: shipments,
    delivery windows, shipping, duties and taxes, and the grand total."""
    form = CheckoutForm.from_form(request.args)
    return _checkout_page(form)


@storefront_bp.get("/checkout/summary")
def checkout_summary() -> Response:
    """The summary block alone, for checkout.js to swap in when the destination changes."""
    form = CheckoutForm.from_form(request.args)
    _default_choices(form)
    return render("storefront/_checkout_summary.html", **_summary_context(form))


@storefront_bp.post("/checkout")
def place_order_from_form() -> Response:
    """Place the order: the cart, this form, the shopper's currency and language."""
    form = CheckoutForm.from_form(request.form)
    if UPDATE_TOTALS_FIELD in request.form:
        # The no-script way to see the totals for another destination: the form again,
        # with what was typed (but the ID number, which is not sent back).
        return _checkout_page(form)
    try:
        return _place_order_once(form)
    except DomainError as refused:
        if refused.errors and not refused.code.startswith("idempotency"):
            place_errors(form, refused.errors, gettext)  # e.g. an unknown payment adapter
        else:
            form.problems.append(problem_message(refused.body(), gettext, localized_country_name))
        status = refused.status if 400 <= refused.status < 500 else 422
        return _checkout_page(form, status=status)


def _form_fingerprint() -> bytes:
    return json.dumps(sorted(request.form.items(multi=True))).encode()


def _recover_placed_order(number: str) -> Response:
    """The same form was sent again after its order was made: go to that order (its
    token is derived from the form's key, as the first answer's was)."""
    return _to_placed_order(number, derived_secret("token") or "")


@idempotent(
    recover=_recover_placed_order,
    key_from=lambda: request.form.get(CHECKOUT_KEY_FIELD),
    body_from=_form_fingerprint,
)
def _place_order_once(form: CheckoutForm) -> Response:
    found = current_cart()
    if found is None:
        raise ValidationFailed(errors={"cart_id": ["The cart is empty."]})
    cart_id, cart_token = found
    today = utcnow().date()
    body = order_body(form, cart_id=cart_id, currency=prefs().currency, today=today)
    loaded, errors = check_order_body(body, today)
    if errors:
        raise ValidationFailed(errors=errors)
    _check_the_total_seen(form)
    placed = checkout.place_order(
        checkout.CheckoutRequest(
            currency=loaded["currency"],
            email=loaded["email"],
            shipping_address=loaded["shipping_address"],
            payment_adapter=loaded["payment"]["adapter"],
            cart_id=cart_id,
            cart_token=cart_token,
            customs_identity=loaded.get("customs_identity"),
            lang=prefs().lang,
        )
    )
    return _to_placed_order(placed.number, placed.token)


def _check_the_total_seen(form: CheckoutForm) -> None:
    """The shopper agrees to the total the summary showed them; if the order would cost
    anything else (the cart or the currency changed in another tab, the country changed
    without the totals being updated), they see the new total before placing it."""
    shown = request.form.get(SHOWN_TOTAL_FIELD)
    if shown is None:
        return  # a form from before the summary carried its total
    now = _summary_context(form)
    if not (now["cart"] or {}).get("lines"):
        return  # emptied in another tab: checkout itself says the cart is empty
    if shown != now["shown_total"]:
        raise ValidationFailed(errors={SHOWN_TOTAL_FIELD: ["The total changed."]})


def _to_placed_order(number: str, token: str) -> Response:
    response = redirect(url_for("storefront.order", number=number), 303)
    remember_order(response, number, token)
    forget_cart(response)  # the cart became the order
    flash(gettext("Thank you! Your order is placed."), "success")
    return response


def _default_choices(form: CheckoutForm) -> None:
    values = form.values
    country = values.get("country", "").upper()
    values["country"] = country if country in country_codes() else prefs().country
    adapters = payments_service.enabled_adapters()
    if values.get("payment_adapter") not in adapters and adapters:
        values["payment_adapter"] = adapters[0]


def _checkout_page(form: CheckoutForm, status: int = 200) -> Response:
    _default_choices(form)
    summary = _summary_context(form)
    if summary["cart"] is None or not summary["cart"]["lines"]:
        for problem in form.problems:
            flash(problem, "error")
        if not form.problems:
            flash(gettext("Your cart is empty."), "error")
        return redirect(url_for("storefront.cart"), 303)
    today = utcnow().date()
    countries = sorted(set(ship_to_countries()) | {form.country})
    response = render(
        "storefront/checkout.html",
        status=status,
        form=form,
        countries=countries,
        customs_countries=[c for c in countries if requires_customs_identity(c, today)],
        show_customs=form.needs_customs_identity(today),
        adapters=payments_service.enabled_adapters(),
        payment_labels={k: gettext(v) for k, v in PAYMENT_METHOD_LABELS.items()},
        manual_instructions=_manual_instructions(),
        checkout_key=secrets.token_urlsafe(18),
        **summary,
    )
    # The form comes back with the shopper's address in it: no cache keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _summary_context(form: CheckoutForm) -> dict[str, Any]:
    """What the summary block shows: the cart quoted to the form's destination."""
    country = form.country if form.country in country_codes() else None
    document = _cart_document(
        destination=country,
        region=form.values.get("region") or None,
        postal_code=form.values.get("postal_code") or None,
    )
    quote = (document or {}).get("quote") or None
    refusal = None
    if quote is not None and not quote.get("deliverable"):
        refusal = problem_message(quote.get("problem") or {}, gettext, localized_country_name)
    total = (quote or {}).get("totals", {}).get("grand_total") if refusal is None else None
    return {
        "cart": document,
        "quote": quote,
        "shown_total": f"{total['amount']} {total['currency']}" if total else "",
        "refusal": refusal,
        "destination": country,
        "problems": form.problems,
        "node_name": node_name,
        "delivery_window": delivery_window,
    }


def _configured_instructions() -> str | None:
    """The bank-transfer instructions the operator configured, per language if given as
    ``{"en": …, "ru": …, "zh": …}``; None when there are none."""
    configured = current_app.config.get("MANUAL_PAYMENT_INSTRUCTIONS")
    if isinstance(configured, str) and configured.strip().startswith("{"):
        with contextlib.suppress(ValueError):  # not JSON after all: the text itself
            configured = json.loads(configured)
    if isinstance(configured, dict):
        configured = configured.get(prefs().lang) or configured.get("en")
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    return None


def _manual_instructions() -> str:
    """What choosing the bank transfer means, shown before the order is placed."""
    return _configured_instructions() or gettext(
        "Pay by bank transfer once the order is placed: the order page shows the amount, "
        "the payee and the reference to quote. The goods are held for you until then, and "
        "the order ships as soon as the payment is confirmed."
    )


# ------------------------------------------------------------------ the order


def remember_order(response: Response, number: str, token: str) -> None:
    """The order's token in an httpOnly cookie sent only to that order's pages."""
    response.set_cookie(
        ORDER_COOKIE,
        token,
        max_age=ORDER_COOKIE_AGE,
        path=url_for("storefront.order", number=number),
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )


def _viewer() -> services.Viewer:
    return services.Viewer(order_token=request.cookies.get(ORDER_COOKIE) or None)


@storefront_bp.get(f"/orders/<{ORDER_NUMBER}:number>")
def order(number: str) -> Response:
    """The order: status, shipments and tracking, totals with duties, how to pay, and
    cancelling while the shopper still may. Only with the order's token."""
    token_in_link = request.args.get("token")
    if token_in_link:
        try:
            services.get_order(number, services.Viewer(order_token=token_in_link), prefs().lang)
        except NotFound:
            return error_page(404)
        response = redirect(url_for("storefront.order", number=number), 303)
        remember_order(response, number, token_in_link)
        return response
    try:
        document = services.get_order(number, _viewer(), prefs().lang)
    except NotFound:
        return error_page(404)
    stripe = _stripe_payment(document)
    response = render(
        "storefront/order.html",
        order=document,
        line_names=_names_in_language([line["sku"] for line in document["lines"]]),
        can_cancel=lifecycle.can_cancel(document["status"], "shopper"),
        status_label=_label(ORDER_STATUS_LABELS, document["status"]),
        shipment_label=lambda status: _label(SHIPMENT_STATUS_LABELS, status),
        payment_label=_label(PAYMENT_STATUS_LABELS, document["payment"]["status"]),
        method_label=_label(PAYMENT_METHOD_LABELS, document["payment"]["adapter"]),
        bank_transfer=_bank_transfer(document),
        stripe=stripe,
        node_name=node_name,
        delivery_window=delivery_window,
    )
    # The page shows the shopper's address and may carry a payment secret.
    response.headers["Cache-Control"] = "no-store"
    if stripe is not None:
        response.headers["Content-Security-Policy"] = stripe_content_security_policy(
            stripe["js_url"]
        )
    return response


@storefront_bp.post(f"/orders/<{ORDER_NUMBER}:number>/cancel")
def cancel_order(number: str) -> Response:
    """Cancel the order (holds released, anything paid refunded) while it has not left."""
    try:
        services.cancel_order(number, _viewer(), "cancelled by the shopper on the order page")
    except NotFound:
        return error_page(404)
    except DomainError as refused:
        flash(_order_problem(refused), "error")
    else:
        flash(gettext("Your order is cancelled."), "success")
    return redirect(url_for("storefront.order", number=number), 303)


@storefront_bp.post(f"/orders/<{ORDER_NUMBER}:number>/pay")
def pay_order(number: str) -> Response:
    """Start the payment again after the provider did not answer or the payment failed."""
    try:
        services.retry_payment(number, _viewer())
    except NotFound:
        return error_page(404)
    except DomainError as refused:
        if refused.code == "illegal_transition":
            # Paid in another tab, cancelled, or expired meanwhile: the page says which.
            flash(gettext("This order is not waiting for a payment any more."), "error")
        else:
            flash(_order_problem(refused), "error")
    return redirect(url_for("storefront.order", number=number), 303)


def _order_problem(refused: DomainError) -> str:
    if refused.code != "illegal_transition":
        return problem_message(refused.body(), gettext, localized_country_name)
    if refused.extra.get("status_now") in lifecycle.CANCELLABLE_BY["staff"]:
        # Past the shopper's point but not staff's: a parcel has left.
        return gettext(
            "This order can no longer be cancelled online: part of it has left the "
            "warehouse. Contact us to return it."
        )
    return gettext("This order can no longer be cancelled.")


def _names_in_language(sku_codes: list[str]) -> dict[str, str]:
    """The products' names in the shopper's language. An order keeps its lines' names in
    English (for staff and customs papers); the shopper reads them in their own."""
    if not sku_codes:
        return {}
    lang = prefs().lang
    rows = db.session.execute(
        select(Sku, Product).join(Product, Product.id == Sku.product_id)
        .where(Sku.code.in_(sku_codes))
    ).all()  # fmt: skip
    names = {}
    for sku, product in rows:
        label = sku.localized("label", lang)
        name = product.localized("name", lang)
        names[sku.code] = f"{name} ({label})" if label else name
    db.session.rollback()
    return names


def _bank_transfer(document: dict[str, Any]) -> dict[str, Any] | None:
    """What the shopper needs to pay a manual order: amount, payee, reference, how."""
    action = document["payment"].get("next_action") or {}
    if action.get("type") != "bank_transfer":
        return None
    amount = action.get("amount") or document["totals"]["grand_total"]
    payee = action.get("payee") or ""
    reference = action.get("reference") or document["number"]
    instructions = _configured_instructions() or gettext(
        "Pay {amount} to {payee} by bank transfer, quoting {reference} as the payment "
        "reference. The order ships as soon as the payment is confirmed.",
        amount=format_money(amount), payee=payee, reference=reference,
    )  # fmt: skip
    return {"amount": amount, "payee": payee, "reference": reference,
            "instructions": instructions}  # fmt: skip


def _stripe_payment(document: dict[str, Any]) -> dict[str, str] | None:
    """The Payment Element's settings when this order is paid by card through Stripe and
    the shop has a publishable key; None otherwise (no Stripe.js on the page)."""
    payment = document["payment"]
    action = payment.get("next_action") or {}
    publishable_key = current_app.config.get("STRIPE_PUBLISHABLE_KEY")
    if payment["adapter"] != "stripe" or not publishable_key or not action.get("client_secret"):
        return None
    return {
        "publishable_key": action.get("publishable_key") or publishable_key,
        "client_secret": action["client_secret"],
        "js_url": current_app.config.get("STRIPE_JS_URL") or "https://js.stripe.com/v3/",
        "return_url": url_for("storefront.order", number=document["number"], _external=True),
    }


def stripe_content_security_policy(js_url: str) -> str:
    """The shop's strict policy, opened to Stripe.js's origin for scripts, frames and
    connections (and, for the real js.stripe.com, the two other origins Stripe.js
    itself talks to); only the page that takes the payment gets it."""
    parts = urlsplit(js_url)
    stripe_origin = f"{parts.scheme}://{parts.netloc}"
    extra = {"script-src": [stripe_origin], "frame-src": [stripe_origin],
             "connect-src": [stripe_origin]}  # fmt: skip
    if stripe_origin == "https://js.stripe.com":
        extra["frame-src"].append("https://hooks.stripe.com")
        extra["connect-src"].append("https://api.stripe.com")
    directives: dict[str, list[str]] = {}
    for directive in SECURITY_HEADERS["Content-Security-Policy"].split(";"):
        name, *sources = directive.split()
        directives[name] = sources
    for name, origins in extra.items():
        directives.setdefault(name, ["'self'"]).extend(origins)
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


# ------------------------------------------------------------------ shown on several pages


def _label(labels: dict[str, str], value: str | None) -> str:
    if value in labels:
        return gettext(labels[value])
    return (value or "").replace("_", " ")


def node_name(code: str) -> str:
    return gettext(NODE_NAMES[code]) if code in NODE_NAMES else code


def delivery_window(delivery: dict[str, Any] | None) -> str:
    """``3–7 days (by 12 Dec 2026)`` in the shopper's language; empty when unknown."""
    delivery = delivery or {}
    if not delivery.get("by"):
        return ""
    today = utcnow().date()
    latest = date.fromisoformat(delivery["by"])
    earliest = date.fromisoformat(delivery["from"]) if delivery.get("from") else latest
    low, high = max((earliest - today).days, 0), max((latest - today).days, 0)
    shown = format_date(latest, format="medium", locale=BABEL_LOCALES[prefs().lang])
    if high <= 0:
        return gettext("by {date}", date=shown)
    if low == high:  # "3 days", not "3–3 days"
        return ngettext("{n} day (by {date})", "{n} days (by {date})", high, date=shown)
    return gettext("{low}–{high} days (by {date})", low=low, high=high, date=shown)
