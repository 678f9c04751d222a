"""The payment port: what the order services ask of any payment provider, and
the plain dataclasses that cross it (never SDK objects).

An adapter is constructed with ``settings``, a plain dict the application
builds from its configuration. The keys the shipped adapters read:

``SHOP_NAME``
    The shop's name, shown in bank-transfer instructions.
``MANUAL_PAYMENT_INSTRUCTIONS``
    ``manual``: bank details for the shopper, a string or a JSON-able dict
    (for example one text per language). Optional.
``STRIPE_API_KEY``
    ``stripe``: the secret key (``sk_...``). Required.
``STRIPE_PUBLISHABLE_KEY``
    ``stripe``: the publishable key (``pk_...``) handed to the shopper's client
    with the client secret.
``STRIPE_WEBHOOK_SECRET``
    ``stripe``: the endpoint's signing secret (``whsec_...``); required by
    ``parse_webhook``.
``STRIPE_API_BASE``
    ``stripe``: another API address (a test server such as localstripe).
    Optional; default ``https://api.stripe.com``.

``orders/payments/stripe_adapter.py`` lists a few optional tuning keys more;
``yookassa_adapter.py``, ``alipay_adapter.py`` and ``wechatpay_adapter.py`` list
theirs (``YOOKASSA_*``, ``ALIPAY_*``, ``WECHATPAY_*``).

Errors: every adapter call raises only the ``PaymentError`` family below (and
``ValueError`` for arguments that can never be right, such as an amount in the
wrong currency), so a service can tell "try again later" from "the shopper's
card said no" from "this call is wrong".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Any, ClassVar

from catalog.money import Money

# What a payment looks like to the shop, whatever the provider calls it.
PAYMENT_STATUSES = ("requires_action", "pending", "succeeded", "failed", "canceled")
REFUND_STATUSES = ("succeeded", "pending", "failed")
# ``authorized``: the money is held (a two-stage payment); the shop captures it while
# the order can still be paid, and cancels the hold otherwise.
EVENT_KINDS = ("succeeded", "authorized", "failed", "canceled", "refunded")
DEVICES = ("desktop", "mobile")


@dataclass(frozen=True)
class PaymentLine:
    """One thing the payment is for, as a fiscal receipt (54-FZ) or a provider's goods
    list names it. ``unit_price`` is in the payment's currency; the lines of a request
    add up to its amount.

    ``kind``: ``goods``, ``shipping`` or ``duty`` (duties and taxes collected for
    customs). ``category`` is the catalog category's slug (a receipt's VAT rate
    depends on it); ``None`` for shipping and duties.
    """

    name: str
    quantity: int
    unit_price: Money
    kind: str = "goods"
    category: str | None = None
    sku: str | None = None

    def __post_init__(self):
        if self.quantity <= 0:
            raise ValueError("a payment line needs a positive quantity")
        if self.kind not in ("goods", "shipping", "duty"):
            raise ValueError(f"unknown payment line kind {self.kind!r}")

    @property
    def total(self) -> Money:
        return Money(self.unit_price.amount * self.quantity, self.unit_price.currency)


@dataclass(frozen=True)
class PaymentRequest:
    """One order's payment, as the checkout service asks for it.

    ``idempotency_key`` must be the same when the same payment is asked for
    again (a retried task, a double click): the provider then answers with
    the payment it already made instead of a second one.

    ``payment_method`` is optional: a payment method the shop already holds
    (a saved card, a test card such as ``pm_card_visa``). With it, the
    adapter confirms at once on the server; without it (the web checkout),
    the shopper's client confirms with what ``next_action`` carries.

    ``amount`` is in a currency the adapter takes (``PaymentAdapter.currencies``):
    when the order's currency is another one, the shop has converted it at the
    order's stored rate and ``order_amount`` is the order's own total.

    What hosted payment pages and notifications need, all optional:
    ``return_url`` (where the provider sends the shopper back: the order page),
    ``notify_url`` (the shop's webhook for this adapter, for providers that take
    it per payment), ``client_ip`` and ``device`` (``desktop`` or ``mobile``: a
    QR code or a mobile payment page), ``locale`` (``en``, ``ru``, ``zh``),
    ``phone``, and ``lines`` (what is bought, for receipts).
    """

    order_number: str
    amount: Money
    email: str
    idempotency_key: str
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    payment_method: str | None = None
    order_amount: Money | None = None
    lines: tuple[PaymentLine, ...] = ()
    return_url: str | None = None
    notify_url: str | None = None
    client_ip: str | None = None
    device: str = "desktop"
    locale: str = "en"
    phone: str | None = None

    def __post_init__(self):
        if not self.order_number:
            raise ValueError("a payment needs an order number")
        if not isinstance(self.amount, Money):
            raise TypeError("PaymentRequest.amount must be a Money")
        if self.amount.amount <= 0:
            raise ValueError(f"a payment must be for a positive amount, not {self.amount}")
        if not self.idempotency_key or len(self.idempotency_key) > 255:
            raise ValueError("an idempotency key of 1 to 255 characters is required")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, not {self.device!r}")


@dataclass(frozen=True)
class PaymentResult:
    """Where a payment stands after a call.

    ``status`` is one of ``PAYMENT_STATUSES``:

    - ``requires_action``: the shopper's client must act (enter a card,
      pass 3-D Secure); ``next_action`` says how.
    - ``pending``: waiting for money that is on its way (a bank transfer, a
      payment being processed, an authorization awaiting capture).
    - ``succeeded``: the money is the shop's.
    - ``failed``: the last attempt was declined. With Stripe the payment
      stays open, so ``next_action`` still lets the shopper try another card.
    - ``canceled``: no money will come through this payment.

    ``next_action`` is JSON-able and goes to the shopper's client as is;
    ``{}`` when the client has nothing to do.
    """

    reference: str | None
    status: str
    next_action: dict[str, Any] = field(default_factory=dict)
    amount: Money | None = None
    provider_status: str = ""  # the provider's own word, e.g. "requires_capture"
    message: str | None = None  # why it failed, fit to show the shopper


@dataclass(frozen=True)
class RefundResult:
    """A refund asked of the provider. ``status`` is one of ``REFUND_STATUSES``;
    ``pending`` means the money has not gone back yet (a person or a bank
    still has to act), ``note`` says what happens next."""

    reference: str
    amount: Money
    status: str
    note: str = ""


@dataclass(frozen=True)
class PaymentEvent:
    """A verified provider notification, reduced to what the order services need.

    ``kind`` is one of ``EVENT_KINDS``. ``id`` is the provider's event id:
    providers deliver at least once and in any order, so the receiving
    service deduplicates by it and trusts the order row's state machine, not
    the arrival order. ``order_number`` may be ``None`` when the provider's
    object does not carry it; find the order by ``reference`` then.
    ``provider_type`` is the provider's event name, ``raw`` the parsed body.

    For ``refunded``, ``amount`` is how much of the payment has been refunded in all
    (Stripe, YooKassa and Alipay say so). A provider that only reports the one refund
    a notification is about (WeChat Pay) sets ``refund_reference`` to that refund's
    reference (what ``RefundResult.reference`` was) and ``amount`` to its amount; the
    shop then adds up the running total itself.
    """

    id: str
    kind: str
    reference: str | None
    order_number: str | None
    amount: Money | None
    provider_type: str
    raw: Mapping[str, Any]
    occurred_at: datetime | None = None
    refund_reference: str | None = None


class PaymentError(Exception):
    """Base of what payment adapters raise."""


class PaymentUnavailable(PaymentError):
    """The provider cannot be reached or answered 5xx / 429 / timeout: retry
    later; the order stays ``pending_payment``."""

    retryable = True  # background jobs back off and try again


class PaymentDeclined(PaymentError):
    """The shopper's payment method said no. ``message`` is fit for the shopper."""

    def __init__(self, message: str, *, code: str | None = None, decline_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.decline_code = decline_code


class PaymentRejected(PaymentError):
    """The provider refused the call itself (bad parameters, the payment is in
    a state that does not allow it, an idempotency key reused for another
    request). Retrying the same call will not help."""

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.code = code


class PaymentConfigurationError(PaymentError):
    """The settings do not let this adapter work (a missing key)."""


class WebhookRejected(PaymentError):
    """The webhook is not provably from the provider (missing or bad signature,
    stale timestamp) or cannot be read; the endpoint answers 400."""


class PaymentAdapter(ABC):
    """A payment provider behind the shop's own vocabulary.

    Adapters touch neither the database nor the Flask request: a service
    calls them and stores what they return. Every call that moves money takes
    or derives an idempotency key, so a retried background task never charges
    or refunds twice.
    """

    name: ClassVar[str]
    # The currencies the provider takes; empty: any. An order in another currency is
    # converted by the shop at the order's stored rate before ``create_payment``.
    currencies: ClassVar[tuple[str, ...]] = ()
    # The provider's statuses (``PaymentResult.provider_status``) that mean the money is
    # held for the shop to capture (a two-stage payment): the sweeper treats a payment
    # found in one as an ``authorized`` event. Empty: the shop never captures by itself.
    held_statuses: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = dict(settings)

    @abstractmethod
    def create_payment(self, request: PaymentRequest) -> PaymentResult:
        """Start collecting ``request.amount`` for the order."""

    @abstractmethod
    def capture(self, reference: str, amount: Money | None = None) -> PaymentResult:
        """Take the money of an authorized payment (all of it, or ``amount``)."""

    @abstractmethod
    def cancel(self, reference: str) -> PaymentResult:
        """Give up a payment that has not succeeded; canceling twice is harmless."""

    @abstractmethod
    def refund(self, reference: str, amount: Money, *, idempotency_key: str) -> RefundResult:
        """Pay back ``amount`` (all or part) of a succeeded payment."""

    @abstractmethod
    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent | None:
        """Verify a provider notification and map it to a ``PaymentEvent``.

        ``None``: verified, but of a type the shop does not act on (answer 200).
        Raises ``WebhookRejected`` when it cannot be verified or read.
        """

    def trusted_senders(self) -> tuple[IPv4Network | IPv6Network, ...] | None:
        """The networks the provider's notifications come from, when it publishes them
        (the webhook refuses other senders with 400); ``None``: any sender, the
        signature or a read-back is the proof."""
        return None

    def webhook_answer(self, outcome: str) -> tuple[str, int, str] | None:
        """The body, status and content type the provider expects back for a notification
        the shop accepted (Alipay wants the bare text ``success``); ``None``: the shop's
        JSON acknowledgement. ``outcome`` is what the shop did with it."""
        return None

    def status(self, reference: str) -> PaymentResult:
        """Ask the provider where the payment stands now (for a reconciling job)."""
        raise NotImplementedError(f"the {self.name!r} payment adapter cannot look a payment up")

    def find_payment(self, order_number: str, since: datetime) -> PaymentResult | None:
        """The payment made for ``order_number`` since ``since`` whose answer was lost (a
        timeout while creating it), for the sweeper to adopt; ``None``: none was made, or
        the provider cannot be searched."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name whatever its case (a plain dict from a test, or
    werkzeug's ``Headers``)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
