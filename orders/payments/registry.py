"""Finding payment adapters: installed packages declare them, the shop enables them.

Discovery is the plugins' business: any installed distribution that declares
an entry point in the ``pavilion.payments`` group offers an adapter (this
project declares ``manual`` and ``stripe`` in setup.cfg). Enabling is the
application's policy: ``load_adapter`` builds only a name in the ``enabled``
allowlist the app passes from its configuration.

Discovery, caching and broken plugins are handled by ``shop.core.plugins``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from orders.payments.base import PaymentAdapter
from shop.core.errors import DomainError, register_problem_types
from shop.core.plugins import PluginGroup

ENTRY_POINT_GROUP = "pavilion.payments"

register_problem_types(
    {"unknown_payment_adapter": "The asked payment adapter is not offered by this shop."}
)


class UnknownPaymentAdapter(DomainError):
    """The shopper (or a setting) named a payment adapter that is not installed
    or not enabled. The two cases read the same to a client on purpose: an
    installed but disabled adapter is not the shop's business to advertise."""

    status = 422
    code = "unknown_payment_adapter"
    title = "Unknown payment adapter"


class PaymentAdapterLoadError(RuntimeError):
    """An installed adapter is declared but cannot be imported, or is not a
    ``PaymentAdapter``. This is an operator's problem, not a client's."""


_GROUP = PluginGroup(
    ENTRY_POINT_GROUP,
    PaymentAdapter,
    kind="payment adapter",
    field="payment.adapter",
    unknown=UnknownPaymentAdapter,
    broken=PaymentAdapterLoadError,
    metric_kind="payment",
    timed=("create_payment", "capture", "cancel", "refund", "status"),
)


def available_adapters() -> dict[str, type[PaymentAdapter]]:
    """Every adapter class installed in the ``pavilion.payments`` group, by name.

    Imported the first time this (or ``load_adapter``) is called, then kept;
    ``clear_adapter_cache`` forgets them (tests that install a plugin).
    """
    return _GROUP.available()


def clear_adapter_cache() -> None:
    _GROUP.clear()


def load_adapter(
    name: str, settings: Mapping[str, Any], enabled: Collection[str]
) -> PaymentAdapter:
    """A new ``name`` adapter built with ``settings``.

    Raises ``UnknownPaymentAdapter`` (422, field ``payment.adapter``) when
    ``name`` is not in ``enabled`` or not installed, and
    ``PaymentAdapterLoadError`` when it is installed but broken.
    """
    return _GROUP.load(name, settings, enabled)
