"""Merchant accounts, as operators keep them: register a merchant, issue and revoke its
API tokens (the CLI and the admin API call these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from catalog.models import Merchant
from catalog.money import is_currency_code
from shop.core.auth import ApiToken, issue_token, revoke_tokens
from shop.core.clock import utcnow
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_codes


@dataclass(frozen=True)
class NewMerchant:
    id: int
    name: str
    country: str
    currency: str
    token: str  # shown once; only its hash is stored


def _merchant_currency(country: str) -> str | None:
    """The currency a merchant of ``country`` prices in by default (pycountry has
    no country→currency map; Babel's CLDR does)."""
    from babel.numbers import get_territory_currencies

    currencies = get_territory_currencies(country, start_date=utcnow().date(), tender=True)
    return currencies[0] if currencies else None


def create_merchant(name: str, country: str, currency: str | None = None) -> NewMerchant:
    """Register a merchant and give it a first API token."""

    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name or len(name) > 200:
        errors["name"] = ["A name of 1 to 200 characters is required."]
    country = country.upper()
    if country not in country_codes():
        errors["country"] = [f"{country!r} is not an ISO 3166-1 alpha-2 country code."]
    currency = (
        currency or (_merchant_currency(country) if "country" not in errors else None) or ""
    ).upper()
    if "country" not in errors and not is_currency_code(currency):
        errors["currency"] = [f"{currency!r} is not an ISO 4217 currency code."]
    if errors:
        raise ValidationFailed(errors=errors)
    try:
        merchant = Merchant(name=name, country=country, currency=currency)
        db.session.add(merchant)
        db.session.flush()
        token = issue_token(merchant_id=merchant.id, label="cli")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return NewMerchant(merchant.id, merchant.name, merchant.country, merchant.currency, token)


def issue_merchant_token(merchant_id: int, label: str = "") -> str:
    """Another API token for a merchant (several may be active at once)."""

    if db.session.get(Merchant, merchant_id) is None:
        raise NotFound(f"No merchant {merchant_id}.")
    try:
        token = issue_token(merchant_id=merchant_id, label=label[:80])
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return token


def revoke_merchant_tokens(merchant_id: int, *, token_id: int | None = None) -> int:
    """Revoke one token of the merchant (by id) or all its active tokens."""

    if db.session.get(Merchant, merchant_id) is None:
        raise NotFound(f"No merchant {merchant_id}.")
    try:
        if token_id is None:
            count = revoke_tokens(merchant_id=merchant_id)
        else:
            token = db.session.scalar(
                select(ApiToken).where(
                    ApiToken.id == token_id,
                    ApiToken.merchant_id == merchant_id,
                    ApiToken.revoked_at.is_(None),
                )
            )
            if token is None:
                raise NotFound(f"Merchant {merchant_id} has no active token {token_id}.")
            token.revoked_at = datetime.now(UTC)
            count = 1
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return count
