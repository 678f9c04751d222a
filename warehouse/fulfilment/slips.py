"""The packing slip packed with the parcel: lines with the customs data a CN22/CN23 needs."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from catalog.models import Product, Sku
from catalog.money import Money
from shop.core.auth import StaffPrincipal
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse import documents
from warehouse.fulfilment.pick_lists import sku_name
from warehouse.fulfilment.shipments import shipment_for
from warehouse.models import Node, ShipmentLine
from warehouse.parcel_orders import parcel_orders


def packing_slip_pdf(staff: StaffPrincipal, shipment_id: int, lang: str = "en") -> bytes:
    """The slip packed with the parcel: lines with the customs data a CN22/CN23 needs."""
    shipment = shipment_for(staff, shipment_id)
    order = parcel_orders().order_of_parcel(shipment.order_id)
    node = db.session.get(Node, shipment.node_id)
    rows = db.session.execute(
        select(ShipmentLine.quantity, Sku, Product)
        .join(Sku, Sku.id == ShipmentLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(ShipmentLine.shipment_id == shipment.id)
        .order_by(ShipmentLine.id)
    ).all()
    prices = order.unit_prices
    address = order.shipping_address or {}
    slip = documents.PackingSlipDoc(
        shipment_id=shipment.id,
        order_number=order.number,
        node=node.code,
        lane=shipment.lane_code,
        customs_mode=shipment.customs_mode,
        created_at=utcnow(),
        recipient=address.get("recipient", ""),
        address_lines=tuple(
            part
            for part in (
                address.get("line1"),
                address.get("line2"),
                " ".join(p for p in (address.get("postal_code"), address.get("city")) if p),
                address.get("region"),
                address.get("country"),
            )
            if part
        ),
        phone=address.get("phone", ""),
        destination_country=order.destination_country,
        lines=tuple(
            documents.SlipLine(
                sku=sku.code,
                name=sku_name(product, sku, lang),
                quantity=quantity,
                hs_code=product.hs_code,
                origin_country=product.origin_country,
                unit_value=Money(prices.get(sku.id, Decimal(0)), order.currency),
                weight_g=sku.weight_g,
            )
            for quantity, sku, product in rows
        ),
        shipping=Money(Decimal(shipment.shipping_amount), order.currency),
        lang=lang,
    )
    db.session.rollback()
    return documents.render_packing_slip_pdf(slip)
