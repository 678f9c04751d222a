"""Rates that operators set by hand (``POST /api/v1/admin/rates``, the admin page,
``flask --app wsgi rates set``): there is nothing to fetch."""

from __future__ import annotations

from catalog.rates.base import FeedResult, RateFeed


class ManualFeed(RateFeed):
    name = "manual"
    can_fetch = False
    description = "Rates set by operators through the admin API, page or CLI."

    def fetch(self) -> FeedResult:
        return FeedResult(rates=())
