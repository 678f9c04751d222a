"""Finding payment adapters: installed packages declare them, the shop enables them.

Discovery is the plugins' business: any installed distribution that declares
an entry point in the ``pavilion.payments`` group offers an adapter (this
project declares ``manual`` and ``stripe`` in setup.cfg). Enabling is the
application's policy: ``load_adapter`` builds only a name in the ``enabled``
allowlist the app passes from its configuration.

Entry points are imported on first use and kept for the process. A plugin
that fails to import is logged and left out; it does not take the others
down, and asking for it by name says what is wrong with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from orders.payments.base import PaymentAdapter
from shop.errors import DomainError, register_problem_types

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class _Discovery:
    adapters: Mapping[str, type[PaymentAdapter]]
    broken: Mapping[str, str]  # name -> why it cannot be loaded


_discovered: _Discovery | None = None
_discovering = threading.Lock()


def available_adapters() -> dict[str, type[PaymentAdapter]]:
    """Every adapter class installed in the ``pavilion.payments`` group, by name.

    Imported the first time this (or ``load_adapter``) is called, then kept;
    ``clear_adapter_cache`` forgets them (tests that install a plugin).
    """
    return dict(_discover().adapters)


def clear_adapter_cache() -> None:
    global _discovered
    with _discovering:
        _discovered = None


def load_adapter(
    name: str, settings: Mapping[str, Any], enabled: Collection[str]
) -> PaymentAdapter:
    """A new ``name`` adapter built with ``settings``.

    Raises ``UnknownPaymentAdapter`` (422, field ``payment.adapter``) when
    ``name`` is not in ``enabled`` or not installed, and
    ``PaymentAdapterLoadError`` when it is installed but broken.
    """
    discovery = _discover()
    if name in enabled and name in discovery.broken:
        raise PaymentAdapterLoadError(discovery.broken[name])
    if name not in enabled or name not in discovery.adapters:
        offered = sorted(set(enabled) & set(discovery.adapters))
        if name in enabled:
            log.error(
                "payment adapter %r is enabled but not installed; installed: %s",
                name,
                ", ".join(sorted(discovery.adapters)) or "none",
            )
        raise UnknownPaymentAdapter(
            f"No payment adapter named {name!r} is offered; "
            f"offered: {', '.join(offered) or 'none'}.",
            errors={"payment.adapter": [f"Must be one of: {', '.join(offered) or 'none'}."]},
        )
    return discovery.adapters[name](settings)


def _discover() -> _Discovery:
    global _discovered
    discovery = _discovered
    if discovery is not None:
        return discovery
    with _discovering:
        if _discovered is None:
            _discovered = _load_all()
        return _discovered


def _load_all() -> _Discovery:
    adapters: dict[str, type[PaymentAdapter]] = {}
    broken: dict[str, str] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        if name in adapters or name in broken:
            # The first on sys.path wins, as importlib.metadata orders them.
            log.warning(
                "payment adapter %r is declared twice; ignoring %s", name, entry_point.value
            )
            continue
        try:
            target = entry_point.load()
        except Exception as exc:  # one broken plugin must not hide the others
            broken[name] = (
                f"payment adapter {name!r} ({entry_point.value}) cannot be loaded: {exc!r}"
            )
            log.exception("payment adapter %r (%s) cannot be loaded", name, entry_point.value)
            continue
        if not (isinstance(target, type) and issubclass(target, PaymentAdapter)):
            broken[name] = (
                f"payment adapter {name!r} ({entry_point.value}) is not a PaymentAdapter subclass"
            )
            log.error("%s", broken[name])
            continue
        adapters[name] = target
        log.debug("payment adapter %r found at %s", name, entry_point.value)
    return _Discovery(adapters, broken)
