"""What the fake CDEK (tests/fake_cdek.py) checks in an order, as CDEK documents it,
kept apart from the server plumbing. Written from CDEK's documentation, not from our
adapter: a test that passes here passes because the body is what CDEK asks for.

- Tariffs and their sides: Order Registration (api-docs.cdek.ru/33828802.html),
  Appendix 1; the calculator's tariff list gives each one's delivery_mode
  (api-docs.cdek.ru/63347458.html): 1 door-door, 2 door-warehouse, 3
  warehouse-door, 4 warehouse-warehouse, 6 door-postamat, 7 warehouse-postamat.
  Посылка tariffs take up to 30 kg.
- ``shipment_point``: "Code of the CDEK pickup point (PVZ) to which the client will
  deliver the shipment. Cannot be used concurrently with from_location"; required
  for a "from warehouse" tariff. ``delivery_point`` likewise for "to warehouse" /
  "to parcel terminal" tariffs, never with ``to_location`` (33828802).
- International orders: ``date_invoice``, ``shipper_name``, ``shipper_address``
  "only for international orders of e-shop type", mandatory for them; ``seller``
  with its ``address``; ``recipient_currency`` and ``items_cost_currency``; per item
  ``name_i18n`` (33828802).

Inventions where the documentation is silent: the refusal's code for a location
combined with the wrong side (``v2_bad_request``), and the answer coming at once
with HTTP 400 (CDEK may also accept first and mark the request INVALID later).
"""

from __future__ import annotations

from typing import Any

# code: (name, delivery_mode, max weight in grams or None)
TARIFFS: dict[int, tuple[str, int, int | None]] = {
    136: ("Посылка склад-склад", 4, 30000),
    137: ("Посылка склад-дверь", 3, 30000),
    138: ("Посылка дверь-склад", 2, 30000),
    139: ("Посылка дверь-дверь", 1, 30000),
    366: ("Посылка дверь-постамат", 6, 30000),
    368: ("Посылка склад-постамат", 7, 30000),
    480: ("Экспресс дверь-дверь", 1, None),
    481: ("Экспресс дверь-склад", 2, None),
    482: ("Экспресс склад-дверь", 3, None),
    483: ("Экспресс склад-склад", 4, None),
}
# delivery_mode -> (sender side, recipient side)
MODES = {
    1: ("door", "door"),
    2: ("door", "warehouse"),
    3: ("warehouse", "door"),
    4: ("warehouse", "warehouse"),
    6: ("door", "postamat"),
    7: ("warehouse", "postamat"),
}
# CDEK offices the fake knows: code -> (country, city).
DEFAULT_OFFICES = {
    "NSK27": ("RU", "Новосибирск"),
    "MSK1": ("RU", "Москва"),
    "VVO5": ("RU", "Владивосток"),
    "KZN3": ("RU", "Казань"),
    "ZHK1": ("KZ", "Жаркент"),
    "ALA12": ("KZ", "Алматы"),
}
# CDEK city codes the fake knows: code -> country (others are taken as Russian cities).
CITY_COUNTRIES = {44: "RU", 287: "RU", 270: "RU", 1234: "CN"}
INTERNATIONAL_ORDER_FIELDS = ("date_invoice", "shipper_name", "shipper_address",
                              "recipient_currency", "items_cost_currency")  # fmt: skip


def error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def empty(field_name: str) -> dict[str, str]:
    return error("v2_field_is_empty", f"Field {field_name} is empty")


def _country(location: Any, point: Any, offices: dict[str, tuple[str, str]]) -> str | None:
    if point:
        office = offices.get(str(point))
        return office[0] if office else None
    location = location or {}
    if location.get("country_code"):
        return str(location["country_code"]).upper()
    code = location.get("code")
    if code is not None:
        return CITY_COUNTRIES.get(int(code) if str(code).isdigit() else -1, "RU")
    return None


def order_problems(body: dict[str, Any], offices: dict[str, tuple[str, str]]) -> list[dict]:
    """The errors CDEK answers a ``POST /v2/orders`` body with ([] when it takes it)."""
    code = body.get("tariff_code")
    if code not in TARIFFS:
        return [error("v2_bad_request", f"Tariff {code} is not available for the contract")]
    name, mode, max_weight = TARIFFS[code]
    sender, recipient = MODES[mode]
    problems: list[dict] = []
    if sender == "warehouse":
        if body.get("from_location"):
            problems.append(error("v2_bad_request",
                                  f"Tariff {code} ({name}) is from a warehouse: send "
                                  "shipment_point, not from_location"))  # fmt: skip
        elif not body.get("shipment_point"):
            problems.append(empty("shipment_point"))
        elif str(body["shipment_point"]) not in offices:
            problems.append(error("v2_entity_not_found",
                                  f"Office {body['shipment_point']} is not found"))  # fmt: skip
    else:
        if body.get("shipment_point"):
            problems.append(error("v2_bad_request",
                                  f"Tariff {code} ({name}) is from the door: send "
                                  "from_location, not shipment_point"))  # fmt: skip
        elif not (body.get("from_location") or {}).get("address"):
            problems.append(empty("from_location.address"))
    if recipient == "door":
        if body.get("delivery_point"):
            problems.append(error("v2_bad_request",
                                  f"Tariff {code} ({name}) is to the door: send to_location, "
                                  "not delivery_point"))  # fmt: skip
        elif not body.get("to_location"):
            problems.append(empty("to_location"))
    else:
        if body.get("to_location"):
            problems.append(error("v2_bad_request",
                                  f"Tariff {code} ({name}) is to a pickup point: send "
                                  "delivery_point, not to_location"))  # fmt: skip
        elif not body.get("delivery_point"):
            problems.append(empty("delivery_point"))
        elif str(body["delivery_point"]) not in offices:
            problems.append(error("v2_entity_not_found",
                                  f"Office {body['delivery_point']} is not found"))  # fmt: skip
    for index, package in enumerate(body.get("packages") or ()):
        if max_weight is not None and int(package.get("weight") or 0) > max_weight:
            limit = f"{max_weight // 1000} kg, the limit of tariff {code}"
            weight = package.get("weight")
            problems.append(
                error("v2_bad_request", f"packages[{index}].weight {weight} g is over {limit}")
            )
    if problems:
        return problems
    origin = _country(body.get("from_location"), body.get("shipment_point"), offices)
    destination = _country(body.get("to_location"), body.get("delivery_point"), offices)
    if origin and destination and origin != destination:
        problems.extend(international_problems(body))
    return problems


def international_problems(body: dict[str, Any]) -> list[dict]:
    problems = [empty(name) for name in INTERNATIONAL_ORDER_FIELDS if not body.get(name)]
    seller = body.get("seller") or {}
    for name in ("name", "address"):
        if not seller.get(name):
            problems.append(empty(f"seller.{name}"))
    for p_index, package in enumerate(body.get("packages") or ()):
        for i_index, item in enumerate(package.get("items") or ()):
            if not item.get("name_i18n"):
                problems.append(empty(f"packages[{p_index}].items[{i_index}].name_i18n"))
    return problems


def intake_problems(body: dict[str, Any]) -> list[dict]:
    """Registration of a Courier Invitation (api-docs.cdek.ru/33828859.html; in Russian
    29925274): a date, a window from no earlier than 09:00 to no later than 22:00, and
    an order (``order_uuid`` or ``cdek_number``) or else the cargo described."""
    problems = [empty(name) for name in ("intake_date", "intake_time_from", "intake_time_to")
                if not body.get(name)]  # fmt: skip
    if problems:
        return problems
    if body["intake_time_from"] < "09:00":
        problems.append(error("v2_bad_request", "intake_time_from is earlier than 09:00"))
    if body["intake_time_to"] > "22:00":
        problems.append(error("v2_bad_request", "intake_time_to is later than 22:00"))
    if body["intake_time_from"] >= body["intake_time_to"]:
        problems.append(error("v2_bad_request", "intake_time_to is not after intake_time_from"))
    if not (body.get("order_uuid") or body.get("cdek_number")):
        for name in ("name", "weight", "from_location", "sender"):
            if not body.get(name):
                problems.append(empty(name))
    return problems
