"""PRC resident identity card numbers (GB 11643-1999), as China's CBEC
real-name rule needs them: checked, shown masked, stored as a keyed hash.

The messages never repeat the number or the birth date in it: they end up
in logs and problem responses, and both are personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"  # indexed by the weighted sum mod 11
EARLIEST_BIRTH = date(1900, 1, 1)

# ASCII digits only: str.isdigit() would let full-width "１" or "²" through.
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


class InvalidIdNumber(ValueError):
    """Not a valid PRC resident ID number; the message tells the shopper why."""


def normalize_id(id_number: str) -> str:
    """Surrounding spaces dropped, the check character ``x`` upper-cased."""
    return (id_number or "").strip().upper()


def check_character(first_17_digits: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first_17_digits, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def validate_prc_id(id_number: str, today: date) -> str:
    """The normalized 18-character number, or InvalidIdNumber saying what is wrong.

    Checks the shape, the birth date (a real date, not before 1900, in the
    past) and the check character. The area code is not checked against the
    list of administrative divisions: codes of abolished divisions stay valid
    on old cards, and customs verifies name and number together anyway.
    """
    if not isinstance(id_number, str):
        raise InvalidIdNumber("The ID number must be text.")
    number = normalize_id(id_number)
    if len(number) != 18:
        raise InvalidIdNumber(
            f"A PRC resident ID number has 18 characters; this one has {len(number)}."
        )
    if not _SHAPE.fullmatch(number):
        raise InvalidIdNumber(
            "A PRC resident ID number is 17 digits followed by a digit or the letter X."
        )
    birth = number[6:14]
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        raise InvalidIdNumber(
            "The birth date in this ID number (characters 7 to 14) is not a real date."
        ) from None
    if born < EARLIEST_BIRTH:
        raise InvalidIdNumber("The birth date in this ID number is before 1900.")
    if born >= today:
        raise InvalidIdNumber("The birth date in this ID number is not in the past.")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber(
            "This ID number's last character does not match the others; "
            "check it for a mistyped digit."
        )
    return number


def mask_id(id_number: str) -> str:
    """``3702**********123X``: the first 4 and last 4 characters, the rest hidden.

    A string too short to keep 8 characters is hidden whole rather than shown.
    """
    number = normalize_id(id_number)
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def hash_id(id_number: str, secret: str) -> str:
    """HMAC-SHA256 (hex) of the normalized number keyed by ``secret``.

    Equal numbers give equal hashes, so orders of one buyer can be summed
    against the annual limit without keeping the number in clear; the key
    stops anyone with the table from hashing the billion possible numbers.
    """
    if not secret:
        raise ValueError("hash_id needs a non-empty secret")
    return hmac.new(
        secret.encode("utf-8"), normalize_id(id_number).encode("utf-8"), hashlib.sha256
    ).hexdigest()
