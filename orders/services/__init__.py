"""Orders after checkout: reading one, cancelling, recording and applying payments, refunds.

Each service owns its transaction and commits it before any outside call;
outside calls (refunds, provider cancels, emails) are background tasks that
read their work from rows (``refunds.status = requested``), so a lost task is
picked up again by the sweeper.

One module per part: ``reading``, ``cancelling``, ``paying`` (recorded by hand,
retried), ``provider_events`` (webhooks), ``tasks`` (background tasks and the
sweep), and ``changes`` (what they change alike). Importing the package registers
the tasks and the sweep; callers may import from here as before.
"""

from __future__ import annotations

from orders.services.cancelling import cancel_order
from orders.services.changes import LIVE_PAYMENT
from orders.services.paying import PaymentContext, mark_paid, parse_amount, retry_payment
from orders.services.provider_events import apply_payment_event
from orders.services.reading import Viewer, find_order, get_order, order_document
from orders.services.tasks import (
    REFUND_ATTEMPTS,
    cancel_payment,
    notify,
    reconcile_payments,
    send_refund,
    sweep,
)

__all__ = [
    "LIVE_PAYMENT",
    "REFUND_ATTEMPTS",
    "PaymentContext",
    "Viewer",
    "apply_payment_event",
    "cancel_order",
    "cancel_payment",
    "find_order",
    "get_order",
    "mark_paid",
    "notify",
    "order_document",
    "parse_amount",
    "reconcile_payments",
    "retry_payment",
    "send_refund",
    "sweep",
]
