"""What an order would cost, shipped where, with which duties: one quote for carts and checkout.

``quote`` reads the SKUs, the stock and the rates, asks the routing engine
for the plan and the customs policy for the duties, and returns plain
data. The cart shows it; checkout writes it. Both call this, so the shopper
pays exactly what the cart showed for the same stock and rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
from warehouse.carriers import DeliveryPoint
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
            dimensions_mm=self.sku.dimensions_mm,
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
    # Door or pickup point; for a pickup, the point chosen among each carrier's points.
    # Each parcel's own tariff is its plan shipment's ``service`` (the quote that priced
    # it): checkout stores both on the shipment, and the booking books them.
    delivery: shipping.DeliveryChoice = shipping.DOOR
    delivery_points: dict[str, DeliveryPoint] = field(default_factory=dict)
    # The carrier of each planned lane's last leg (the one a quote asks and a booking books).
    lane_carriers: dict[str, str] = field(default_factory=dict)

    def carrier_service(self, position: int) -> shipping.QuotedService | None:
        """The carrier service this parcel was quoted on, and the pickup point it goes to;
        ``None`` for a door parcel its lane's table priced (booked on the default)."""
        planned = self.plan.shipments[position]
        carrier = self.lane_carriers.get(planned.lane or "")
        point = self.delivery_points.get(carrier) if self.delivery.is_pickup else None
        if carrier is None or (planned.service is None and point is None):
            return None
        return shipping.QuotedService(carrier, planned.service, self.delivery.method, point)

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
                    "size_mm": list(planned.size_mm) if planned.size_mm else None,
                    "parcel": {"number": planned.parcel, "of": planned.parcels},
                    "shipping": self.shipping[position].as_json(),
                    # Where this parcel's price came from: a carrier's tariff for its
                    # weight and size, or the lane's table (and why no quote).
                    "shipping_source": planned.price_source,
                    "tariff_code": planned.service,
                    "carrier_service": _service_json(self.carrier_service(position)),
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


def _parcel_key(planned: routing.Shipment) -> str:
    """The node, or "RU-WH 2/2" when the node sends the order in several parcels: each
    parcel is assessed on its own (EAEU thresholds are per parcel)."""
    if planned.parcels == 1:
        return planned.node
    return f"{planned.node} {planned.parcel}/{planned.parcels}"


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
    payment_currencies: tuple[str, ...] = (),
) -> Quote:
    """Plan, price and assess duties. Raises the routing engine's errors (409/422) and
    ``CustomsLimitExceeded`` (422); nothing is written.

    ``delivery`` is the shopper's end: each planned parcel is quoted to the door or to
    the chosen pickup point (then only lanes whose carrier lists that point carry it; a
    point no carrier lists is a 422 naming ``delivery.point``).

    ``payment_currencies``: currencies the order may be paid in (a provider's own); the
    rates converting the order's currency into them are kept with the others."""
    admitted = _check_customs_limits_before_routing(
        lines, address, currency, rates, now, annual_used_cny
    )
    world = routing_world()
    lanes = _lanes_for_admitted_single_item(world.lanes, address.country, admitted)
    if stock is None:
        stock = stock_for([line.sku.id for line in lines])
    destination = address.destination
    points: dict[str, DeliveryPoint] = {}
    if delivery.is_pickup:
        db.session.rollback()  # no transaction stays open while a carrier is asked
        points = shipping.chosen_points(delivery, lanes, destination, address.city)
        lanes = tuple(lane for lane in lanes if lane.legs[-1].carrier in points)
    request = routing.RoutingRequest(
        lines=tuple(line.routing_line() for line in lines),
        destination=destination,
        nodes=world.nodes,
        lanes=lanes,
        stock=stock,
        now=now,
        rates=rates,
        compare_in=currency,
    )
    plan = _plan_with_carrier_quotes(request, lanes, address, delivery, points)
    shipping_costs = tuple(
        Money(round_to_currency(s.cost.amount, currency), currency) for s in plan.shipments
    )
    by_sku = {line.sku.code: line for line in lines}
    parcels = [
        customs.Parcel(
            key=_parcel_key(planned),
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
        exchange_rates=_rates_used(rates, lines, plan, currency, payment_currencies),
        delivery=delivery,
        delivery_points=points,
        lane_carriers={lane.code: lane.legs[-1].carrier for lane in lanes},
    )


QUOTE_ROUNDS = 2


def _plan_with_carrier_quotes(
    request: routing.RoutingRequest,
    lanes: tuple[routing.Lane, ...],
    address: Address,
    delivery: shipping.DeliveryChoice = shipping.DOOR,
    points: dict[str, DeliveryPoint] | None = None,
) -> routing.Plan:
    """Plan with the lane tables, ask the carriers for the parcels the best plans hold
    (their lanes and weight and size bands, to the shopper's ``delivery`` end), and plan
    again on those prices; a second round quotes parcels only the re-plan brought. The
    engine stays pure: the quotes go in as data. Carriers are asked with no transaction
    open."""
    strategy = routing_strategy()
    plan = strategy.plan(request)
    if not shipping.api_carriers():
        return plan
    db.session.rollback()  # no transaction stays open while a carrier is asked
    table, asked = routing.QuoteTable(), set()
    for _ in range(QUOTE_ROUNDS):
        parcels = {(s.lane, s.band) for s in (plan.considered or plan.shipments)} - asked
        if not parcels:
            break
        asked |= parcels
        answers = shipping.parcel_quotes(
            lanes, request.destination, city=address.city, parcels=parcels,
            delivery=delivery, points=points,
        )  # fmt: skip
        if not answers.asked:
            break  # no lane of these parcels has a carrier to ask
        table = table.merged(answers)
        plan = strategy.plan(replace(request, parcel_quotes=table))
    return plan


def _check_customs_limits_before_routing(
    lines, address, currency, rates, now, annual_used_cny
) -> customs.DutyAssessment:
    """An order whose goods alone break a per-order or yearly limit (China's 5,000 /
    26,000 CNY) is refused as such, before a corridor's own parcel limit could hide the
    reason; the full check, shipping included, runs on the planned parcels."""
    return customs.assess_duties(
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


def _lanes_for_admitted_single_item(
    lanes: tuple[routing.Lane, ...], country: str, admitted: customs.DutyAssessment
) -> tuple[routing.Lane, ...]:
    """The lanes, with the parcel value limit of those to ``country`` raised to the
    yearly allowance when customs admitted the order as China's single item above the
    per-order limit (财关税〔2018〕49号). Those lanes' value limit is that same 5,000 CNY
    CBEC limit (warehouse/seed/lanes.json): left as it is, it would refuse the one
    parcel customs lets through. The duty policy still checks the planned parcel."""
    if admitted.full_rate is None:
        return lanes
    allowance = admitted.full_rate["annual_limit"]

    def below_allowance(limit: Money | None) -> bool:
        return (
            limit is not None
            and limit.currency == allowance.currency
            and limit.amount < allowance.amount
        )

    return tuple(
        replace(lane, max_parcel_value=allowance)
        if country in lane.countries and below_allowance(lane.max_parcel_value)
        else lane
        for lane in lanes
    )


def _rates_used(rates, lines, plan, currency, payment_currencies=()) -> list[dict[str, str]]:
    """The quotes behind every conversion this order made (prices, lane costs, duties' CNY
    or EUR base, and the payment's currency when a provider takes only its own), so the
    order can say which rate priced it and convert its payment again at the same rate."""
    sources = {line.sku.price_currency for line in lines} | {"CNY", "EUR"}
    pairs = [(source, currency) for source in sorted(sources)]
    pairs += [(currency, target) for target in sorted(set(payment_currencies) - {currency})]
    used = {}
    for source, target in pairs:
        try:
            conversion = rates.conversion(source, target)
        except UnknownCurrency:
            continue
        for item in conversion.quotes:
            used[(item.base, item.quote)] = item
    return [q.as_json() for _, q in sorted(used.items())]
