"""Operators' use case for lanes: the same change as ``flask lanes set``, and the legs.

The warehouse owns both halves (``warehouse.services.update_lane`` for the lane's
fields, ``warehouse.lane_legs`` for its legs); this adds the audit entry that goes
in with them.
"""

from __future__ import annotations

from typing import Any

from shop.admin.services.nodes import forget_routing_world
from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.extensions import db
from warehouse import lane_legs
from warehouse.lane_legs import LegInput
from warehouse.services import LaneChange, lane_document, update_lane


def change_lane(
    operator: StaffPrincipal,
    code: str,
    change: LaneChange,
    legs: list[LegInput] | None = None,
) -> dict[str, Any]:
    """Change a lane with the same service as ``flask lanes set`` (cut-off, time zone,
    countries, regions, what the corridor refuses, limits, active), and replace its
    legs (carrier, service, transit days, costs) when ``legs`` is given. Routing
    reads the new values on the next order."""
    if legs is not None:
        lane_legs.check_legs(legs)
    lane = lane_legs.lane_by_code(code)
    try:
        before = lane_document(lane)
        if legs is not None:
            lane_legs.replace_legs(lane, legs)
        # update_lane commits: the entry goes in with the change, its ``after`` taken
        # just before that commit.
        audit.record(
            operator, "lane.update", "lane", lane.code, before=before,
            after=lambda: lane_document(lane),
        )  # fmt: skip
        result = update_lane(code, change, actor=operator.actor)
    except Exception:
        db.session.rollback()
        raise
    forget_routing_world()
    return result
