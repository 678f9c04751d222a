"""Reading the orders of a window from the database, as facts for the builder: one
query set whatever the number of orders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from catalog.models import Category, Product, Sku
from orders.customs.order_records.facts import LineFacts, OrderFacts, ShipmentFacts
from orders.customs.order_records.reference import ExportWindow
from orders.models import Order, OrderLine, Payment
from shop.core.extensions import db
from warehouse.models import Node, Shipment

# Shipments that no longer carry goods: a re-routed parcel was replaced by others.
GONE_SHIPMENT_STATUSES = ("cancelled", "rerouted")


def load_order_facts(window: ExportWindow) -> list[OrderFacts]:
    """Orders to CN whose first parcel was handed over in the window; four queries
    whatever the number of orders (orders, lines, shipments, payments)."""
    start, end = window.utc_bounds()
    first_shipped = (
        select(Shipment.order_id, func.min(Shipment.shipped_at).label("first_shipped_at"))
        .where(Shipment.shipped_at.is_not(None))
        .group_by(Shipment.order_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Order, first_shipped.c.first_shipped_at)
        .join(first_shipped, first_shipped.c.order_id == Order.id)
        .where(
            Order.destination_country == "CN",
            first_shipped.c.first_shipped_at >= start,
            first_shipped.c.first_shipped_at < end,
        )
        .order_by(first_shipped.c.first_shipped_at, Order.number)
    ).all()
    if not rows:
        return []
    order_ids = [order.id for order, _ in rows]
    lines: dict[int, list[LineFacts]] = {}
    for line, name_zh, label_zh, label_en, slug in db.session.execute(
        select(OrderLine, Product.name_zh, Sku.label_zh, Sku.label_en, Category.slug)
        .join(Sku, Sku.id == OrderLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(OrderLine.order_id.in_(order_ids))
        .order_by(OrderLine.order_id, OrderLine.id)
    ):
        lines.setdefault(line.order_id, []).append(
            LineFacts(
                sku=line.sku_code,
                quantity=line.quantity,
                unit_price=Decimal(line.unit_price_amount),
                currency=line.unit_price_currency,
                name_en=line.product_name,
                name_zh=name_zh,
                label_zh=label_zh,
                label_en=label_en,
                category=slug,
                hs_code=line.hs_code,
                origin_country=line.origin_country,
                weight_g=line.weight_g,
            )
        )
    shipments: dict[int, list[ShipmentFacts]] = {}
    for shipment, node in db.session.execute(
        select(Shipment, Node.code)
        .join(Node, Node.id == Shipment.node_id)
        .where(
            Shipment.order_id.in_(order_ids),
            Shipment.status.not_in(GONE_SHIPMENT_STATUSES),
        )
        .order_by(Shipment.order_id, Shipment.id)
    ):
        shipments.setdefault(shipment.order_id, []).append(
            ShipmentFacts(
                id=shipment.id,
                node=node,
                customs_mode=shipment.customs_mode,
                lane=shipment.lane_code,
                status=shipment.status,
                shipped_at=_aware(shipment.shipped_at),
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
            )
        )
    payments: dict[int, Payment] = {}
    for payment in db.session.scalars(
        select(Payment)
        .where(Payment.order_id.in_(order_ids), Payment.status == "succeeded")
        .order_by(Payment.order_id, Payment.id)
    ):
        payments[payment.order_id] = payment  # the latest that took the money
    facts = []
    for order, first_shipped_at in rows:
        payment = payments.get(order.id)
        duties = order.duties or {}
        facts.append(
            OrderFacts(
                number=order.number,
                status=order.status,
                currency=order.currency,
                email=order.email,
                shipping_address=dict(order.shipping_address or {}),
                customs_name=order.customs_name,
                id_masked=order.customs_id_masked,
                id_encrypted=order.customs_id_encrypted,
                goods_total=Decimal(order.goods_total),
                shipping_total=Decimal(order.shipping_total),
                duties_total=Decimal(order.duties_total)
                if order.duties_total is not None
                else None,
                duties_status=order.duties_status,
                duties_reason=duties.get("reason"),
                grand_total=Decimal(order.grand_total),
                paid_amount=Decimal(order.paid_amount),
                exchange_rates=list(order.exchange_rates or []),
                first_shipped_at=_aware(first_shipped_at),
                lines=tuple(lines.get(order.id, [])),
                shipments=tuple(shipments.get(order.id, [])),
                pay_adapter=payment.adapter if payment else order.payment_adapter,
                pay_reference=(payment.received_reference or payment.reference)
                if payment
                else None,
            )
        )
    return facts


def _aware(moment):
    # SQLite hands back naive datetimes for timezone-aware columns; they are UTC here.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
