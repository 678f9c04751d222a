"""What an order would cost, shipped where, with which duties: one quote for carts and checkout.

``quote`` reads the SKUs, the stock and the rates, asks the routing engine
for the plan and the customs policy for the duties, and returns plain
data. The cart shows it; checkout writes it. Both call this, so the shopper
pays exactly what the cart showed for the same stock and rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from catalog.cbec import cbec_rules
from catalog.models import Category, Merchant, Product, Sku
from catalog.money import Money, RateTable, UnknownCurrency, is_currency_code, round_to_currency
from orders import customs
from orders.regions import region_code
from shop.core.errors import ValidationFailed
from shop.core.extensions import db
from warehouse import routing, shipping
from warehouse.models import Node, StockLevel
from warehouse.services import routing_strategy, routing_world

MAX_LINES = 100
MAX_QUANTITY = 999


@dataclass(frozen=True)
class WantedLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Address:
    country: str
    region: str | None = None
    postal_code: str | None = None
    city: str | None = None

    @property
    def destination(self) -> routing.Destination:
        return routing.Destination(
            self.country, region_code(self.country, self.region), self.postal_code
        )


@dataclass(frozen=True)
class PricedLine:
    """One line as sold: the SKU as it is now and its price in the order's currency."""

    index: int
    sku: Sku
    product: Product
    category: str
    quantity: int
    unit_price: Money  # order currency, rounded to its minor unit
    outside_cbec_positive_list: bool

    @property
    def total(self) -> Money:
        return Money(self.unit_price.amount * self.quantity, self.unit_price.currency)

    def name(self, lang: str) -> str:
        name = self.product.localized("name", lang)
        label = self.sku.localized("label", lang)
        return f"{name} ({label})" if label else name

    def routing_line(self) -> routing.OrderLine:
        return routing.OrderLine(
            index=self.index,
            sku=self.sku.code,
            quantity=self.quantity,
            category=self.category,
            hs_code=self.product.hs_code,
            weight_g=self.sku.weight_g,
            unit_value=self.sku.price,
            outside_cbec_positive_list=self.outside_cbec_positive_list,
        )

    def dutiable(self, quantity: int) -> customs.DutiableLine:
        return customs.DutiableLine(
            sku=self.sku.code,
            quantity=quantity,
            unit_value=self.unit_price,
            category=self.category,
            hs_code=self.product.hs_code,
            weight_g=self.sku.weight_g,
        )


@dataclass(frozen=True)
class Quote:
    currency: str
    address: Address
    lines: tuple[PricedLine, ...]
    plan: routing.Plan
    shipping: tuple[Money, ...]  # per plan shipment, order currency, rounded
    duties: customs.DutyAssessment
    rates: RateTable
    quoted_at: datetime
    exchange_rates: list[dict[str, str]] = field(default_factory=list)
    # Per lane, where its shipping price came from: the lane table, or a carrier's tariff.
    shipping_sources: dict[str, str] = field(default_factory=dict)
    # Door or pickup point, and per lane the carrier service (tariff) and point quoted:
    # checkout stores them on the shipments, and the booking books them.
    delivery: shipping.DeliveryChoice = shipping.DOOR
    carrier_services: dict[str, shipping.QuotedService] = field(default_factory=dict)

    def carrier_service(self, lane: str | None) -> shipping.QuotedService | None:
        return self.carrier_services.get(lane) if lane else None

    @property
    def goods_total(self) -> Money:
        return _sum((line.total for line in self.lines), self.currency)

    @property
    def shipping_total(self) -> Money:
        return _sum(self.shipping, self.currency)

    @property
    def duties_total(self) -> Money | None:
        return self.duties.amount if self.duties.status == "estimated" else None

    @property
    def grand_total(self) -> Money:
        """Goods + shipping + the duties the shop collects; unknown duties are not in it
        (the shopper is told they may be collected on delivery)."""
        parts = [self.goods_total, self.shipping_total]
        if self.duties_total is not None:
            parts.append(self.duties_total)
        return _sum(parts, self.currency)

    def parcel_duties(self, index: int) -> Money | None:
        if self.duties.status != "estimated":
            return None
        return _parcel_amount(self.duties, index, self.currency)

    def totals_json(self) -> dict[str, Any]:
        return {
            "goods": self.goods_total.as_json(),
            "shipping": self.shipping_total.as_json(),
            "duties": self.duties_total.as_json() if self.duties_total is not None else None,
            "duties_status": self.duties.status,
            "grand_total": self.grand_total.as_json(),
        }

    def shipments_json(self, lang: str) -> list[dict[str, Any]]:
        by_sku = {line.sku.code: line for line in self.lines}
        shipments = []
        for position, planned in enumerate(self.plan.shipments):
            duties = self.parcel_duties(position)
            shipments.append(
                {
                    "node": planned.node,
                    "lane": planned.lane,
                    "lines": [
                        {
                            "sku": item.sku,
                            "name": by_sku[item.sku].name(lang),
                            "quantity": item.quantity,
                        }
                        for item in planned.lines
                    ],
                    "weight_g": planned.weight_g,
                    "shipping": self.shipping[position].as_json(),
                    "shipping_source": self.shipping_sources.get(planned.lane, "lane table"),
                    "carrier_service": _service_json(self.carrier_service(planned.lane)),
                    "duties": duties.as_json() if duties is not None else None,
                    "customs_mode": _customs_mode(planned),
                    "delivery": {
                        "from": planned.deliver_from.isoformat(),
                        "by": planned.deliver_by.isoformat(),
                    },
                }
            )
        return shipments


def _service_json(service: shipping.QuotedService | None) -> dict[str, Any] | None:
    return service.as_json() if service is not None else None


def _sum(amounts, currency: str) -> Money:
    return Money(sum((m.amount for m in amounts), Decimal(0)), currency)


def _customs_mode(planned: routing.Shipment) -> str | None:
    return planned.customs_modes[0] if planned.customs_modes else None


def _parcel_amount(duties: customs.DutyAssessment, index: int, currency: str) -> Money | None:
    parcels = duties.parcels
    if index >= len(parcels):
        return None
    amount = parcels[index].amount
    return amount if isinstance(amount, Money) else Money(Decimal(str(amount)), currency)


# ------------------------------------------------------------------ inputs


def check_currency(currency: str, rates: RateTable, field_name: str = "currency") -> str:
    currency = (currency or "").upper()
    if not is_currency_code(currency):
        raise ValidationFailed(
            errors={field_name: [f"{currency or '(empty)'} is not an ISO 4217 currency code."]}
        )
    if currency not in rates.currencies():
        raise ValidationFailed(
            f"No exchange rate reaches {currency}.",
            errors={field_name: [f"No exchange rate reaches {currency}."]},
        )
    return currency


def load_lines(
    wanted: list[WantedLine], currency: str, rates: RateTable, *, field_prefix: str = "lines"
) -> tuple[PricedLine, ...]:
    """The SKUs asked for, priced in ``currency``; unknown or withdrawn ones are a 422
    naming each line (``lines.1.sku``). Repeated SKUs are merged into the first line."""
    if not wanted:
        raise ValidationFailed(errors={field_prefix: ["At least one line."]})
    if len(wanted) > MAX_LINES:
        raise ValidationFailed(errors={field_prefix: [f"At most {MAX_LINES} lines."]})
    merged: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for position, line in enumerate(wanted):
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
        if merged[line.sku] > MAX_QUANTITY:
            errors[f"{field_prefix}.{position}.quantity"] = [f"At most {MAX_QUANTITY} units."]
    rows = {
        sku.code: (sku, product, slug)
        for sku, product, slug in db.session.execute(
            select(Sku, Product, Category.slug)
            .join(Product, Product.id == Sku.product_id)
            .join(Category, Category.id == Product.category_id)
            .join(Merchant, Merchant.id == Product.merchant_id)
            .where(
                Sku.code.in_(list(merged)),
                Sku.deleted_at.is_(None),
                Sku.is_active.is_(True),
                Product.is_active.is_(True),
                # A suspended merchant's goods leave the shop, also for buyers who know a code.
                Merchant.is_active.is_(True),
            )
        )
    }
    # The rows are snapshots from here on: checkout ends this read transaction before it
    # calls the payment provider, and detached rows keep their values instead of being
    # read again line by line when the order is written.
    for row in {obj for sku, product, _ in rows.values() for obj in (sku, product)}:
        db.session.expunge(row)  # SKUs of one product share it: each row once
    seen: set[str] = set()
    priced = []
    rules = cbec_rules()
    for position, line in enumerate(wanted):
        if line.sku in seen:
            continue
        seen.add(line.sku)
        found = rows.get(line.sku)
        if found is None:
            errors[f"{field_prefix}.{position}.sku"] = [f"No SKU {line.sku} is on sale."]
            continue
        sku, product, slug = found
        try:
            unit = rates.convert(sku.price, currency).rounded()
        except UnknownCurrency:
            errors[f"{field_prefix}.{position}.sku"] = [
                f"{line.sku} is priced in {sku.price_currency}, which has no rate to {currency}."
            ]
            continue
        priced.append(
            PricedLine(
                index=len(priced) + 1,
                sku=sku,
                product=product,
                category=slug,
                quantity=merged[line.sku],
                unit_price=unit,
                outside_cbec_positive_list=rules.is_likely_outside_positive_list(product.hs_code),
            )
        )
    if errors:
        raise ValidationFailed(errors=errors)
    return tuple(priced)


def stock_for(sku_ids: list[int]) -> dict[tuple[str, str], int]:
    """Available units per (node code, SKU code): one read, no locks (holds re-check)."""
    return {
        (node, sku): available
        for node, sku, available in db.session.execute(
            select(Node.code, Sku.code, StockLevel.on_hand - StockLevel.reserved)
            .join(Node, Node.id == StockLevel.node_id)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .where(StockLevel.sku_id.in_(sku_ids))
        )
    }


def quote(
    lines: tuple[PricedLine, ...],
    address: Address,
    currency: str,
    *,
    rates: RateTable,
    now: datetime,
    annual_used_cny: Decimal = Decimal(0),
    stock: dict[tuple[str, str], int] | None = None,
    delivery: shipping.DeliveryChoice = shipping.DOOR,
) -> Quote:
    """Plan, price and assess duties. Raises the routing engine's errors (409/422) and
    ``CustomsLimitExceeded`` (422); nothing is written."""
    _check_customs_limits_before_routing(lines, address, currency, rates, now, annual_used_cny)
    world = routing_world()
    if stock is None:
        stock = stock_for([line.sku.id for line in lines])
    destination = address.destination
    carrier_prices = shipping.LaneQuotes()
    if shipping.api_carriers() or delivery.is_pickup:
        db.session.rollback()  # no transaction stays open while a carrier is asked
        carrier_prices = shipping.carrier_quotes(
            world.lanes, destination, city=address.city,
            weight_g=sum(line.sku.weight_g * line.quantity for line in lines),
            delivery=delivery,
        )  # fmt: skip
    request = routing.RoutingRequest(
        lines=tuple(line.routing_line() for line in lines),
        destination=destination,
        nodes=world.nodes,
        lanes=world.lanes,
        stock=stock,
        now=now,
        rates=rates,
        compare_in=currency,
        quotes=carrier_prices.quotes,
    )
    plan = routing_strategy().plan(request)
    shipping_costs = tuple(
        Money(round_to_currency(s.cost.amount, currency), currency) for s in plan.shipments
    )
    by_sku = {line.sku.code: line for line in lines}
    parcels = [
        customs.Parcel(
            key=planned.node,
            lines=tuple(by_sku[item.sku].dutiable(item.quantity) for item in planned.lines),
            shipping=shipping_costs[position],
            customs_mode=_customs_mode(planned),
        )
        for position, planned in enumerate(plan.shipments)
    ]
    duties = customs.assess_duties(
        address.country,
        parcels,
        order_date=now.date(),
        rates=rates,
        currency=currency,
        annual_used_cny=annual_used_cny,
    )
    return Quote(
        currency=currency,
        address=address,
        lines=lines,
        plan=plan,
        shipping=shipping_costs,
        duties=duties,
        rates=rates,
        quoted_at=now,
        exchange_rates=_rates_used(rates, lines, plan, currency),
        shipping_sources=dict(carrier_prices.sources),
        delivery=delivery,
        carrier_services=dict(carrier_prices.services),
    )


def _check_customs_limits_before_routing(lines, address, currency, rates, now, annual_used_cny):
    """An order whose goods alone break a per-order or yearly limit (China's 5,000 /
    26,000 CNY) is refused as such, before a corridor's own parcel limit could hide the
    reason; the full check, shipping included, runs on the planned parcels."""
    customs.assess_duties(
        address.country,
        [
            customs.Parcel(
                key="goods",
                lines=tuple(line.dutiable(line.quantity) for line in lines),
                shipping=Money(Decimal(0), currency),
            )
        ],
        order_date=now.date(),
        rates=rates,
        currency=currency,
        annual_used_cny=annual_used_cny,
    )


def _rates_used(rates, lines, plan, currency) -> list[dict[str, str]]:
    """The quotes behind every conversion this order made (prices, lane costs, duties' CNY
    or EUR base), so the order can say which rate priced it."""
    sources = {line.sku.price_currency for line in lines} | {"CNY", "EUR"}
    used = {}
    for source in sorted(sources):
        try:
            conversion = rates.conversion(source, currency)
        except UnknownCurrency:
            continue
        for item in conversion.quotes:
            used[(item.base, item.quote)] = item
    return [q.as_json() for _, q in sorted(used.items())]
