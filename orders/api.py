"""Cart, order and payment endpoints: thin views over orders.carts, .checkout and .services."""

from __future__ import annotations

from ipaddress import ip_address

from flask import current_app, request
from flask.views import MethodView

from orders import carts, checkout, services
from orders.payments.base import WebhookRejected
from orders.pricing import WantedLine
from orders.schemas import (
    CancelSchema,
    CartInSchema,
    CartLinePatchSchema,
    CartOutSchema,
    CartQuerySchema,
    DeliveryPointsOutSchema,
    DeliveryPointsQuerySchema,
    LineInSchema,
    MarkPaidSchema,
    OrderInSchema,
    OrderOutSchema,
    OrderTokenQuerySchema,
    WebhookAckSchema,
)
from shop.core.api_base import Blueprint, shaped_json
from shop.core.auth import Forbidden
from shop.core.errors import DomainError, NotFound, register_problem_types
from shop.core.i18n import choose_language
from shop.core.idempotency import derived_secret, idempotent
from warehouse import shipping
from warehouse.auth import authenticate_staff

register_problem_types(
    {
        "illegal_transition": "The order or shipment is not in a state that allows this; "
        "`status_now` says which state it is in.",
        "already_paid": "The order is already paid (with another reference).",
        "idempotency_key_reused": "The Idempotency-Key was used with a different request; "
        "use a new key.",
        "idempotency_in_progress": "A request with this Idempotency-Key is still running; "
        "retry with the same key.",
        "invalid_idempotency_key": "The Idempotency-Key header is empty or too long.",
        "invalid_webhook": "The webhook's signature is missing or wrong, or its body unreadable.",
    }
)

carts_blp = Blueprint("carts", __name__, url_prefix="/api/v1/carts",
                      description="Anonymous carts, quoted for a destination")  # fmt: skip
orders_blp = Blueprint("orders", __name__, url_prefix="/api/v1/orders",
                       description="Checkout and orders")  # fmt: skip
payments_blp = Blueprint("payments", __name__, url_prefix="/api/v1/payments",
                         description="Payment provider webhooks")  # fmt: skip
delivery_points_blp = Blueprint(
    "delivery_points", __name__, url_prefix="/api/v1/delivery-points",
    description="Pickup points a shopper may collect parcels from",
)  # fmt: skip

NO_STORE = {"Cache-Control": "no-store"}
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Same key and body within 24 h: the first response again, and "
            "never a second effect. Same key, other body: 422.",
        }
    ]
}
ORDER_TOKEN_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "X-Order-Token",
            "required": False,
            "schema": {"type": "string"},
            "description": "the order's token from checkout (or ?token=); staff send a "
            "bearer token instead",
        }
    ]
}
CART_TOKEN_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "X-Cart-Token",
            "required": True,
            "schema": {"type": "string"},
            "description": "the cart's token, returned when the cart was made",
        }
    ]
}


def _lang(args: dict | None = None) -> str:
    return choose_language((args or {}).get("lang"), request.headers.get("Accept-Language"))


def _cart_token() -> str | None:
    return request.headers.get("X-Cart-Token")


def _viewer() -> services.Viewer:
    """Staff by bearer token, else the shopper by order token; neither sees nothing (404)."""
    if request.headers.get("Authorization"):
        return services.Viewer(staff=authenticate_staff())
    token = request.headers.get("X-Order-Token") or request.args.get("token")
    return services.Viewer(order_token=token)


# ------------------------------------------------------------------ carts


@carts_blp.route("")
class Carts(MethodView):
    @carts_blp.arguments(CartInSchema)
    @carts_blp.response(201, CartOutSchema)
    def post(self, body):
        """Make a cart (optionally with lines). The token in the answer is shown once."""
        lines = [WantedLine(**line) for line in body.get("lines", [])]
        made = carts.create_cart(body.get("currency"), lines)
        document = carts.cart_document(made.id, made.token, lang=_lang())
        return shaped_json({**document, "token": made.token}, NO_STORE, 201)


@carts_blp.route("/<string(maxlength=32):cart_id>")
class OneCart(MethodView):
    @carts_blp.doc(**CART_TOKEN_DOC)
    @carts_blp.arguments(CartQuerySchema, location="query")
    @carts_blp.response(200, CartOutSchema)
    @carts_blp.alt_response(404, description="No such cart, or not this token's")
    def get(self, args, cart_id):
        """The cart: lines and goods total; with `destination`, the shipments, shipping,
        delivery windows and duties estimate checkout would give. With `delivery=pickup`
        and a `point` of the `city`, each carrier-priced parcel is quoted to that pickup
        point, and shows the tariff and the point."""
        document = carts.cart_document(
            cart_id, _cart_token(), lang=_lang(args), currency=args.get("currency"),
            destination=args.get("destination"), region=args.get("region"),
            postal_code=args.get("postal_code"), city=args.get("city"),
            delivery=_delivery_choice(args.get("delivery"), args.get("point")),
        )  # fmt: skip
        return shaped_json(document, NO_STORE)

    @carts_blp.doc(**CART_TOKEN_DOC)
    @carts_blp.response(204)
    @carts_blp.alt_response(404, description="No such cart, or not this token's")
    def delete(self, cart_id):
        """Throw the cart away."""
        carts.delete_cart(cart_id, _cart_token())
        return "", 204


@carts_blp.route("/<string(maxlength=32):cart_id>/lines", methods=["POST"])
@carts_blp.doc(**CART_TOKEN_DOC)
@carts_blp.arguments(LineInSchema)
@carts_blp.response(201, CartOutSchema)
@carts_blp.alt_response(404, description="No such cart, or not this token's")
def add_cart_line(body, cart_id):
    """Add units of a SKU (added to the line already holding it)."""
    carts.add_line(cart_id, _cart_token(), WantedLine(**body))
    return shaped_json(carts.cart_document(cart_id, _cart_token(), lang=_lang()), NO_STORE, 201)


@carts_blp.route(
    "/<string(maxlength=32):cart_id>/lines/<int(max=2147483647):line_id>",
    methods=["PATCH", "DELETE"],
)
@carts_blp.doc(**CART_TOKEN_DOC)
@carts_blp.arguments(CartLinePatchSchema(partial=True))
@carts_blp.response(200, CartOutSchema)
@carts_blp.alt_response(404, description="No such cart or line")
def change_cart_line(body, cart_id, line_id):
    """PATCH sets a line's quantity (0 removes it); DELETE removes the line."""
    if request.method == "DELETE":
        carts.remove_line(cart_id, _cart_token(), line_id)
    else:
        if "quantity" not in body:
            from shop.core.errors import ValidationFailed

            raise ValidationFailed(errors={"quantity": ["Missing data for required field."]})
        carts.set_line_quantity(cart_id, _cart_token(), line_id, body["quantity"])
    return shaped_json(carts.cart_document(cart_id, _cart_token(), lang=_lang()), NO_STORE)


# ------------------------------------------------------------------ delivery points


def _delivery_choice(method: str | None = None, point: str | None = None):
    if method == "pickup":
        return shipping.DeliveryChoice("pickup", point)
    return shipping.DOOR


@delivery_points_blp.route("")
class DeliveryPoints(MethodView):
    @delivery_points_blp.arguments(DeliveryPointsQuerySchema, location="query")
    @delivery_points_blp.response(200, DeliveryPointsOutSchema)
    @delivery_points_blp.alt_response(503, description="A carrier cannot be asked now")
    def get(self, args):
        """The pickup points (offices and parcel lockers) in a city of the carriers that
        deliver there; send one's `code` as `delivery.point` at checkout. Kept for
        `DELIVERY_POINTS_CACHE_SECONDS`; a carrier without pickup points lists none."""
        points = shipping.delivery_points(
            args["country"].upper(), args["city"], args.get("postal_code"), args.get("region")
        )
        document = {"country": args["country"].upper(), "city": args["city"],
                    "points": [point.as_json() for point in points]}  # fmt: skip
        return shaped_json(document, {"Cache-Control": "public, max-age=300"})


# ------------------------------------------------------------------ orders


def _recover_order(number: str):
    """The order was written but its answer was lost: answer as the first request would
    have (its token is derived from the same Idempotency-Key claim)."""
    token = derived_secret("token")
    document = services.get_order(number, services.Viewer(order_token=token), _lang())
    headers = {**NO_STORE, "Location": f"/api/v1/orders/{number}"}
    return shaped_json({"token": token, **document}, headers, 201)


@orders_blp.route("", methods=["POST"])
@idempotent(recover=_recover_order, secret_fields=("token",))
@orders_blp.doc(**IDEMPOTENCY_DOC)
@orders_blp.arguments(OrderInSchema)
@orders_blp.response(201, OrderOutSchema)
@orders_blp.alt_response(404, description="cart_id names no cart of this X-Cart-Token")
@orders_blp.alt_response(409, description="Not enough stock (each short line named)")
@orders_blp.alt_response(422, description="Invalid field, no lane, corridor refuses, or a "
                         "customs limit")  # fmt: skip
def place_order(body):
    """Check out: plan shipments, hold stock, price goods, shipping and duties, start the
    payment. One transaction writes it all; the token in the answer is shown once."""
    lines = [WantedLine(**line) for line in body.get("lines") or []]
    placed = checkout.place_order(
        checkout.CheckoutRequest(
            currency=body["currency"],
            email=body["email"],
            shipping_address=body["shipping_address"],
            payment_adapter=body["payment"]["adapter"],
            lines=lines or None,
            cart_id=body.get("cart_id"),
            cart_token=_cart_token(),
            customs_identity=body.get("customs_identity"),
            lang=_lang(),
            delivery=_delivery_choice(**body.get("delivery") or {}),
            device=body["payment"].get("device") or "desktop",
            client_ip=request.remote_addr,
            site_url=request.host_url,
        )
    )
    viewer = services.Viewer(order_token=placed.token)
    document = services.get_order(placed.number, viewer, _lang())
    headers = {**NO_STORE, "Location": f"/api/v1/orders/{placed.number}"}
    return shaped_json({"token": placed.token, **document}, headers, 201)


@orders_blp.route("/<string(maxlength=32):number>")
@orders_blp.doc(**ORDER_TOKEN_DOC)
@orders_blp.arguments(OrderTokenQuerySchema, location="query")
@orders_blp.response(200, OrderOutSchema)
@orders_blp.alt_response(404, description="No such order for this token")
def get_order(args, number):
    """The order: status, shipments with tracking, payment; staff also see the routing
    plan with its explanation and the history."""
    viewer = _viewer()
    return shaped_json(services.get_order(number, viewer, _lang(args)), NO_STORE)


@orders_blp.route("/<string(maxlength=32):number>/cancel", methods=["POST"])
@idempotent
@orders_blp.doc(**ORDER_TOKEN_DOC)
@orders_blp.doc(**IDEMPOTENCY_DOC)
@orders_blp.arguments(CancelSchema(partial=True))
@orders_blp.response(200, OrderOutSchema)
@orders_blp.alt_response(404, description="No such order for this token")
@orders_blp.alt_response(409, description="Too late to cancel")
def cancel_order(body, number):
    """Cancel: the shopper until a parcel has left, staff until delivery. Stock goes back,
    and what was paid is refunded in full through the payment adapter."""
    return shaped_json(services.cancel_order(number, _viewer(), body.get("reason", "")), NO_STORE)


@orders_blp.route("/<string(maxlength=32):number>/pay", methods=["POST"])
@orders_blp.doc(**ORDER_TOKEN_DOC)
@orders_blp.response(200, OrderOutSchema)
@orders_blp.alt_response(404, description="No such order for this token")
@orders_blp.alt_response(409, description="Nothing to pay")
def pay_order(number):
    """Pay again after the provider was down or the payment failed; a payment still in
    progress is returned as it is."""
    context = services.PaymentContext(client_ip=request.remote_addr,
                                      site_url=request.host_url, lang=_lang())  # fmt: skip
    return shaped_json(services.retry_payment(number, _viewer(), context), NO_STORE)


@orders_blp.route("/<string(maxlength=32):number>/mark-paid", methods=["POST"])
@idempotent
@orders_blp.doc(security=[{"bearerAuth": []}], **IDEMPOTENCY_DOC)
@orders_blp.arguments(MarkPaidSchema(partial=True))
@orders_blp.response(200, OrderOutSchema)
@orders_blp.alt_response(401, description="Missing, unknown or revoked token")
@orders_blp.alt_response(403, description="Not an operator")
@orders_blp.alt_response(404, description="No such order")
@orders_blp.alt_response(409, description="Not waiting for payment")
def mark_paid(body, number):
    """An operator records a payment received outside the shop (bank transfer, cash):
    the amount (default the grand total) and a reference. Idempotent."""
    staff = authenticate_staff()
    if not staff.is_operator:
        raise Forbidden("Only operators record payments.")
    document = services.mark_paid(number, staff, body.get("amount"), body.get("reference", ""))
    return shaped_json(document, NO_STORE)


# ------------------------------------------------------------------ webhooks


class WebhookInvalid(DomainError):
    status = 400
    code = "invalid_webhook"
    title = "Webhook not verified"


@payments_blp.route("/<string(maxlength=40):adapter>/webhook", methods=["POST"])
@payments_blp.response(200, WebhookAckSchema)
@payments_blp.alt_response(400, description="Signature missing or wrong, or body unreadable")
@payments_blp.alt_response(404, description="No such enabled adapter")
def payment_webhook(adapter):
    """A provider's event: verified by the adapter (signature), applied once by event id,
    whatever order events arrive in."""
    from orders import payments_service

    if adapter not in payments_service.enabled_adapters():
        raise NotFound(f"No payment adapter {adapter}.")
    payments = payments_service.adapter(adapter)
    senders = payments.trusted_senders()
    if senders is not None and not _sent_from(request.remote_addr, senders):
        raise WebhookInvalid(f"Notifications for {adapter} do not come from this address.")
    try:
        event = payments.parse_webhook(dict(request.headers), request.get_data())
    except WebhookRejected as rejected:
        raise WebhookInvalid(str(rejected)) from None
    outcome = "ignored" if event is None else services.apply_payment_event(adapter, event)
    answer = payments.webhook_answer(outcome)
    if answer is not None:
        body, status, content_type = answer
        return current_app.response_class(body, status=status, content_type=content_type)
    return shaped_json({"received": True, "outcome": outcome})


def _sent_from(address: str | None, networks) -> bool:
    """Whether the notification's sender (the client address after the trusted proxy
    hops) is in one of the provider's published networks."""
    try:
        sender = ip_address(address or "")
    except ValueError:
        return False
    return any(sender in network for network in networks)
