"""Unpaid orders whose hold ran out: the order expires, the warehouse lets go of its goods.

Run by the orders sweep and by ``flask stock expire-reservations``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from orders import lifecycle
from orders.models import Order, OrderEvent
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse.services import release_unpaid_order

EXPIRY_ACTOR = "expiry job"


def expire_reservations(now: datetime | None = None, *, batch: int = 200) -> int:
    """Expire unpaid orders whose hold ran out and release their stock; returns orders
    expired.

    Safe when two runs overlap: each order is claimed by a conditional status change
    (pending_payment -> expired, as the lifecycle allows), which only one run can win,
    and each order is its own short transaction.
    """
    now = now or utcnow()
    due = db.session.scalars(
        select(Order.id)
        .where(Order.status == "pending_payment", Order.reservation_expires_at < now)
        .order_by(Order.id)
        .limit(batch)
    ).all()
    db.session.rollback()
    target = lifecycle.order_transition("pending_payment", "expired")
    expired = 0
    for order_id in due:
        try:
            claimed = db.session.execute(
                update(Order)
                .where(Order.id == order_id, Order.status == "pending_payment")
                .values(status=target, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1:
                release_unpaid_order(order_id, actor=EXPIRY_ACTOR, at=now)
                db.session.add(
                    OrderEvent(order_id=order_id, kind="status", from_status="pending_payment",
                               to_status=target, actor=EXPIRY_ACTOR,
                               reason="not paid before the hold ran out")
                )  # fmt: skip
                expired += 1
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return expired
