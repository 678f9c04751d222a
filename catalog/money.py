"""Money and currency conversion: pure, Decimal only, no database.

A ``RateTable`` holds the rates in force on one day. Converting names the
rates it used, so an order (or a price shown) can say where a figure came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code, or no rate reaches it."""


@cache
def iso_currency_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


def is_currency_code(code: str) -> bool:
    return code in iso_currency_codes()


@cache
def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point (CNY 2, JPY 0, KWD 3), from CLDR."""
    return get_currency_precision(currency)


def round_to_currency(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit, as a shopper expects on a price tag."""
    exponent = minor_unit_exponent(currency)
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def half_minor_unit(currency: str) -> Decimal:
    """Half of the smallest shown unit: a raw amount this far below a bound
    still rounds up onto it."""
    return Decimal(5).scaleb(-minor_unit_exponent(currency) - 1)


@dataclass(frozen=True, order=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self):
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")
        if not is_currency_code(self.currency):
            raise UnknownCurrency(self.currency)

    @classmethod
    def parse(cls, amount: str | int | Decimal, currency: str) -> Money:
        try:
            value = Decimal(str(amount))
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal amount: {amount!r}") from exc
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {amount!r}")
        return cls(value, currency.upper())

    def rounded(self) -> Money:
        return Money(round_to_currency(self.amount, self.currency), self.currency)

    def as_json(self) -> dict[str, str]:
        """``{"amount": "18.50", "currency": "CNY"}``: a string, never a float."""
        return {
            "amount": str(round_to_currency(self.amount, self.currency)),
            "currency": self.currency,
        }


@dataclass(frozen=True)
class ExchangeRateQuote:
    """1 ``base`` = ``rate`` ``quote`` from ``effective_on`` on, as ``source`` published it."""

    base: str
    quote: str
    rate: Decimal
    effective_on: date
    source: str

    def as_json(self) -> dict[str, str]:
        return {
            "base": self.base,
            "quote": self.quote,
            "rate": str(self.rate),
            "effective_on": self.effective_on.isoformat(),
            "source": self.source,
        }


@dataclass(frozen=True)
class Conversion:
    """How one currency turns into another: the factor and the quotes behind it."""

    source: str
    target: str
    factor: Decimal
    quotes: tuple[ExchangeRateQuote, ...] = ()

    def apply(self, amount: Decimal) -> Decimal:
        return amount * self.factor


@dataclass
class RateTable:
    """The rates in force on one day; finds a direct, inverse or cross rate.

    Sources quote a pair either way round (the CBR quotes CNY in roubles, the seed
    quotes roubles in yuan), so each unordered pair keeps one quote: the newest by
    ``effective_on`` of either direction, and on a tie the one later in ``quotes``
    (callers list rows in the order they were stored, so the later row wins). Both
    directions of a pair then convert at the same rate, whatever order the rows came in.
    """

    quotes: list[ExchangeRateQuote] = field(default_factory=list)

    def __post_init__(self):
        chosen: dict[frozenset[str], ExchangeRateQuote] = {}
        for candidate in self.quotes:
            pair = frozenset((candidate.base, candidate.quote))
            held = chosen.get(pair)
            # ">=": of two quotes of one day, the later listed wins.
            if held is None or candidate.effective_on >= held.effective_on:
                chosen[pair] = candidate
        self._by_pair = chosen

    def currencies(self) -> set[str]:
        return {q.base for q in self.quotes} | {q.quote for q in self.quotes}

    def in_force(self) -> list[ExchangeRateQuote]:
        """The one quote each currency pair converts at, ordered by base then quote."""
        return sorted(self._by_pair.values(), key=lambda q: (q.base, q.quote))

    def quote_for(self, first: str, second: str) -> ExchangeRateQuote | None:
        """The quote the pair converts at, whichever way round it was published."""
        return self._by_pair.get(frozenset((first, second)))

    def _leg(self, source: str, target: str) -> Conversion | None:
        if source == target:
            return Conversion(source, target, Decimal(1))
        quote = self.quote_for(source, target)
        if quote is None:
            return None
        if quote.base == source:
            return Conversion(source, target, quote.rate, (quote,))
        return Conversion(source, target, Decimal(1) / quote.rate, (quote,))

    def conversion(self, source: str, target: str) -> Conversion:
        """Direct or inverse rate first, even when a cross rate is newer (one quote
        says more than two); else through one pivot currency.

        Pivots are tried in code order, so the same table always gives the
        same answer.
        """
        leg = self._leg(source, target)
        if leg:
            return leg
        for pivot in sorted(self.currencies() - {source, target}):
            first, second = self._leg(source, pivot), self._leg(pivot, target)
            if first and second:
                return Conversion(
                    source, target, first.factor * second.factor, first.quotes + second.quotes
                )
        raise UnknownCurrency(f"no exchange rate from {source} to {target}")

    def can_convert(self, source: str, target: str) -> bool:
        try:
            self.conversion(source, target)
        except UnknownCurrency:
            return False
        return True

    def convert(self, money: Money, target: str) -> Money:
        """The unrounded amount in ``target``; round only where it is shown or charged."""
        return Money(self.conversion(money.currency, target).apply(money.amount), target)
