"""Finding carrier adapters: installed packages declare them, the shop enables them.

Discovery is the plugins' business: any installed distribution that declares
an entry point in the ``pavilion.carriers`` group offers an adapter (this
project declares ``manual`` and ``cdek`` in setup.cfg). Enabling is the
application's policy: ``load_carrier`` builds only a name in the ``enabled``
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

from shop.errors import DomainError, register_problem_types
from warehouse.carriers.base import CarrierAdapter

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pavilion.carriers"

register_problem_types({"unknown_carrier": "The asked carrier is not offered by this shop."})


class UnknownCarrier(DomainError):
    """Staff (or a setting) named a carrier that is not installed or not
    enabled. Both cases read the same to a client on purpose."""

    status = 422
    code = "unknown_carrier"
    title = "Unknown carrier"


class CarrierLoadError(RuntimeError):
    """An installed carrier is declared but cannot be imported, or is not a
    ``CarrierAdapter``. This is an operator's problem, not a client's."""


@dataclass(frozen=True)
class _Discovery:
    carriers: Mapping[str, type[CarrierAdapter]]
    broken: Mapping[str, str]  # name -> why it cannot be loaded


_discovered: _Discovery | None = None
_discovering = threading.Lock()


def available_carriers() -> dict[str, type[CarrierAdapter]]:
    """Every carrier adapter class installed in the ``pavilion.carriers`` group, by name.

    Imported the first time this (or ``load_carrier``) is called, then kept;
    ``clear_carrier_cache`` forgets them (tests that install a plugin).
    """
    return dict(_discover().carriers)


def clear_carrier_cache() -> None:
    global _discovered
    with _discovering:
        _discovered = None


def load_carrier(
    name: str, settings: Mapping[str, Any], enabled: Collection[str]
) -> CarrierAdapter:
    """A new ``name`` carrier adapter built with ``settings``.

    Raises ``UnknownCarrier`` (422, field ``carrier``) when ``name`` is not in
    ``enabled`` or not installed, and ``CarrierLoadError`` when it is installed
    but broken. The adapter's own constructor may raise
    ``CarrierConfigurationError`` (a missing key).
    """
    discovery = _discover()
    if name in enabled and name in discovery.broken:
        raise CarrierLoadError(discovery.broken[name])
    if name not in enabled or name not in discovery.carriers:
        offered = sorted(set(enabled) & set(discovery.carriers))
        if name in enabled:
            log.error(
                "carrier %r is enabled but not installed; installed: %s",
                name,
                ", ".join(sorted(discovery.carriers)) or "none",
            )
        raise UnknownCarrier(
            f"No carrier named {name!r} is offered; offered: {', '.join(offered) or 'none'}.",
            errors={"carrier": [f"Must be one of: {', '.join(offered) or 'none'}."]},
        )
    return discovery.carriers[name](settings)


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
    carriers: dict[str, type[CarrierAdapter]] = {}
    broken: dict[str, str] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        if name in carriers or name in broken:
            # The first on sys.path wins, as importlib.metadata orders them.
            log.warning("carrier %r is declared twice; ignoring %s", name, entry_point.value)
            continue
        try:
            target = entry_point.load()
        except Exception as exc:  # one broken plugin must not hide the others
            broken[name] = f"carrier {name!r} ({entry_point.value}) cannot be loaded: {exc!r}"
            log.exception("carrier %r (%s) cannot be loaded", name, entry_point.value)
            continue
        if not (isinstance(target, type) and issubclass(target, CarrierAdapter)):
            broken[name] = (
                f"carrier {name!r} ({entry_point.value}) is not a CarrierAdapter subclass"
            )
            log.error("%s", broken[name])
            continue
        carriers[name] = target
        log.debug("carrier %r found at %s", name, entry_point.value)
    return _Discovery(carriers, broken)
