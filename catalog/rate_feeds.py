"""Exchange-rate use cases for operators: set a rate, fetch a feed, see how old rates are.

Rates are rows that are never edited (``exchange_rates``); a feed run adds the rows
its publisher has that we lack and records the run (``rate_feed_runs``). The call to
the publisher happens outside any transaction: a slow bank must not hold a database
connection. What the shop converts at is decided by ``RateTable`` (catalog.money):
for each pair, the newest quote of either direction.

A failed fetch (HTTP error, timeout, a document we cannot trust) keeps the rates we
have, is recorded as a failed run and logs one ERROR line starting ``ALERT`` that
names the feed and the reason, for whatever watches the logs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select

from catalog.models import ExchangeRate
from catalog.money import ExchangeRateQuote, is_currency_code
from catalog.rates.base import FeedError, FeedResult, FetchedRate
from catalog.rates.models import FeedRun
from catalog.rates.registry import (
    RateFeedLoadError,
    UnknownRateFeed,
    enabled_feed_names,
    load_feed,
)
from catalog.services import forget_cached_rates, load_rate_table, today_utc
from shop.core import background
from shop.core.audit import record
from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import DomainError, ValidationFailed, register_problem_types
from shop.core.extensions import db

log = logging.getLogger(__name__)

register_problem_types(
    {
        "feed_cannot_fetch": "The rate feed has nothing to fetch (its rates are set by hand).",
        "manual_rates_disabled": "Rates set by hand are not enabled (PAVILION_RATE_FEEDS).",
    }
)

MANUAL = "manual"
RATE_PLACES = Decimal("1e-10")  # exchange_rates.rate is NUMERIC(24, 10)
MAX_RATE = Decimal("1e13")
# An operator may schedule a rate a little ahead; a year typo should not hide a rate.
MAX_DAYS_AHEAD = 31
SOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")
INSERT_CHUNK = 500
RECENT_RUNS = 10


class FeedCannotFetch(DomainError):
    status = 409
    code = "feed_cannot_fetch"
    title = "Nothing to fetch"


class ManualRatesDisabled(DomainError):
    status = 409
    code = "manual_rates_disabled"
    title = "Manual rates are disabled"


# ------------------------------------------------------------------ reading


def _pair(base: str, quote: str) -> str:
    return f"{base}/{quote}"


def _feed_of(source: str) -> str:
    """``cbr#2`` (a same-day correction) belongs to the ``cbr`` feed."""
    return source.split("#", 1)[0]


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _last_runs(outcome: str) -> dict[str, FeedRun]:
    """The newest run of each feed with ``outcome``."""
    newest = (
        select(FeedRun.feed, func.max(FeedRun.id).label("id"))
        .where(FeedRun.outcome == outcome)
        .group_by(FeedRun.feed)
        .subquery()
    )
    runs = db.session.scalars(select(FeedRun).join(newest, newest.c.id == FeedRun.id))
    return {run.feed: run for run in runs}


def rate_ages(now: datetime | None = None) -> dict[str, Any]:
    """The rate each currency pair converts at today, with how old it is.

    A rate's age counts from the later of the start of its ``effective_on`` day
    (UTC) and the last successful run of its feed that still quoted the pair: a
    bank that publishes nothing new over a weekend but is fetched daily keeps its
    Friday rate fresh; a feed that stopped answering, or a hand-set rate nobody
    renewed, grows old. Older than ``RATES_MAX_AGE_HOURS``: ``stale`` (checkout
    still converts at it; operators get a warning).
    """
    now = now or utcnow()
    max_age = float(current_app.config.get("RATES_MAX_AGE_HOURS", 48))
    table = load_rate_table(now.astimezone(UTC).date())
    in_force = table.in_force()
    rows = _rows_of(in_force)
    confirmations = _last_runs("ok")
    items = []
    for quote in in_force:
        row = rows.get((quote.base, quote.quote, quote.effective_on, quote.source))
        feed = _feed_of(quote.source)
        as_of = datetime.combine(quote.effective_on, time.min, tzinfo=UTC)
        confirmed_at = None
        run = confirmations.get(feed)
        if run is not None and _pair(quote.base, quote.quote) in (run.pairs or ()):
            confirmed_at = _aware(run.finished_at)
            as_of = max(as_of, confirmed_at)
        age_hours = max(0.0, (now - as_of).total_seconds() / 3600)
        items.append(
            {
                "base": quote.base,
                "quote": quote.quote,
                "pair": _pair(quote.base, quote.quote),
                "direction": f"1 {quote.base} = {_plain(quote.rate)} {quote.quote}",
                "rate": _plain(quote.rate),
                "inverse_rate": _plain((Decimal(1) / quote.rate).quantize(RATE_PLACES)),
                "effective_on": quote.effective_on.isoformat(),
                "source": quote.source,
                "feed": feed,
                "fetched_at": iso_utc(row.created_at) if row else None,
                "confirmed_at": iso_utc(confirmed_at),
                "age_hours": round(age_hours, 1),
                "stale": age_hours > max_age,
            }
        )
    stale = [item["pair"] for item in items if item["stale"]]
    return {
        "as_of": iso_utc(now),
        "max_age_hours": max_age,
        "stale_pairs": stale,
        "any_stale": bool(stale),
        "items": items,
        "total": len(items),
    }


def _plain(value: Decimal) -> str:
    """``11.2364000000`` -> ``11.2364``; never scientific notation."""
    return format(value.normalize(), "f")


def _rows_of(quotes: list[ExchangeRateQuote]) -> dict[tuple, ExchangeRate]:
    if not quotes:
        return {}
    matches = or_(
        *(
            and_(
                ExchangeRate.base_currency == q.base,
                ExchangeRate.quote_currency == q.quote,
                ExchangeRate.effective_on == q.effective_on,
                ExchangeRate.source == q.source,
            )
            for q in quotes
        )
    )
    return {
        (r.base_currency, r.quote_currency, r.effective_on, r.source): r
        for r in db.session.scalars(select(ExchangeRate).where(matches))
    }


def _run_json(run: FeedRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "feed": run.feed,
        "actor": run.actor,
        "outcome": run.outcome,
        "started_at": iso_utc(run.started_at),
        "finished_at": iso_utc(run.finished_at),
        "published_on": run.published_on.isoformat() if run.published_on else None,
        "rates_seen": run.rates_seen,
        "rows_added": run.rows_added,
        "error": run.error,
    }


def feed_status() -> dict[str, Any]:
    """The enabled feeds, whether each can fetch, and each one's last success and
    last failure; then the most recent runs of any feed."""
    settings = current_app.config
    successes, failures = _last_runs("ok"), _last_runs("failed")
    items = []
    for name in enabled_feed_names(settings):
        entry: dict[str, Any] = {"name": name, "installed": True, "problem": None}
        try:
            feed = load_feed(name, settings)
        except (UnknownRateFeed, RateFeedLoadError) as error:
            entry.update(installed=False, can_fetch=False, description="",
                         problem=getattr(error, "detail", None) or str(error))  # fmt: skip
        else:
            entry.update(can_fetch=feed.can_fetch, description=feed.description)
        success, failure = successes.get(name), failures.get(name)
        latest = max((r for r in (success, failure) if r), key=lambda r: r.id, default=None)
        entry.update(
            last_outcome=latest.outcome if latest else None,
            last_success=_run_json(success),
            last_failure=_run_json(failure),
        )
        items.append(entry)
    recent = db.session.scalars(select(FeedRun).order_by(FeedRun.id.desc()).limit(RECENT_RUNS))
    return {
        "items": items,
        "total": len(items),
        "recent_runs": [_run_json(run) for run in recent],
    }


# ------------------------------------------------------------------ writing rows


def _insert_ignoring_duplicates(values: list[dict[str, Any]]) -> int:
    """Insert rate rows; a row another run stored meanwhile (same pair, day and source)
    is skipped, not an error. Returns how many were added."""
    if not values:
        return 0
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    added = 0
    for start in range(0, len(values), INSERT_CHUNK):
        statement = insert(ExchangeRate).values(values[start : start + INSERT_CHUNK])
        # RETURNING counts what was added on both databases (rowcount may be -1).
        added += len(
            db.session.execute(statement.on_conflict_do_nothing().returning(ExchangeRate.id)).all()
        )
    return added


def _new_rows(rates: Iterable[FetchedRate], source: str) -> list[dict[str, Any]]:
    """The rows to add for ``rates`` from ``source``.

    The same rate for the same pair and day from the same source is already there:
    nothing to add (a feed fetched twice a day adds nothing the second time). A
    different figure for a day the source already gave is a correction; rows are
    never edited, so it is a new row with the source ``<source>#<n>``, and being the
    later row of that day it is the one in force.
    """
    rates = list(rates)
    if not rates:
        return []
    days = {r.effective_on for r in rates}
    existing: dict[tuple[str, str, date], list[ExchangeRate]] = {}
    for row in db.session.scalars(
        select(ExchangeRate)
        .where(
            ExchangeRate.effective_on.in_(days),
            or_(
                ExchangeRate.source == source,
                ExchangeRate.source.startswith(f"{source}#", autoescape=True),
            ),
        )
        .order_by(ExchangeRate.id)
    ):
        key = (row.base_currency, row.quote_currency, row.effective_on)
        existing.setdefault(key, []).append(row)
    now = utcnow()
    values = []
    for rate in rates:
        same_day = existing.get((rate.base, rate.quote, rate.effective_on), [])
        if same_day and Decimal(same_day[-1].rate) == rate.rate:
            continue
        values.append(
            {
                "base_currency": rate.base,
                "quote_currency": rate.quote,
                "rate": rate.rate,
                "effective_on": rate.effective_on,
                "source": source if not same_day else f"{source}#{len(same_day) + 1}",
                "created_at": now,
            }
        )
    return values


# ------------------------------------------------------------------ manual rates


def _checked_rate(
    base: str, quote: str, rate: Decimal | str, effective_on: date, today: date
) -> FetchedRate:
    errors: dict[str, list[str]] = {}
    base, quote = (base or "").strip().upper(), (quote or "").strip().upper()
    for field, code in (("base", base), ("quote", quote)):
        if not is_currency_code(code):
            errors[field] = [f"{code or 'nothing'} is not an ISO 4217 currency code."]
    if not errors and base == quote:
        errors["quote"] = ["The quote currency must differ from the base currency."]
    try:
        value = Decimal(str(rate))
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        errors["rate"] = ["Must be a positive number: 1 base = rate quote."]
    elif value >= MAX_RATE or value.quantize(RATE_PLACES) <= 0:
        errors["rate"] = ["Out of range: between 0.0000000001 and 10^13."]
    if effective_on > today + timedelta(days=MAX_DAYS_AHEAD):
        errors["effective_on"] = [f"At most {MAX_DAYS_AHEAD} days ahead."]
    if errors:
        raise ValidationFailed("The rate cannot be set.", errors=errors)
    return FetchedRate(base, quote, value.quantize(RATE_PLACES), effective_on)  # type: ignore[union-attr]


def set_rate(
    actor: StaffPrincipal | str,
    base: str,
    quote: str,
    rate: Decimal | str,
    effective_on: date | None = None,
    source: str = MANUAL,
) -> dict[str, Any]:
    """Set 1 ``base`` = ``rate`` ``quote`` from ``effective_on`` (default today, UTC).

    A new row, audited in the same transaction. Being the newest quote of the pair
    (either direction) on its day, it is what the pair converts at from then on,
    until a newer one arrives (the next CBR day, say). Setting the same pair twice
    in one day keeps both rows; the later is in force.
    """
    if MANUAL not in enabled_feed_names(current_app.config):
        raise ManualRatesDisabled("Add 'manual' to PAVILION_RATE_FEEDS to set rates by hand.")
    if not SOURCE_PATTERN.match(source or ""):
        raise ValidationFailed(errors={"source": ["Lowercase letters, digits, - and _."]})
    today = today_utc()
    fetched = _checked_rate(base, quote, rate, effective_on or today, today)
    before = load_rate_table(fetched.effective_on).quote_for(fetched.base, fetched.quote)
    values = _new_rows([fetched], source)
    if values:
        _insert_ignoring_duplicates(values)
        source = values[0]["source"]
    row = db.session.scalar(
        select(ExchangeRate)
        .where(
            ExchangeRate.base_currency == fetched.base,
            ExchangeRate.quote_currency == fetched.quote,
            ExchangeRate.effective_on == fetched.effective_on,
            or_(
                ExchangeRate.source == source,
                ExchangeRate.source.startswith(f"{source}#", autoescape=True),
            ),
        )
        .order_by(ExchangeRate.id.desc())
        .limit(1)
    )
    after = _row_json(row)
    if values:  # the same rate again is no change: nothing to audit
        record(actor, "rate.set", "exchange_rate", _pair(fetched.base, fetched.quote),
               before=before.as_json() if before else None, after=after)  # fmt: skip
    db.session.commit()
    forget_cached_rates()
    if values:
        log.info("rate set by %s: %s", getattr(actor, "actor", actor), after)
    # A rate for a past day loses to a newer quote of the pair; say so rather than
    # let the operator believe the shop converts at it.
    stored = ExchangeRateQuote(row.base_currency, row.quote_currency, Decimal(row.rate),
                               row.effective_on, row.source)  # fmt: skip
    in_force_today = load_rate_table(today).quote_for(fetched.base, fetched.quote) == stored
    return {**after, "created": bool(values), "in_force_today": in_force_today}


def _row_json(row: ExchangeRate) -> dict[str, Any]:
    return {
        "id": row.id,
        "base": row.base_currency,
        "quote": row.quote_currency,
        "rate": _plain(Decimal(row.rate)),
        "effective_on": row.effective_on.isoformat(),
        "source": row.source,
        "fetched_at": iso_utc(row.created_at),
    }


# ------------------------------------------------------------------ fetching feeds


def _checked_result(result: FeedResult) -> FeedResult:
    """A third-party feed's answer must still be rates we can store."""
    if not isinstance(result, FeedResult):
        raise FeedError(f"the feed returned {type(result).__name__}, not a FeedResult")
    for rate in result.rates:
        sane = (
            isinstance(rate, FetchedRate)
            and is_currency_code(rate.base)
            and is_currency_code(rate.quote)
            and rate.base != rate.quote
            and isinstance(rate.rate, Decimal)
            and rate.rate.is_finite()
            and Decimal(0) < rate.rate < MAX_RATE
            and rate.rate.quantize(RATE_PLACES) > 0
            and isinstance(rate.effective_on, date)
        )
        if not sane:
            raise FeedError(f"the feed returned a rate that cannot be stored: {rate!r}")
    rates = tuple(
        FetchedRate(r.base, r.quote, r.rate.quantize(RATE_PLACES), r.effective_on)
        for r in result.rates
    )
    return FeedResult(rates=rates, published_on=result.published_on)


def fetch_rates(feed_name: str, actor: StaffPrincipal | str = "cli") -> dict[str, Any]:
    """Fetch one feed now and store what is new; the run is recorded either way.

    Raises ``UnknownRateFeed`` (404) for a feed not enabled or installed and
    ``FeedCannotFetch`` (409) for one whose rates are set by hand. A publisher that
    fails is not an exception here: the answer is the failed run, the rates in
    force stay, and an ALERT line is logged.
    """
    feed = load_feed(feed_name, current_app.config)
    if not feed.can_fetch:
        raise FeedCannotFetch(f"The {feed_name} feed's rates are set by hand, not fetched.")
    actor_label = actor.actor if isinstance(actor, StaffPrincipal) else str(actor)
    # End the read transaction the caller's lookups opened (its token, say), so no
    # connection sits idle in a transaction while the publisher takes its time.
    db.session.commit()
    started_at = utcnow()
    try:
        result = _checked_result(feed.fetch())
    except FeedError as error:
        return _record_failure(feed_name, actor_label, started_at, error.reason)
    except Exception as error:  # a third-party feed's bug must still leave a trace
        log.exception("rate feed %s raised", feed_name)
        return _record_failure(feed_name, actor_label, started_at,
                               f"{type(error).__name__}: {error}")  # fmt: skip
    values = _new_rows(result.rates, feed_name)
    added = _insert_ignoring_duplicates(values)
    run = FeedRun(
        feed=feed_name,
        actor=actor_label,
        started_at=started_at,
        finished_at=utcnow(),
        outcome="ok",
        published_on=result.published_on,
        rates_seen=len(result.rates),
        rows_added=added,
        pairs=sorted({_pair(r.base, r.quote) for r in result.rates}),
    )
    db.session.add(run)
    db.session.flush()
    if added:
        # New rates change what the shop converts at: audited with the rows, in their
        # transaction. A run that added nothing changed nothing (its run row says so).
        record(actor, "rate.fetch", "rate_feed", feed_name,
               after={**_run_json(run), "added": [_added_text(v) for v in values]})  # fmt: skip
    db.session.commit()
    forget_cached_rates()
    log.info("rate feed %s: %d rates dated %s, %d new rows", feed_name, len(result.rates),
             result.published_on, added)  # fmt: skip
    return _run_json(run)  # type: ignore[return-value]


def _added_text(row: Mapping[str, Any]) -> str:
    return (f"1 {row['base_currency']} = {_plain(row['rate'])} {row['quote_currency']} "
            f"on {row['effective_on'].isoformat()} ({row['source']})")  # fmt: skip


def _record_failure(feed: str, actor: str, started_at: datetime, reason: str) -> dict[str, Any]:
    db.session.rollback()
    log.error("ALERT rate feed %s failed: %s; the rates in force are kept", feed, reason)
    run = FeedRun(feed=feed, actor=actor, started_at=started_at, finished_at=utcnow(),
                  outcome="failed", rates_seen=0, rows_added=0, pairs=[],
                  error=reason[:2000])  # fmt: skip
    db.session.add(run)
    db.session.commit()
    return _run_json(run)  # type: ignore[return-value]


def fetchable_feeds(settings: Mapping[str, Any]) -> list[str]:
    """The enabled feeds that fetch (not ``manual``); broken ones are logged and left out."""
    names = []
    for name in enabled_feed_names(settings):
        try:
            feed = load_feed(name, settings)
        except (UnknownRateFeed, RateFeedLoadError) as error:
            log.error("ALERT rate feed %s cannot be loaded: %s", name, error)
            continue
        if feed.can_fetch:
            names.append(name)
    return names


@background.periodic("rates.fetch", every_seconds=86400)
def fetch_all_feeds(actor: str = "beat") -> list[dict[str, Any]]:
    """Every day (Celery beat; without a broker, cron runs ``flask --app wsgi rates
    fetch``): fetch each enabled feed that can fetch."""
    return [fetch_rates(name, actor) for name in fetchable_feeds(current_app.config)]


# ------------------------------------------------------------------ metrics


class RateAgeCollector:
    """Prometheus gauges read at scrape time (shop.core.metrics): how old each rate in
    force is, whether it is stale, and when each feed last fetched successfully."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        age = GaugeMetricFamily(
            "pavilion_exchange_rate_age_seconds",
            "Age of the rate each currency pair converts at (as on the admin rates page: "
            "from its day or the last successful fetch that still quoted it)",
            labels=["pair", "feed"],
        )
        stale = GaugeMetricFamily(
            "pavilion_exchange_rate_stale",
            "1 when the pair's rate is older than PAVILION_RATES_MAX_AGE_HOURS, else 0",
            labels=["pair", "feed"],
        )
        last_ok = GaugeMetricFamily(
            "pavilion_rate_feed_last_success_timestamp_seconds",
            "When each feed last fetched successfully (Unix time)",
            labels=["feed"],
        )
        try:
            ages = rate_ages()
            runs = _last_runs("ok")
        finally:
            db.session.rollback()
        for item in ages["items"]:
            age.add_metric([item["pair"], item["feed"]], item["age_hours"] * 3600)
            stale.add_metric([item["pair"], item["feed"]], 1 if item["stale"] else 0)
        for feed, run in sorted(runs.items()):
            last_ok.add_metric([feed], _aware(run.finished_at).timestamp())
        yield age
        yield stale
        yield last_ok
