"""``manual``: bank transfer or cash on delivery, confirmed by an operator.

No outside system is called. The shopper is told how to pay; an operator who
sees the money arrive records it (``mark-paid``, which captures through this
adapter); refunds are paid back by hand.

Settings read: ``SHOP_NAME`` (the payee shown to the shopper) and
``MANUAL_PAYMENT_INSTRUCTIONS`` (optional): a string, or a JSON-able dict such
as ``{"en": "...", "ru": "...", "zh": "..."}`` or structured bank details,
passed to the shopper's client unchanged. Without it the shopper gets a
generic text naming the payee, the amount and the order number to quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog.money import Money
from orders.payments.base import (
    PaymentAdapter,
    PaymentRequest,
    PaymentResult,
    RefundResult,
    WebhookRejected,
)

REFERENCE_PREFIX = "manual:"


class ManualAdapter(PaymentAdapter):
    name = "manual"

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        self.shop_name = str(settings.get("SHOP_NAME") or "SCO Pavilion")
        self.instructions = settings.get("MANUAL_PAYMENT_INSTRUCTIONS")

    def create_payment(self, request: PaymentRequest) -> PaymentResult:
        """A pending payment whose next step is the shopper's bank transfer (or
        cash at delivery); the reference is derived from the order number, so
        asking again gives the same payment."""
        amount = request.amount.rounded()
        return PaymentResult(
            reference=self.reference_for(request.order_number),
            status="pending",
            next_action={
                "type": "bank_transfer",
                "instructions": self._instructions(request.order_number, amount),
                "payee": self.shop_name,
                "amount": amount.as_json(),
                "reference": request.order_number,
                "confirmed_by": "operator",
            },
            amount=amount,
            provider_status="awaiting_transfer",
        )

    def capture(self, reference: str, amount: Money | None = None) -> PaymentResult:
        """Record that an operator saw the money arrive (``mark-paid``)."""
        self._check_reference(reference)
        return PaymentResult(reference, "succeeded", {}, amount, provider_status="confirmed")

    def cancel(self, reference: str) -> PaymentResult:
        """Nothing to tell anyone: the shopper simply should not pay."""
        self._check_reference(reference)
        return PaymentResult(reference, "canceled", {}, provider_status="canceled")

    def refund(self, reference: str, amount: Money, *, idempotency_key: str) -> RefundResult:
        """Always ``pending``: an operator pays the money back by hand (bank
        transfer or cash) and records it; nothing is sent from here."""
        self._check_reference(reference)
        if not idempotency_key:
            raise ValueError("a refund needs an idempotency key")
        return RefundResult(
            reference=f"manual-refund:{idempotency_key}",
            amount=amount,
            status="pending",
            note=(
                f"An operator pays {amount.rounded().as_json()['amount']} {amount.currency} "
                f"back by hand and records it; nothing was sent."
            ),
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        raise WebhookRejected("the manual payment adapter has no webhooks")

    @staticmethod
    def reference_for(order_number: str) -> str:
        return REFERENCE_PREFIX + order_number

    def _check_reference(self, reference: str) -> None:
        if not reference or not reference.startswith(REFERENCE_PREFIX):
            raise ValueError(f"not a manual payment reference: {reference!r}")

    def _instructions(self, order_number: str, amount: Money) -> Any:
        if self.instructions:
            return self.instructions
        return (
            f"Pay {amount.as_json()['amount']} {amount.currency} to {self.shop_name} by bank "
            f"transfer (or in cash on delivery where offered), quoting order {order_number}. "
            f"The order ships once the payment is confirmed."
        )
