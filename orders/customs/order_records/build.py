"""Reconcile one order and build its record (pure): the figures must add up in the
order's currency before anything is converted to CNY at the order's own rates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from catalog.money import ExchangeRateQuote, RateTable, UnknownCurrency, round_to_currency
from orders.customs import id_vault
from orders.customs.order_records.facts import LineFacts, OrderFacts
from orders.customs.order_records.records import GoodsLine, OrderRecord, Unreconciled, money_text
from orders.customs.order_records.reference import CNY, FEN, ZERO, CebCodes


def build_record(
    facts: OrderFacts,
    codes: CebCodes,
    decrypt: Callable[[str], str] | None,
) -> OrderRecord:
    """One order's record, or ``Unreconciled`` naming every reason it cannot be made.

    ``decrypt`` turns the stored ciphertext into the full ID number (None: show the
    masked one). The arithmetic is checked in the order's currency, where it must be
    exact, before anything is converted.
    """
    reasons: list[str] = []
    warnings: list[str] = []
    currency = facts.currency
    discount = ZERO  # the shop sells no discounts yet
    insurance = ZERO  # no insurance is sold: customs' insured fee is zero
    tax = facts.duties_total if facts.duties_total is not None else ZERO

    lines_sum = sum((line.unit_price * line.quantity for line in facts.lines), ZERO)
    if any(line.currency != currency for line in facts.lines):
        reasons.append(f"Some lines are not priced in the order currency {currency}.")
    if lines_sum != facts.goods_total:
        reasons.append(
            f"The lines add up to {money_text(lines_sum)} {currency}, the order's goods total "
            f"is {money_text(facts.goods_total)}."
        )
    expected = facts.goods_total + facts.shipping_total + insurance + tax - discount
    if expected != facts.grand_total:
        reasons.append(
            f"Goods + freight + insurance + tax - discount = {money_text(expected)} {currency}, "
            f"but the order's grand total is {money_text(facts.grand_total)}."
        )
    if facts.paid_amount < facts.grand_total:
        reasons.append(
            f"Paid {money_text(facts.paid_amount)} {currency} of a grand total of "
            f"{money_text(facts.grand_total)}."
        )
    if facts.duties_total is None:
        warnings.append(
            "Tax was not assessed at checkout"
            + (f" ({facts.duties_reason})" if facts.duties_reason else "")
            + ": the record declares 0 and customs will assess it."
        )
    if not facts.customs_name:
        reasons.append("The order has no buyer's real name (订购人).")
    if not facts.shipments:
        reasons.append("The order has no parcel left to clear.")
    for shipment in facts.shipments:
        if shipment.customs_mode not in ("9610", "1210"):
            reasons.append(
                f"Shipment {shipment.id} from {shipment.node} has no CBEC customs mode "
                "(9610 or 1210)."
            )
    if facts.status in ("cancelled", "refunded", "partially_refunded"):
        warnings.append(f"The order is {facts.status.replace('_', ' ')}.")

    try:
        factor, conversion_quotes = _factor_to_cny(currency, facts.exchange_rates)
    except UnknownCurrency:
        reasons.append(f"The order stored no exchange rate from {currency} to CNY.")
        factor, conversion_quotes = Decimal(1), []

    goods: list[GoodsLine] = []
    for gnum, line in enumerate(facts.lines, 1):
        country = codes.country_for(line.origin_country)
        if country is None:
            reasons.append(
                f"Line {gnum} ({line.sku}): origin {line.origin_country or '(none)'} has no "
                "customs country code in rules/ceb_codes.json."
            )
            country = "000"
        name_zh = (line.name_zh or "").strip()
        if not name_zh:
            warnings.append(
                f"Line {gnum} ({line.sku}) has no Chinese name: the English one is used."
            )
        price = _cny(line.unit_price * factor)
        goods.append(
            GoodsLine(
                gnum=gnum,
                item_no=line.sku,
                item_name=(name_zh or line.name_en)[:255],
                gmodel=_model(line)[:255],
                item_describe=line.name_en[:1000],
                unit=codes.unit_for(line.category),
                quantity=line.quantity,
                price=price,
                total_price=price * line.quantity,
                country=country,
                origin_country=line.origin_country,
                hs_code=line.hs_code,
            )
        )
    if reasons:
        raise Unreconciled(facts.number, tuple(reasons))

    goods_value = sum((line.total_price for line in goods), ZERO)
    freight = _cny(facts.shipping_total * factor)
    tax_total = _cny(tax * factor)
    actual_paid = goods_value + freight + insurance + tax_total - discount
    conversion = None
    if currency != CNY:
        # Each figure is rounded to the fen on its own, so their sum may differ from the
        # converted grand total by those roundings (half a fen each, at most).
        converted_total = _cny(facts.grand_total * factor)
        difference = actual_paid - converted_total
        roundings = sum(line.quantity for line in goods) + 2
        if abs(difference) > FEN / 2 * roundings:
            raise Unreconciled(
                facts.number,
                (f"Converted to CNY the figures add up to {money_text(actual_paid)}, the grand "
                 f"total converts to {money_text(converted_total)}.",),
            )  # fmt: skip
        conversion = {
            "from": currency,
            "to": CNY,
            "factor": _exact(factor),
            "rates": conversion_quotes,
            "order_grand_total": {"amount": money_text(facts.grand_total), "currency": currency},
            "order_grand_total_in_cny": money_text(converted_total),
            "rounding_difference": money_text(difference),
            "method": "the order's own rates; each unit price, the freight and the tax "
            "rounded half up to the fen; totals are sums of the rounded figures",
        }
    _assert_adds_up(facts.number, goods, goods_value, freight, insurance, tax_total, discount,
                    actual_paid)  # fmt: skip

    id_available = False
    id_number = facts.id_masked or ""
    if facts.id_encrypted and decrypt is not None:
        try:
            id_number = decrypt(facts.id_encrypted)
            id_available = True
        except id_vault.UndecryptableIdNumber:
            warnings.append(
                "The stored ID number cannot be decrypted with the configured key: masked."
            )
    elif not facts.id_encrypted:
        warnings.append(
            "The order was placed before full ID numbers were kept: the ID is masked; "
            "ask the buyer for it before submitting."
        )
    if not id_number:
        raise Unreconciled(facts.number, ("The order has no buyer's ID number.",))

    address = facts.shipping_address or {}
    phone = (address.get("phone") or "").strip()
    return OrderRecord(
        order_no=facts.number,
        order_status=facts.status,
        first_shipped_at=facts.first_shipped_at,
        buyer_reg_no=(facts.email or facts.number)[:60],
        buyer_name=(facts.customs_name or "")[:60],
        buyer_telephone=phone[:60] or "-",
        buyer_id_number=id_number,
        buyer_id_number_masked=facts.id_masked or "",
        id_number_available=id_available,
        consignee=(address.get("recipient") or facts.customs_name or "")[:100],
        consignee_telephone=phone[:60] or "-",
        consignee_address=_address_line(address)[:255],
        goods=tuple(goods),
        goods_value=goods_value,
        freight=freight,
        insurance=insurance,
        discount=discount,
        tax_total=tax_total,
        actual_paid=actual_paid,
        tax_status="assessed" if facts.duties_total is not None else "not_assessed",
        shipments=facts.shipments,
        pay_name=_pay_name(facts.pay_adapter),
        pay_transaction_id=(facts.pay_reference or None),
        conversion=conversion,
        warnings=tuple(warnings),
    )


def _assert_adds_up(number, goods, goods_value, freight, insurance, tax, discount, paid) -> None:
    """The identity customs checks on every record; a failure here is a bug, not data."""
    if sum((line.total_price for line in goods), ZERO) != goods_value:
        raise AssertionError(f"{number}: goods lines do not add up to goodsValue")
    if any(line.price * line.quantity != line.total_price for line in goods):
        raise AssertionError(f"{number}: a line's price x qty is not its total")
    if goods_value + freight + insurance + tax - discount != paid:
        raise AssertionError(f"{number}: goods + freight + insurance + tax - discount != paid")


def _factor_to_cny(currency: str, stored: list[dict[str, str]]) -> tuple[Decimal, list[dict]]:
    if currency == CNY:
        return Decimal(1), []
    table = RateTable(
        [
            ExchangeRateQuote(
                base=quote["base"],
                quote=quote["quote"],
                rate=Decimal(str(quote["rate"])),
                effective_on=date.fromisoformat(quote["effective_on"]),
                source=quote.get("source", ""),
            )
            for quote in stored or []
        ]
    )
    conversion = table.conversion(currency, CNY)
    return conversion.factor, [quote.as_json() for quote in conversion.quotes]


def _model(line: LineFacts) -> str:
    """规格型号: the SKU's own label (in Chinese if it has one), else its weight."""
    label = (line.label_zh or line.label_en or "").strip()
    if label:
        return label
    return f"{line.weight_g}克" if line.weight_g else line.sku


def _address_line(address: dict[str, Any]) -> str:
    # Chinese order: province, city, street; the postcode last.
    parts = [address.get(key) for key in ("region", "city", "line1", "line2", "postal_code")]
    return " ".join(str(part).strip() for part in parts if part and str(part).strip()) or "-"


def _pay_name(adapter: str | None) -> str | None:
    names = {"stripe": "Stripe", "manual": "Bank transfer / cash (manual)"}
    if not adapter:
        return None
    return names.get(adapter, adapter)


def _cny(amount: Decimal) -> Decimal:
    return round_to_currency(amount, CNY)


def _exact(value: Decimal) -> str:
    return format(value.normalize(), "f")
