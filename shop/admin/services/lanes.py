"""Operators' use case for lanes: the same change as ``flask lanes set``, and the legs.

The warehouse owns the change and its audit entry (``warehouse.services.update_lane``,
the lane's fields and legs); this reads the lane's edit form and forgets the cached
routing world.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from shop.core.auth import StaffPrincipal
from shop.core.errors import ValidationFailed
from warehouse.lane_legs import LegInput
from warehouse.services import (
    LaneChange,
    forget_routing_world,
    get_lane,
    update_lane,
)


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
    result = update_lane(code, change, actor=operator, legs=legs)
    forget_routing_world()
    return result


def change_lane_figures(
    operator: StaffPrincipal,
    code: str,
    change: LaneChange,
    leg_figure: Callable[[int, str], str],
) -> dict[str, Any]:
    """``change_lane`` with new figures for each of the lane's legs, as the lane's edit
    form sends them: ``leg_figure(n, name)`` is leg ``n``'s ``transit_days_min``,
    ``transit_days_max``, ``cost_base`` or ``cost_per_kg`` as typed. Each leg keeps
    its carrier, service, currency, crossing and customs mode."""
    current = get_lane(code)
    legs = []
    errors: list[str] = []
    for n, leg in enumerate(current["legs"], 1):
        try:
            legs.append(
                LegInput(
                    carrier=leg["carrier"],
                    service=leg["service"],
                    transit_days_min=int(leg_figure(n, "transit_days_min")),
                    transit_days_max=int(leg_figure(n, "transit_days_max")),
                    cost_base=Decimal(leg_figure(n, "cost_base")),
                    cost_per_kg=Decimal(leg_figure(n, "cost_per_kg")),
                    cost_currency=leg["cost"]["base"]["currency"],
                    crossing=leg["crossing"],
                    customs_mode=leg["customs_mode"],
                )
            )
        except (ValueError, InvalidOperation):
            errors.append(f"Leg {n}: transit days are whole numbers, costs decimal numbers.")
    if errors:
        raise ValidationFailed(errors={"legs": errors})
    return change_lane(operator, code, change, legs)
