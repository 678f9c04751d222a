""" "Parcel 2 of 3": which box of an order's boxes from one node a shipment is.

The routing engine may send one node's goods for an order in several parcels of one
lane (a parcel limit); each is a shipment of its own, with its own number at the
carrier (``shipping.shipment_number``). Pickers and packers need to see which
shipments go together and how many boxes to expect, and the shopper how many
parcels come from where. Nothing is stored: the number follows from the shipments
themselves (ids in the order they were made), so a re-route, which replaces a
shipment by others, renumbers what is left.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from shop.core.extensions import db
from warehouse.models import Shipment

# A re-routed shipment carries nothing any more; its replacements are counted instead.
NOT_A_PARCEL = ("rerouted",)


def number_parcels(shipments: Iterable[tuple[int, int, int, str]]) -> dict[int, tuple[int, int]]:
    """``{shipment id: (number, of)}`` for ``(shipment id, order id, node id, status)``
    rows: each order's shipments from each node, counted by id; re-routed ones left out."""
    groups: dict[tuple[int, int], list[int]] = {}
    for shipment_id, order_id, node_id, status in sorted(shipments):
        if status not in NOT_A_PARCEL:
            groups.setdefault((order_id, node_id), []).append(shipment_id)
    return {
        shipment_id: (number, len(ids))
        for ids in groups.values()
        for number, shipment_id in enumerate(ids, start=1)
    }


def parcel_numbers(order_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """``number_parcels`` over the shipments of these orders, in one query."""
    wanted = sorted(set(order_ids))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Shipment.id, Shipment.order_id, Shipment.node_id, Shipment.status).where(
            Shipment.order_id.in_(wanted)
        )
    )
    return number_parcels(tuple(row) for row in rows)
