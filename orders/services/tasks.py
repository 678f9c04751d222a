"""Background tasks and the sweep: refunds and payment cancels sent to providers, the
shopper's e-mails, payments reconciled with providers, unpaid holds expired.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select, update

from catalog.money import Money
from orders import payments_service
from orders.expiry import expire_reservations
from orders.models import Order, Payment, Refund
from orders.payments.base import (
    PaymentError,
    PaymentEvent,
    PaymentRejected,
    PaymentUnavailable,
)
from orders.services.changes import record_history
from orders.services.provider_events import apply_payment_event
from shop.core import background
from shop.core.clock import utcnow
from shop.core.errors import DomainError
from shop.core.extensions import db
from shop.core.idempotency import purge_expired
from shop.core.notify import Message, notifier_from_config

log = logging.getLogger(__name__)


@background.task("orders.send_refund")
def send_refund(refund_id: int) -> str:
    """Ask the provider to refund; idempotent by the refund's id (the provider's
    idempotency key), so a retried task never refunds twice."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != "requested":
        db.session.rollback()
        return "nothing to do"
    payment = db.session.get(Payment, refund.payment_id)
    order = db.session.get(Order, refund.order_id)
    adapter = payments_service.adapter(payment.adapter)
    reference, amount = payment.reference, Money(Decimal(refund.amount), refund.currency)
    db.session.rollback()
    try:
        result = adapter.refund(reference, amount, idempotency_key=f"refund-{refund_id}")
    except PaymentUnavailable as outage:
        db.session.execute(
            update(Refund).where(Refund.id == refund_id)
            .values(attempts=Refund.attempts + 1, last_error=str(outage)[:500])
        )  # fmt: skip
        db.session.commit()
        raise
    refund = db.session.get(Refund, refund_id, with_for_update=True)
    order = db.session.get(Order, refund.order_id, with_for_update=True)
    if refund.status != "requested":
        db.session.rollback()
        return refund.status
    refund.status = result.status
    refund.reference = result.reference
    refund.attempts += 1
    if result.status == "succeeded":
        db.session.flush()
        # The provider's refund webhook may have counted this refund already.
        refunded = db.session.scalar(
            select(func.sum(Refund.amount)).where(
                Refund.order_id == order.id, Refund.status == "succeeded"
            )
        )
        order.refunded_amount = max(Decimal(order.refunded_amount), Decimal(refunded or 0))
        if Decimal(order.refunded_amount) >= Decimal(order.paid_amount):
            order.payment_status = "refunded"
    elif result.status == "pending":
        order.payment_status = "refund_pending"
    record_history(order, None, adapter.name, f"refund {result.status}", kind="refund",
            refund_id=refund_id, reference=result.reference)  # fmt: skip
    db.session.commit()
    return result.status


@background.task("orders.cancel_payment")
def cancel_payment(payment_id: int) -> None:
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.status != "canceling" or not payment.reference:
        db.session.rollback()
        return
    adapter = payments_service.adapter(payment.adapter)
    reference = payment.reference
    db.session.rollback()
    adapter.cancel(reference)
    db.session.execute(
        update(Payment).where(Payment.id == payment_id, Payment.status == "canceling")
        .values(status="canceled")
    )  # fmt: skip
    db.session.commit()


@background.task("orders.capture_payment")
def capture_payment(adapter: str, reference: str, order_number: str) -> str:
    """Take held money (a two-stage payment) for an order that can still be paid, outside
    any transaction; its success pays the order through ``apply_payment_event``, once,
    however it races the provider's own ``succeeded`` notification. An order that
    stopped being payable meanwhile gets its hold released instead."""
    status = db.session.scalar(select(Order.status).where(Order.number == order_number))
    db.session.rollback()
    if status != "pending_payment":
        return release_hold(adapter, reference, order_number)
    payments = payments_service.adapter(adapter)
    try:
        result = payments.capture(reference)
    except PaymentRejected as refused:
        # Not held any more (the hold expired, or it was released): the provider's own
        # notification or the sweeper says what became of it.
        log.warning("payment %s at %s: not captured (%s)", reference, adapter, refused)
        return f"not captured: {refused}"
    if result.status != "succeeded":
        log.warning("payment %s at %s: capture left it %s", reference, adapter,
                    result.provider_status)  # fmt: skip
        return f"capture: {result.provider_status}"
    event = PaymentEvent(
        id=f"capture:{reference}", kind="succeeded", reference=reference,
        order_number=order_number, amount=result.amount, provider_type="capture", raw={},
    )  # fmt: skip
    return apply_payment_event(adapter, event)


@background.task("orders.release_hold")
def release_hold(adapter: str, reference: str, order_number: str) -> str:
    """Cancel held money the order no longer wants (it expired, was cancelled, or was
    paid another way): nothing was taken, so nothing is refunded."""
    db.session.rollback()
    result = payments_service.adapter(adapter).cancel(reference)
    db.session.execute(
        update(Payment).where(Payment.adapter == adapter, Payment.reference == reference,
                              Payment.status != "succeeded")
        .values(status="canceled")
    )  # fmt: skip
    db.session.commit()
    log.info("order %s: hold %s at %s released (%s)", order_number, reference, adapter,
             result.provider_status)  # fmt: skip
    return f"hold released: {result.provider_status}"


@background.task("orders.notify")
def notify(number: str, event: str) -> None:

    order = db.session.scalar(select(Order).where(Order.number == number))
    if order is None or not order.email:
        return
    subjects = {
        "placed": f"Your SCO Pavilion order {number}",
        "paid": f"Payment received for order {number}",
        "shipped": f"Order {number} is on its way",
    }
    total = Money(Decimal(order.grand_total), order.currency).rounded()
    text = (
        f"Order {number}: {order.status.replace('_', ' ')}.\n"
        f"Total: {total.amount} {total.currency}.\n"
    )
    email = order.email
    db.session.rollback()
    notifier_from_config(current_app.config).send(Message(email, subjects[event], text))


def reconcile_payments(now=None, *, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Ask providers about payments still open after ``older_than``: a lost webhook must
    not leave a paid order unpaid (and then expired). A payment that succeeded is applied
    as its event would have been; one whose order can no longer be paid is cancelled.
    Returns how many payments changed."""
    now = now or utcnow()
    changed = _adopt_lost_payments(now, older_than)
    open_payments = db.session.execute(
        select(Payment.id, Payment.adapter, Payment.reference, Order.status)
        .join(Order, Order.id == Payment.order_id)
        .where(
            Payment.status.in_(("requires_action", "pending")),
            Payment.adapter != "manual",
            Payment.reference.is_not(None),
            Payment.created_at < now - older_than,
        )
        .order_by(Payment.id)
    ).all()
    db.session.rollback()
    for payment_id, adapter_name, reference, order_status in open_payments:
        try:
            adapter = payments_service.adapter(adapter_name)
            result = adapter.status(reference)
        except (NotImplementedError, PaymentError, DomainError) as problem:
            log.warning("payment %s at %s: no status (%s)", reference, adapter_name, problem)
            continue
        if result.status == "succeeded":
            event = PaymentEvent(
                id=f"reconcile:{reference}", kind="succeeded", reference=reference,
                order_number=None, amount=result.amount, provider_type="reconcile", raw={},
            )  # fmt: skip
            apply_payment_event(adapter_name, event)
            changed += 1
        elif order_status == "pending_payment" and result.provider_status in adapter.held_statuses:
            # Held money whose notification was lost: applied as that notification would
            # have been (a capture job), once per payment.
            event = PaymentEvent(
                id=f"reconcile-held:{reference}", kind="authorized", reference=reference,
                order_number=None, amount=result.amount, provider_type="reconcile", raw={},
            )  # fmt: skip
            apply_payment_event(adapter_name, event)
            changed += 1
        elif order_status != "pending_payment":
            db.session.execute(
                update(Payment).where(Payment.id == payment_id).values(status="canceling")
            )
            db.session.commit()
            try:
                cancel_payment(payment_id)
            except Exception:
                db.session.rollback()
                log.warning("payment %s: cancel failed", reference, exc_info=True)
                continue
            changed += 1
    return changed


def _adopt_lost_payments(now, older_than: timedelta) -> int:
    """Payments whose creation timed out (``unavailable``, no reference) may exist at the
    provider all the same: the answer was lost, not the request. The provider is asked
    for the order's payment; one found is written on the row, so that the shopper can
    pay it and the reconciling below follows it like any other. Only the order's latest
    attempt is kept; one found for an earlier attempt is withdrawn."""
    lost = db.session.execute(
        select(Payment.id, Payment.adapter, Payment.order_id, Payment.created_at, Order.number)
        .join(Order, Order.id == Payment.order_id)
        .where(
            Payment.status == "unavailable",
            Payment.reference.is_(None),
            Payment.adapter != "manual",
            Payment.created_at < now - older_than,
            Payment.created_at > now - timedelta(days=1),
            Order.status == "pending_payment",
        )
        .order_by(Payment.id)
    ).all()
    db.session.rollback()
    adopted = 0
    for payment_id, adapter_name, order_id, created_at, number in lost:
        try:
            found = payments_service.adapter(adapter_name).find_payment(
                number, created_at - timedelta(minutes=1)
            )
        except (PaymentError, DomainError) as problem:
            log.warning("order %s: could not look for its lost payment (%s)", number, problem)
            continue
        if found is None or not found.reference:
            continue
        known = db.session.scalar(
            select(Payment.id).where(Payment.adapter == adapter_name,
                                     Payment.reference == found.reference)
        )  # fmt: skip
        latest = db.session.scalar(select(func.max(Payment.id)).where(Payment.order_id == order_id))
        if known is not None:
            db.session.rollback()
            continue
        withdraw = latest != payment_id
        db.session.execute(
            update(Payment).where(Payment.id == payment_id, Payment.status == "unavailable")
            .values(reference=found.reference, next_action=found.next_action,
                    status="canceling" if withdraw else found.status)
        )  # fmt: skip
        db.session.commit()
        log.info("order %s: found its lost payment %s at %s (%s)", number, found.reference,
                 adapter_name, found.provider_status)  # fmt: skip
        if withdraw:
            try:
                cancel_payment(payment_id)
            except Exception:
                db.session.rollback()
                log.warning("payment %s: cancel failed", found.reference, exc_info=True)
        adopted += 1
    return adopted


def _refund_failed(refund_id: int, problem: Exception) -> None:
    """Count a failed try; after several, a person must look (status failed, with why)."""
    log.warning("refund %d failed: %s", refund_id, problem)
    refund = db.session.get(Refund, refund_id, with_for_update=True)
    if refund is None or refund.status != "requested":
        db.session.rollback()
        return
    refund.attempts += 1
    refund.last_error = str(problem)[:500]
    if refund.attempts >= REFUND_ATTEMPTS and not isinstance(problem, PaymentUnavailable):
        refund.status = "failed"
    db.session.commit()


REFUND_ATTEMPTS = 5


@background.sweeper("orders")
def sweep(now=None) -> dict[str, int]:
    """What a lost task, a lost webhook or a stopped clock left behind: payments settled
    at the provider, unpaid holds past their time, refunds whose task never ran, and
    day-old idempotency keys."""

    now = now or utcnow()
    reconciled = reconcile_payments(now)  # before expiry: a paid order must not expire
    expired = expire_reservations(now)
    if expired:
        reconciled += reconcile_payments(now, older_than=timedelta(0))
    stale = db.session.scalars(
        select(Refund.id).where(
            Refund.status == "requested", Refund.updated_at < now - timedelta(minutes=1)
        )
    ).all()
    db.session.rollback()
    sent = 0
    for refund_id in stale:
        # One refund the provider refuses must not stop the others (or the sweep).
        try:
            send_refund(refund_id)
            sent += 1
        except Exception as problem:
            db.session.rollback()
            _refund_failed(refund_id, problem)
    return {
        "payments_reconciled": reconciled,
        "expired": expired,
        "refunds_retried": sent,
        "keys_purged": purge_expired(now),
    }
