"""CDEK's own currency codes: its calculator takes and answers an integer, not ISO."""

from __future__ import annotations

# CDEK's own currency codes (calculator ``currency``), from its SDK's constants.
CDEK_CURRENCY_CODES = {
    "RUB": 1, "KZT": 2, "USD": 3, "EUR": 4, "GBP": 5, "CNY": 6, "BYN": 7, "UAH": 8,
    "KGS": 9, "AMD": 10, "TRY": 11, "THB": 12, "KRW": 13, "AED": 14, "UZS": 15,
    "MNT": 16, "PLN": 17, "AZN": 18, "GEL": 19, "JPY": 55,
}  # fmt: skip
CURRENCY_BY_CDEK_CODE = {code: iso for iso, code in CDEK_CURRENCY_CODES.items()}
