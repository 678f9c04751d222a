"""The rate-feed interface and the data that crosses it.

A feed is an adapter to one publisher of exchange rates. It answers what the
publisher says today as the project's own dataclasses (``Decimal`` rates, ISO
4217 codes, a date), never the publisher's document; storing, deduplicating,
recording the run and alerting are the service's job (``catalog.rate_feeds``),
so a feed stays a small, pure translation that a test can drive over loopback.

To add a feed from another package: subclass ``RateFeed``, set ``name`` and
``can_fetch``, implement ``fetch``, and declare it in that package's metadata::

    [options.entry_points]
    pavilion.rates = ecb = my_package.ecb:EcbFeed

then enable it with ``PAVILION_RATE_FEEDS=manual,cbr,ecb``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar


@dataclass(frozen=True)
class FetchedRate:
    """1 ``base`` = ``rate`` ``quote`` from ``effective_on`` on, as the feed published it."""

    base: str
    quote: str
    rate: Decimal
    effective_on: date


@dataclass(frozen=True)
class FeedResult:
    """What one fetch brought: the rates and the day the publisher dated them."""

    rates: tuple[FetchedRate, ...]
    published_on: date | None = None


class FeedError(Exception):
    """The feed could not give rates this time; ``reason`` says why in one line.

    The service keeps the rates it has, records the failed run and logs an alert.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class FeedUnavailable(FeedError):
    """The publisher did not answer usefully: a timeout, a refused connection, an
    HTTP error. It may pass by itself; the next scheduled run tries again."""


class FeedMalformed(FeedError):
    """The publisher answered with a document we cannot trust (not XML, a DTD, a
    missing date, a rate that is not a positive number). Nothing of it is stored."""


class RateFeed(ABC):
    """One source of exchange rates.

    ``settings`` is the app's configuration (a mapping): a feed reads its own keys
    (``CBR_RATES_URL``…) and nothing else. ``can_fetch`` is False for a feed whose
    rates are typed in by operators (``manual``): the daily job skips it.
    """

    name: ClassVar[str]
    can_fetch: ClassVar[bool] = True
    description: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = settings

    @abstractmethod
    def fetch(self) -> FeedResult:
        """Today's rates from the publisher; raises ``FeedError`` when there are none
        to trust. Called outside any database transaction."""
