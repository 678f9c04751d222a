"""China's cross-border e-commerce (CBEC) rules as dated data, by HS prefix.

The SKU rules warn merchants with them, and orders and the warehouse's routing
refuse goods on corridors that require the positive list. The data is
``catalog/rules/cbec.json``: a new edition of the positive list is a new file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class CbecRules:
    """A heuristic view of China's cross-border retail import rules, by HS prefix.

    Keys are HS prefixes (2-digit chapter, 4-digit heading, 6 or 8 digits);
    values say what the goods are or, for taxes and limits, a whole sentence.
    It is dated data from ``catalog/rules/cbec.json``: a new edition of the
    positive list is a new file, not a code change.
    """

    effective_on: date
    source: str
    likely_outside_headings: Mapping[str, str]
    bonded_only_headings: Mapping[str, str] = field(default_factory=dict)
    consumption_tax_headings: Mapping[str, str] = field(default_factory=dict)
    quantity_limited_headings: Mapping[str, str] = field(default_factory=dict)
    _warnings_by_prefix: Mapping[str, tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )
    _prefix_lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Sentences are built once here, so a row costs a few dict lookups.
        warnings: dict[str, list[str]] = {}
        for prefix, goods in self.likely_outside_headings.items():
            warnings.setdefault(prefix, []).append(
                f"HS {prefix} ({goods}) is likely outside China's cross-border e-commerce "
                "positive list: it may not be sold into China through CBEC; check the "
                "8-digit code with a customs broker."
            )
        for prefix, goods in self.bonded_only_headings.items():
            warnings.setdefault(prefix, []).append(
                f"HS {prefix} ({goods}): China's CBEC positive list allows it only through "
                "bonded import (1210), not direct purchase (9610); ship it to Chinese "
                "shoppers from a bonded-zone depot."
            )
        for mapping in (self.consumption_tax_headings, self.quantity_limited_headings):
            for prefix, sentence in mapping.items():
                warnings.setdefault(prefix, []).append(f"HS {prefix}: {sentence}")
        for prefix in warnings:
            if not (prefix.isascii() and prefix.isdigit() and len(prefix) in (2, 4, 6, 8)):
                raise ValueError(f"CBEC rules: {prefix!r} is not a 2, 4, 6 or 8-digit HS prefix")
        object.__setattr__(self, "_warnings_by_prefix", {p: tuple(m) for p, m in warnings.items()})
        object.__setattr__(self, "_prefix_lengths", tuple(sorted({len(p) for p in warnings})))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CbecRules:
        return cls(
            effective_on=date.fromisoformat(data["effective_on"]),
            source=data["source"],
            # Read-only views: one loaded copy is shared by every request.
            likely_outside_headings=MappingProxyType(dict(data["likely_outside_headings"])),
            bonded_only_headings=MappingProxyType(dict(data.get("bonded_only_headings", {}))),
            consumption_tax_headings=MappingProxyType(
                dict(data.get("consumption_tax_headings", {}))
            ),
            quantity_limited_headings=MappingProxyType(
                dict(data.get("quantity_limited_headings", {}))
            ),
        )

    def _matching(self, hs_code: str, headings: Mapping[str, str]) -> bool:
        return any(hs_code[:n] in headings for n in self._prefix_lengths if n <= len(hs_code))

    def is_likely_outside_positive_list(self, hs_code: str) -> bool:
        """For corridors that refuse goods China's CBEC channel would not clear."""
        return self._matching(hs_code, self.likely_outside_headings)

    def is_bonded_only(self, hs_code: str) -> bool:
        return self._matching(hs_code, self.bonded_only_headings)

    def warnings_for(self, hs_code: str) -> list[str]:
        """Every note the data holds for ``hs_code`` (digits only), chapter first."""
        found: list[str] = []
        for length in self._prefix_lengths:
            if length > len(hs_code):
                break
            messages = self._warnings_by_prefix.get(hs_code[:length])
            if messages:
                found.extend(messages)
        return found


@cache
def load_cbec_rules() -> CbecRules:
    """The CBEC rules shipped with the package (``catalog/rules/cbec.json``).

    Read once per process: the file changes only with a release.
    """
    text = resources.files("catalog").joinpath("rules/cbec.json").read_text(encoding="utf-8")
    return CbecRules.from_json(json.loads(text))


@lru_cache(maxsize=1)
def cbec_rules() -> CbecRules:
    """China's CBEC positive-list heuristics (dated data, read once per process)."""
    return load_cbec_rules()
