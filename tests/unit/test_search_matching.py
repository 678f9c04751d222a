from catalog.search import build_search_text, fold, like_pattern, matches, search_terms


def test_cyrillic_matches_whatever_the_case_and_yo():
    text = build_search_text(["Шоколад «Алёнка» молочный"])
    assert matches(text, "АЛЕНКА")
    assert matches(text, "алёнка")
    assert matches(text, "шоколад аленка")


def test_chinese_matches_a_substring_without_spaces():
    text = build_search_text(["爱莲巧牛奶巧克力"])
    assert matches(text, "巧克力")
    assert not matches(text, "蜂蜜")


def test_full_width_latin_from_chinese_keyboards_is_folded():
    assert fold("ＡＬＥＮＫＡ") == "alenka"


def test_all_terms_must_match():
    text = build_search_text(["Altai honey", "Алтайский мёд"])
    assert matches(text, "altai мед")
    assert not matches(text, "altai buckwheat")


def test_terms_are_bounded_in_number_and_length():
    assert len(search_terms(" ".join(["word"] * 20))) == 8
    assert len(search_terms("x" * 500)[0]) == 64
    assert search_terms("   ") == []


def test_like_wildcards_in_a_query_are_literal():
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"
