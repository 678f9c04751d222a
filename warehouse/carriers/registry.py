"""Finding carrier adapters: installed packages declare them, the shop enables them.

Discovery is the plugins' business: any installed distribution that declares
an entry point in the ``pavilion.carriers`` group offers an adapter (this
project declares ``manual`` and ``cdek`` in setup.cfg). Enabling is the
application's policy: ``load_carrier`` builds only a name in the ``enabled``
allowlist the app passes from its configuration.

Discovery, caching and broken plugins are handled by ``shop.core.plugins``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from shop.core.errors import DomainError, register_problem_types
from shop.core.plugins import PluginGroup
from warehouse.carriers.base import CarrierAdapter

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


_GROUP = PluginGroup(
    ENTRY_POINT_GROUP,
    CarrierAdapter,
    kind="carrier",
    field="carrier",
    unknown=UnknownCarrier,
    broken=CarrierLoadError,
    metric_kind="carrier",
    timed=(
        "quote",
        "delivery_points",
        "book",
        "booking_status",
        "find_booking",
        "label",
        "track",
        "cancel",
    ),
)


def available_carriers() -> dict[str, type[CarrierAdapter]]:
    """Every carrier adapter class installed in the ``pavilion.carriers`` group, by name.

    Imported the first time this (or ``load_carrier``) is called, then kept;
    ``clear_carrier_cache`` forgets them (tests that install a plugin).
    """
    return _GROUP.available()


def clear_carrier_cache() -> None:
    _GROUP.clear()


def load_carrier(
    name: str, settings: Mapping[str, Any], enabled: Collection[str]
) -> CarrierAdapter:
    """A new ``name`` carrier adapter built with ``settings``.

    Raises ``UnknownCarrier`` (422, field ``carrier``) when ``name`` is not in
    ``enabled`` or not installed, and ``CarrierLoadError`` when it is installed
    but broken. The adapter's own constructor may raise
    ``CarrierConfigurationError`` (a missing key).
    """
    return _GROUP.load(name, settings, enabled)
