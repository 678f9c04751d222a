"""What a payment is for, in the provider's currency (pure: Decimal in, Decimal out).

A provider that takes one currency (YooKassa RUB; Alipay and WeChat Pay CNY) is paid
the order's grand total converted at the order's own stored rates, rounded once to
the currency's minor unit. The receipt lines (54-FZ, a provider's goods list) are the
order's lines converted one by one, then balanced so that they add up to exactly that
amount: the rounding remainder goes onto one unit, never making a price negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from catalog.money import ExchangeRateQuote, Money, RateTable, round_to_currency
from orders.payments.base import PaymentLine

SHOWN_RATE_DIGITS = Decimal("0.0001")


@dataclass(frozen=True)
class ProviderAmount:
    """The order's total as the provider is asked for it.

    ``rate`` is 1 order-currency unit in the provider's currency (1 when not converted);
    ``rates_of`` is the date of the newest quote behind it."""

    amount: Money
    order_amount: Money
    rate: Decimal = Decimal(1)
    rates_of: date | None = None

    @property
    def converted(self) -> bool:
        return self.amount.currency != self.order_amount.currency

    @property
    def shown_rate(self) -> Decimal:
        return self.rate.quantize(SHOWN_RATE_DIGITS, rounding=ROUND_HALF_UP)

    def as_json(self) -> dict:
        if not self.converted:
            return {"amount": self.amount.as_json()}
        return {
            "amount": self.amount.as_json(),
            "order_amount": self.order_amount.as_json(),
            "rate": {
                "from": self.order_amount.currency,
                "to": self.amount.currency,
                "rate": str(self.shown_rate),
                "rates_of": self.rates_of.isoformat() if self.rates_of else None,
            },
        }


def payment_currency(order_currency: str, adapter_currencies: Sequence[str]) -> str:
    """The currency the adapter is paid in: the order's when it takes it (or any)."""
    if not adapter_currencies or order_currency in adapter_currencies:
        return order_currency
    return adapter_currencies[0]


def stored_rate_table(exchange_rates: Iterable[Mapping[str, str]]) -> RateTable:
    """The rates an order stored (``Order.exchange_rates``) as a table again."""
    return RateTable(
        [
            ExchangeRateQuote(
                base=row["base"],
                quote=row["quote"],
                rate=Decimal(str(row["rate"])),
                effective_on=date.fromisoformat(row["effective_on"]),
                source=row.get("source", ""),
            )
            for row in exchange_rates
        ]
    )


def provider_amount(total: Money, target: str, rates: RateTable) -> ProviderAmount:
    """``total`` (the order's grand total) in ``target``, rounded half up to its minor
    unit. Raises ``UnknownCurrency`` when no rate reaches ``target``."""
    total = total.rounded()
    if total.currency == target:
        return ProviderAmount(total, total)
    conversion = rates.conversion(total.currency, target)
    converted = Money(round_to_currency(conversion.apply(total.amount), target), target)
    rates_of = max((quote.effective_on for quote in conversion.quotes), default=None)
    return ProviderAmount(converted, total, conversion.factor, rates_of)


def in_order_currency(part: Money, payment: Money, order_amount: Money) -> Money:
    """A part of a converted payment (a refund, a partial capture) in the order's currency,
    at the rate the payment was made at: the whole payment is exactly ``order_amount``."""
    if part.currency == order_amount.currency:
        return part
    if part.currency != payment.currency:
        raise ValueError(f"{part} is not in the payment's currency {payment.currency}")
    if part.amount == payment.amount:
        return order_amount
    share = part.amount * order_amount.amount / payment.amount
    return Money(round_to_currency(share, order_amount.currency), order_amount.currency)


@dataclass(frozen=True)
class ChargedLine:
    """One order line as bought, in the order's currency."""

    name: str
    quantity: int
    unit_price: Money
    category: str | None = None
    sku: str | None = None


def payment_lines(
    goods: Sequence[ChargedLine],
    shipping: Money,
    duties: Money | None,
    paid: ProviderAmount,
    *,
    shipping_name: str = "Shipping",
    duties_name: str = "Duties and import taxes",
) -> tuple[PaymentLine, ...]:
    """The receipt lines of a payment: each goods line, one shipping line (when there is
    shipping to pay), one duty line (when duties are collected), in the payment's
    currency at the payment's rate, adding up to exactly ``paid.amount``."""
    currency = paid.amount.currency

    def converted(amount: Money) -> Money:
        value = amount.amount * paid.rate if paid.converted else amount.amount
        return Money(round_to_currency(value, currency), currency)

    lines = [
        PaymentLine(name=line.name, quantity=line.quantity, unit_price=converted(line.unit_price),
                    kind="goods", category=line.category, sku=line.sku)
        for line in goods
    ]  # fmt: skip
    if shipping.amount > 0:
        lines.append(PaymentLine(shipping_name, 1, converted(shipping), kind="shipping"))
    if duties is not None and duties.amount > 0:
        lines.append(PaymentLine(duties_name, 1, converted(duties), kind="duty"))
    return tuple(balance_lines(lines, paid.amount))


def balance_lines(lines: Sequence[PaymentLine], amount: Money) -> list[PaymentLine]:
    """``lines`` changed as little as possible so they add up to ``amount`` exactly.

    A remainder to add goes onto one unit (a single line, the shipping first, else one
    unit taken off the first line); a remainder to take off comes from the dearest unit,
    no unit going below zero. Quantities stay what they were, split over two lines when
    one unit of a line is priced differently."""
    balanced = list(lines)
    if not balanced:
        raise ValueError("a payment needs at least one line")
    remainder = amount.amount - sum((line.total.amount for line in balanced), Decimal(0))
    while remainder != 0:
        if remainder > 0:
            index = _single_unit(balanced)
            change = remainder
        else:
            index = max(range(len(balanced)), key=lambda i: (balanced[i].unit_price.amount, -i))
            available = balanced[index].unit_price.amount
            if available <= 0:
                raise ValueError(f"the lines cannot add up to {amount}")
            change = -min(-remainder, available)
        line = balanced[index]
        price = Money(line.unit_price.amount + change, amount.currency)
        one = replace(line, quantity=1, unit_price=price)
        if line.quantity == 1:
            balanced[index] = one
        else:
            balanced[index] = replace(line, quantity=line.quantity - 1)
            balanced.insert(index + 1, one)
        remainder -= change
    return balanced


def _single_unit(lines: Sequence[PaymentLine]) -> int:
    for kind in ("shipping", "duty", "goods"):
        for index, line in enumerate(lines):
            if line.kind == kind and line.quantity == 1:
                return index
    return 0
