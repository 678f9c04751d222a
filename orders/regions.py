"""Turn the region a shopper typed into the ISO 3166-2 code lanes are limited to.

Lanes such as Ussuriysk -> Russian Far East serve only some regions; the
address form has free text. Unknown text maps to ``None`` (the whole-country
lanes still serve it), never to a guess.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

_RULES = Path(__file__).parent / "rules" / "regions.json"
_NOISE = re.compile(
    r"\b(krai|kray|oblast|region|republic|autonomous okrug|okrug|край|область|обл|республика|"
    r"автономный округ|ао)\b|[.,()\-]",
    re.IGNORECASE,
)
_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


def _key(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text.casefold()).split())


@cache
def _names() -> dict[str, str]:
    data = json.loads(_RULES.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for code, spellings in data["regions"].items():
        names[_key(code)] = code
        for spelling in spellings:
            names[_key(spelling)] = code
    return names


def region_code(country: str, region: str | None) -> str | None:
    """``"RU-PRI"`` for ("RU", "Приморский край"); the code itself passes; else None."""
    if not region:
        return None
    text = region.strip()
    if _CODE.match(text.upper()) and text.upper().startswith(country.upper() + "-"):
        return text.upper()
    code = _names().get(_key(text))
    if code and code.startswith(country.upper() + "-"):
        return code
    return None
