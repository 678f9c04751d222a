"""How big a planned parcel is, and the band a carrier's quote for it is kept under (pure).

A parcel's outer size, in whole millimetres, is:

1. one unit of one SKU with its own dimensions: that SKU's size (it ships in its
   own packaging, labelled as it is);
2. otherwise the smallest of the node's boxes (by volume) that holds every item:
   each item fits the box side by side (sides compared longest to longest), and
   the items' volume is at most ``FILL_FACTOR`` of the box's. Items without
   dimensions are taken to need the node's default box at least;
3. no box holds them: a carton as near a cube as the largest item allows, holding
   the items' volume at the fill factor;
4. no SKU has dimensions: the node's default box; a node with no boxes known
   gives ``None`` (the carrier prices by weight alone, as before sizes were known).

Millimetres, because SKUs and boxes are measured in them (``catalog``), and a
small item (a 10 mm chocolate bar) loses its shape in centimetres; the carrier
adapter converts to its own unit (CDEK: whole centimetres, rounded up).

Bands: a carrier's price depends on the billed weight and the size, so quotes
are asked for and kept per ``ParcelBand``: the weight in whole kilograms
(rounded up, as carriers bill) and each side rounded up to ``SIZE_STEP_MM``.
The quote is asked for the band's upper corner (its weight and sides), so a
band's price never under-quotes a parcel in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Items never fill a box: void fill, odd shapes and the packer's hands take a share.
# 0.75 is the share warehouse packing guides commonly plan with for mixed retail goods;
# a node that packs tighter changes it here.
FILL_FACTOR = Decimal("0.75")
SIZE_STEP_MM = 50  # size bands step 5 cm per side: a few bands, little over-quoting
GRAMS_PER_KG = 1000

Size = tuple[int, int, int]  # length, width, height in mm


@dataclass(frozen=True)
class Box:
    """A box a node packs into; outer size in mm."""

    code: str
    length_mm: int
    width_mm: int
    height_mm: int

    def __post_init__(self):
        if min(self.length_mm, self.width_mm, self.height_mm) <= 0:
            raise ValueError(f"box {self.code}: every side must be positive")

    @property
    def size(self) -> Size:
        return _sorted_size((self.length_mm, self.width_mm, self.height_mm))

    @property
    def volume_mm3(self) -> int:
        return self.length_mm * self.width_mm * self.height_mm


@dataclass(frozen=True)
class Packaging:
    """The boxes of one node, and the one that takes goods of unknown size."""

    boxes: tuple[Box, ...] = ()
    default_box: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "boxes", tuple(sorted(self.boxes, key=_box_order)))
        if self.default_box is not None and self.default_box not in {b.code for b in self.boxes}:
            raise ValueError(f"default box {self.default_box} is not one of the boxes")

    @property
    def default(self) -> Box | None:
        return next((b for b in self.boxes if b.code == self.default_box), None)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Packaging | None:
        """The ``nodes.packaging`` column (or the seed's ``packaging``); None stays None."""
        if not data:
            return None
        boxes = tuple(
            Box(str(b["code"]), int(b["length_mm"]), int(b["width_mm"]), int(b["height_mm"]))
            for b in data.get("boxes") or ()
        )
        return cls(boxes, data.get("default_box"))


def _box_order(box: Box) -> tuple:
    return (box.volume_mm3, box.size, box.code)


def _sorted_size(size: Iterable[int]) -> Size:
    longest, middle, shortest = sorted(size, reverse=True)
    return (longest, middle, shortest)


def _fits(item: Size, box: Size) -> bool:
    return all(side <= room for side, room in zip(item, box, strict=True))


def parcel_size(
    items: Iterable[tuple[Size | None, int]], packaging: Packaging | None
) -> Size | None:
    """The outer size (mm, longest side first) of a parcel of ``items`` (each a SKU's
    size or None, and its units) packed at a node with ``packaging``. See the module."""
    items = [(None if size is None else _sorted_size(size), units) for size, units in items]
    units = sum(count for _, count in items)
    known = [(size, count) for size, count in items if size is not None]
    unknown = len(known) < len(items)
    if units == 1 and known:
        return known[0][0]
    boxes = packaging.boxes if packaging else ()
    default = packaging.default if packaging else None
    if not known:
        return default.size if default else None
    volume = sum(math.prod(size) * count for size, count in known)
    needed = Decimal(volume) / FILL_FACTOR
    for box in boxes:
        if unknown and default is not None and _box_order(box) < _box_order(default):
            continue  # goods of unknown size need the default box at least
        if box.volume_mm3 >= needed and all(_fits(size, box.size) for size, _ in known):
            return box.size
    # Nothing in stock holds it: a made-up carton, as near a cube as the largest item
    # allows, holding the items' volume at the fill factor.
    length = max(max(size[0] for size, _ in known), _root(needed, 3))
    width = max(max(size[1] for size, _ in known), _root(needed / length, 2))
    height = max(max(size[2] for size, _ in known), math.ceil(needed / (length * width)))
    return _sorted_size((length, width, height))


def _root(volume: Decimal, degree: int) -> int:
    return math.ceil(float(volume) ** (1 / degree))


@dataclass(frozen=True, order=True)
class ParcelBand:
    """The weight and size class a carrier quote is kept under: whole kilograms, and
    sides in ``SIZE_STEP_MM`` steps (``None`` when the size is unknown)."""

    weight_kg: int
    size_mm: Size | None = None

    @classmethod
    def of(cls, weight_g: int, size_mm: Size | None) -> ParcelBand:
        kg = max(1, math.ceil(weight_g / GRAMS_PER_KG))
        if size_mm is None:
            return cls(kg, None)
        stepped = (SIZE_STEP_MM * math.ceil(side / SIZE_STEP_MM) for side in size_mm)
        return cls(kg, _sorted_size(stepped))

    @property
    def weight_g(self) -> int:
        """The weight a quote for this band is asked for: its upper bound."""
        return self.weight_kg * GRAMS_PER_KG

    def __str__(self) -> str:
        if self.size_mm is None:
            return f"{self.weight_kg} kg"
        sides = "×".join(str(side // 10) for side in self.size_mm)
        return f"{self.weight_kg} kg, {sides} cm"
