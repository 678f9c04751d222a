"""WeChat Pay: a placeholder the #18 adapter replaces (every call refuses)."""

from __future__ import annotations

from orders.payments.base import PaymentAdapter, PaymentConfigurationError


class WeChatPayAdapter(PaymentAdapter):
    name = "wechatpay"
    currencies = ("CNY",)

    def _not_yet(self, *args, **kwargs):
        raise PaymentConfigurationError("the wechatpay adapter is not built yet")

    create_payment = capture = cancel = refund = parse_webhook = _not_yet
