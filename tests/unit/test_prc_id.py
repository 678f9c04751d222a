from datetime import date

import pytest

from orders.customs.prc_id import InvalidIdNumber, hash_id, mask_id, validate_prc_id

TODAY = date(2026, 11, 1)

# GB 11643-1999 example. Weighted sum of the first 17 digits
# 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2 with weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
# 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2; "10X98765432"[2] = "X".
VALID = "11010519491231002X"


def test_the_standard_example_passes():
    assert validate_prc_id(VALID, TODAY) == VALID


def test_lower_case_x_and_surrounding_spaces_are_normalized():
    assert validate_prc_id(" 11010519491231002x ", TODAY) == VALID


def test_a_wrong_check_character_is_refused():
    with pytest.raises(InvalidIdNumber, match="last character does not match"):
        validate_prc_id("110105194912310021", TODAY)


def test_a_mistyped_digit_is_caught_by_the_checksum():
    # One digit changed (sequence 002 -> 003): sum 167 + 2 = 169, 169 mod 11 = 4 -> "8", not "X".
    with pytest.raises(InvalidIdNumber, match="last character"):
        validate_prc_id("11010519491231003X", TODAY)


@pytest.mark.parametrize("number", ["11010519491231002", "11010519491231002X1", ""])
def test_a_number_of_the_wrong_length_is_refused(number):
    with pytest.raises(InvalidIdNumber, match="18 characters"):
        validate_prc_id(number, TODAY)


@pytest.mark.parametrize(
    "number",
    [
        "1101051949123100AX",  # a letter among the digits
        "X10105194912310021",  # X anywhere but last
        "１1010519491231002X",  # full-width digit: str.isdigit() would accept it
    ],
)
def test_anything_but_17_digits_and_a_digit_or_x_is_refused(number):
    with pytest.raises(InvalidIdNumber, match="17 digits followed by a digit or the letter X"):
        validate_prc_id(number, TODAY)


def test_an_impossible_birth_date_is_refused_even_with_a_matching_check_character():
    # 1949-02-30: sum 7+9+0+5+0+20+2+9+24+27+0+18+30+0+0+0+4 = 155, mod 11 = 1 -> "0",
    # so only the date is wrong.
    with pytest.raises(InvalidIdNumber, match="not a real date"):
        validate_prc_id("110105194902300020", TODAY)


def test_a_birth_date_in_the_future_is_refused():
    # 2099-01-01: sum 144, mod 11 = 1 -> "0": the checksum is right, the date is not.
    with pytest.raises(InvalidIdNumber, match="not in the past"):
        validate_prc_id("110105209901010020", TODAY)


def test_a_birth_date_before_1900_is_refused():
    # 1899-12-31: sum 196, mod 11 = 9 -> "3".
    with pytest.raises(InvalidIdNumber, match="before 1900"):
        validate_prc_id("110105189912310023", TODAY)


def test_messages_do_not_repeat_the_number():
    with pytest.raises(InvalidIdNumber) as caught:
        validate_prc_id("110105194912310021", TODAY)
    assert "1101" not in str(caught.value)


def test_mask_keeps_the_first_and_last_four():
    # 37020219800101123 -> sum 197, mod 11 = 10 -> "2"; masked as DOMAIN.md shows.
    assert mask_id("370202198001011232") == "3702**********1232"
    assert mask_id("11010519491231002x") == "1101**********002X"


def test_mask_hides_a_string_too_short_to_keep_eight_characters():
    assert mask_id("1234567") == "*******"


def test_hash_is_keyed_and_ignores_case_of_x():
    first = hash_id(VALID, "secret-a")
    assert first == hash_id("11010519491231002x", "secret-a")
    assert first != hash_id(VALID, "secret-b")
    assert len(first) == 64
    assert VALID not in first


def test_hash_refuses_an_empty_secret():
    with pytest.raises(ValueError, match="secret"):
        hash_id(VALID, "")
