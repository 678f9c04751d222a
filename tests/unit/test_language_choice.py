import pytest

from shop.core.i18n import (
    UnsupportedLanguage,
    choose_language,
    country_name,
    normalize_language_tag,
)


def test_explicit_language_wins_over_the_header():
    assert choose_language("ru", "zh-CN,zh;q=0.9") == "ru"


@pytest.mark.parametrize(
    ("tag", "lang"), [("zh-CN", "zh"), ("zh_Hans", "zh"), ("RU-ru", "ru"), ("en-GB", "en")]
)
def test_region_and_script_tags_reduce_to_the_language(tag, lang):
    assert normalize_language_tag(tag) == lang


def test_unknown_explicit_language_is_an_error_not_a_silent_fallback():
    with pytest.raises(UnsupportedLanguage):
        choose_language("fr", None)


def test_accept_language_picks_the_best_supported_language():
    assert choose_language(None, "de-DE,de;q=0.9,ru;q=0.8,en;q=0.5") == "ru"
    assert choose_language(None, "zh-TW;q=0.3, en;q=0.9") == "en"


def test_header_with_nothing_supported_falls_back_to_english():
    assert choose_language(None, "de, fr;q=0.8") == "en"
    assert choose_language(None, None) == "en"
    assert choose_language(None, "ru;q=0") == "en"


def test_country_names_come_localized_from_cldr():
    assert country_name("KZ", "ru") == "Казахстан"
    assert country_name("RU", "zh") == "俄罗斯"
    assert country_name("UZ", "en") == "Uzbekistan"
