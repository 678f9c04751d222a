"""CDEK's offices as pickup points (pure): the query of ``GET /v2/deliverypoints`` and
its answer read as the port's ``DeliveryPoint``.

What CDEK documents ("Список офисов", api-docs.cdek.ru/36982648.html; in English
"List of Pickup Points", api-docs.cdek.ru/36990336.html): the query filters by
``city_code`` (a CDEK location code from ``GET /v2/location/cities``) or
``postal_code`` (of the city), ``country_code`` (ISO 3166-1 alpha-2), ``type``
(``PVZ`` offices, ``POSTAMAT`` lockers, ``ALL``, the default), ``is_handout``
(points that hand parcels out), ``weight_max``, ``lang``; the answer is a JSON
array of offices, each with ``code``, ``name``, ``type``, ``work_time`` and a
``location`` (``country_code``, ``city_code``, ``city``, ``postal_code``,
``address``, ``address_full``, coordinates).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from warehouse.carriers.base import DeliveryPoint

log = logging.getLogger(__package__)

POINT_KINDS = {"PVZ": "office", "POSTAMAT": "locker"}


def offices_query(country: str, *, city_code: Any = None, postal_code: str | None = None) -> dict:
    """Only points that hand parcels out, of either kind."""
    query: dict[str, Any] = {"country_code": country, "type": "ALL", "is_handout": "true"}
    if city_code not in (None, ""):
        query["city_code"] = city_code
    elif postal_code:
        query["postal_code"] = postal_code
    return query


def delivery_points(body: Any, carrier: str = "cdek") -> list[DeliveryPoint]:
    """CDEK's office list as pickup points, by code; entries it cannot read are skipped."""
    if not isinstance(body, list):
        return []
    points: dict[str, DeliveryPoint] = {}
    for office in body:
        try:
            location = office.get("location") or {}
            code = str(office["code"]).strip()
            if not code:
                continue
            points[code] = DeliveryPoint(
                carrier=carrier,
                code=code,
                name=str(office.get("name") or code),
                city=str(location.get("city") or ""),
                address=str(location.get("address") or location.get("address_full") or ""),
                kind=POINT_KINDS.get(str(office.get("type") or "PVZ"), "office"),
                work_time=str(office.get("work_time") or ""),
                postal_code=str(location["postal_code"]) if location.get("postal_code") else None,
            )
        except (AttributeError, KeyError, TypeError):
            log.warning("CDEK office entry cannot be read, skipped: %r", office)
    return sorted(points.values(), key=lambda p: (p.kind != "office", p.name, p.code))


def city_code(body: Any, city: str) -> Any:
    """The CDEK code of ``city`` in a ``GET /v2/location/cities`` answer (a JSON array);
    ``None`` when CDEK knows no such city. An exact name match wins over the first."""
    if not isinstance(body, list):
        return None
    cities = [c for c in body if isinstance(c, Mapping) and c.get("code") is not None]
    wanted = city.strip().casefold()
    exact = [c for c in cities if str(c.get("city") or "").strip().casefold() == wanted]
    chosen = (exact or cities or [None])[0]
    return chosen["code"] if chosen else None
