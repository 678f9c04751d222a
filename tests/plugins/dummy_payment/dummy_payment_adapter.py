"""A third-party payment adapter, installed only by the plugin tests.

It shows the least a provider package needs: one ``PaymentAdapter`` subclass
and an entry point in the ``pavilion.payments`` group (see the dist-info
beside this file). Payments succeed at once; references count up.
"""

from itertools import count

from orders.payments.base import (
    PaymentAdapter,
    PaymentResult,
    RefundResult,
    WebhookRejected,
)


class DummyAdapter(PaymentAdapter):
    name = "dummy"

    def __init__(self, settings):
        super().__init__(settings)
        self._numbers = count(1)

    def create_payment(self, request):
        return PaymentResult(f"dummy-{next(self._numbers)}", "succeeded", {}, request.amount)

    def capture(self, reference, amount=None):
        return PaymentResult(reference, "succeeded", {}, amount)

    def cancel(self, reference):
        return PaymentResult(reference, "canceled", {})

    def refund(self, reference, amount, *, idempotency_key):
        return RefundResult(f"dummy-refund-{idempotency_key}", amount, "succeeded")

    def parse_webhook(self, headers, body):
        raise WebhookRejected("the dummy adapter has no webhooks")
