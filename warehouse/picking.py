"""Pick-walk policy: bin codes, the order a picker walks them, and which bin
feeds which shipment. Pure: data in, data out, no database.

A bin code is ``zone-aisle-shelf`` (``A-02-05``): a zone of 1-3 letters, then
1 to 3 numbers. The walk goes zone by zone alphabetically, then by the numbers
as numbers, so ``A-2-05`` comes before ``A-10-02``. Units the shop has on hand
but no receipt put in a bin are picked from "no bin" (``None``), last.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BIN_FORMAT = (
    "zone-aisle-shelf like A-02-05: a zone of 1-3 letters, then 1 to 3 numbers "
    "of 1-3 digits, each after a '-' (A-02-05, B-1, CN-10-2-3)"
)
BIN_MAX_LENGTH = 15  # "ABC-123-123-123"; the column holds 20

_BIN_PATTERN = re.compile(r"[A-Z]{1,3}(?:-[0-9]{1,3}){1,3}", re.ASCII)


class InvalidBin(ValueError):
    """A bin code that is not ``zone-aisle-shelf``; the message says what is wrong."""

    def __init__(self, code: object, reason: str):
        self.code = code
        self.reason = reason
        super().__init__(f"{code!r} is not a bin code ({reason}); expected {BIN_FORMAT}.")


def normalize_bin(code: str) -> str:
    """``" a-02-05 "`` -> ``"A-02-05"``; raises :class:`InvalidBin` for any other shape.

    Leading zeros are kept as written: ``A-2-5`` and ``A-02-05`` are different
    codes (that sort together in the walk).
    """
    if not isinstance(code, str):
        raise InvalidBin(code, "not text")
    cleaned = code.strip().upper()
    if not cleaned:
        raise InvalidBin(code, "empty")
    if len(cleaned) > BIN_MAX_LENGTH:
        raise InvalidBin(code, f"longer than {BIN_MAX_LENGTH} characters")
    if not _BIN_PATTERN.fullmatch(cleaned):
        raise InvalidBin(code, _what_is_wrong(cleaned))
    return cleaned


def _what_is_wrong(cleaned: str) -> str:
    zone, _, rest = cleaned.partition("-")
    if not re.fullmatch(r"[A-Z]{1,3}", zone, re.ASCII):
        return "the zone must be 1-3 letters A-Z"
    if not rest:
        return "a zone needs at least one number after it"
    parts = rest.split("-")
    if len(parts) > 3:
        return "at most 3 numbers after the zone"
    if not all(re.fullmatch(r"[0-9]{1,3}", part, re.ASCII) for part in parts):
        return "each part after the zone must be a number of 1-3 digits"
    return "unexpected characters"  # pragma: no cover - the checks above cover the pattern


def bin_sort_key(code: str | None) -> tuple:
    """Walking order: zone letters alphabetically, then each number as a number;
    ``None`` (no bin recorded) after every bin.

    Codes that do not match the format (older data) still sort, after the
    letters-and-numbers comparison, without raising. The code itself breaks
    ties, so the order is total and the same on every run.
    """
    if code is None:
        return (1, (), "", "")
    cleaned = code.strip().upper()
    parts = tuple(
        (1, int(part), "") if part.isascii() and part.isdigit() else (0, 0, part)
        for part in cleaned.split("-")
    )
    return (0, parts, cleaned, code)


@dataclass(frozen=True)
class WantedUnits:
    """Units of one SKU that one shipment needs."""

    shipment_id: int
    sku_id: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class BinStock:
    """How many units of a SKU one bin holds (by the bins' own count, which may lag)."""

    sku_id: int
    bin: str
    on_hand: int


@dataclass(frozen=True)
class PickLine:
    """One stop of the walk: take ``quantity`` of a SKU from ``bin`` (``None``: no
    bin recorded) for these ``(shipment_id, quantity)`` pairs, by shipment id."""

    position: int
    sku_id: int
    sku: str
    bin: str | None
    quantity: int
    shipments: tuple[tuple[int, int], ...]


def plan_pick_lines(wanted: Sequence[WantedUnits], bins: Sequence[BinStock]) -> list[PickLine]:
    """The lines of a pick list, in walking order.

    Per SKU the units wanted are taken from its bins in walking order, each
    bin up to what it holds; what the bins cannot cover comes from "no bin"
    (the caller's on-hand count is the authority, bin counts may lag).
    Shipments take those units in shipment-id order, so one shipment's units
    may come from two bins. Lines are ordered by bin (walk), then SKU code;
    the order of the inputs does not matter.
    """
    wanted_by_sku = _wanted_by_sku(wanted)
    codes = _sku_codes(wanted)
    stock = _stock_by_sku(bins, wanted_by_sku.keys())

    unpositioned: list[tuple[int, str | None, int, tuple[tuple[int, int], ...]]] = []
    for sku_id, per_shipment in wanted_by_sku.items():
        sources = _take_from_bins(sum(per_shipment.values()), stock.get(sku_id, {}))
        for bin_code, quantity, shipments in _assign_shipments(sources, per_shipment):
            unpositioned.append((sku_id, bin_code, quantity, shipments))

    unpositioned.sort(key=lambda line: (bin_sort_key(line[1]), codes[line[0]], line[0]))
    return [
        PickLine(position, sku_id, codes[sku_id], bin_code, quantity, shipments)
        for position, (sku_id, bin_code, quantity, shipments) in enumerate(unpositioned, 1)
    ]


def _wanted_by_sku(wanted: Iterable[WantedUnits]) -> dict[int, dict[int, int]]:
    """``{sku_id: {shipment_id: units}}``; two lines of one shipment for one SKU add up."""
    by_sku: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for units in wanted:
        if units.quantity < 0:
            raise ValueError(f"shipment {units.shipment_id} wants {units.quantity} units")
        if units.quantity:
            by_sku[units.sku_id][units.shipment_id] += units.quantity
    return by_sku


def _sku_codes(wanted: Iterable[WantedUnits]) -> dict[int, str]:
    codes: dict[int, str] = {}
    for units in wanted:
        known = codes.setdefault(units.sku_id, units.sku)
        if known != units.sku:
            raise ValueError(f"SKU {units.sku_id} is named both {known!r} and {units.sku!r}")
    return codes


def _stock_by_sku(bins: Iterable[BinStock], sku_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{sku_id: {bin: on_hand}}`` for the wanted SKUs; a bin listed twice adds up."""
    wanted_ids = set(sku_ids)
    stock: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in bins:
        if entry.on_hand < 0:
            raise ValueError(f"bin {entry.bin} holds {entry.on_hand} of SKU {entry.sku_id}")
        if entry.sku_id in wanted_ids and entry.on_hand:
            stock[entry.sku_id][entry.bin] += entry.on_hand
    return stock


def _take_from_bins(total: int, holding: dict[str, int]) -> list[tuple[str | None, int]]:
    """``[(bin, units)]`` in walking order covering ``total``; the rest from ``None``."""
    taken: list[tuple[str | None, int]] = []
    for bin_code in sorted(holding, key=bin_sort_key):
        if total == 0:
            break
        units = min(total, holding[bin_code])
        taken.append((bin_code, units))
        total -= units
    if total:
        taken.append((None, total))
    return taken


def _assign_shipments(
    sources: list[tuple[str | None, int]], per_shipment: dict[int, int]
) -> list[tuple[str | None, int, tuple[tuple[int, int], ...]]]:
    """Pour the shipments, by id, into the bins' units in walking order."""
    queue = [[shipment_id, units] for shipment_id, units in sorted(per_shipment.items())]
    lines = []
    cursor = 0
    for bin_code, units in sources:
        fed: list[tuple[int, int]] = []
        room = units
        while room:
            shipment_id, still_wanted = queue[cursor]
            share = min(room, still_wanted)
            fed.append((shipment_id, share))
            room -= share
            queue[cursor][1] -= share
            if queue[cursor][1] == 0:
                cursor += 1
        lines.append((bin_code, units, tuple(fed)))
    return lines
