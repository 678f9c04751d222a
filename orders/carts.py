"""Anonymous carts: lines kept server-side, priced and quoted on every read.

A cart's id is public (it appears in URLs); its token, shown once when the
cart is made, is what lets a shopper read or change it. Without the right
token a cart does not exist (404). Reading a cart with a destination asks
the same ``quote`` checkout uses: the shipments, their shipping and
delivery window, and the duties estimate.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select

from catalog.models import Sku
from catalog.services import current_rates
from orders import payments_service
from orders.models import Cart, CartLine
from orders.payment_amounts import payment_currency, stored_rate_table
from orders.pricing import (
    MAX_LINES,
    MAX_QUANTITY,
    Address,
    WantedLine,
    check_currency,
    load_lines,
    quote,
)
from shop.core.auth import hash_token
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import DomainError, NotFound, ValidationFailed
from shop.core.extensions import db
from warehouse.routing import RoutingError
from warehouse.shipping import DOOR, DeliveryChoice

DEFAULT_CURRENCY = "CNY"


@dataclass(frozen=True)
class NewCart:
    id: str
    token: str


def create_cart(currency: str | None, lines: list[WantedLine]) -> NewCart:
    rates = current_rates().table
    if currency:
        currency = check_currency(currency, rates)
    if lines:
        load_lines(lines, currency or DEFAULT_CURRENCY, rates)  # 422 for unknown SKUs
    cart_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    cart = Cart(id=cart_id, token_hash=hash_token(token), currency=currency)
    db.session.add(cart)
    db.session.flush()
    _merge_lines(cart, lines)
    db.session.commit()
    return NewCart(cart_id, token)


def _find(cart_id: str, token: str | None, *, for_update: bool = False) -> Cart:
    query = select(Cart).where(Cart.id == cart_id)
    if for_update:
        query = query.with_for_update()
    cart = db.session.scalar(query)
    if cart is None or not token or not hmac.compare_digest(hash_token(token), cart.token_hash):
        raise NotFound(f"No cart {cart_id}.")
    return cart


def unit_count(cart_id: str, token: str | None) -> int:
    """Units in the cart, in one query; 0 when there is no such cart for this token
    (a page header shows it, so a stale cookie is not an error)."""
    row = db.session.execute(
        select(Cart.token_hash, func.coalesce(func.sum(CartLine.quantity), 0))
        .outerjoin(CartLine, CartLine.cart_id == Cart.id)
        .where(Cart.id == cart_id)
        .group_by(Cart.id, Cart.token_hash)
    ).first()
    if row is None or not token or not hmac.compare_digest(row[0], hash_token(token)):
        return 0
    return int(row[1])


def _sku_ids(codes: list[str]) -> dict[str, int]:
    return dict(db.session.execute(select(Sku.code, Sku.id).where(Sku.code.in_(codes))).all())


def _merge_lines(cart: Cart, lines: list[WantedLine]) -> None:
    ids = _sku_ids([line.sku for line in lines])
    existing = {line.sku_id: line for line in cart.lines}
    for line in lines:
        sku_id = ids[line.sku]
        if sku_id in existing:
            existing[sku_id].quantity = min(MAX_QUANTITY, existing[sku_id].quantity + line.quantity)
        else:
            existing[sku_id] = CartLine(cart_id=cart.id, sku_id=sku_id, quantity=line.quantity)
            cart.lines.append(existing[sku_id])
    if len(cart.lines) > MAX_LINES:
        raise ValidationFailed(errors={"lines": [f"A cart holds at most {MAX_LINES} lines."]})
    cart.updated_at = utcnow()


def add_line(cart_id: str, token: str | None, line: WantedLine) -> None:
    cart = _find(cart_id, token, for_update=True)
    try:
        load_lines([line], cart.currency or DEFAULT_CURRENCY, current_rates().table)
    except ValidationFailed as problem:
        # The body is one line: name its fields as the body does (``sku``).
        raise ValidationFailed(
            errors={name.split(".")[-1]: msgs for name, msgs in (problem.errors or {}).items()}
        ) from None
    _merge_lines(cart, [line])
    db.session.commit()


def set_line_quantity(cart_id: str, token: str | None, line_id: int, quantity: int) -> None:
    cart = _find(cart_id, token, for_update=True)
    line = next((line for line in cart.lines if line.id == line_id), None)
    if line is None:
        raise NotFound(f"No line {line_id} in this cart.")
    if quantity == 0:
        cart.lines.remove(line)
    else:
        line.quantity = quantity
    cart.updated_at = utcnow()
    db.session.commit()


def remove_line(cart_id: str, token: str | None, line_id: int) -> None:
    set_line_quantity(cart_id, token, line_id, 0)


def delete_cart(cart_id: str, token: str | None) -> None:
    cart = _find(cart_id, token, for_update=True)
    db.session.delete(cart)
    db.session.commit()


def cart_lines_for_checkout(cart_id: str, token: str | None) -> list[WantedLine]:
    """The cart's lines for checkout; a cart that is not the caller's is a 404."""
    _find(cart_id, token)
    lines = [
        WantedLine(code, quantity)
        for code, quantity in db.session.execute(
            select(Sku.code, CartLine.quantity)
            .join(Sku, Sku.id == CartLine.sku_id)
            .where(CartLine.cart_id == cart_id)
            .order_by(CartLine.id)
        )
    ]
    if not lines:
        raise ValidationFailed(errors={"cart_id": ["The cart is empty."]})
    return lines


def cart_document(
    cart_id: str,
    token: str | None,
    *,
    lang: str,
    currency: str | None = None,
    destination: str | None = None,
    region: str | None = None,
    postal_code: str | None = None,
    city: str | None = None,
    delivery: DeliveryChoice = DOOR,
) -> dict[str, Any]:
    """The cart priced in ``currency`` (else the cart's); with a destination, the quote:
    shipments, shipping, delivery windows and duties — or why it cannot go there.
    ``delivery`` quotes to the door or to a pickup point of ``city``."""
    cart = _find(cart_id, token)
    rates = current_rates().table
    currency = check_currency(currency or cart.currency or DEFAULT_CURRENCY, rates)
    rows = db.session.execute(
        select(CartLine.id, Sku.code, CartLine.quantity)
        .join(Sku, Sku.id == CartLine.sku_id)
        .where(CartLine.cart_id == cart.id)
        .order_by(CartLine.id)
    ).all()
    document: dict[str, Any] = {
        "id": cart.id,
        "currency": currency,
        "updated_at": iso_utc(cart.updated_at),
        "lines": [],
        "totals": {"goods": {"amount": "0", "currency": currency}},
        "quote": None,
    }
    if not rows:
        db.session.rollback()
        return document
    wanted = [WantedLine(code, quantity) for _, code, quantity in rows]
    line_ids = {code: line_id for line_id, code, _ in rows}
    unavailable: list[str] = []
    try:
        priced = load_lines(wanted, currency, rates)
    except ValidationFailed:
        # A SKU withdrawn since it was added: show the rest, flag it.
        priced = ()
        for line in wanted:
            try:
                priced += load_lines([line], currency, rates)
            except ValidationFailed:
                unavailable.append(line.sku)
        priced = tuple(replace(p, index=i) for i, p in enumerate(priced, start=1))
    document["lines"] = [
        {
            "id": line_ids[line.sku.code],
            "sku": line.sku.code,
            "name": line.name(lang),
            "quantity": line.quantity,
            "unit_price": line.unit_price.rounded().as_json(),
            "total": line.total.rounded().as_json(),
            "available": True,
        }
        for line in priced
    ] + [
        {"id": line_ids[code], "sku": code, "available": False,
         "problem": "No longer on sale: remove it to check out."}
        for code in unavailable
    ]  # fmt: skip
    goods = sum((line.total.amount for line in priced), start=0)
    document["totals"] = {"goods": {"amount": str(goods), "currency": currency}}
    if destination and priced:
        address = Address(destination.upper(), region, postal_code, city)
        document["destination"] = {"country": address.country, "region": region,
                                   "region_code": address.destination.region}  # fmt: skip
        now = utcnow()
        offered = payments_service.offered_methods(address.country, currency, now.date())
        pay_in = tuple(payment_currency(currency, payments_service.adapter_currencies(name))
                       for name in offered)  # fmt: skip
        try:
            quoted = quote(priced, address, currency, rates=rates, now=now,
                           delivery=delivery, payment_currencies=pay_in)  # fmt: skip
        except (RoutingError, DomainError) as refusal:
            document["quote"] = {"deliverable": False, "problem": refusal.body()}
        else:
            assessment = quoted.duties.as_json()
            document["quote"] = {
                "deliverable": True,
                "shipments": quoted.shipments_json(lang),
                "totals": quoted.totals_json(),
                "duties": {
                    "status": quoted.duties.status,
                    "notice": quoted.duties.notice,
                    # China's single item above the per-order limit: full taxes, why,
                    # and the amounts, shown before paying (None otherwise).
                    "full_rate": assessment["full_rate"],
                    "assessment": assessment,
                },
                "exchange_rates": quoted.exchange_rates,
                "delivery": {"method": delivery.method, "point": delivery.point},
                # The ways to pay offered there, each with the amount in its currency
                # when it is converted (at the rates the order would store).
                "payment_methods": payments_service.method_choices(
                    address.country, quoted.grand_total,
                    stored_rate_table(quoted.exchange_rates), now.date(),
                ),
            }  # fmt: skip
    db.session.rollback()
    return document
