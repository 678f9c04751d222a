"""Orders after checkout: reading one, cancelling, recording and applying payments, refunds.

Each service owns its transaction and commits it before any outside call;
outside calls (refunds, provider cancels, emails) are background tasks that
read their work from rows (``refunds.status = requested``), so a lost task is
picked up again by the sweeper.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from catalog.models import Sku
from catalog.money import Money
from orders import lifecycle, payments_service
from orders.expiry import expire_reservations
from orders.models import Order, OrderEvent, Payment, ProviderEvent, Refund
from orders.payments.base import PaymentError, PaymentEvent, PaymentUnavailable
from shop.core import background
from shop.core.auth import Forbidden, StaffPrincipal, hash_token
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse.models import Node, RoutingDecision, Shipment, ShipmentLine, StockLevel
from warehouse.services import Allocation, release_order_stock, reserve_stock

log = logging.getLogger(__name__)

LIVE_PAYMENT = ("creating", "requires_action", "pending")


@dataclass(frozen=True)
class Viewer:
    """Who asks about an order: its shopper (by the order token) or staff."""

    order_token: str | None = None
    staff: StaffPrincipal | None = None

    @property
    def actor(self) -> str:
        return self.staff.actor if self.staff else "shopper"

    @property
    def who(self) -> str:
        return "staff" if self.staff else "shopper"


# ------------------------------------------------------------------ reading


def find_order(number: str, viewer: Viewer, *, for_update: bool = False) -> Order:
    """The order if ``viewer`` may see it; else 404, the same answer as for no order.

    A picker sees orders with a shipment at their node; operators all orders;
    a shopper the order whose token they hold.
    """
    query = select(Order).where(Order.number == number)
    if for_update:
        query = query.with_for_update()
    order = db.session.scalar(query)
    if order is None or not _may_see(order, viewer):
        raise NotFound(f"No order {number}.")
    return order


def _may_see(order: Order, viewer: Viewer) -> bool:
    if viewer.staff is not None:
        if viewer.staff.is_operator:
            return True
        return (
            db.session.scalar(
                select(Shipment.id).where(
                    Shipment.order_id == order.id, Shipment.node_id == viewer.staff.node_id
                )
            )
            is not None
        )
    if viewer.order_token:
        return hmac.compare_digest(hash_token(viewer.order_token), order.token_hash)
    return False


def order_document(order: Order, viewer: Viewer, lang: str = "en") -> dict[str, Any]:
    """The order as its shopper or staff see it (staff also get routing and history)."""
    currency = order.currency
    money = lambda amount: Money(Decimal(amount), currency).as_json()  # noqa: E731
    shipments = db.session.execute(
        select(Shipment, Node.code).join(Node, Node.id == Shipment.node_id)
        .where(Shipment.order_id == order.id).order_by(Shipment.id)
    ).all()  # fmt: skip
    shipment_lines: dict[int, list[dict[str, Any]]] = {}
    sku_codes = {line.sku_id: line.sku_code for line in order.lines}
    for line in db.session.scalars(
        select(ShipmentLine)
        .where(ShipmentLine.shipment_id.in_([s.id for s, _ in shipments]))
        .order_by(ShipmentLine.id)
    ):
        shipment_lines.setdefault(line.shipment_id, []).append(
            {"sku": sku_codes.get(line.sku_id), "quantity": line.quantity,
             "reservation": line.reservation}
        )  # fmt: skip
    payment = db.session.scalar(
        select(Payment).where(Payment.order_id == order.id).order_by(Payment.id.desc()).limit(1)
    )
    events = _tracking_events([s.id for s, _ in shipments if s.carrier_reference])
    duties = order.duties or {}
    if viewer.staff is None and isinstance(duties.get("order"), dict):
        # What a person bought this year is theirs and staff's to see, not every holder
        # of an order token (someone may have typed another person's ID number).
        private = ("annual_used_before_order", "annual_remaining_after_order")
        duties = {**duties, "order": {k: v for k, v in duties["order"].items()
                                      if k not in private}}  # fmt: skip
    document: dict[str, Any] = {
        "number": order.number,
        "status": order.status,
        "created_at": iso_utc(order.created_at),
        "currency": currency,
        "email": order.email,
        "shipping_address": order.shipping_address,
        "customs_identity": (
            {"name": order.customs_name, "id_number": order.customs_id_masked}
            if order.customs_id_masked
            else None
        ),
        "lines": [
            {
                "sku": line.sku_code,
                "name": line.product_name,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price_amount),
                "total": money(Decimal(line.unit_price_amount) * line.quantity),
                "hs_code": line.hs_code,
                "origin_country": line.origin_country,
            }
            for line in order.lines
        ],
        "totals": {
            "goods": money(order.goods_total),
            "shipping": money(order.shipping_total),
            "duties": money(order.duties_total) if order.duties_total is not None else None,
            "duties_status": order.duties_status,
            "grand_total": money(order.grand_total),
        },
        "duties": {
            "status": order.duties_status,
            "notice": duties.get("notice"),
            "policy": duties.get("policy"),
            "policy_version": duties.get("policy_version"),
            "assessment": duties,
        },
        "exchange_rates": order.exchange_rates,
        "shipments": [
            {
                "id": shipment.id,
                "node": node,
                "lane": shipment.lane_code,
                "status": shipment.status,
                "lines": shipment_lines.get(shipment.id, []),
                "shipping": money(shipment.shipping_amount),
                "duties": money(shipment.duties_amount)
                if shipment.duties_amount is not None
                else None,
                "customs_mode": shipment.customs_mode,
                "weight_g": shipment.weight_g,
                "delivery": {
                    "from": shipment.deliver_from.isoformat() if shipment.deliver_from else None,
                    "by": shipment.deliver_by.isoformat() if shipment.deliver_by else None,
                },
                "tracking": {"carrier": shipment.carrier, "number": shipment.tracking_number}
                if shipment.tracking_number
                else None,
                "events": events.get(shipment.id, []),
            }
            for shipment, node in shipments
        ],
        "payment": {
            "adapter": order.payment_adapter,
            "status": order.payment_status,
            "next_action": (
                payment.next_action
                if payment is not None and order.status == "pending_payment"
                else None
            ),
            "paid": money(order.paid_amount),
            "refunded": money(order.refunded_amount),
        },
        "reservation_expires_at": (
            iso_utc(order.reservation_expires_at)
            if order.status == "pending_payment" and order.reservation_expires_at
            else None
        ),
    }
    if viewer.staff is not None:
        document["routing"] = [
            {
                "kind": decision.kind,
                "shipment_id": decision.shipment_id,
                "strategy": decision.strategy,
                "actor": decision.actor,
                "reason": decision.reason,
                "at": iso_utc(decision.created_at),
                "plan": decision.explanation,
            }
            for decision in db.session.scalars(
                select(RoutingDecision)
                .where(RoutingDecision.order_id == order.id)
                .order_by(RoutingDecision.id)
            )
        ]
        document["history"] = [
            {
                "kind": event.kind,
                "from": event.from_status,
                "to": event.to_status,
                "actor": event.actor,
                "reason": event.reason,
                "data": event.data,
                "at": iso_utc(event.created_at),
            }
            for event in db.session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
            )
        ]
    return document


def _tracking_events(shipment_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not shipment_ids:
        return {}
    from warehouse.shipping import tracking_events  # warehouse builds on orders

    return tracking_events(shipment_ids)


def get_order(number: str, viewer: Viewer, lang: str = "en") -> dict[str, Any]:
    order = find_order(number, viewer)
    document = order_document(order, viewer, lang)
    db.session.rollback()
    return document


# ------------------------------------------------------------------ status changes


def _record(order: Order, to_status: str | None, actor: str, reason: str, kind="status", **data):
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


def _set_shipments(order_id: int, from_statuses: tuple[str, ...], to_status: str) -> None:
    db.session.execute(
        update(Shipment)
        .where(Shipment.order_id == order_id, Shipment.status.in_(from_statuses))
        .values(status=to_status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _mark_paid(order: Order, amount: Money, actor: str, reason: str, **data) -> None:
    """pending_payment -> paid: holds stay (until shipped), the expiry no longer applies,
    and the node sees the shipments as ready to pick."""
    lifecycle.order_transition(order.status, "paid")
    _record(order, "paid", actor, reason, amount=amount.as_json(), **data)
    order.paid_amount = Decimal(order.paid_amount) + amount.amount
    order.payment_status = "succeeded"
    order.reservation_expires_at = None
    _set_shipments(order.id, ("awaiting_payment",), "ready_to_pick")


def _owed_back(order: Order) -> Decimal:
    return Decimal(order.paid_amount) - Decimal(order.refunded_amount)


@retry_on_conflict()
def cancel_order(number: str, viewer: Viewer, reason: str) -> dict[str, Any]:
    """Cancel: stock back, unshipped parcels cancelled, and what was paid refunded in full
    (the refund is written here and sent to the provider after commit)."""
    reason = (reason or "").strip() or f"cancelled by the {viewer.who}"
    order = find_order(number, viewer, for_update=True)
    if viewer.staff is not None and not viewer.staff.is_operator:
        # A picker may cancel only what is all theirs: parcels of other nodes are not.
        elsewhere = db.session.scalar(
            select(Shipment.id).where(
                Shipment.order_id == order.id,
                Shipment.node_id != viewer.staff.node_id,
                Shipment.status.not_in(("cancelled", "rerouted")),
            )
        )
        if elsewhere is not None:
            raise Forbidden("Part of this order ships from another node: an operator cancels it.")
    lifecycle.cancel_transition(order.status, viewer.who)
    release_order_stock(order.id, reason="release", actor=viewer.actor, new_state="released")
    booked = db.session.scalars(
        select(Shipment.id).where(
            Shipment.order_id == order.id, Shipment.status == "booking_requested"
        )
    ).all()
    pick_lists = db.session.scalars(
        select(Shipment.pick_list_id).where(
            Shipment.order_id == order.id, Shipment.pick_list_id.is_not(None)
        )
    ).all()
    _set_shipments(
        order.id,
        ("awaiting_payment", "ready_to_pick", "picking", "packed", "booking_requested"),
        "cancelled",
    )
    for shipment_id in booked:
        # The carrier may already hold the parcel's booking: withdraw it there too.
        background.enqueue("carriers.cancel_booking", key=f"cancel-booking:{shipment_id}",
                           shipment_id=shipment_id)  # fmt: skip
    _record(order, "cancelled", viewer.actor, reason)
    order.reservation_expires_at = None
    _close_pick_lists(pick_lists)
    refunds = _refund_all(order, reason)
    live = _live_payments(order.id)
    if order.payment_status in LIVE_PAYMENT:
        order.payment_status = "canceled"
    # The work owed to the outside goes into the outbox with the cancel itself.
    for refund in refunds:
        background.enqueue("orders.send_refund", key=f"refund:{refund.id}", refund_id=refund.id)
    _cancel_payments(live)
    db.session.commit()
    return get_order(number, viewer)


def _close_pick_lists(pick_list_ids) -> None:
    """Pick lists whose every parcel is now cancelled or gone are done."""
    if pick_list_ids:
        from warehouse.fulfilment import close_finished_pick_lists  # warehouse builds on orders

        db.session.flush()
        close_finished_pick_lists(sorted(set(pick_list_ids)))


def _cancel_payments(payments: list[Payment]) -> None:
    """Withdraw payments no longer wanted (a later payment, a cancel), at the provider,
    after commit: a shopper's old tab must not be able to charge them."""
    for payment in payments:
        payment.status = "canceling"
        background.enqueue("orders.cancel_payment", key=f"cancel-payment:{payment.id}",
                           payment_id=payment.id)  # fmt: skip


def _refund_all(order: Order, reason: str) -> list[Refund]:
    """A refund for what each succeeded payment still has not given back (refunds already
    requested count), so two late payments are each refunded once, never more."""
    refunds = []
    for payment in db.session.scalars(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.status == "succeeded")
        .order_by(Payment.id)
    ):
        refund = _refund_payment(order, payment, reason)
        if refund is not None:
            refunds.append(refund)
    if not refunds and _owed_back(order) > 0:
        log.warning("order %s: %s owed back but no payment to refund", order.number,
                    _owed_back(order))  # fmt: skip
    return refunds


def _refund_payment(order: Order, payment: Payment, reason: str) -> Refund | None:
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
    _record(order, None, "shop", reason, kind="refund",
            refund_id=refund.id, amount=Money(owed, payment.currency).as_json())  # fmt: skip
    return refund


def _live_payments(order_id: int) -> list[Payment]:
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
    _mark_paid(order, received, staff.actor, "payment received (manual)", reference=reference)
    order.payment_adapter = "manual"
    # Paid by hand: a card payment still open for this order must not charge it too.
    _cancel_payments(_live_payments(order.id))
    background.enqueue("orders.notify", key=f"notify:{number}:paid", number=number, event="paid")
    db.session.commit()
    return get_order(number, viewer)


def retry_payment(number: str, viewer: Viewer) -> dict[str, Any]:
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
    amount = Money(Decimal(order.grand_total), order.currency)
    email = order.email
    db.session.rollback()  # no transaction open during the outside call
    started = payments_service.start_payment(
        adapter, number, amount, email, idempotency_key=f"{number}-pay-{count + 1}"
    )
    order = find_order(number, viewer, for_update=True)
    if order.status != "pending_payment":
        db.session.rollback()
        payments_service.abandon(adapter, started)
        raise Conflict(f"Order {number} changed while paying.", code="illegal_transition")
    earlier = _live_payments(order.id)
    payment = Payment(
        order_id=order.id, adapter=started.adapter, reference=started.reference,
        amount=amount.amount, currency=amount.currency, status=started.status,
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
    _record(order, None, viewer.actor, "payment retried", kind="payment", status=started.status)
    _cancel_payments([p for p in earlier if p.reference != started.reference])
    if started.status == "succeeded":
        _mark_paid(order, started.amount, viewer.actor, "payment succeeded")
    db.session.commit()
    return get_order(number, viewer)


# ------------------------------------------------------------------ provider events


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
            _mark_paid(order, amount, actor, "payment succeeded", event=event.id)
            _cancel_payments([p for p in _live_payments(order.id) if p is not payment])
            follow_up.append(
                ("orders.notify",
                 {"key": f"notify:{order.number}:paid", "number": order.number, "event": "paid"})
            )  # fmt: skip
            return "paid", follow_up
        if order.status == "expired" and payment is not None and _hold_again(order, actor):
            payment.status = "succeeded"
            _mark_paid(order, amount, actor, "payment succeeded after the hold ran out",
                       event=event.id)  # fmt: skip
            _cancel_payments([p for p in _live_payments(order.id) if p is not payment])
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
        refund = _refund_payment(order, payment, why)
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
            _record(order, None, actor, f"payment {event.kind}", kind="payment", event=event.id)
            return f"payment {event.kind}", follow_up
        return f"ignored: order is {order.status}", follow_up
    if event.kind == "refunded":
        refunded = event.amount.amount if event.amount else _owed_back(order)
        if refunded > Decimal(order.refunded_amount):
            order.refunded_amount = refunded
        for refund in db.session.scalars(
            select(Refund).where(Refund.order_id == order.id, Refund.status == "requested")
        ):
            if Decimal(order.refunded_amount) >= Decimal(refund.amount):
                refund.status = "succeeded"
        full = Decimal(order.refunded_amount) >= Decimal(order.paid_amount) > 0
        order.payment_status = "refunded" if full else "partially_refunded"
        target = "refunded" if full else "partially_refunded"
        if full and order.status in ("paid", "fulfilling"):
            # Refunded at the provider before anything left: the goods must not ship.
            release_order_stock(order.id, reason="release", actor=actor, new_state="released")
            _set_shipments(
                order.id,
                ("awaiting_payment", "ready_to_pick", "picking", "packed", "booking_requested"),
                "cancelled",
            )
            _record(order, "cancelled", actor, "refunded in full at the provider", event=event.id)
        elif target in lifecycle.ORDER_TRANSITIONS[order.status]:
            _record(order, target, actor, "refunded at the provider", event=event.id)
        else:
            _record(order, None, actor, "refund confirmed", kind="refund", event=event.id)
        return f"refund recorded ({order.refunded_amount})", follow_up
    return "ignored", follow_up


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
    db.session.flush()  # before _mark_paid moves the shipments on with a bulk UPDATE
    _record(order, "pending_payment", actor, "payment arrived after the hold ran out; "
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


# ------------------------------------------------------------------ background tasks


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
    _record(order, None, adapter.name, f"refund {result.status}", kind="refund",
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


@background.task("orders.notify")
def notify(number: str, event: str) -> None:
    from shop.core.notify import Message, notifier_from_config

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
    changed = 0
    for payment_id, adapter_name, reference, order_status in open_payments:
        try:
            result = payments_service.adapter(adapter_name).status(reference)
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
    from shop.core.idempotency import purge_expired

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
