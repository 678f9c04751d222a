"""Order pages: the order with its shipments, totals and how to pay, cancelling it and
paying again, over orders.services.

Only the order's token opens them. After checkout it is in an httpOnly cookie
(``pv_order``, scoped to that order's path). The order e-mail's link carries the
token as ``?token=``: the page moves it into the cookie and redirects to the clean
URL, so it does not stay in the address bar or the history.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, flash, redirect, request, url_for

from catalog.sku_lookup import names_in_language
from orders import lifecycle, services
from shop.core.errors import DomainError, NotFound
from shop.core.web_hardening import SECURITY_HEADERS
from shop.storefront import storefront_bp
from shop.storefront.checkout_form import problem_message
from shop.storefront.context import (
    error_page,
    format_money,
    gettext,
    localized_country_name,
    prefs,
    render,
)
from shop.storefront.order_wording import (
    ORDER_STATUS_LABELS,
    PAYMENT_METHOD_LABELS,
    PAYMENT_STATUS_LABELS,
    SHIPMENT_STATUS_LABELS,
    configured_instructions,
    delivery_window,
    label_for,
    node_name,
)

ORDER_COOKIE = "pv_order"
# Parcels take weeks; the e-mail link sets the cookie again when it has gone.
ORDER_COOKIE_AGE = 90 * 24 * 3600
ORDER_NUMBER = "string(maxlength=32)"


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
        line_names=names_in_language([line["sku"] for line in document["lines"]], prefs().lang),
        can_cancel=lifecycle.can_cancel(document["status"], "shopper"),
        status_label=label_for(ORDER_STATUS_LABELS, document["status"]),
        shipment_label=lambda status: label_for(SHIPMENT_STATUS_LABELS, status),
        payment_label=label_for(PAYMENT_STATUS_LABELS, document["payment"]["status"]),
        method_label=label_for(PAYMENT_METHOD_LABELS, document["payment"]["adapter"]),
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


def _bank_transfer(document: dict[str, Any]) -> dict[str, Any] | None:
    """What the shopper needs to pay a manual order: amount, payee, reference, how."""
    action = document["payment"].get("next_action") or {}
    if action.get("type") != "bank_transfer":
        return None
    amount = action.get("amount") or document["totals"]["grand_total"]
    payee = action.get("payee") or ""
    reference = action.get("reference") or document["number"]
    instructions = configured_instructions() or gettext(
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
