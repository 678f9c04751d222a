"""Payment adapters: the port (``base``), the plugin registry (``registry``),
and the adapters this project ships (``manual``, ``stripe_adapter``,
``yookassa_adapter``, ``alipay_adapter``, ``wechatpay_adapter``).

Services import from here and receive an adapter from ``load_adapter``; they
never import a concrete adapter.
"""

from orders.payments.base import (
    EVENT_KINDS,
    PAYMENT_STATUSES,
    REFUND_STATUSES,
    PaymentAdapter,
    PaymentConfigurationError,
    PaymentDeclined,
    PaymentError,
    PaymentEvent,
    PaymentLine,
    PaymentRejected,
    PaymentRequest,
    PaymentResult,
    PaymentUnavailable,
    RefundResult,
    WebhookRejected,
)
from orders.payments.registry import (
    ENTRY_POINT_GROUP,
    PaymentAdapterLoadError,
    UnknownPaymentAdapter,
    available_adapters,
    clear_adapter_cache,
    load_adapter,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "EVENT_KINDS",
    "PAYMENT_STATUSES",
    "REFUND_STATUSES",
    "PaymentAdapter",
    "PaymentAdapterLoadError",
    "PaymentConfigurationError",
    "PaymentDeclined",
    "PaymentError",
    "PaymentEvent",
    "PaymentLine",
    "PaymentRejected",
    "PaymentRequest",
    "PaymentResult",
    "PaymentUnavailable",
    "RefundResult",
    "UnknownPaymentAdapter",
    "WebhookRejected",
    "available_adapters",
    "clear_adapter_cache",
    "load_adapter",
]
