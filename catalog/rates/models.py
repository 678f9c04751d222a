"""Every run of a rate feed, so operators see when rates last arrived and why not."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.clock import utcnow
from shop.core.extensions import db

FEED_RUN_OUTCOMES = ("ok", "failed")


class FeedRun(db.Model):
    """One fetch of one feed: what came, what was stored, or why nothing was.

    Rows are only ever added. The newest ``ok`` run of a feed also says which
    pairs its publisher still quotes (``pairs``), which is what keeps a rate
    that has not changed since the weekend from reading as stale.
    """

    __tablename__ = "rate_feed_runs"
    __table_args__ = (Index("ix_rate_feed_runs_feed_outcome", "feed", "outcome", "finished_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(40))
    # Who asked: "beat" (the daily job), "cli", or an operator ("staff:3").
    actor: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(10))  # ok | failed
    # The day the publisher dated its document (CBR: ValCurs Date).
    published_on: Mapped[date | None] = mapped_column(Date)
    rates_seen: Mapped[int] = mapped_column(Integer, default=0)
    rows_added: Mapped[int] = mapped_column(Integer, default=0)
    # ["CNY/RUB", ...]: the pairs the document quoted (base/quote as published).
    pairs: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
