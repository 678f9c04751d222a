"""Which end of CDEK's parcel tariffs a recipient takes the parcel at, for a node's way
of handing parcels over (pure): what lets a quote offer door, pickup point or locker
with the tariff that is later booked.

CDEK names each tariff by its two ends, sender side first: "склад" is a CDEK office
(the sender drops the parcel off there; the recipient collects it there),
"дверь" a door (a courier collects it from the sender; a courier brings it to the
recipient), "постамат" a parcel locker. For the parcel (Посылка) family:

    136 склад-склад   137 склад-дверь   138 дверь-склад   139 дверь-дверь
    366 дверь-постамат                  368 склад-постамат

(api-docs.cdek.ru: the calculator's tariff list, pages 63347397 and 63347458, whose
``delivery_mode`` names the ends; order registration, 33828802, Appendix 1; DOMAIN.md,
Carriers.)
"""

from __future__ import annotations

OFFICE = "office"  # склад: a CDEK office (pickup point)
DOOR = "door"  # дверь: an address
LOCKER = "locker"  # постамат: a parcel locker

# (sender side, recipient side) -> parcel tariff code
PARCEL_TARIFFS: dict[tuple[str, str], int] = {
    (OFFICE, OFFICE): 136,
    (OFFICE, DOOR): 137,
    (DOOR, OFFICE): 138,
    (DOOR, DOOR): 139,
    (DOOR, LOCKER): 366,
    (OFFICE, LOCKER): 368,
}
_ENDS = {code: ends for ends, code in PARCEL_TARIFFS.items()}


def tariff_ends(code: int) -> tuple[str, str] | None:
    """``(sender side, recipient side)`` of a parcel tariff; ``None`` for any other."""
    return _ENDS.get(int(code))


def sender_side(code: int) -> str:
    """How a node hands parcels over under tariff ``code`` (an office drop-off when the
    tariff is not one of the parcel family)."""
    ends = tariff_ends(code)
    return ends[0] if ends else OFFICE


def parcel_tariff(sender: str, recipient: str) -> int:
    """The parcel tariff from ``sender`` to ``recipient`` (``door``, ``office``, ``locker``)."""
    return PARCEL_TARIFFS[(sender, recipient)]


def recipient_end(code: int, sender: str) -> str | None:
    """Where the recipient takes a parcel sent on tariff ``code`` (``door``, ``office`` or
    ``locker``), when its sender side is ``sender``; ``None`` for a tariff of another
    family or that needs another hand-over at the node."""
    ends = tariff_ends(code)
    if ends is None or ends[0] != sender:
        return None
    return ends[1]
