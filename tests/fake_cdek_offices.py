"""The fake CDEK's location register and office list (tests/fake_cdek.py serves them):
``GET /v2/location/cities`` and ``GET /v2/deliverypoints`` answered from
``fake.cities`` and ``fake.pickup_points``, kept apart from the server plumbing.
Each answer is ``(status, body, None)`` as the server's handlers return them.
"""

from __future__ import annotations

import uuid

from tests.fake_cdek_rules import error

# CDEK's location register as far as the tests go ("List of Cities",
# api-docs.cdek.ru/33829473.html): code, city, country_code, region, postal codes.
DEFAULT_CITIES = (
    (44, "Москва", "RU", "Москва", ("101000", "115035", "125009")),
    (137, "Санкт-Петербург", "RU", "Санкт-Петербург", ("190000", "191186")),
    (424, "Казань", "RU", "Республика Татарстан", ("420111", "420015")),
    (270, "Новосибирск", "RU", "Новосибирская область", ("630099",)),
    (4756, "Алматы", "KZ", "Алматы", ("050000",)),
)
# Offices that hand parcels out ("Список офисов", api-docs.cdek.ru/36982648.html):
# code, city code, type (PVZ office | POSTAMAT locker), name, address, postal code.
DEFAULT_PICKUP_POINTS = (
    ("KZN12", 424, "PVZ", "На Баумана", "ул. Баумана, 44", "420111"),
    ("KZN31", 424, "PVZ", "На Пушкина", "ул. Пушкина, 12", "420015"),
    ("KZN207", 424, "POSTAMAT", "Постамат ТЦ Кольцо", "ул. Петербургская, 1", "420111"),
    ("MSK27", 44, "PVZ", "Чертановская", "Балаклавский пр-т, 5", "115035"),
    ("NSK5", 270, "PVZ", "На Красном проспекте", "Красный пр-т, 50", "630099"),
    ("ALA3", 4756, "PVZ", "На Абая", "пр. Абая, 10", "050000"),
)


def cities_answer(cities, query: dict[str, list[str]]):
    """``GET /v2/location/cities`` (api-docs.cdek.ru/33829473.html): a JSON array,
    filtered by ``country_codes``, ``city`` (the name), ``postal_code``, ``code``."""
    first = {key: values[0] for key, values in query.items() if values}
    countries = set(",".join(query.get("country_codes", [])).split(",")) - {""}
    found = [
        {"code": code, "city": city, "country_code": country, "region": region,
         "postal_codes": list(postal_codes)}
        for code, city, country, region, postal_codes in cities
        if (not countries or country in countries)
        and ("city" not in first or city.casefold() == first["city"].strip().casefold())
        and ("postal_code" not in first or first["postal_code"] in postal_codes)
        and ("code" not in first or str(code) == first["code"])
    ]  # fmt: skip
    return 200, found, None


def delivery_points_answer(cities, pickup_points, query: dict[str, list[str]]):
    """``GET /v2/deliverypoints`` ("Список офисов", api-docs.cdek.ru/36982648.html;
    "List of Pickup Points", 36990336.html): a JSON array of offices, filtered by
    ``city_code``, ``postal_code`` (of the city), ``country_code``, ``type`` (PVZ,
    POSTAMAT, ALL: the default) and ``code``. A ``type`` outside those, or a code
    that is not a number where CDEK takes one, is refused with 400."""
    first = {key: values[0] for key, values in query.items() if values}
    kind = first.get("type", "ALL")
    if kind not in ("PVZ", "POSTAMAT", "ALL"):
        return 400, {"errors": [error("v2_bad_request", f"Invalid type: {kind}")]}, None
    for numeric in ("city_code", "postal_code"):
        if numeric in first and not first[numeric].isdigit():
            message = f"Field {numeric} must be an integer"
            return 400, {"errors": [error("v2_bad_request", message)]}, None
    by_code = {code: (city, country, region, postal_codes)
              for code, city, country, region, postal_codes in cities}  # fmt: skip
    by_postal_code = {
        postal: code for code, (_, _, _, postals) in by_code.items() for postal in postals
    }
    wanted_city = None
    if "city_code" in first:
        wanted_city = int(first["city_code"])
    elif "postal_code" in first:
        wanted_city = by_postal_code.get(first["postal_code"], -1)
    found = []
    for code, city_code, office_type, name, address, postal in pickup_points:
        city, country, region, _ = by_code[city_code]
        if wanted_city is not None and city_code != wanted_city:
            continue
        if first.get("country_code", country) != country:
            continue
        if kind != "ALL" and office_type != kind:
            continue
        if "code" in first and first["code"] != code:
            continue
        found.append(
            {
                "code": code,
                "name": name,
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cdek-office:{code}")),
                "work_time": "Пн-Пт 10:00-20:00, Сб-Вс 10:00-18:00",
                "type": office_type,
                "owner_code": "cdek",
                "take_only": False,
                "is_handout": True,
                "is_reception": office_type == "PVZ",
                "have_cashless": True,
                "have_cash": office_type == "PVZ",
                "allowed_cod": True,
                "location": {
                    "country_code": country,
                    "region": region,
                    "city_code": city_code,
                    "city": city,
                    "postal_code": postal,
                    "address": address,
                    "address_full": f"{postal}, {country}, {region}, {city}, {address}",
                },
            }
        )
    return 200, found, None
