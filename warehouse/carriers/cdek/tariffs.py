"""CDEK's parcel tariffs (Посылка) by the two ways a parcel changes hands (pure).

CDEK names each tariff by its two ends, sender side first: "склад" is a CDEK
office (the sender drops the parcel off there; the recipient collects it there,
at a pickup point or locker), "дверь" a door (a courier collects it from the
sender; a courier brings it to the recipient). For the parcel family:

    136 склад-склад   137 склад-дверь   138 дверь-склад   139 дверь-дверь

(api-docs.cdek.ru, "Приложение. Тарифы" of the calculator, pages 63347397 and
63347458; DOMAIN.md, Carriers.) So the tariff a shipment is quoted and booked
with follows from how the node hands parcels over (``OFFICE`` drop-off or
``DOOR`` courier intake) and where the shopper takes them (door or pickup point).
"""

from __future__ import annotations

OFFICE = "office"  # склад: a CDEK office
DOOR = "door"  # дверь: an address, a courier goes there

# (sender side, recipient side) -> tariff code
PARCEL_TARIFFS: dict[tuple[str, str], int] = {
    (OFFICE, OFFICE): 136,
    (OFFICE, DOOR): 137,
    (DOOR, OFFICE): 138,
    (DOOR, DOOR): 139,
}
_SIDES = {code: sides for sides, code in PARCEL_TARIFFS.items()}
# The port's delivery methods, in CDEK's terms of the recipient side.
RECIPIENT_SIDE = {"door": DOOR, "pickup": OFFICE}
DELIVERY_METHOD = {side: method for method, side in RECIPIENT_SIDE.items()}


def tariff_sides(code: int) -> tuple[str, str] | None:
    """``(sender side, recipient side)`` of a parcel tariff; ``None`` for any other tariff."""
    return _SIDES.get(int(code))


def sender_side(code: int) -> str:
    """How a node hands parcels over under tariff ``code`` (an office drop-off when the
    tariff is not one of the parcel family)."""
    sides = tariff_sides(code)
    return sides[0] if sides else OFFICE


def parcel_tariff(sender: str, delivery_method: str) -> int:
    """The parcel tariff for a node handing over at ``sender`` and a shopper choosing
    ``delivery_method`` (``door`` or ``pickup``)."""
    return PARCEL_TARIFFS[(sender, RECIPIENT_SIDE[delivery_method])]


def delivery_method(code: int, sender: str) -> str | None:
    """``door`` or ``pickup`` for a parcel tariff whose sender side is ``sender``;
    ``None`` for a tariff of another family or that needs another hand-over."""
    sides = tariff_sides(code)
    if sides is None or sides[0] != sender:
        return None
    return DELIVERY_METHOD[sides[1]]
