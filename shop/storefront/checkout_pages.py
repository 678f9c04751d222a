"""Checkout pages: the form with the cart quoted to the chosen destination, its
summary block, and placing the order (orders.checkout).

The checkout form carries a one-time key (``checkout_key``) that goes through
the API's Idempotency-Key machinery: a second press of "Place order" lands on
the order the first one made.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from flask import Response, flash, redirect, request, url_for

from orders import checkout, payments_service
from orders.customs import requires_customs_identity
from shop.core.clock import utcnow
from shop.core.errors import DomainError, ValidationFailed
from shop.core.i18n import country_codes
from shop.core.idempotency import derived_secret, idempotent
from shop.storefront import storefront_bp
from shop.storefront.cart_pages import cart_document
from shop.storefront.checkout_form import (
    CheckoutForm,
    check_order_body,
    order_body,
    place_errors,
    problem_message,
)
from shop.storefront.context import (
    current_cart,
    forget_cart,
    gettext,
    localized_country_name,
    prefs,
    render,
    ship_to_countries,
)
from shop.storefront.order_pages import remember_order
from shop.storefront.order_wording import (
    PAYMENT_METHOD_LABELS,
    configured_instructions,
    conversion_note,
    delivery_window,
    device_of,
    node_name,
)
from warehouse import shipping

CHECKOUT_KEY_FIELD = "checkout_key"
UPDATE_TOTALS_FIELD = "update_totals"
# The grand total the summary showed ("1090.00 CNY"), sent back with the form.
SHOWN_TOTAL_FIELD = "shown_total"


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
    # The ways to pay depend on the destination too: the fieldset comes along.
    return render("storefront/_checkout_summary_and_payment.html", form=form,
                  **_summary_context(form))  # fmt: skip


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
            delivery=_delivery_choice(loaded.get("delivery")),
            device=device_of(request.user_agent.string),
            client_ip=request.remote_addr,
            site_url=request.host_url,
        )
    )
    return _to_placed_order(placed.number, placed.token)


def _delivery_choice(delivery: dict | None) -> shipping.DeliveryChoice:
    if delivery and delivery.get("method") == "pickup":
        return shipping.DeliveryChoice("pickup", delivery.get("point"))
    return shipping.DOOR


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
        checkout_key=secrets.token_urlsafe(18),
        **summary,
    )
    # The form comes back with the shopper's address in it: no cache keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _delivery_context(form: CheckoutForm, country: str | None) -> dict[str, Any]:
    """Door or pickup point: whether a carrier delivering here has pickup points, the
    points of the form's city when the shopper chose pickup (the first one until they
    choose, as the list itself shows it), and the choice to quote."""
    values = form.values
    region, city = values.get("region") or None, values.get("city", "")
    offered = bool(country) and bool(shipping.pickup_carriers(country, region))
    method = "pickup" if offered and values.get("delivery_method") == "pickup" else "door"
    values["delivery_method"] = method
    points: list = []
    unavailable = False
    if method == "pickup" and city:
        try:
            points = shipping.delivery_points(
                country, city, values.get("postal_code") or None, region
            )
        except shipping.PickupPointsUnavailable:
            unavailable = True
        if values.get("delivery_point") not in {point.code for point in points}:
            values["delivery_point"] = points[0].code if points else ""
    chosen = values.get("delivery_point") if method == "pickup" else None
    return {
        "pickup_offered": offered,
        "delivery_points": points,
        "points_unavailable": unavailable,
        "delivery_method": method,
        "delivery_point": chosen or "",
        "delivery_city": city,
        # No point to quote yet (no city, none there): the door price shows meanwhile,
        # and placing the order asks for a point.
        "choice": shipping.DeliveryChoice("pickup", chosen) if chosen else shipping.DOOR,
    }


def _summary_context(form: CheckoutForm) -> dict[str, Any]:
    """What the summary block shows: the cart quoted to the form's destination, by the
    delivery the shopper chose."""
    country = form.country if form.country in country_codes() else None
    delivery = _delivery_context(form, country)
    document = cart_document(
        destination=country,
        region=form.values.get("region") or None,
        postal_code=form.values.get("postal_code") or None,
        city=form.values.get("city") or None,
        delivery=delivery.pop("choice"),
    )
    quote = (document or {}).get("quote") or None
    refusal = None
    if quote is not None and not quote.get("deliverable"):
        refusal = problem_message(quote.get("problem") or {}, gettext, localized_country_name)
    total = (quote or {}).get("totals", {}).get("grand_total") if refusal is None else None
    return {
        **_payment_choices(form, country, quote if refusal is None else None),
        "cart": document,
        "quote": quote,
        "shown_total": f"{total['amount']} {total['currency']}" if total else "",
        "refusal": refusal,
        "destination": country,
        "problems": form.problems,
        "node_name": node_name,
        "delivery_window": delivery_window,
        **delivery,
    }


def _payment_choices(form: CheckoutForm, country: str | None, quote: dict | None):
    """The ways to pay offered for the destination (the quote's, with the amount in the
    provider's currency when converted), the form's choice among them (the first until
    the shopper picks one), their labels and conversion notes."""
    methods = (quote or {}).get("payment_methods")
    if methods is None:
        names = (
            payments_service.offered_methods(country, prefs().currency, utcnow().date())
            if country
            else payments_service.enabled_adapters()
        )
        methods = [{"adapter": name} for name in names]
    adapters = [method["adapter"] for method in methods]
    if form.values.get("payment_adapter") not in adapters and adapters:
        form.values["payment_adapter"] = adapters[0]
    return {
        "adapters": adapters,
        "payment_labels": {k: gettext(v) for k, v in PAYMENT_METHOD_LABELS.items()},
        "payment_notes": {
            method["adapter"]: conversion_note(method.get("amount"), method.get("rate"))
            for method in methods
        },
        "manual_instructions": _manual_instructions(),
    }


def _manual_instructions() -> str:
    """What choosing the bank transfer means, shown before the order is placed."""
    return configured_instructions() or gettext(
        "Pay by bank transfer once the order is placed: the order page shows the amount, "
        "the payee and the reference to quote. The goods are held for you until then, and "
        "the order ships as soon as the payment is confirmed."
    )
