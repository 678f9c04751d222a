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

import segno
from flask import Response, current_app, flash, jsonify, redirect, request, url_for
from markupsafe import Markup, escape

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
    PROVIDER_NAMES,
    SHIPMENT_STATUS_LABELS,
    configured_instructions,
    conversion_note,
    delivery_window,
    device_of,
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
        # Back from a provider's payment page (its return URL): the page says the payment
        # is being confirmed until the provider's notification arrives.
        returned = "1" if request.args.get("returned") else None
        response = redirect(url_for("storefront.order", number=number, returned=returned), 303)
        remember_order(response, number, token_in_link)
        return response
    try:
        document = services.get_order(number, _viewer(), prefs().lang)
    except NotFound:
        return error_page(404)
    stripe = _stripe_payment(document)
    provider = _provider_step(document)
    waiting = document["status"] == "pending_payment" and (
        (provider is not None and provider["kind"] == "qr_code")
        or bool(request.args.get("returned"))
    )
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
        provider=provider,
        returned=bool(request.args.get("returned")),
        waiting=waiting,
        pay_amount=document["payment"].get("amount") or document["totals"]["grand_total"],
        conversion=conversion_note(
            document["payment"].get("amount"), document["payment"].get("rate")
        ),
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


@storefront_bp.get(f"/orders/<{ORDER_NUMBER}:number>/state")
def order_state(number: str) -> Response:
    """The order's and its payment's state, for the order page's script to notice the
    provider's confirmation (the page reloads when it changes)."""
    try:
        document = services.get_order(number, _viewer(), prefs().lang)
    except NotFound:
        return error_page(404)
    state = f"{document['status']}:{document['payment']['status']}"
    response = jsonify({"state": state})
    response.headers["Cache-Control"] = "no-store"
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
        context = services.PaymentContext(
            device=device_of(request.user_agent.string), client_ip=request.remote_addr,
            site_url=request.host_url, lang=prefs().lang,
        )  # fmt: skip
        services.retry_payment(number, _viewer(), context)
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


def _provider_step(document: dict[str, Any]) -> dict[str, Any] | None:
    """What the shopper does at a provider: follow a link to its page (``redirect``), or
    scan a QR code drawn here (``qr_code``, WeChat Pay Native). None for other payments."""
    payment = document["payment"]
    action = payment.get("next_action") or {}
    provider = action.get("provider") or payment["adapter"]
    name = gettext(PROVIDER_NAMES[provider]) if provider in PROVIDER_NAMES else provider
    if action.get("type") == "redirect":
        url = str(action.get("url") or "")
        if urlsplit(url).scheme not in ("https", "http"):
            return None  # never a javascript: or data: link from a provider's answer
        return {"kind": "redirect", "url": url, "provider": provider, "name": name}
    if action.get("type") == "qr_code" and action.get("data"):
        svg = qr_svg(str(action["data"]), gettext("QR code to scan with WeChat"))
        return {"kind": "qr_code", "provider": provider, "name": name, "svg": svg}
    return None


def qr_svg(data: str, label: str) -> Markup:
    """The QR code of ``data`` as inline SVG (drawn here with segno: no outside image),
    an image to assistive technology with ``label`` as its name."""
    drawn = segno.make(data, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff")
    named = drawn.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    return Markup(named)  # noqa: S704 - segno's own SVG, the label escaped


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
