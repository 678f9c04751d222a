"""Payments staff record by hand and shoppers retry."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from catalog.models import Category, Product, Sku
from catalog.money import Money, UnknownCurrency
from orders import lifecycle, payments_service
from orders.models import Order, OrderLine, Payment
from orders.payment_amounts import (
    ChargedLine,
    ProviderAmount,
    payment_currency,
    payment_lines,
    provider_amount,
    stored_rate_table,
)
from orders.payments.base import PaymentAdapter
from orders.services.changes import cancel_payments, live_payments, record_history, record_paid
from orders.services.reading import Viewer, find_order, get_order, order_document
from shop.core import background
from shop.core.auth import StaffPrincipal
from shop.core.errors import Conflict, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict


def parse_amount(value: Any, currency: str, field: str = "amount") -> Money:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed(errors={field: ['A decimal amount, e.g. "120.50".']}) from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e15"):
        raise ValidationFailed(errors={field: ["A positive amount below 10^15."]})
    money = Money(amount, currency)
    if money.rounded().amount != amount:
        raise ValidationFailed(errors={field: [f"More decimals than {currency} has."]})
    return money


@retry_on_conflict()
def mark_paid(
    number: str, staff: StaffPrincipal, amount: Any = None, reference: str = ""
) -> dict[str, Any]:
    """An operator records money received outside the shop (bank transfer, cash).

    Idempotent: marking a paid order paid again with the same reference changes
    nothing; an expired or cancelled order cannot be paid (its stock is gone).
    """
    viewer = Viewer(staff=staff)
    order = find_order(number, viewer, for_update=True)
    received = (
        parse_amount(amount, order.currency)
        if amount is not None
        else Money(Decimal(order.grand_total), order.currency)
    )
    reference = (reference or "").strip()[:120]
    manual = db.session.scalar(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.adapter == "manual")
        .order_by(Payment.id.desc())
        .limit(1)
    )
    if order.status in lifecycle.PAID_STATUSES and manual is not None:
        if manual.status == "succeeded" and reference in ("", manual.received_reference):
            db.session.rollback()
            return get_order(number, viewer)  # the same payment, recorded again: no change
        raise Conflict(
            f"Order {number} is already paid (reference {manual.received_reference or 'none'}).",
            code="already_paid",
        )
    if order.status != "pending_payment":
        raise Conflict(
            f"Order {number} is {order.status.replace('_', ' ')}; only an order waiting for "
            "payment can be marked paid.",
            code="illegal_transition",
            status_now=order.status,
        )
    if received.amount < Decimal(order.grand_total):
        raise ValidationFailed(
            f"{received.amount} {order.currency} is less than the order's total of "
            f"{Money(Decimal(order.grand_total), order.currency).rounded().amount}.",
            errors={"amount": ["Less than the grand total."]},
        )
    if manual is None:
        manual = Payment(order_id=order.id, adapter="manual", reference=f"manual:{number}",
                         currency=order.currency)  # fmt: skip
        db.session.add(manual)
    manual.amount = received.amount
    manual.status = "succeeded"
    manual.received_reference = reference
    manual.next_action = {}
    record_paid(order, received, staff.actor, "payment received (manual)", reference=reference)
    order.payment_adapter = "manual"
    # Paid by hand: a card payment still open for this order must not charge it too.
    cancel_payments(live_payments(order.id))
    background.enqueue("orders.notify", key=f"notify:{number}:paid", number=number, event="paid")
    db.session.commit()
    return get_order(number, viewer)


@dataclass(frozen=True)
class PaymentContext:
    """What the shopper's request says about paying (the views fill it)."""

    device: str = "desktop"
    client_ip: str | None = None
    site_url: str | None = None
    lang: str = "en"


def payment_amount(order: Order, adapter: PaymentAdapter) -> ProviderAmount:
    """The order's grand total as ``adapter`` is paid it, converted at the order's stored
    rates when the adapter takes another currency."""
    total = Money(Decimal(order.grand_total), order.currency)
    target = payment_currency(order.currency, adapter.currencies)
    try:
        return provider_amount(total, target, stored_rate_table(order.exchange_rates or []))
    except UnknownCurrency:
        raise ValidationFailed(
            f"The order stored no rate from {order.currency} to {target}.",
            errors={"payment.adapter": [f"It takes {target} only."]},
        ) from None


def _payment_details(
    order: Order, paying: ProviderAmount, adapter: str, context: PaymentContext
) -> payments_service.PaymentDetails:
    """The same request checkout makes: lines from the order's lines, the way back to the
    order page and the webhook address. The order page already holds the token in its
    cookie, so the way back carries none."""
    rows = db.session.execute(
        select(OrderLine.sku_code, OrderLine.product_name, OrderLine.quantity,
               OrderLine.unit_price_amount, Category.slug)
        .outerjoin(Sku, Sku.id == OrderLine.sku_id)
        .outerjoin(Product, Product.id == Sku.product_id)
        .outerjoin(Category, Category.id == Product.category_id)
        .where(OrderLine.order_id == order.id)
        .order_by(OrderLine.id)
    ).all()  # fmt: skip
    names = _names_in(context.lang, [row.sku_code for row in rows])
    goods = [
        ChargedLine((names.get(row.sku_code) or row.product_name)[:128], row.quantity,
                    Money(Decimal(row.unit_price_amount), order.currency), row.slug,
                    row.sku_code)
        for row in rows
    ]  # fmt: skip
    duties = Money(Decimal(order.duties_total), order.currency) if order.duties_total else None
    base = payments_service.site_base(context.site_url)
    return payments_service.PaymentDetails(
        lines=payment_lines(goods, Money(Decimal(order.shipping_total), order.currency), duties,
                            paying, **payments_service.line_names(context.lang)),
        order_amount=paying.order_amount if paying.converted else None,
        return_url=f"{base}/orders/{order.number}?returned=1" if base else None,
        notify_url=f"{base}/api/v1/payments/{adapter}/webhook" if base else None,
        client_ip=context.client_ip,
        device=context.device,
        locale=context.lang,
        phone=(order.shipping_address or {}).get("phone") or None,
    )  # fmt: skip


def _names_in(lang: str, codes: list[str]) -> dict[str, str]:
    rows = db.session.execute(
        select(Sku, Product).join(Product, Product.id == Sku.product_id)
        .where(Sku.code.in_(codes))
    ).all()  # fmt: skip
    names = {}
    for sku, product in rows:
        label = sku.localized("label", lang)
        name = product.localized("name", lang)
        names[sku.code] = f"{name} ({label})" if label else name
    return names


def retry_payment(
    number: str, viewer: Viewer, context: PaymentContext | None = None
) -> dict[str, Any]:
    """A shopper pays again after the provider was down or the card declined.

    A payment still in progress is returned as it is (no second PaymentIntent);
    otherwise a new one is started outside any transaction and then recorded.
    """
    order = find_order(number, viewer)
    if order.status != "pending_payment":
        raise Conflict(
            f"Order {number} is {order.status.replace('_', ' ')}; there is nothing to pay.",
            code="illegal_transition",
            status_now=order.status,
        )
    attempts = db.session.scalar(
        select(Payment).where(Payment.order_id == order.id).order_by(Payment.id.desc()).limit(1)
    )
    if attempts is not None and attempts.status in ("requires_action", "pending"):
        document = order_document(order, viewer)
        db.session.rollback()
        return document
    count = db.session.query(Payment).filter(Payment.order_id == order.id).count()
    adapter = payments_service.adapter(order.payment_adapter)
    total = Money(Decimal(order.grand_total), order.currency)
    paying = payment_amount(order, adapter)
    details = _payment_details(order, paying, adapter.name, context or PaymentContext())
    email = order.email
    db.session.rollback()  # no transaction open during the outside call
    started = payments_service.start_payment(
        adapter, number, paying.amount, email, idempotency_key=f"{number}-pay-{count + 1}",
        details=details,
    )  # fmt: skip
    order = find_order(number, viewer, for_update=True)
    if order.status != "pending_payment":
        db.session.rollback()
        payments_service.abandon(adapter, started)
        raise Conflict(f"Order {number} changed while paying.", code="illegal_transition")
    earlier = live_payments(order.id)
    payment = Payment(
        order_id=order.id, adapter=started.adapter, reference=started.reference,
        amount=paying.amount.amount, currency=paying.amount.currency, status=started.status,
        order_amount=total.amount if paying.converted else None,
        next_action=started.next_action, last_error=started.error[:500],
    )  # fmt: skip
    db.session.add(payment)
    try:
        db.session.flush()
    except IntegrityError:
        # A concurrent retry got the same payment from the provider (one idempotency
        # key): it is recorded already.
        db.session.rollback()
        return get_order(number, viewer)
    order.payment_status = started.status
    record_history(
        order, None, viewer.actor, "payment retried", kind="payment", status=started.status
    )
    cancel_payments([p for p in earlier if p.reference != started.reference])
    if started.status == "succeeded":
        record_paid(order, started.amount, viewer.actor, "payment succeeded")
    db.session.commit()
    return get_order(number, viewer)
