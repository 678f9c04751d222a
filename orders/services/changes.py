"""What several order services change alike: the history row, the parcels' statuses, a
payment recorded as paid, refunds owed and payments withdrawn. All in the caller's
transaction.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import func, select, update

from catalog.money import Money
from orders import lifecycle
from orders.models import Order, OrderEvent, Payment, Refund
from orders.payment_amounts import in_order_currency, stored_rate_table
from shop.core import background
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse.models import Shipment

log = logging.getLogger(__name__)

LIVE_PAYMENT = ("creating", "requires_action", "pending")


def record_history(
    order: Order, to_status: str | None, actor: str, reason: str, kind="status", **data
):
    """A history row for the order, and its new status when ``to_status`` is given."""
    db.session.add(
        OrderEvent(
            order_id=order.id,
            kind=kind,
            from_status=order.status if to_status else None,
            to_status=to_status,
            actor=actor,
            reason=reason[:500],
            data=data,
        )
    )
    if to_status:
        order.status = to_status


def set_shipments(order_id: int, from_statuses: tuple[str, ...], to_status: str) -> None:
    """Move the order\'s parcels that are in ``from_statuses`` to ``to_status``."""
    db.session.execute(
        update(Shipment)
        .where(Shipment.order_id == order_id, Shipment.status.in_(from_statuses))
        .values(status=to_status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def record_paid(order: Order, amount: Money, actor: str, reason: str, **data) -> None:
    """pending_payment -> paid: holds stay (until shipped), the expiry no longer applies,
    and the node sees the shipments as ready to pick.

    ``amount`` may be in the provider's currency (a converted payment): the order counts
    it in its own currency, at the rate that payment was made at."""
    lifecycle.order_transition(order.status, "paid")
    received = in_order_money(order, amount)
    if received != amount:
        data["provider_amount"] = amount.as_json()
    record_history(order, "paid", actor, reason, amount=received.as_json(), **data)
    order.paid_amount = Decimal(order.paid_amount) + received.amount
    order.payment_status = "succeeded"
    order.reservation_expires_at = None
    set_shipments(order.id, ("awaiting_payment",), "ready_to_pick")


def in_order_money(order: Order, amount: Money, payment: Payment | None = None) -> Money:
    """``amount`` (paid or refunded through a payment, in that payment's currency) in the
    order's currency: a converted payment's whole amount is exactly the order amount it
    stood for, a part of it is converted at the same rate. Without a converted payment
    of that currency, the order's stored rates convert it."""
    if amount.currency == order.currency:
        return amount
    if payment is None or payment.order_amount is None or payment.currency != amount.currency:
        candidates = list(
            db.session.scalars(
                select(Payment)
                .where(Payment.order_id == order.id, Payment.currency == amount.currency,
                       Payment.order_amount.is_not(None))
                .order_by(Payment.id.desc())
            )
        )  # fmt: skip
        payment = next(
            (p for p in candidates if Decimal(p.amount) == amount.amount),
            candidates[0] if candidates else None,
        )
    if payment is not None:
        return in_order_currency(
            amount,
            Money(Decimal(payment.amount), payment.currency),
            Money(Decimal(payment.order_amount), order.currency),
        )
    table = stored_rate_table(order.exchange_rates or [])
    return table.convert(amount, order.currency).rounded()


def owed_back(order: Order) -> Decimal:
    return Decimal(order.paid_amount) - Decimal(order.refunded_amount)


def cancel_payments(payments: list[Payment]) -> None:
    """Withdraw payments no longer wanted (a later payment, a cancel), at the provider,
    after commit: a shopper's old tab must not be able to charge them."""
    for payment in payments:
        payment.status = "canceling"
        background.enqueue("orders.cancel_payment", key=f"cancel-payment:{payment.id}",
                           payment_id=payment.id)  # fmt: skip


def refund_all(order: Order, reason: str) -> list[Refund]:
    """A refund for what each succeeded payment still has not given back (refunds already
    requested count), so two late payments are each refunded once, never more."""
    refunds = []
    for payment in db.session.scalars(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.status == "succeeded")
        .order_by(Payment.id)
    ):
        refund = refund_payment(order, payment, reason)
        if refund is not None:
            refunds.append(refund)
    if not refunds and owed_back(order) > 0:
        log.warning("order %s: %s owed back but no payment to refund", order.number,
                    owed_back(order))  # fmt: skip
    return refunds


def refund_payment(order: Order, payment: Payment, reason: str) -> Refund | None:
    already = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status != "failed"
        )
    )
    owed = Decimal(payment.amount) - Decimal(already or 0)
    if owed <= 0:
        return None
    refund = Refund(
        order_id=order.id, payment_id=payment.id, amount=owed, currency=payment.currency,
        status="requested", reason=reason[:500],
    )  # fmt: skip
    db.session.add(refund)
    order.payment_status = "refund_pending"
    db.session.flush()
    owed_money = Money(owed, payment.currency)
    figures = {"amount": owed_money.as_json()}
    if payment.currency != order.currency:
        figures["order_amount"] = in_order_money(order, owed_money, payment).as_json()
    record_history(order, None, "shop", reason, kind="refund", refund_id=refund.id,
                   **figures)  # fmt: skip
    return refund


def refunded_in_order_currency(order: Order) -> Decimal:
    """What the order's succeeded refunds gave back, in the order's currency (each refund
    of a converted payment at that payment's rate): the figure ``order.refunded_amount``
    holds, comparable with ``paid_amount``."""
    total = Decimal(0)
    rows = db.session.execute(
        select(Refund.amount, Refund.currency, Payment)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.order_id == order.id, Refund.status == "succeeded")
    ).all()
    for amount, currency, payment in rows:
        total += in_order_money(order, Money(Decimal(amount), currency), payment).amount
    return total


def live_payments(order_id: int) -> list[Payment]:
    return list(
        db.session.scalars(
            select(Payment).where(
                Payment.order_id == order_id,
                Payment.status.in_(("requires_action", "pending", "failed")),
                Payment.reference.is_not(None),
                Payment.adapter != "manual",
            )
        )
    )
