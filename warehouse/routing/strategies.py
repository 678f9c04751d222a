"""Routing strategies: the default rule pipeline, and finding others by entry point.

A strategy is any object with a ``name`` and ``plan(request) -> Plan``. Third
parties ship one in their own package and declare it in the
``pavilion.routing`` entry point group; ``load_strategy`` finds it by name,
imports it the first time it is asked for, and keeps it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from warehouse.routing.engine import plan_order
from warehouse.routing.model import Plan, RoutingRequest
from warehouse.routing.rules import FilterRule, RankingRule, default_filters, default_rankers

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pavilion.routing"


@runtime_checkable
class RoutingStrategy(Protocol):
    name: str

    def plan(self, request: RoutingRequest) -> Plan: ...


class DefaultStrategy:
    """The rule pipeline: filters (node active, lane serves the destination, corridor
    accepts the lines, stock available), then rankers (fewest shipments, lowest landed
    cost, fastest delivery, closest to the destination, node priority).

    Pass ``filters`` or ``rankers`` to replace a list, or use ``with_rules`` to add
    to the defaults.
    """

    name = "default"

    def __init__(
        self,
        filters: Iterable[FilterRule] | None = None,
        rankers: Iterable[RankingRule] | None = None,
        *,
        name: str | None = None,
    ):
        self.filters: tuple[FilterRule, ...] = tuple(
            default_filters() if filters is None else filters
        )
        self.rankers: tuple[RankingRule, ...] = tuple(
            default_rankers() if rankers is None else rankers
        )
        if name:
            self.name = name

    def with_rules(
        self,
        *,
        filters: Iterable[FilterRule] = (),
        rankers_first: Iterable[RankingRule] = (),
        rankers: Iterable[RankingRule] = (),
        name: str | None = None,
    ) -> DefaultStrategy:
        """A copy with more filters (run after these), rankers that come before these
        (``rankers_first``) or after them (``rankers``)."""
        return DefaultStrategy(
            (*self.filters, *filters),
            (*rankers_first, *self.rankers, *rankers),
            name=name or self.name,
        )

    def plan(self, request: RoutingRequest) -> Plan:
        return plan_order(request, self.filters, self.rankers, strategy=self.name)

    def __repr__(self) -> str:
        filters = ", ".join(rule.name for rule in self.filters)
        rankers = ", ".join(rule.name for rule in self.rankers)
        return f"<{type(self).__name__} {self.name!r} filters=[{filters}] rankers=[{rankers}]>"


class UnknownStrategy(LookupError):
    """No installed (or no allowed) routing strategy has that name."""


class StrategyLoadError(RuntimeError):
    """An installed strategy is declared but cannot be imported or is not a strategy."""


_loaded: dict[str, RoutingStrategy] = {}
_loading = threading.Lock()


def available_strategies() -> list[str]:
    """The names ``load_strategy`` knows: every entry point of the group, and ``default``."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | {"default"})


def load_strategy(name: str, *, allowed: Collection[str] | None = None) -> RoutingStrategy:
    """The strategy called ``name``, imported on first use and kept for the process.

    ``allowed`` is the application's policy (a setting): a name outside it is
    refused even when installed. ``default`` is the built-in pipeline when no
    installed package declares it.
    """
    if allowed is not None and name not in allowed:
        raise UnknownStrategy(
            f"routing strategy {name!r} is not enabled; enabled: {', '.join(sorted(allowed))}"
        )
    strategy = _loaded.get(name)
    if strategy is not None:
        return strategy
    with _loading:
        if name not in _loaded:
            _loaded[name] = _load(name)
        return _loaded[name]


def _load(name: str) -> RoutingStrategy:
    found = list(entry_points(group=ENTRY_POINT_GROUP, name=name))
    if not found:
        if name == "default":
            return DefaultStrategy()
        raise UnknownStrategy(
            f"no routing strategy named {name!r}; installed: {', '.join(available_strategies())}"
        )
    entry_point = found[0]
    if len(found) > 1:
        log.warning(
            "routing strategy %r is declared %d times; using %s",
            name,
            len(found),
            entry_point.value,
        )
    try:
        target = entry_point.load()
    except Exception as exc:  # a broken plugin must say which one, not crash obscurely
        raise StrategyLoadError(
            f"routing strategy {name!r} ({entry_point.value}) cannot be loaded: {exc!r}"
        ) from exc
    strategy = target() if isinstance(target, type) or not hasattr(target, "plan") else target
    if not isinstance(strategy, RoutingStrategy) or not callable(strategy.plan):
        raise StrategyLoadError(
            f"routing strategy {name!r} ({entry_point.value}) has no name and plan(request)"
        )
    log.info("routing strategy %r loaded from %s", name, entry_point.value)
    return strategy
