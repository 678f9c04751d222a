"""Pictures of categories and products, drawn by the shop itself (SVG).

Each category has a small drawing under ``static/storefront/pictures/``. A
product's picture is its category's drawing on a background tinted from the
product id, with a band naming its country of origin: products of a shelf
look related yet tell apart, and no photo is hot-linked from anywhere.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from flask import url_for
from markupsafe import escape

PICTURES_DIR = Path(__file__).resolve().parent.parent / "static" / "storefront" / "pictures"

FALLBACK_PICTURE = "pavilion"

_ROOT_ELEMENT = re.compile(r"<svg\b[^>]*>(.*)</svg>", re.DOTALL)
# The golden angle spreads consecutive product ids around the colour wheel.
_GOLDEN_ANGLE = 137.508


# A category has a drawing of its own when its slug names a file here; any other
# category (one added after the seed) shows the pavilion.
PICTURE_NAMES = frozenset(path.stem for path in PICTURES_DIR.glob("*.svg"))
CATEGORY_SLUGS = PICTURE_NAMES - {FALLBACK_PICTURE}


def picture_name(slug: str) -> str:
    return slug if slug in CATEGORY_SLUGS else FALLBACK_PICTURE


def category_picture_url(slug: str) -> str:
    return url_for("static", filename=f"storefront/pictures/{picture_name(slug)}.svg")


def product_picture_url(product_id: int, category_slug: str, origin_country: str) -> str:
    return url_for(
        "storefront.product_picture",
        slug=picture_name(category_slug),
        origin=origin_country,
        product_id=product_id,
    )


@lru_cache(maxsize=16)
def _drawing(name: str) -> str:
    """The inside of a category drawing's root ``<svg>`` element."""
    text = (PICTURES_DIR / f"{name}.svg").read_text(encoding="utf-8")
    found = _ROOT_ELEMENT.search(text)
    if found is None:
        raise ValueError(f"{name}.svg has no <svg> root element")
    return found.group(1)


def tint_hue(product_id: int) -> int:
    return round(product_id * _GOLDEN_ANGLE) % 360


@lru_cache(maxsize=1024)
def product_picture_svg(slug: str, origin_country: str, product_id: int) -> str:
    """The product's picture as an SVG document (240 × 240)."""
    hue = tint_hue(product_id)
    label = escape(origin_country.upper())
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 240" width="240" height="240">'
        f'<rect width="240" height="240" fill="hsl({hue}, 60%, 90%)"/>'
        f'<circle cx="200" cy="40" r="70" fill="hsl({(hue + 40) % 360}, 55%, 82%)"/>'
        f'<svg x="30" y="12" width="180" height="180" viewBox="0 0 120 120">'
        f"{_drawing(picture_name(slug))}</svg>"
        f'<rect y="196" width="240" height="44" fill="hsl({hue}, 45%, 26%)"/>'
        '<text x="120" y="227" text-anchor="middle" fill="#ffffff" font-size="24" '
        'font-weight="700" font-family="system-ui, sans-serif" letter-spacing="4">'
        f"{label}</text></svg>"
    )
