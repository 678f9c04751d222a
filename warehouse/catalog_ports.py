"""The warehouse's answers to the catalog's ports (``catalog.ports``).

The catalog shows stock and delivery windows and lets merchants set stock, but it
sits below the warehouse and may not import it; ``shop.app`` connects these
implementations at start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, func, select

from catalog.cbec import cbec_rules
from catalog.models import Product, Sku
from catalog.money import RateTable
from catalog.ports import DeliveryOption, NodeStock, OnHandUpdate
from shop.core.extensions import db
from warehouse import routing
from warehouse.models import Node, StockLevel
from warehouse.services import OnHandChange, routing_strategy, routing_world, set_on_hand


class WarehouseStock:
    """``catalog.ports.StockPort`` over the stock levels of active nodes."""

    def available_units(self, skus: ColumnElement[bool]) -> ScalarSelect[Any]:
        return (
            select(func.coalesce(func.sum(StockLevel.on_hand - StockLevel.reserved), 0))
            .join(Sku, Sku.id == StockLevel.sku_id)
            .join(Node, Node.id == StockLevel.node_id)
            .where(skus, Node.is_active.is_(True))
            .scalar_subquery()
        )

    def with_stock_by_node(self, skus: Select[Any]) -> Select[Any]:
        # Outer joins: a SKU with no stock, or stock only at inactive nodes, still
        # comes back once (with no node), so the catalog can show it as sold out.
        return (
            skus.add_columns(Node.code, StockLevel.on_hand - StockLevel.reserved)
            .outerjoin(StockLevel, StockLevel.sku_id == Sku.id)
            .outerjoin(Node, and_(Node.id == StockLevel.node_id, Node.is_active.is_(True)))
            .order_by(Node.priority, Node.code)
        )

    def node_codes(self) -> frozenset[str]:
        return frozenset(db.session.scalars(select(Node.code)))

    def counts(self, sku_ids: Sequence[int]) -> dict[int, list[NodeStock]]:
        counts: dict[int, list[NodeStock]] = {}
        if not sku_ids:
            return counts
        rows = db.session.execute(
            select(
                StockLevel.sku_id, Node.code, StockLevel.on_hand, StockLevel.reserved, StockLevel.id
            )
            .join(Node, Node.id == StockLevel.node_id)
            .where(StockLevel.sku_id.in_(sku_ids))
        )
        for sku_id, node, on_hand, reserved, level_id in rows:
            counts.setdefault(sku_id, []).append(NodeStock(node, on_hand, reserved, level_id))
        return counts

    def set_on_hand(self, updates: Sequence[OnHandUpdate], *, reason: str, actor: str) -> None:
        if not updates:
            return
        node_ids = dict(db.session.execute(select(Node.code, Node.id)).all())
        set_on_hand(
            [
                OnHandChange(
                    update.sku_id,
                    node_ids[update.node],
                    update.on_hand,
                    update.seen.level_id if update.seen else None,
                    update.seen.on_hand if update.seen else 0,
                )
                for update in updates
            ],
            reason=reason,
            actor=actor,
        )


class RoutedDelivery:
    """``catalog.ports.DeliveryPort``: each destination planned by the routing engine
    itself, so the product page and checkout never disagree."""

    def options(
        self,
        product: Product,
        category_slug: str,
        sku: Sku,
        stock: Mapping[tuple[str, str], int],
        rates: RateTable,
        currency: str,
        only: str | None = None,
    ) -> list[DeliveryOption]:
        world = routing_world()
        strategy = routing_strategy()
        line = routing.OrderLine(
            index=1,
            sku=sku.code,
            quantity=1,
            category=category_slug,
            hs_code=product.hs_code,
            weight_g=sku.weight_g,
            unit_value=sku.price,
            outside_cbec_positive_list=cbec_rules().is_likely_outside_positive_list(
                product.hs_code
            ),
        )
        now = datetime.now(UTC)
        options = []
        for country in world.destinations:
            if only and country != only:
                continue
            request = routing.RoutingRequest(
                lines=(line,),
                destination=routing.Destination(country),
                nodes=world.nodes,
                lanes=world.lanes,
                stock=stock,
                now=now,
                rates=rates,
                compare_in=currency,
            )
            try:
                plan = strategy.plan(request)
            except routing.RoutingError as refusal:
                options.append(DeliveryOption(country, deliverable=False, reason=refusal.code))
                continue
            shipment = plan.shipments[0]
            options.append(
                DeliveryOption(
                    country,
                    deliverable=True,
                    nodes=tuple(sorted(c.node for c in plan.explanation.candidates if c.usable)),
                    node=shipment.node,
                    lane=shipment.lane,
                    transit_days=(shipment.transit_days_min, shipment.transit_days_max),
                    delivery=(shipment.deliver_from, shipment.deliver_by),
                    shipping=shipment.cost,
                )
            )
        return options
