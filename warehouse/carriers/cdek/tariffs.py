"""CDEK's tariffs as data (``rules/tariffs.json``, with its source), and the choice of the
tariff a booking is made on (pure).

A tariff is two sides: the sender's (``warehouse``, склад: the node drops the parcel
off at a CDEK office; ``door``, дверь: a CDEK courier collects it) and the
recipient's (``door``; ``warehouse`` or ``postamat``: a pickup point the shopper
chose). The sender's side must match the node's hand-over and the recipient's the
shopper's choice, or CDEK refuses the order (api-docs.cdek.ru/33828802.html:
``shipment_point`` is required with a "from warehouse" tariff and cannot be sent
with ``from_location``; ``delivery_point`` likewise for "to warehouse").

The same table says what a quote may offer: each tariff the calculator returns is
shown as delivering to the door, an office or a locker (``recipient_end``) only when
its sender side is the node's hand-over, so what the shopper picks is bookable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from warehouse.carriers.pickups import Handover

SIDES = ("door", "warehouse", "postamat")
# Where the recipient takes the parcel, as the shop names it (``carriers.RECIPIENT_ENDS``:
# what a quote offers and a pickup point's ``kind`` is), by the tariff's recipient side.
DOOR = "door"  # дверь: the address
OFFICE = "office"  # склад: a CDEK office the shopper chose
LOCKER = "locker"  # постамат: a CDEK parcel locker
_END_OF_SIDE = {"door": DOOR, "warehouse": OFFICE, "postamat": LOCKER}
_SIDE_OF_END = {end: side for side, end in _END_OF_SIDE.items()}


class TariffMismatch(ValueError):
    """The tariff asked for does not fit the node's hand-over or the recipient's side."""


@dataclass(frozen=True)
class Tariff:
    code: int
    name: str
    family: str
    sender: str
    recipient: str
    max_weight_g: int | None = None

    @property
    def sender_drops_off(self) -> bool:
        return self.sender == "warehouse"

    @property
    def to_pickup_point(self) -> bool:
        return self.recipient in ("warehouse", "postamat")


@cache
def tariff_table() -> dict[int, Tariff]:
    """Every tariff the shop knows, by code (read once from the rules file)."""
    text = (
        resources.files("warehouse.carriers.cdek")
        .joinpath("rules/tariffs.json")
        .read_text(encoding="utf-8")
    )
    rows = json.loads(text)["tariffs"]
    return {row["code"]: Tariff(**row) for row in rows}


def sender_side(handover: Handover) -> str:
    return "door" if handover.courier_collects else "warehouse"


def _side(name: str) -> str:
    """A table side, from either name: ``office`` is ``warehouse``, ``locker`` is
    ``postamat``."""
    return _SIDE_OF_END.get(name, name)


def recipient_end(code: int, sender: str, family: str = "parcel") -> str | None:
    """Where the recipient takes a parcel sent on tariff ``code`` (``door``, ``office`` or
    ``locker``) when the node's sender side is ``sender`` (``warehouse``/``office`` for a
    drop-off, ``door`` for a courier intake); ``None`` for a tariff of another family, not
    in the table, or that needs another hand-over at the node: a quote offers the
    shopper only tariffs the booking (``choose_tariff``) will accept."""
    tariff = tariff_table().get(int(code))
    if tariff is None or tariff.family != family or tariff.sender != _side(sender):
        return None
    return _END_OF_SIDE[tariff.recipient]


def parcel_tariff(sender: str, end: str, family: str = "parcel") -> int:
    """The tariff of ``family`` from the node's ``sender`` side to the recipient's ``end``
    (either side's name: ``door``, ``office``/``warehouse``, ``locker``/``postamat``)."""
    for tariff in sorted(tariff_table().values(), key=lambda t: t.code):
        if (tariff.family, tariff.sender, tariff.recipient) == (family, _side(sender), _side(end)):
            return tariff.code
    raise TariffMismatch(f"no {family} tariff goes from the sender's {sender} to {end}")


def choose_tariff(
    requested: int | None,
    *,
    preferred: int,
    handover: Handover,
    to_pickup_point: bool,
) -> Tariff:
    """The tariff to book.

    ``requested`` (the tariff chosen at checkout) is booked as it is when it fits the
    node's hand-over and the recipient's side; otherwise ``TariffMismatch`` says why.
    Without one, the member of ``preferred``'s family (``CDEK_TARIFF_CODE``) that fits
    both sides is booked: 137 configured at a node whose courier collects becomes
    139, its дверь-дверь sibling.
    """
    table = tariff_table()
    sender = sender_side(handover)
    if requested is not None:
        tariff = table.get(requested)
        if tariff is None:
            raise TariffMismatch(
                f"tariff {requested} is not in the shop's CDEK tariff table "
                f"({', '.join(str(code) for code in sorted(table))})"
            )
        if tariff.sender != sender:
            how = "a CDEK courier collects" if sender == "door" else "parcels are dropped off"
            raise TariffMismatch(
                f"tariff {tariff.code} ({tariff.name}) starts at the sender's {tariff.sender}, "
                f"but at this node {how}"
            )
        if tariff.to_pickup_point != to_pickup_point:
            wanted = "a pickup point" if to_pickup_point else "the recipient's door"
            raise TariffMismatch(
                f"tariff {tariff.code} ({tariff.name}) does not deliver to {wanted}"
            )
        return tariff
    family = table[preferred].family if preferred in table else "parcel"
    recipient = ("warehouse",) if to_pickup_point else ("door",)
    for tariff in sorted(table.values(), key=lambda t: t.code):
        if tariff.family == family and tariff.sender == sender and tariff.recipient in recipient:
            return tariff
    raise TariffMismatch(f"no {family} tariff goes from the sender's {sender} to {recipient[0]}")
