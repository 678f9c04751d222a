"""Converting amounts with the order's rates, remembering each conversion used, so
that the record shows the rates and an operator can redo the sums."""

from __future__ import annotations

from decimal import Decimal

from catalog.money import Conversion, Money, RateTable


class RatesUsed:
    """Converts through a RateTable and remembers each conversion, for the record."""

    def __init__(self, rates: RateTable):
        self._rates = rates
        self._used: dict[tuple[str, str], Conversion] = {}

    def amount(self, money: Money, target: str) -> Decimal:
        key = (money.currency, target)
        if key not in self._used:
            self._used[key] = self._rates.conversion(*key)
        return self._used[key].apply(money.amount)

    def used(self) -> tuple[Conversion, ...]:
        return tuple(c for c in self._used.values() if c.source != c.target)
