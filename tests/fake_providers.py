"""Stand-ins for the one-currency providers of #18 (YooKassa RUB, Alipay and WeChat Pay
CNY) that answer with the ``next_action`` shapes the real adapters give, and keep every
``PaymentRequest`` they were asked, so tests can see what checkout passes.

``install_fake_providers(monkeypatch)`` puts them in the plugin registry under the real
names for one test (the real adapters are written at the same time, elsewhere)."""

from __future__ import annotations

from typing import ClassVar

from orders.payments.base import PaymentAdapter, PaymentRequest, PaymentResult, RefundResult
from orders.payments.registry import _GROUP, clear_adapter_cache


class _OneCurrencyProvider(PaymentAdapter):
    requests: ClassVar[list[PaymentRequest]]

    def create_payment(self, request: PaymentRequest) -> PaymentResult:
        if request.amount.currency not in self.currencies:
            raise ValueError(f"{self.name} takes {self.currencies}, not {request.amount}")
        total = sum(line.total.amount for line in request.lines)
        if request.lines and total != request.amount.amount:
            raise ValueError(f"lines add up to {total}, not {request.amount.amount}")
        type(self).requests.append(request)
        reference = f"{self.name}-{request.order_number}-{len(type(self).requests)}"
        return PaymentResult(reference, "requires_action", self.next_action(request, reference),
                             amount=request.amount)  # fmt: skip

    def next_action(self, request: PaymentRequest, reference: str) -> dict:
        return {"type": "redirect", "provider": self.name,
                "url": f"https://pay.example.test/{self.name}/{reference}"}  # fmt: skip

    def capture(self, reference, amount=None):
        return PaymentResult(reference, "succeeded")

    def cancel(self, reference):
        return PaymentResult(reference, "canceled")

    def refund(self, reference, amount, *, idempotency_key):
        return RefundResult(f"refund-{idempotency_key}", amount, "succeeded")

    def parse_webhook(self, headers, body):
        return None


class FakeYooKassa(_OneCurrencyProvider):
    name = "yookassa"
    currencies = ("RUB",)
    requests: ClassVar[list[PaymentRequest]] = []


class FakeAlipay(_OneCurrencyProvider):
    name = "alipay"
    currencies = ("CNY",)
    requests: ClassVar[list[PaymentRequest]] = []


class FakeWeChatPay(_OneCurrencyProvider):
    name = "wechatpay"
    currencies = ("CNY",)
    requests: ClassVar[list[PaymentRequest]] = []

    def next_action(self, request, reference):
        if request.device == "mobile":
            return super().next_action(request, reference)
        return {"type": "qr_code", "provider": "wechatpay",
                "data": f"weixin://wxpay/bizpayurl?pr={reference}"}  # fmt: skip


FAKES = (FakeYooKassa, FakeAlipay, FakeWeChatPay)
EVERY_ADAPTER = ("manual", "stripe", "yookassa", "alipay", "wechatpay")


def install_fake_providers(monkeypatch) -> None:
    clear_adapter_cache()
    found = _GROUP._discover().found
    for fake in FAKES:
        fake.requests = []
        monkeypatch.setitem(found, fake.name, fake)
