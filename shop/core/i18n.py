"""Which language to answer in: a pure policy, plus localized names.

``?lang=`` wins when given (an unknown value is the caller's mistake: 422);
otherwise the best of ``Accept-Language``; otherwise English.
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

SUPPORTED_LANGUAGES = ("en", "ru", "zh")
DEFAULT_LANGUAGE = "en"


class UnsupportedLanguage(ValueError):
    pass


def normalize_language_tag(tag: str) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``RU-ru`` → ``zh``, ``zh``, ``ru``; unknown → None."""
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in SUPPORTED_LANGUAGES else None


def choose_language(explicit: str | None, accept_language: str | None) -> str:
    """The language of the response.

    Raises ``UnsupportedLanguage`` for an explicit tag we do not speak, so
    that ``?lang=fr`` is reported instead of silently ignored.
    """
    if explicit:
        lang = normalize_language_tag(explicit)
        if lang is None:
            raise UnsupportedLanguage(explicit)
        return lang
    if accept_language:
        accepted = parse_accept_header(accept_language, LanguageAccept)
        for tag, quality in accepted:
            if quality <= 0:
                continue
            lang = normalize_language_tag(tag)
            if lang:
                return lang
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=512)
def country_name(code: str, lang: str) -> str:
    """The country's name in ``lang`` from CLDR (Babel); the code if CLDR has none."""
    return Locale.parse(lang).territories.get(code.upper(), code.upper())


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)
