"""YooKassa: a placeholder the #18 adapter replaces (every call refuses)."""

from __future__ import annotations

from orders.payments.base import PaymentAdapter, PaymentConfigurationError


class YooKassaAdapter(PaymentAdapter):
    name = "yookassa"
    currencies = ("RUB",)

    def _not_yet(self, *args, **kwargs):
        raise PaymentConfigurationError("the yookassa adapter is not built yet")

    create_payment = capture = cancel = refund = parse_webhook = _not_yet
