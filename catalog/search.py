"""Catalog text search, the same on SQLite and PostgreSQL.

SQLite's ``lower()`` and ``LIKE`` fold ASCII only, so Cyrillic would match
case-sensitively there. Instead each product keeps a ``search_text`` that
Python has already folded, and queries are folded the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_TERMS = 8
MAX_TERM_LENGTH = 64
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Case-, width- and ё-insensitive form of ``text``.

    NFKC makes full-width Latin (common in Chinese input) plain; ``casefold``
    handles Cyrillic and Latin; ``ё`` is written ``е`` in most Russian text.
    """
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return _SPACES.sub(" ", folded).strip()


def build_search_text(parts: Iterable[str | None]) -> str:
    """The folded text a product is found by: names, descriptions, codes."""
    return " ".join(fold(p) for p in parts if p)


def search_terms(query: str) -> list[str]:
    """Terms that must all occur (AND); Chinese has no spaces, so a term may be a phrase."""
    terms = [t[:MAX_TERM_LENGTH] for t in fold(query).split(" ") if t]
    return terms[:MAX_TERMS]


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE's wildcards escaped (escape character: backslash)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matches(search_text: str, query: str) -> bool:
    """What the SQL filter does, in Python (for tests and in-memory callers)."""
    return all(term in search_text for term in search_terms(query))
