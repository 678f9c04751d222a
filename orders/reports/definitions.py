"""What the reports count, the period, and the pure arithmetic: no database."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from catalog.money import (
    ExchangeRateQuote,
    Money,
    RateTable,
    is_currency_code,
    minor_unit_exponent,
)
from orders.lifecycle import PAID_STATUSES
from shop.core.errors import ValidationFailed

# An order sold once its money came in (see the package docstring); a refunded order
# was a sale, and its refunds are counted against the days they were made.
SOLD_STATUSES = (*PAID_STATUSES, "partially_refunded", "refunded")
# Refunds that the reports count: all but those the provider never paid out.
UNCOUNTED_REFUND_STATUSES = ("failed",)
# What an order charged, in the order a refund is split between (ties go to the first).
CHARGED_PARTS = ("goods", "shipping", "duties", "other")
# Parcels that no longer carry the goods: a re-routed parcel was replaced by another.
DEAD_SHIPMENT_STATUSES = ("cancelled", "rerouted")
SALES_GROUPINGS = ("day", "category", "origin", "destination", "node")
SKU_LISTS = ("top", "slow")
DEFAULT_DAYS = 28
MAX_DAYS = 366
DEFAULT_CURRENCY = "CNY"  # the pavilion keeps its books in Qingdao

# The rule sets an order's duty assessment names (``duties.policy``); none is "unknown".
REGIME_LABELS = {
    "CN-CBEC": "China CBEC (cross-border retail imports)",
    "EAEU-2024-04": "EAEU, until 2026-06-30 (15% over EUR 200)",
    "EAEU-2026-07": "EAEU, from 2026-07-01 (e-commerce goods: 5% + VAT)",
    "unknown": "No rules for the destination (collected on delivery, if at all)",
}


@dataclass(frozen=True)
class ReportRange:
    """Calendar days in UTC, ``start`` and ``end`` both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) as aware UTC datetimes, for an indexed
        range filter on a timestamp column."""
        first = datetime.combine(self.start, time.min, tzinfo=UTC)
        return first, first + timedelta(days=self.days)

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def as_json(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "days": self.days}


def report_range(start: date | None, end: date | None, today: date) -> ReportRange:
    """The asked range, or the last ``DEFAULT_DAYS`` days up to ``today``; a 422 naming
    the field when it is backwards, too long or in the future."""
    end = end or (today if start is None else min(today, start + timedelta(DEFAULT_DAYS - 1)))
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            "The range ends before it starts.",
            errors={"from": [f"Must be on or before `to` ({end.isoformat()})."]},
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"A report covers at most {MAX_DAYS} days.",
            errors={"to": [f"At most {MAX_DAYS} days after `from`, both included."]},
        )
    return ReportRange(start, end)


def days_of_cover(on_hand: int, units_sold: int, days: int) -> Decimal | None:
    """How many days ``on_hand`` lasts at the range's average daily sales, to 0.1 day;
    None when nothing sold (no rate to divide by: not "forever", not zero)."""
    if units_sold <= 0 or days <= 0:
        return None
    cover = Decimal(on_hand) * Decimal(days) / Decimal(units_sold)
    return cover.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def daily_average(units: int, days: int) -> Decimal:
    return (Decimal(units) / Decimal(days)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Converter:
    """Turns per-currency sums into one currency and remembers each rate it used."""

    table: RateTable
    target: str
    rates_on: date | None = None  # the day the table is in force, said with the report
    used: dict[tuple[str, str, date, str], ExchangeRateQuote] = field(default_factory=dict)

    def amount(self, amount: Decimal, currency: str) -> Decimal:
        conversion = self.table.conversion(currency, self.target)
        for quote in conversion.quotes:
            self.used[(quote.base, quote.quote, quote.effective_on, quote.source)] = quote
        return conversion.apply(Decimal(amount))

    def sums(self, rows: Iterable[tuple[Any, str, Decimal | None]]) -> dict[Any, Decimal]:
        """``(key, currency, amount)`` rows -> ``{key: amount in target}``, unrounded."""
        totals: dict[Any, Decimal] = defaultdict(Decimal)
        for key, currency, amount in rows:
            if amount is not None:
                totals[key] += self.amount(Decimal(amount), currency)
        return dict(totals)

    def money(self, amount: Decimal) -> dict[str, str]:
        return Money(Decimal(amount), self.target).as_json()

    def rates_json(self) -> list[dict[str, str]]:
        return [self.used[key].as_json() for key in sorted(self.used)]


Part = TypeVar("Part")


def split_pro_rata(
    amount: int, charged: Mapping[Part, int], already: Mapping[Part, int] | None = None
) -> dict[Part, int]:
    """``amount`` (whole minor units) split between the parts of ``charged`` pro rata to
    what each part still has to give back (``charged`` less ``already`` refunded).

    The parts sum to ``amount`` exactly (largest remainder; a tie goes to the part named
    first) and none gives back more than it charged: an amount beyond what is left is
    not split (the caller sees the parts sum to less). Weighing what is left rather than
    what was charged keeps the same proportions while making good earlier pieces'
    rounding, so the piece that refunds the rest gives back exactly what is left of each.
    """
    already = already or {}
    left = {part: max(int(charged[part]) - int(already.get(part, 0)), 0) for part in charged}
    total_left = sum(left.values())
    amount = min(max(int(amount), 0), total_left)
    if amount == total_left:
        return left
    shares = {part: amount * part_left // total_left for part, part_left in left.items()}
    short = amount - sum(shares.values())
    # Each part's share is below what it has left (amount < total_left), so a part whose
    # share was rounded down has room for the one unit more.
    order = list(left)
    by_remainder = sorted(
        order, key=lambda part: (-(amount * left[part] % total_left), order.index(part))
    )
    for part in by_remainder[:short]:
        shares[part] += 1
    return shares


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` in whole minor units of ``currency`` (CNY 18.50 -> 1850), half up."""
    scaled = Decimal(amount).scaleb(minor_unit_exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor_units(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-minor_unit_exponent(currency))


def check_currency(currency: str, table: RateTable) -> str:
    currency = (currency or DEFAULT_CURRENCY).upper()
    if not is_currency_code(currency):
        raise ValidationFailed(
            errors={"currency": [f"{currency} is not an ISO 4217 currency code."]}
        )
    if currency != DEFAULT_CURRENCY and currency not in table.currencies():
        raise ValidationFailed(errors={"currency": [f"No exchange rate reaches {currency}."]})
    return currency


def to_csv(report: Mapping[str, Any]) -> str:
    """The report's rows as CSV: one column per ``columns`` entry, money as its amount
    with the currency in the header (``goods_CNY``), empty for None.

    Text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first)
    is quoted with a leading apostrophe: SKU and product names come from merchants.
    """
    columns: list[str] = list(report["columns"])
    currency = report.get("currency")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [f"{c}_{currency}" if c in report.get("money_columns", ()) else c for c in columns]
    )
    for row in report["rows"]:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping) and "amount" in value:
        return str(value["amount"])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
