"""Finding rate feeds: installed packages declare them (entry point group
``pavilion.rates``), the shop enables the ones named in ``RATE_FEEDS``.

Discovery, caching and broken plugins are handled by ``shop.core.plugins``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog.rates.base import RateFeed
from shop.core.errors import DomainError, register_problem_types
from shop.core.plugins import PluginGroup

ENTRY_POINT_GROUP = "pavilion.rates"

register_problem_types({"unknown_rate_feed": "The asked rate feed is not offered by this shop."})


class UnknownRateFeed(DomainError):
    """An operator named a feed that is not installed or not enabled."""

    status = 404
    code = "unknown_rate_feed"
    title = "Unknown rate feed"


class RateFeedLoadError(RuntimeError):
    """An enabled feed is declared but cannot be imported, or is not a ``RateFeed``."""


_GROUP = PluginGroup(
    ENTRY_POINT_GROUP,
    RateFeed,
    kind="rate feed",
    field="feed",
    unknown=UnknownRateFeed,
    broken=RateFeedLoadError,
    metric_kind="rate_feed",
    timed=("fetch",),
)


def enabled_feed_names(settings: Mapping[str, Any]) -> list[str]:
    """The feeds the configuration enables, in the order it names them."""
    return list(settings.get("RATE_FEEDS") or ())


def load_feed(name: str, settings: Mapping[str, Any]) -> RateFeed:
    """A new ``name`` feed built with ``settings``; ``UnknownRateFeed`` (404) when it is
    not enabled or not installed."""
    return _GROUP.load(name, settings, enabled_feed_names(settings))


def clear_feed_cache() -> None:
    """Forget the feeds found so far (tests that install a plugin)."""
    _GROUP.clear()
