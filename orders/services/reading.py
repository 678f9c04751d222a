"""Reading an order: who may see it (its shopper by the order token, staff of its nodes,
operators), and the document they see.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from catalog.money import Money, UnknownCurrency
from orders.models import Order, OrderEvent, Payment
from orders.payment_amounts import provider_amount, stored_rate_table
from shop.core.auth import StaffPrincipal, hash_token
from shop.core.clock import iso_utc
from shop.core.errors import NotFound
from shop.core.extensions import db
from warehouse.fulfilment import number_parcels
from warehouse.models import Node, RoutingDecision, Shipment, ShipmentLine
from warehouse.shipping import tracking_events


@dataclass(frozen=True)
class Viewer:
    """Who asks about an order: its shopper (by the order token) or staff."""

    order_token: str | None = None
    staff: StaffPrincipal | None = None

    @property
    def actor(self) -> str:
        return self.staff.actor if self.staff else "shopper"

    @property
    def who(self) -> str:
        return "staff" if self.staff else "shopper"


# ------------------------------------------------------------------ reading


def find_order(number: str, viewer: Viewer, *, for_update: bool = False) -> Order:
    """The order if ``viewer`` may see it; else 404, the same answer as for no order.

    A picker sees orders with a shipment at their node; operators all orders;
    a shopper the order whose token they hold.
    """
    query = select(Order).where(Order.number == number)
    if for_update:
        query = query.with_for_update()
    order = db.session.scalar(query)
    if order is None or not _may_see(order, viewer):
        raise NotFound(f"No order {number}.")
    return order


def _may_see(order: Order, viewer: Viewer) -> bool:
    if viewer.staff is not None:
        if viewer.staff.is_operator:
            return True
        return (
            db.session.scalar(
                select(Shipment.id).where(
                    Shipment.order_id == order.id, Shipment.node_id == viewer.staff.node_id
                )
            )
            is not None
        )
    if viewer.order_token:
        return hmac.compare_digest(hash_token(viewer.order_token), order.token_hash)
    return False


def order_document(order: Order, viewer: Viewer, lang: str = "en") -> dict[str, Any]:
    """The order as its shopper or staff see it (staff also get routing and history)."""
    currency = order.currency
    money = lambda amount: Money(Decimal(amount), currency).as_json()  # noqa: E731
    shipments = db.session.execute(
        select(Shipment, Node.code).join(Node, Node.id == Shipment.node_id)
        .where(Shipment.order_id == order.id).order_by(Shipment.id)
    ).all()  # fmt: skip
    shipment_lines: dict[int, list[dict[str, Any]]] = {}
    sku_codes = {line.sku_id: line.sku_code for line in order.lines}
    for line in db.session.scalars(
        select(ShipmentLine)
        .where(ShipmentLine.shipment_id.in_([s.id for s, _ in shipments]))
        .order_by(ShipmentLine.id)
    ):
        shipment_lines.setdefault(line.shipment_id, []).append(
            {"sku": sku_codes.get(line.sku_id), "quantity": line.quantity,
             "reservation": line.reservation}
        )  # fmt: skip
    payment = db.session.scalar(
        select(Payment).where(Payment.order_id == order.id).order_by(Payment.id.desc()).limit(1)
    )
    events = _tracking_events([s.id for s, _ in shipments if s.carrier_reference])
    # One node may send the order in several parcels (a parcel limit): "1 of 2". From
    # the rows at hand: they are all the order's shipments.
    parcels = number_parcels((s.id, s.order_id, s.node_id, s.status) for s, _ in shipments)
    duties = order.duties or {}
    if viewer.staff is None and isinstance(duties.get("order"), dict):
        # What a person bought this year is theirs and staff's to see, not every holder
        # of an order token (someone may have typed another person's ID number).
        private = ("annual_used_before_order", "annual_remaining_after_order")
        duties = {**duties, "order": {k: v for k, v in duties["order"].items()
                                      if k not in private}}  # fmt: skip
    document: dict[str, Any] = {
        "number": order.number,
        "status": order.status,
        "created_at": iso_utc(order.created_at),
        "currency": currency,
        "email": order.email,
        "shipping_address": order.shipping_address,
        "customs_identity": (
            {"name": order.customs_name, "id_number": order.customs_id_masked}
            if order.customs_id_masked
            else None
        ),
        "lines": [
            {
                "sku": line.sku_code,
                "name": line.product_name,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price_amount),
                "total": money(Decimal(line.unit_price_amount) * line.quantity),
                "hs_code": line.hs_code,
                "origin_country": line.origin_country,
            }
            for line in order.lines
        ],
        "totals": {
            "goods": money(order.goods_total),
            "shipping": money(order.shipping_total),
            "duties": money(order.duties_total) if order.duties_total is not None else None,
            "duties_status": order.duties_status,
            "grand_total": money(order.grand_total),
        },
        "duties": {
            "status": order.duties_status,
            "notice": duties.get("notice"),
            "policy": duties.get("policy"),
            "policy_version": duties.get("policy_version"),
            "assessment": duties,
        },
        "exchange_rates": order.exchange_rates,
        "shipments": [
            {
                "id": shipment.id,
                "node": node,
                "lane": shipment.lane_code,
                "status": shipment.status,
                "lines": shipment_lines.get(shipment.id, []),
                "shipping": money(shipment.shipping_amount),
                "duties": money(shipment.duties_amount)
                if shipment.duties_amount is not None
                else None,
                "customs_mode": shipment.customs_mode,
                "weight_g": shipment.weight_g,
                "parcel": (
                    {"number": parcels[shipment.id][0], "of": parcels[shipment.id][1]}
                    if shipment.id in parcels
                    else None
                ),
                "delivery": {
                    "from": shipment.deliver_from.isoformat() if shipment.deliver_from else None,
                    "by": shipment.deliver_by.isoformat() if shipment.deliver_by else None,
                },
                "delivery_choice": _delivery_choice(shipment),
                "tracking": {"carrier": shipment.carrier, "number": shipment.tracking_number}
                if shipment.tracking_number
                else None,
                "events": events.get(shipment.id, []),
            }
            for shipment, node in shipments
        ],
        "payment": {
            "adapter": order.payment_adapter,
            "status": order.payment_status,
            "next_action": (
                payment.next_action
                if payment is not None and order.status == "pending_payment"
                else None
            ),
            "paid": money(order.paid_amount),
            "refunded": money(order.refunded_amount),
            **_payment_amount(order, payment),
        },
        "reservation_expires_at": (
            iso_utc(order.reservation_expires_at)
            if order.status == "pending_payment" and order.reservation_expires_at
            else None
        ),
    }
    if viewer.staff is not None:
        document["routing"] = [
            {
                "kind": decision.kind,
                "shipment_id": decision.shipment_id,
                "strategy": decision.strategy,
                "actor": decision.actor,
                "reason": decision.reason,
                "at": iso_utc(decision.created_at),
                "plan": decision.explanation,
            }
            for decision in db.session.scalars(
                select(RoutingDecision)
                .where(RoutingDecision.order_id == order.id)
                .order_by(RoutingDecision.id)
            )
        ]
        document["history"] = [
            {
                "kind": event.kind,
                "from": event.from_status,
                "to": event.to_status,
                "actor": event.actor,
                "reason": event.reason,
                "data": event.data,
                "at": iso_utc(event.created_at),
            }
            for event in db.session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
            )
        ]
    return document


def _delivery_choice(shipment) -> dict[str, Any]:
    """Door or the pickup point chosen at checkout, and the carrier service quoted."""
    point = None
    if shipment.delivery_point:
        point = {"code": shipment.delivery_point, "address": shipment.delivery_point_address}
    return {
        "method": "pickup" if point else "door",
        "carrier": shipment.quoted_carrier,
        "service": shipment.quoted_service,
        "point": point,
    }


def _payment_amount(order: Order, payment: Payment | None) -> dict[str, Any]:
    """The latest payment's amount in the provider's currency, and, when it was converted
    from the order's, the rate and the rates' date it was converted at (#18)."""
    if payment is None:
        return {}
    amount = Money(Decimal(payment.amount), payment.currency)
    if payment.order_amount is None or payment.currency == order.currency:
        return {"amount": amount.as_json()}
    total = Money(Decimal(payment.order_amount), order.currency)
    try:
        converted = provider_amount(
            total, payment.currency, stored_rate_table(order.exchange_rates or [])
        )
    except UnknownCurrency:
        return {"amount": amount.as_json()}
    conversion = converted.as_json()
    return {"amount": amount.as_json(), "order_amount": total.as_json(),
            "rate": conversion["rate"]}  # fmt: skip


def _tracking_events(shipment_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not shipment_ids:
        return {}
    return tracking_events(shipment_ids)


def get_order(number: str, viewer: Viewer, lang: str = "en") -> dict[str, Any]:
    order = find_order(number, viewer)
    document = order_document(order, viewer, lang)
    db.session.rollback()
    return document
