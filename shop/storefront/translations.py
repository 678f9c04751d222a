"""The storefront's page text in ru and zh, read from gettext ``.po`` files.

Message ids are the English text, so English needs no file. Every ``.po``
file of a language (``shop/translations/<lang>/LC_MESSAGES/*.po``) is read
and merged at first use: each part of the storefront keeps its own file
(``storefront.po``, ``shopping.po``…) and no compile step stands between an
edit and a running shop. Babel compiles each catalog in memory.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def po_files(lang: str) -> list[Path]:
    """The ``.po`` files of ``lang``, in name order (so merging is repeatable)."""
    return sorted((TRANSLATIONS_DIR / lang / "LC_MESSAGES").glob("*.po"))


def _compiled(path: Path, lang: str) -> Translations:
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang, domain=path.stem)
    compiled = BytesIO()
    # Fuzzy entries are a translator's guess awaiting review: not shown, as gettext does.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=path.stem)


@lru_cache(maxsize=8)
def translations_for(lang: str) -> NullTranslations:
    """All of ``lang``'s storefront catalogs merged into one; kept for the process.

    English (or a language without files) gets ``NullTranslations``: the
    message id is the text.
    """
    merged: Translations | None = None
    for path in po_files(lang):
        part = _compiled(path, lang)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    if merged is None:
        return NullTranslations()
    log.debug("storefront translations for %s: %s", lang, [p.name for p in po_files(lang)])
    return merged


def forget_translations() -> None:
    """Read the ``.po`` files again at next use (tests, or after editing them)."""
    translations_for.cache_clear()
