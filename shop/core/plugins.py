"""Adapters found through entry points: installed packages declare them, the shop
enables them.

Discovery is the plugins' business: any installed distribution that declares
an entry point in a group (``pavilion.payments``, ``pavilion.carriers``)
offers an adapter. Enabling is the application's policy: ``load`` builds only
a name in the ``enabled`` allowlist the app passes from its configuration.

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

from shop.core.errors import DomainError
from shop.core.metrics import instrument_adapter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Discovery:
    found: Mapping[str, type]
    broken: Mapping[str, str]  # name -> why it cannot be loaded


class PluginGroup:
    """One entry point group of adapters that subclass ``base``.

    ``kind`` names them in messages ("payment adapter"); ``unknown`` is the
    DomainError a client gets for a name not offered (installed but disabled
    reads the same on purpose: a disabled adapter is not the shop's to
    advertise), naming ``field``; ``broken`` is raised for an enabled plugin
    that cannot be imported (an operator's problem, not a client's).
    """

    def __init__(
        self,
        group: str,
        base: type,
        *,
        kind: str,
        field: str,
        unknown: type[DomainError],
        broken: type[Exception],
        metric_kind: str | None = None,
        timed: tuple[str, ...] = (),
    ):
        self.group, self.base, self.kind, self.field = group, base, kind, field
        self.unknown, self.broken = unknown, broken
        # The adapter methods that call the outside world, counted and timed as
        # ``pavilion_provider_calls_total{kind=metric_kind, provider=name, ...}``.
        self.metric_kind, self.timed = metric_kind, timed
        self._discovered: _Discovery | None = None
        self._lock = threading.Lock()

    def available(self) -> dict[str, type]:
        """Every adapter class installed in the group, by name (imported once, kept)."""
        return dict(self._discover().found)

    def clear(self) -> None:
        """Forget what was found (tests that install a plugin)."""
        with self._lock:
            self._discovered = None

    def load(self, name: str, settings: Mapping[str, Any], enabled: Collection[str]) -> Any:
        """A new ``name`` adapter built with ``settings``, if enabled and installed."""
        discovery = self._discover()
        if name in enabled and name in discovery.broken:
            raise self.broken(discovery.broken[name])
        if name not in enabled or name not in discovery.found:
            offered = ", ".join(sorted(set(enabled) & set(discovery.found))) or "none"
            if name in enabled:
                log.error("%s %r is enabled but not installed; installed: %s", self.kind, name,
                          ", ".join(sorted(discovery.found)) or "none")  # fmt: skip
            raise self.unknown(
                f"No {self.kind} named {name!r} is offered; offered: {offered}.",
                errors={self.field: [f"Must be one of: {offered}."]},
            )
        adapter = discovery.found[name](settings)
        if self.metric_kind and self.timed:
            instrument_adapter(adapter, self.metric_kind, name, self.timed)
        return adapter

    def _discover(self) -> _Discovery:
        discovery = self._discovered
        if discovery is not None:
            return discovery
        with self._lock:
            if self._discovered is None:
                self._discovered = self._load_all()
            return self._discovered

    def _load_all(self) -> _Discovery:
        found: dict[str, type] = {}
        broken: dict[str, str] = {}
        for entry_point in entry_points(group=self.group):
            name = entry_point.name
            if name in found or name in broken:
                # The first on sys.path wins, as importlib.metadata orders them.
                log.warning("%s %r is declared twice; ignoring %s", self.kind, name,
                            entry_point.value)  # fmt: skip
                continue
            try:
                target = entry_point.load()
            except Exception as exc:  # one broken plugin must not hide the others
                broken[name] = (
                    f"{self.kind} {name!r} ({entry_point.value}) cannot be loaded: {exc!r}"
                )
                log.exception("%s %r (%s) cannot be loaded", self.kind, name, entry_point.value)
                continue
            if not (isinstance(target, type) and issubclass(target, self.base)):
                broken[name] = (
                    f"{self.kind} {name!r} ({entry_point.value}) is not a "
                    f"{self.base.__name__} subclass"
                )
                log.error("%s", broken[name])
                continue
            found[name] = target
            log.debug("%s %r found at %s", self.kind, name, entry_point.value)
        return _Discovery(found, broken)
