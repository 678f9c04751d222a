"""The 54-FZ receipt YooKassa registers with a payment or a refund: pure data in, data out.

Which VAT code and payment subject a line gets is data, not code:
``rules/yookassa_receipts.json`` (a VAT code per catalog category, with the reason and
source of each row; a payment subject per kind of line). YooKassa refuses a receipt
whose items do not add up to the payment's amount exactly (each item's ``amount`` is
the price of one unit, times ``quantity``), so the items are built in kopecks from
``Decimal`` and checked before they leave.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from catalog.money import Money
from orders.payments.base import PaymentLine

RULES_PATH = Path(__file__).with_name("rules") / "yookassa_receipts.json"
DESCRIPTION_LIMIT = 128  # characters, YooKassa's limit for an item's and a payment's text
KOPECK = Decimal("0.01")


class ReceiptMismatch(ValueError):
    """The items cannot be made to add up to the amount exactly."""


@dataclass(frozen=True)
class ReceiptRules:
    vat_by_category: Mapping[str, int]
    vat_by_sku: Mapping[str, int]
    default_vat: int
    subject_by_kind: Mapping[str, str]
    vat_by_kind: Mapping[str, int | None]
    payment_mode: str
    updated_on: str

    def vat_code(self, line: PaymentLine) -> int:
        if line.sku and line.sku in self.vat_by_sku:
            return self.vat_by_sku[line.sku]
        fixed = self.vat_by_kind.get(line.kind)
        if fixed is not None:
            return fixed
        return self.vat_by_category.get(line.category or "", self.default_vat)


@lru_cache(maxsize=4)
def receipt_rules(path: Path = RULES_PATH) -> ReceiptRules:
    """The rules file, read once per process."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return ReceiptRules(
        vat_by_category={slug: int(row["vat_code"]) for slug, row in raw["vat_codes"].items()},
        vat_by_sku={sku: int(row["vat_code"]) for sku, row in raw["sku_overrides"].items()},
        default_vat=int(raw["default_vat_code"]["vat_code"]),
        subject_by_kind={kind: row["payment_subject"] for kind, row in raw["kinds"].items()},
        vat_by_kind={
            kind: (None if row["vat_code"] is None else int(row["vat_code"]))
            for kind, row in raw["kinds"].items()
        },
        payment_mode=raw["payment_mode"]["value"],
        updated_on=raw["updated_on"],
    )


def rub_value(money: Money) -> str:
    """``money`` as YooKassa's amount string (``"1250.00"``); an amount that is not a
    whole number of kopecks is refused rather than rounded."""
    amount = Decimal(money.amount)
    if amount != amount.quantize(KOPECK):
        raise ValueError(f"{amount} {money.currency} is not a whole number of kopecks")
    return str(amount.quantize(KOPECK))


def customer(email: str | None, phone: str | None) -> dict[str, str]:
    """Where the receipt is sent: the e-mail, and the phone in E.164 digits."""
    found: dict[str, str] = {}
    if email:
        found["email"] = email
    digits = re.sub(r"\D", "", phone or "")
    if 11 <= len(digits) <= 15:
        found["phone"] = digits
    if not found:
        raise ValueError("a 54-FZ receipt needs the buyer's e-mail or phone")
    return found


def receipt_items(
    lines: Sequence[PaymentLine],
    amount: Money,
    *,
    fallback_name: str,
    rules: ReceiptRules | None = None,
) -> list[dict[str, Any]]:
    """The receipt's items for ``lines``, adding up to ``amount`` to the kopeck.

    A line whose unit price is not whole kopecks (a converted price) becomes one item
    for its rounded total; what rounding leaves over is put on the last item that is
    sold by one (split off one unit when none is). Without lines (a caller that sends
    none), one item for the whole amount at the default VAT code.
    """
    rules = rules or receipt_rules()
    if not lines:
        lines = (PaymentLine(fallback_name, 1, amount),)
    items = []
    for line in lines:
        if line.unit_price.currency != amount.currency:
            raise ValueError(
                f"a line in {line.unit_price.currency}, the payment in {amount.currency}"
            )
        unit, quantity = Decimal(line.unit_price.amount), line.quantity
        if unit != unit.quantize(KOPECK):
            unit, quantity = (unit * quantity).quantize(KOPECK), 1
        items.append(
            _item(
                line.name,
                quantity,
                unit,
                amount.currency,
                rules.vat_code(line),
                rules.subject_by_kind[line.kind],
                rules.payment_mode,
            )
        )
    _absorb_rounding(items, Decimal(amount.amount))
    return items


def refund_items(paid_items: Iterable[Mapping[str, Any]], refund: Money) -> list[dict[str, Any]]:
    """The items of a refund receipt: what was paid, item by item, up to ``refund``.

    Whole units go back first; the rest is one unit of the next item at the part of
    its price that is refunded, with that item's VAT code and subject."""
    left = Decimal(refund.amount)
    items: list[dict[str, Any]] = []
    for paid in paid_items:
        if left <= 0:
            break
        unit = Decimal(str(paid["amount"]["value"]))
        quantity = Decimal(str(paid["quantity"]))
        whole = min(int(quantity), int(left // unit)) if unit > 0 else 0
        if whole:
            items.append({**paid, "quantity": whole})
            left -= unit * whole
        if 0 < left < unit and whole < quantity:
            items.append(
                {
                    **paid,
                    "quantity": 1,
                    "amount": {"value": str(left.quantize(KOPECK)), "currency": refund.currency},
                }
            )
            left = Decimal(0)
    if left != 0:
        raise ReceiptMismatch(f"the paid items do not cover a refund of {refund.amount}")
    return items


def items_total(items: Iterable[Mapping[str, Any]]) -> Decimal:
    return sum(
        (Decimal(str(i["amount"]["value"])) * Decimal(str(i["quantity"])) for i in items),
        Decimal(0),
    )


def _item(
    name: str, quantity: int, unit: Decimal, currency: str, vat_code: int, subject: str, mode: str
) -> dict[str, Any]:
    return {
        "description": (name or "-")[:DESCRIPTION_LIMIT],
        "quantity": quantity,
        "amount": {"value": str(unit.quantize(KOPECK)), "currency": currency},
        "vat_code": vat_code,
        "payment_subject": subject,
        "payment_mode": mode,
    }


def _absorb_rounding(items: list[dict[str, Any]], amount: Decimal) -> None:
    difference = amount - items_total(items)
    if difference == 0:
        return
    if abs(difference) > KOPECK * len(items):
        raise ReceiptMismatch(f"the lines add up to {items_total(items)}, not {amount}")
    for item in reversed(items):
        if item["quantity"] == 1:
            target = item
            break
    else:
        last = items[-1]
        last["quantity"] -= 1
        target = {**last, "quantity": 1, "amount": dict(last["amount"])}
        items.append(target)
    value = Decimal(target["amount"]["value"]) + difference
    if value <= 0:
        raise ReceiptMismatch(f"the lines add up to {items_total(items)}, not {amount}")
    target["amount"]["value"] = str(value.quantize(KOPECK))
