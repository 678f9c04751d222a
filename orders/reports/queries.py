"""What every report query shares: dates per dialect, the period's filters, the transaction
settings and the envelope around the figures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, and_, cast, func, text
from sqlalchemy.sql.elements import ColumnElement

from catalog.money import RateTable, UnknownCurrency
from orders.models import Order
from orders.reports.definitions import SOLD_STATUSES, Converter, ReportRange, check_currency
from shop.core.errors import ValidationFailed
from shop.core.extensions import db


def dialect() -> str:
    return db.session.get_bind().dialect.name


def day_of(column: ColumnElement, dialect: str) -> ColumnElement:
    """The UTC calendar day of a timestamp column."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    # SQLite keeps timestamps as UTC text: date() reads its first ten characters.
    return func.date(column)


def seconds_between(later: ColumnElement, earlier: ColumnElement, dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400


def as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def in_range(column: ColumnElement, period: ReportRange) -> ColumnElement:
    first, after = period.bounds()
    return and_(column >= first, column < after)


def sold_in(period: ReportRange) -> ColumnElement:
    return and_(in_range(Order.created_at, period), Order.status.in_(SOLD_STATUSES))


# A year of order lines is a few hundred thousand rows to sort and hash: with the
# default 4 MB PostgreSQL spills them to disk. The setting lasts for the report's own
# transaction only (SET LOCAL), which finish ends.
REPORT_WORK_MEM = "64MB"


def begin_report() -> None:
    if dialect() == "postgresql":
        db.session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


def envelope(name: str, period: ReportRange, **extra: Any) -> dict[str, Any]:
    return {"report": name, **period.as_json(), **extra}


def finish(report: dict[str, Any], converter: Converter | None) -> dict[str, Any]:
    if converter is not None:
        report["currency"] = converter.target
        report["rates_on"] = converter.rates_on.isoformat() if converter.rates_on else None
        report["rates"] = converter.rates_json()
    db.session.rollback()  # reads only: end the transaction, hold no snapshot
    return report


def converter_for(table: RateTable, currency: str, rates_on: date) -> Converter:
    return Converter(table, check_currency(currency, table), rates_on)


def convert_sums(converter: Converter, sums: Iterable[tuple[Any, str, Decimal | None]]):
    """``converter.sums``; an order currency no rate reaches is the asked currency's 422."""
    try:
        return converter.sums(sums)
    except UnknownCurrency as exc:
        raise ValidationFailed(errors={"currency": [str(exc)]}) from exc
