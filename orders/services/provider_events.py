"""Verified events from payment providers, applied once whatever order they arrive in;
and a payment that arrives after the hold ran out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from catalog.models import Sku
from catalog.money import Money
from orders import lifecycle
from orders.models import Order, Payment, ProviderEvent, Refund
from orders.payments.base import PaymentEvent
from orders.services.changes import (
    cancel_payments,
    live_payments,
    owed_back,
    record_history,
    record_paid,
    refund_payment,
    set_shipments,
)
from shop.core import background
from shop.core.clock import utcnow
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse.models import Shipment, ShipmentLine, StockLevel
from warehouse.services import Allocation, release_order_stock, reserve_stock

log = logging.getLogger(__name__)


@retry_on_conflict()
def apply_payment_event(adapter_name: str, event: PaymentEvent) -> str:
    """Apply a verified provider event once, whatever order events arrive in.

    Returns what happened (for the log and the webhook's answer). A replayed
    event id is ignored; a late ``failed`` never un-pays an order; money that
    arrives for an order already cancelled or expired is refunded.
    """
    try:
        db.session.add(
            ProviderEvent(adapter=adapter_name, event_id=event.id, kind=event.kind or "")
        )
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return "duplicate"
    # The order first, then its payment: the lock order cancel and mark-paid use.
    payment_order = None
    if event.reference:
        payment_order = db.session.scalar(
            select(Payment.order_id).where(Payment.adapter == adapter_name,
                                           Payment.reference == event.reference)
        )  # fmt: skip
    order = None
    if payment_order is not None:
        order = db.session.scalar(select(Order).where(Order.id == payment_order)
                                  .with_for_update())  # fmt: skip
    elif event.order_number:
        order = db.session.scalar(
            select(Order).where(Order.number == event.order_number).with_for_update()
        )
    payment = None
    if payment_order is not None:
        payment = db.session.scalar(
            select(Payment).where(Payment.adapter == adapter_name,
                                  Payment.reference == event.reference)
            .with_for_update()
        )  # fmt: skip
    record = db.session.scalar(
        select(ProviderEvent).where(
            ProviderEvent.adapter == adapter_name, ProviderEvent.event_id == event.id
        )
    )
    if order is None:
        record.outcome = "no such order"
        db.session.commit()
        return record.outcome
    record.order_id = order.id
    outcome, follow_up = _apply(order, payment, event, adapter_name)
    record.outcome = outcome[:200]
    for name, kwargs in follow_up:
        background.enqueue(name, **kwargs)
    db.session.commit()
    log.info("order %s: %s event %s -> %s", order.number, adapter_name, event.id, outcome)
    return outcome


def _apply(order: Order, payment: Payment | None, event: PaymentEvent, adapter: str):
    actor = f"{adapter} webhook"
    follow_up: list[tuple[str, dict[str, Any]]] = []
    if event.kind == "authorized":
        return _apply_authorized(order, payment, event, adapter, follow_up), follow_up
    if event.kind == "succeeded":
        amount = event.amount or Money(
            Decimal(payment.amount if payment is not None else order.grand_total), order.currency
        )
        if (
            payment is not None
            and payment.status == "succeeded"
            and (order.status != "pending_payment")
        ):
            return "already recorded", follow_up
        if order.status == "pending_payment":
            if payment is not None:
                payment.status = "succeeded"
            record_paid(order, amount, actor, "payment succeeded", event=event.id)
            cancel_payments([p for p in live_payments(order.id) if p is not payment])
            follow_up.append(
                ("orders.notify",
                 {"key": f"notify:{order.number}:paid", "number": order.number, "event": "paid"})
            )  # fmt: skip
            return "paid", follow_up
        if order.status == "expired" and payment is not None and _hold_again(order, actor):
            payment.status = "succeeded"
            record_paid(order, amount, actor, "payment succeeded after the hold ran out",
                       event=event.id)  # fmt: skip
            cancel_payments([p for p in live_payments(order.id) if p is not payment])
            follow_up.append(
                ("orders.notify",
                 {"key": f"notify:{order.number}:paid", "number": order.number, "event": "paid"})
            )  # fmt: skip
            return "paid after expiry: goods held again", follow_up
        # Money that the order no longer needs: it was cancelled, or expired and its goods
        # are gone, or another payment paid it already (a second tab, a retry). It goes
        # back, once.
        if payment is None:
            return f"ignored: order is {order.status}, payment unknown", follow_up
        payment.status = "succeeded"
        order.paid_amount = Decimal(order.paid_amount) + amount.amount
        why = (
            f"paid after the order was {order.status}"
            if order.status in ("cancelled", "expired")
            else "a second payment for an order already paid"
        )
        refund = refund_payment(order, payment, why)
        if refund is not None:
            follow_up.append(
                ("orders.send_refund", {"key": f"refund:{refund.id}", "refund_id": refund.id})
            )
        return f"refunding: {why}", follow_up
    if event.kind in ("failed", "canceled"):
        if payment is not None and payment.status != "succeeded":
            payment.status = event.kind
        if order.status == "pending_payment" and order.payment_status != "succeeded":
            order.payment_status = event.kind
            record_history(
                order, None, actor, f"payment {event.kind}", kind="payment", event=event.id
            )
            return f"payment {event.kind}", follow_up
        return f"ignored: order is {order.status}", follow_up
    if event.kind == "refunded":
        if payment is not None and event.amount is not None and event.refund_reference:
            event = _as_running_total(order, payment, event)
        refunded = event.amount.amount if event.amount else owed_back(order)
        if refunded > Decimal(order.refunded_amount):
            order.refunded_amount = refunded
        if payment is not None and event.amount is not None:
            _confirm_refunds_covered(payment, event.amount.amount)
        else:
            for refund in db.session.scalars(
                select(Refund).where(Refund.order_id == order.id, Refund.status == "requested")
            ):
                if Decimal(order.refunded_amount) >= Decimal(refund.amount):
                    refund.status = "succeeded"
        if payment is not None and event.amount is not None:
            _record_refund_made_at_provider(order, payment, event)
        full = Decimal(order.refunded_amount) >= Decimal(order.paid_amount) > 0
        order.payment_status = "refunded" if full else "partially_refunded"
        target = "refunded" if full else "partially_refunded"
        if full and order.status in ("paid", "fulfilling"):
            # Refunded at the provider before anything left: the goods must not ship.
            release_order_stock(order.id, reason="release", actor=actor, new_state="released")
            set_shipments(
                order.id,
                ("awaiting_payment", "ready_to_pick", "picking", "packed", "booking_requested"),
                "cancelled",
            )
            record_history(
                order, "cancelled", actor, "refunded in full at the provider", event=event.id
            )
        elif target in lifecycle.ORDER_TRANSITIONS[order.status]:
            record_history(order, target, actor, "refunded at the provider", event=event.id)
        else:
            record_history(order, None, actor, "refund confirmed", kind="refund", event=event.id)
        return f"refund recorded ({order.refunded_amount})", follow_up
    return "ignored", follow_up


def _apply_authorized(
    order: Order, payment: Payment | None, event: PaymentEvent, adapter: str,
    follow_up: list[tuple[str, dict[str, Any]]],
) -> str:  # fmt: skip
    """Money held for the shop (a two-stage payment). While the order can still be paid,
    a job captures it after commit; the capture's success (or the provider's own
    ``succeeded``, whichever is applied first) pays the order. Otherwise (expired,
    cancelled, paid by another payment, or this payment withdrawn by a retry) the hold is
    released: nothing was taken, so nothing needs refunding."""
    actor = f"{adapter} webhook"
    if payment is not None and payment.status == "succeeded":
        return "already captured"
    if not event.reference:
        return "ignored: an authorization without a payment reference"
    job = {"adapter": adapter, "reference": event.reference, "order_number": order.number}
    withdrawn = payment is not None and payment.status in ("canceling", "canceled")
    if order.status == "pending_payment" and not withdrawn:
        if payment is not None:
            payment.status = "pending"
        record_history(order, None, actor, "payment authorized; capturing it", kind="payment",
                       event=event.id)  # fmt: skip
        follow_up.append(
            ("orders.capture_payment", {"key": f"capture:{adapter}:{event.reference}", **job})
        )
        return "authorized: capturing"
    if payment is not None:
        payment.status = "canceling"
    why = "a payment the shop withdrew" if withdrawn else f"an order that is {order.status}"
    record_history(order, None, actor, f"payment authorized for {why}: the hold is released",
                   kind="payment", event=event.id)  # fmt: skip
    follow_up.append(
        ("orders.release_hold", {"key": f"release-hold:{adapter}:{event.reference}", **job})
    )
    return f"releasing the hold: {why}"


def _confirm_refunds_covered(payment: Payment, refunded_in_all: Decimal) -> None:
    """Mark the payment's refunds on their way as succeeded, oldest first, as far as the
    provider's running total covers them: a notification about the first of two partial
    refunds must not confirm the second, which may not even have been sent. (A refund
    still ``requested`` may have reached the provider already: its notification can
    arrive before the job that sent it writes down the answer.)"""
    confirmed = Decimal(
        db.session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.payment_id == payment.id, Refund.status == "succeeded"
            )
        )
        or 0
    )
    for refund in db.session.scalars(
        select(Refund)
        .where(Refund.payment_id == payment.id, Refund.status.in_(("requested", "pending")))
        .order_by(Refund.id)
    ):
        if confirmed + Decimal(refund.amount) > refunded_in_all:
            break
        refund.status = "succeeded"
        confirmed += Decimal(refund.amount)


def _as_running_total(order: Order, payment: Payment, event: PaymentEvent) -> PaymentEvent:
    """A provider that reports one refund at a time (``refund_reference``): confirm that
    refund, or write it down when the shop did not ask for it (made in the provider's
    dashboard), and give the event the payment's refunded total like the others.

    The reference is the shop's own refund key (``refund-<id>``, known before the call,
    so a notification that overtakes the sending job still finds its row) or the
    provider's reference the job stored."""
    refund = None
    own = re.fullmatch(r"refund-(\d+)", event.refund_reference or "")
    if own:
        refund = db.session.scalar(
            select(Refund).where(Refund.id == int(own.group(1)), Refund.payment_id == payment.id)
        )
    if refund is None:
        refund = db.session.scalar(
            select(Refund).where(
                Refund.payment_id == payment.id, Refund.reference == event.refund_reference
            )
        )
    if refund is None:
        reason = f"refunded at the provider (event {event.id})"
        refund = Refund(
            order_id=order.id, payment_id=payment.id, amount=event.amount.amount,
            currency=payment.currency, status="succeeded", reason=reason,
            reference=event.refund_reference, created_at=event.occurred_at or utcnow(),
        )  # fmt: skip
        db.session.add(refund)
        db.session.flush()
        record_history(order, None, f"{payment.adapter} webhook", reason, kind="refund",
                       refund_id=refund.id, amount=event.amount.as_json())  # fmt: skip
    elif refund.status != "succeeded":
        refund.status = "succeeded"
        db.session.flush()
    total = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status == "succeeded"
        )
    )
    return replace(
        event, amount=Money(Decimal(total or 0), payment.currency), refund_reference=None
    )


def _record_refund_made_at_provider(order: Order, payment: Payment, event: PaymentEvent) -> None:
    """A refund the shop did not ask for (made in the provider's dashboard) becomes a
    Refund row too, so that the reports see it on the day it was made.

    The event says how much of the payment has been refunded in all; what the refunds
    written for it (all but failed ones: those asked and not yet confirmed are on their
    way) do not cover was refunded at the provider. Counting against the running total
    makes a replayed or late event write nothing more."""
    refunded_in_all = event.amount.amount
    written = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status != "failed"
        )
    )
    missing = refunded_in_all - Decimal(written or 0)
    if missing <= 0:
        return
    reason = f"refunded at the provider (event {event.id})"
    refund = Refund(
        order_id=order.id, payment_id=payment.id, amount=missing, currency=payment.currency,
        status="succeeded", reason=reason, created_at=event.occurred_at or utcnow(),
    )  # fmt: skip
    db.session.add(refund)
    db.session.flush()
    amount = Money(missing, payment.currency).as_json()
    record_history(order, None, f"{payment.adapter} webhook", reason, kind="refund",
                   refund_id=refund.id, amount=amount)  # fmt: skip


def _hold_again(order: Order, actor: str) -> bool:
    """An expired order whose payment still arrives (a slow bank, 3-D Secure finished
    late, a webhook delayed past the sweep) is kept when its goods are still there: each
    expired line is held again at its node, all or none; the order goes back to
    ``pending_payment`` for the caller to mark it paid. False (nothing changed) when any
    line is short: then the money goes back.

    The stock rows are locked in (sku, node) order, as checkout locks them, and checked
    before any is changed, so a short line leaves nothing half-held.
    """
    lines = db.session.execute(
        select(ShipmentLine, Shipment, Sku.code)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .join(Sku, Sku.id == ShipmentLine.sku_id)
        .where(Shipment.order_id == order.id, ShipmentLine.reservation == "expired")
        .order_by(ShipmentLine.id)
    ).all()
    if not lines or not _within_cbec_year(order):
        return False
    wanted: dict[tuple[int, int], int] = {}
    for line, shipment, _code in lines:
        key = (line.sku_id, shipment.node_id)
        wanted[key] = wanted.get(key, 0) + line.quantity
    for (sku_id, node_id), quantity in sorted(wanted.items()):
        level = db.session.execute(
            select(StockLevel.on_hand, StockLevel.reserved)
            .where(StockLevel.sku_id == sku_id, StockLevel.node_id == node_id)
            .with_for_update()
        ).one_or_none()
        if level is None or level.on_hand - level.reserved < quantity:
            return False
    reserve_stock(
        [Allocation(line.sku_id, shipment.node_id, line.quantity, shipment.id, code)
         for line, shipment, code in lines],
        order_id=order.id, actor=actor,
    )  # fmt: skip
    for line, shipment, _code in lines:
        line.reservation = "held"
        if shipment.status == "cancelled":  # cancelled by the expiry, not by a person
            shipment.status = "awaiting_payment"
    db.session.flush()  # before record_paid moves the shipments on with a bulk UPDATE
    record_history(order, "pending_payment", actor, "payment arrived after the hold ran out; "
            "the goods are held again")  # fmt: skip
    return True


def _within_cbec_year(order: Order) -> bool:
    """Whether the buyer's yearly CBEC allowance still has room for this order.

    An expired order stopped counting against the allowance when its hold ran out, so
    other orders may have used that room since; keeping it now is a new purchase and
    gets checked like one (serialized per buyer, as checkout does)."""
    if not order.customs_id_hash or order.dutiable_value_cny is None:
        return True
    from orders import customs
    from orders.checkout import CHINA, cbec_year_used, lock_cbec_year

    now = utcnow()
    policy = customs.policy_for(order.destination_country, now.astimezone(CHINA).date())
    limit = getattr(policy, "annual_limit", None)
    if limit is None:
        return True
    lock_cbec_year(order.customs_id_hash)
    used = cbec_year_used({"hash": order.customs_id_hash}, now)
    return used + Decimal(order.dutiable_value_cny) <= limit
