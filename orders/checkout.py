"""Checkout: turn lines (or a cart) into an order, its shipments and its stock holds.

The order of work matters:

1. read and check everything (SKUs, address, customs identity, rates, the plan,
   the duties and the CBEC limits) — no locks, nothing written;
2. ask the payment adapter for the payment (an outside call: before any
   transaction is open, keyed by the order number so a retry never makes a
   second PaymentIntent). If the provider is down the order is still placed,
   ``pending_payment`` with a payment the shopper can retry;
3. one transaction writes the order, lines, shipments, holds (conditional
   updates: never beyond what is available), the routing decision, the
   history and the payment row. Any failure rolls all of it back.

Nothing outside is called after the commit: the response is built from what
was written.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, delete, func, insert, or_, select, text

from catalog.money import Money, UnknownCurrency
from catalog.services import current_rates
from orders import customs, payments_service
from orders.carts import cart_lines_for_checkout
from orders.customs import id_vault, prc_id
from orders.lifecycle import PAID_STATUSES
from orders.models import Cart, CartLine, Order, OrderEvent, OrderLine, Payment
from orders.payment_amounts import (
    ChargedLine,
    ProviderAmount,
    payment_currency,
    payment_lines,
    provider_amount,
    stored_rate_table,
)
from orders.pricing import Address, PricedLine, Quote, WantedLine, check_currency, load_lines, quote
from shop.core import background, metrics
from shop.core.auth import hash_token
from shop.core.clock import utcnow
from shop.core.errors import Conflict, DomainError, ValidationFailed
from shop.core.extensions import db
from shop.core.idempotency import derived_secret, mark_committed
from shop.core.transactions import retry_on_conflict
from warehouse.models import RoutingDecision, Shipment, ShipmentLine
from warehouse.services import Allocation, StockShortage, reserve_stock, routing_world
from warehouse.shipping import DOOR, DeliveryChoice

log = logging.getLogger(__name__)

# Crockford's alphabet without I, L, O, U: read aloud or typed from a receipt without doubt.
NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PLAN_ATTEMPTS = 3
CHINA = ZoneInfo(
    "Asia/Shanghai"
)  # re-plan when someone took the planned units between plan and hold


@dataclass(frozen=True)
class CheckoutRequest:
    currency: str
    email: str
    shipping_address: dict[str, Any]
    payment_adapter: str
    lines: list[WantedLine] | None = None
    cart_id: str | None = None
    cart_token: str | None = None
    customs_identity: dict[str, str] | None = None
    lang: str = "en"
    delivery: DeliveryChoice = DOOR
    # What a provider's hosted page needs of the shopper's request (the views fill them).
    device: str = "desktop"
    client_ip: str | None = None
    site_url: str | None = None  # the request's host URL, when PUBLIC_URL is not set


@dataclass(frozen=True)
class PlacedOrder:
    number: str
    token: str  # shown once


def new_order_number() -> str:
    """``SCO-XXXX-XXXX``: 40 random bits, so numbers say nothing about volume or order."""
    chars = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"SCO-{chars[:4]}-{chars[4:]}"


def place_order(checkout: CheckoutRequest, *, actor: str = "shopper") -> PlacedOrder:
    """Place the order; counted in ``pavilion_checkouts_total`` and, when refused, in
    ``pavilion_checkout_refusals_total`` by problem code."""
    try:
        placed = _place_order(checkout, actor)
    except DomainError as refused:
        metrics.count_checkout("refused", refused.code)
        raise
    except Exception:
        metrics.count_checkout("error")
        raise
    metrics.count_checkout("placed")
    return placed


def _place_order(checkout: CheckoutRequest, actor: str) -> PlacedOrder:
    config = current_app.config
    now = utcnow()
    rates = current_rates().table
    currency = check_currency(checkout.currency, rates)
    address = Address(
        country=checkout.shipping_address["country"].upper(),
        region=checkout.shipping_address.get("region"),
        postal_code=checkout.shipping_address.get("postal_code"),
        city=checkout.shipping_address.get("city"),
    )
    identity = _customs_identity(address.country, checkout.customs_identity, now)
    adapter = payments_service.adapter(checkout.payment_adapter)
    payments_service.check_offered(adapter.name, address.country, currency, now.date())
    pay_currency = payment_currency(currency, adapter.currencies)
    if checkout.cart_id:
        wanted = cart_lines_for_checkout(checkout.cart_id, checkout.cart_token)
        lines = load_lines(wanted, currency, rates, field_prefix="cart_id")
    else:
        lines = load_lines(checkout.lines or [], currency, rates)
    annual_used = cbec_year_used(identity, now) if identity else Decimal(0)

    number = new_order_number()
    # With an Idempotency-Key the token is derived from its claim, so a retry after a
    # lost answer can give the shopper the same token without it being stored anywhere.
    token = derived_secret("token") or secrets.token_urlsafe(24)
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        priced = quote(lines, address, currency, rates=rates, now=now, annual_used_cny=annual_used,
                       delivery=checkout.delivery, payment_currencies=(pay_currency,))  # fmt: skip
        db.session.rollback()  # end the read transaction before the outside call
        paying = _amount_to_pay(priced, pay_currency)
        if attempt == 1:
            started = payments_service.start_payment(
                adapter, number, paying.amount, checkout.email, idempotency_key=number,
                details=_payment_details(checkout, number, token, priced, paying, adapter.name),
            )  # fmt: skip
        elif started.amount != paying.amount:
            # A re-plan changed the price (another node, other shipping): the first
            # payment no longer matches; it is cancelled and a new one made.
            payments_service.abandon(adapter, started)
            started = payments_service.start_payment(
                adapter, number, paying.amount, checkout.email,
                idempotency_key=f"{number}-{attempt}",
                details=_payment_details(checkout, number, token, priced, paying, adapter.name),
            )  # fmt: skip
        try:
            _write_order(number, token, checkout, priced, identity, started, actor, config)
            break
        except StockShortage:
            db.session.rollback()
            if attempt == PLAN_ATTEMPTS:
                payments_service.abandon(adapter, started)
                raise
            log.info("order %s: stock moved while checking out, planning again", number)
        except BaseException:
            db.session.rollback()
            payments_service.abandon(adapter, started)
            raise
    log.info(
        "order %s placed: %s %s to %s, %d shipment(s), payment %s",
        number, priced.grand_total.amount, currency, address.country,
        len(priced.plan.shipments), started.status,
    )  # fmt: skip
    return PlacedOrder(number=number, token=token)


def _amount_to_pay(priced: Quote, pay_currency: str) -> ProviderAmount:
    """The grand total in the payment's currency, converted at the rates the order stores
    (the quote's ``exchange_rates``), so a retry later converts it alike."""
    try:
        return provider_amount(
            priced.grand_total, pay_currency, stored_rate_table(priced.exchange_rates)
        )
    except UnknownCurrency:
        raise ValidationFailed(
            f"No exchange rate from {priced.currency} to {pay_currency}: this way to pay "
            "cannot take the order now.",
            errors={"payment.adapter": [f"It takes {pay_currency} only, and no rate reaches it."]},
        ) from None


def _payment_details(
    checkout: CheckoutRequest,
    number: str,
    token: str,
    priced: Quote,
    paying: ProviderAmount,
    adapter: str,
) -> payments_service.PaymentDetails:
    """Lines, the shopper's way back to the order page (with the token, which the page
    moves into its cookie) and the webhook address of ``adapter``."""
    goods = [
        ChargedLine(line.name(checkout.lang)[:128], line.quantity, line.unit_price,
                    line.category, line.sku.code)
        for line in priced.lines
    ]  # fmt: skip
    base = payments_service.site_base(checkout.site_url)
    return payments_service.PaymentDetails(
        lines=payment_lines(goods, priced.shipping_total, priced.duties_total, paying,
                            **payments_service.line_names(checkout.lang)),
        order_amount=paying.order_amount if paying.converted else None,
        return_url=f"{base}/orders/{number}?token={token}&returned=1" if base else None,
        notify_url=f"{base}/api/v1/payments/{adapter}/webhook" if base else None,
        client_ip=checkout.client_ip,
        device=checkout.device,
        locale=checkout.lang,
        phone=(checkout.shipping_address.get("phone") or None),
    )  # fmt: skip


def _customs_identity(country: str, given: dict[str, str] | None, now) -> dict[str, str] | None:
    """China needs the buyer's real name and PRC ID number; elsewhere it is not kept."""
    if not customs.requires_customs_identity(country, now.date()):
        return None
    given = given or {}
    errors: dict[str, list[str]] = {}
    name = (given.get("name") or "").strip()
    if not name:
        errors["customs_identity.name"] = [
            "Chinese customs need the buyer's real name for cross-border orders."
        ]
    try:
        id_number = prc_id.validate_prc_id(given.get("id_number") or "", now.date())
    except prc_id.InvalidIdNumber as problem:
        errors["customs_identity.id_number"] = [str(problem)]
    if errors:
        raise ValidationFailed(
            "Orders to mainland China need the buyer's name and PRC resident ID number.",
            errors=errors,
        )
    secret = current_app.config["SECRET_KEY"]
    return {
        "name": name[:120],
        "masked": prc_id.mask_id(id_number),
        "hash": prc_id.hash_id(id_number, secret),
        # Only China's customs order record reads it back (orders.customs.order_records).
        "encrypted": id_vault.encrypt_id(id_number),
    }


def cbec_year_used(identity: dict[str, str], now) -> Decimal:
    """What this person has bought through CBEC this calendar year, in CNY: paid orders,
    and unpaid ones still holding their goods (they become paid without a new check).

    The year is China's calendar year (the limit is Chinese), not UTC's.
    """
    year_start = now.astimezone(CHINA).date().replace(month=1, day=1)
    used = db.session.scalar(
        select(func.coalesce(func.sum(Order.dutiable_value_cny), 0)).where(
            Order.customs_id_hash == identity["hash"],
            Order.placed_on >= year_start,
            or_(
                Order.status.in_(PAID_STATUSES),
                and_(Order.status == "pending_payment", Order.reservation_expires_at > now),
            ),
        )
    )
    return Decimal(used or 0)


def lock_cbec_year(id_hash: str) -> None:
    """Serialize, until the transaction ends, everything that adds to one buyer's
    yearly CBEC total (SQLite serializes all writers anyway)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"cbec-year:{id_hash}"}
        )


def _recheck_cbec_year(identity: dict[str, str], priced: Quote) -> None:
    """Inside the order's transaction, with this person's orders serialized: two
    checkouts at once must not both fit under the yearly allowance."""
    lock_cbec_year(identity["hash"])
    limit = priced.duties.order_figures.get("annual_limit")
    value = _dutiable_value_cny(priced.duties)
    if limit is None or value is None:
        return
    limit_cny = limit.amount
    used = cbec_year_used(identity, priced.quoted_at)
    if used + value > limit_cny:
        remaining = max(limit_cny - used, Decimal(0))
        full_rate = priced.duties.full_rate
        # The same figures as the policy's own refusal (value: this order's), and the
        # single-item rule named when it is what admitted the order.
        raise customs.CustomsLimitExceeded(
            "This order would take the buyer's cross-border purchases this year over "
            f"{limit_cny} CNY; {remaining} CNY are left.",
            scope="annual",
            limit=Money(limit_cny, "CNY"),
            value=Money(value, "CNY"),
            remaining=Money(remaining, "CNY"),
            rule=(
                {
                    "id": full_rate["rule"],
                    "version": full_rate["rule_set_version"],
                    "effective_from": full_rate["effective_from"].isoformat(),
                    "citation": full_rate["citation"],
                }
                if full_rate
                else None
            ),
        )


@retry_on_conflict()
def _write_order(
    number: str,
    token: str,
    checkout: CheckoutRequest,
    priced: Quote,
    identity: dict[str, str] | None,
    started: payments_service.StartedPayment,
    actor: str,
    config,
) -> None:
    now = priced.quoted_at
    currency = priced.currency
    duties = priced.duties
    if identity:
        _recheck_cbec_year(identity, priced)
    # Some adapters settle at once (a saved card confirmed on the server): then the order
    # is paid from its first row, and nothing waits for a webhook that changes nothing.
    paid = started.status == "succeeded"
    order = Order(
        number=number,
        status="paid" if paid else "pending_payment",
        currency=currency,
        destination_country=priced.address.country,
        token_hash=hash_token(token),
        email=checkout.email,
        shipping_address={**checkout.shipping_address, "country": priced.address.country},
        customs_name=identity["name"] if identity else None,
        customs_id_masked=identity["masked"] if identity else None,
        customs_id_hash=identity["hash"] if identity else None,
        customs_id_encrypted=identity["encrypted"] if identity else None,
        goods_total=priced.goods_total.amount,
        shipping_total=priced.shipping_total.amount,
        duties_total=priced.duties_total.amount if priced.duties_total is not None else None,
        duties_status=duties.status,
        grand_total=priced.grand_total.amount,
        dutiable_value_cny=_dutiable_value_cny(duties),
        duties=duties.as_json(),
        exchange_rates=priced.exchange_rates,
        payment_adapter=started.adapter,
        payment_status=started.status,
        placed_on=now.date(),
        paid_amount=priced.grand_total.amount if paid else Decimal(0),
        reservation_expires_at=None if paid else now + _hold_for(started.adapter, config),
        created_at=now,
        updated_at=now,
    )
    db.session.add(order)
    db.session.flush()
    # Lines need no ids back: Core executemany, one statement however many lines.
    db.session.execute(insert(OrderLine), _order_lines(order.id, priced.lines))
    node_ids = routing_world().node_ids
    by_sku = {line.sku.code: line for line in priced.lines}
    allocations: list[Allocation] = []
    for position, planned in enumerate(priced.plan.shipments):
        duties_amount = priced.parcel_duties(position)
        service = priced.carrier_service(position)
        point = service.point if service is not None else None
        shipment = Shipment(
            order_id=order.id,
            order_number=order.number,
            node_id=node_ids[planned.node],
            lane_code=planned.lane,
            status="ready_to_pick" if paid else "awaiting_payment",
            shipping_amount=priced.shipping[position].amount,
            duties_amount=duties_amount.amount if duties_amount is not None else None,
            currency=currency,
            customs_mode=planned.customs_modes[0] if planned.customs_modes else None,
            weight_g=planned.weight_g,
            deliver_from=planned.deliver_from,
            deliver_by=planned.deliver_by,
            quoted_carrier=service.carrier if service is not None else None,
            quoted_service=service.service if service is not None else None,
            delivery_point=point.code if point is not None else None,
            delivery_point_address=_point_address(point),
        )
        db.session.add(shipment)
        db.session.flush()
        db.session.execute(
            insert(ShipmentLine),
            [{"shipment_id": shipment.id, "sku_id": by_sku[item.sku].sku.id,
              "quantity": item.quantity, "reservation": "held"} for item in planned.lines],
        )  # fmt: skip
        allocations.extend(
            Allocation(by_sku[item.sku].sku.id, node_ids[planned.node], item.quantity,
                       shipment.id, item.sku)
            for item in planned.lines
        )  # fmt: skip
    reserve_stock(allocations, order_id=order.id, actor=f"checkout {number}")
    db.session.add_all(
        [
            RoutingDecision(
                order_id=order.id,
                kind="plan",
                strategy=priced.plan.strategy,
                explanation=priced.plan.as_json(),
                actor=actor,
                reason="checkout",
            ),
            OrderEvent(
                order_id=order.id,
                kind="status",
                from_status=None,
                to_status="pending_payment",
                actor=actor,
                reason="order placed",
                data={"payment": started.status, "grand_total": priced.grand_total.as_json()},
            ),
            *(
                [
                    OrderEvent(
                        order_id=order.id,
                        kind="status",
                        from_status="pending_payment",
                        to_status="paid",
                        actor=started.adapter,
                        reason="payment succeeded at checkout",
                    )
                ]
                if paid
                else []
            ),
            Payment(
                order_id=order.id,
                adapter=started.adapter,
                reference=started.reference,
                amount=started.amount.amount,
                currency=started.amount.currency,
                order_amount=started.order_amount.amount if started.order_amount else None,
                status=started.status,
                next_action=started.next_action,
                last_error=started.error[:500],
            ),
        ]
    )
    if checkout.cart_id:
        # The cart became this order: it goes in the same transaction.
        db.session.execute(delete(CartLine).where(CartLine.cart_id == checkout.cart_id))
        gone = db.session.execute(delete(Cart).where(Cart.id == checkout.cart_id))
        if gone.rowcount != 1:
            # Another checkout of this cart won: one cart, one order.
            raise Conflict("This cart was just checked out.", code="cart_checked_out")
    background.enqueue("orders.notify", key=f"notify:{number}:placed", number=number,
                       event="placed")  # fmt: skip
    mark_committed(number)
    db.session.commit()


def _point_address(point) -> str | None:
    """The pickup point as the order page and the packing slip show it."""
    if point is None:
        return None
    return ", ".join(part for part in (point.name, point.address, point.city) if part)[:300]


def _hold_for(adapter: str, config) -> timedelta:
    """Card payments settle in minutes; a bank transfer or cash on delivery takes days."""
    if adapter == "manual":
        return timedelta(minutes=int(config.get("MANUAL_RESERVATION_TTL_MINUTES", 4320)))
    return timedelta(minutes=int(config.get("RESERVATION_TTL_MINUTES", 30)))


def _order_lines(order_id: int, lines: tuple[PricedLine, ...]) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "sku_id": line.sku.id,
            "merchant_id": line.product.merchant_id,
            "sku_code": line.sku.code,
            "product_name": line.name("en")[:300],
            "quantity": line.quantity,
            "unit_price_amount": line.unit_price.amount,
            "unit_price_currency": line.unit_price.currency,
            "hs_code": line.product.hs_code,
            "origin_country": line.product.origin_country,
            "weight_g": line.sku.weight_g,
        }
        for line in lines
    ]


def _dutiable_value_cny(duties: customs.DutyAssessment) -> Decimal | None:
    value = duties.dutiable_value_cny
    return value.amount if value is not None else None
