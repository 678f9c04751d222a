"""Free-text regions become the ISO 3166-2 codes lanes are limited to, or nothing."""

from __future__ import annotations

import pytest

from orders.regions import region_code


@pytest.mark.parametrize(
    ("country", "text", "code"),
    [
        ("RU", "Приморский край", "RU-PRI"),
        ("RU", "Primorsky Krai", "RU-PRI"),
        ("RU", "primorye", "RU-PRI"),
        ("RU", "ru-pri", "RU-PRI"),
        ("RU", " Хабаровский край ", "RU-KHA"),
        ("RU", "Sakha (Yakutia) Republic", "RU-SA"),
        ("RU", "Еврейская автономная область", "RU-YEV"),
        ("RU", "滨海边疆区", "RU-PRI"),
        ("RU", "RU-MOW", "RU-MOW"),  # a code passes as it is
    ],
)
def test_known_names_and_codes(country, text, code):
    assert region_code(country, text) == code


@pytest.mark.parametrize(
    ("country", "text"),
    [
        ("RU", "Moscow"),  # not a region any lane is limited to: no guess
        ("RU", ""),
        ("RU", None),
        ("CN", "Primorye"),  # a Russian region is not a Chinese one
        ("CN", "RU-PRI"),
    ],
)
def test_unknown_or_foreign_regions_map_to_nothing(country, text):
    assert region_code(country, text) is None
