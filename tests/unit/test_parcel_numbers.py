"""Which box of an order's boxes from one node a shipment is ("parcel 2 of 3")."""

from __future__ import annotations

from warehouse.fulfilment.parcel_numbers import number_parcels

RU_WH, CN_URC = 1, 4


def test_parcels_are_numbered_per_order_and_node_in_the_order_they_were_made():
    rows = [
        (12, 100, RU_WH, "ready_to_pick"),
        (11, 100, RU_WH, "ready_to_pick"),
        (13, 100, CN_URC, "ready_to_pick"),
        (14, 200, RU_WH, "picking"),
    ]

    assert number_parcels(rows) == {11: (1, 2), 12: (2, 2), 13: (1, 1), 14: (1, 1)}


def test_a_rerouted_shipment_is_no_parcel_and_the_rest_are_counted_again():
    rows = [
        (11, 100, RU_WH, "rerouted"),
        (12, 100, RU_WH, "ready_to_pick"),
        (15, 100, RU_WH, "ready_to_pick"),  # made by the re-route
        (16, 100, CN_URC, "cancelled"),  # a cancelled parcel keeps its number
    ]

    assert number_parcels(rows) == {12: (1, 2), 15: (2, 2), 16: (1, 1)}
