"""Orders' answer to the warehouse's questions about an order (``warehouse.parcel_orders``).

The warehouse prints slips, books carriers and re-routes parcels; for that it
needs an order's address, unit prices and destination, and, before a
re-route, the order locked and still open. Orders own those facts, so they
answer here; ``orders.shipment_events.connect`` plugs this in at start.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import select

from orders import lifecycle
from orders.customs import id_vault
from orders.models import Order
from shop.core.errors import Conflict, NotFound
from shop.core.extensions import db
from warehouse.carriers.customs import RecipientIdentity
from warehouse.parcel_orders import ParcelOrder

log = logging.getLogger(__name__)


class OrdersForParcels:
    """The ``warehouse.parcel_orders.ParcelOrders`` port, over the orders tables."""

    def order_of_parcel(self, order_id: int) -> ParcelOrder:
        order = db.session.get(Order, order_id)
        if order is None:
            raise NotFound(f"No order {order_id}.")
        return _as_parcel_order(order)

    def customs_identity_of_parcel(self, order_id: int) -> RecipientIdentity | None:
        """The buyer's PRC resident ID, decrypted (``id_vault``), for a carrier's customs
        block. Checkout keeps a full number only for China's real-name rule, so that is
        the only kind there is; an order without one (or one the keys cannot read)
        answers ``None`` and the booking says what is missing."""
        order = db.session.get(Order, order_id)
        if order is None:
            raise NotFound(f"No order {order_id}.")
        if not order.customs_id_encrypted or order.destination_country != "CN":
            return None
        try:
            number = id_vault.decrypt_id(order.customs_id_encrypted)
        except (id_vault.UndecryptableIdNumber, id_vault.IdVaultUnavailable):
            log.warning("order %s: its customs ID number cannot be decrypted", order.number)
            return None
        return RecipientIdentity("prc_resident_id", order.customs_name or "", number)

    def lock_for_reroute(self, order_id: int) -> ParcelOrder:
        order = db.session.scalar(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if order is None:
            raise NotFound(f"No order {order_id}.")
        # Until something has left a node the order still needs its goods where they are.
        if order.status not in lifecycle.UNSHIPPED_STATUSES:
            raise Conflict(
                f"Order {order.number} is {order.status.replace('_', ' ')}; its shipments "
                "cannot be re-routed.",
                code="shipment_not_reroutable",
            )
        return _as_parcel_order(order)


def _as_parcel_order(order: Order) -> ParcelOrder:
    return ParcelOrder(
        id=order.id,
        number=order.number,
        currency=order.currency,
        destination_country=order.destination_country,
        shipping_address=dict(order.shipping_address or {}),
        unit_prices={line.sku_id: Decimal(line.unit_price_amount) for line in order.lines},
        placed_on=order.placed_on,
    )
