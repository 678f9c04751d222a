"""Merchant accounts, as operators keep them: register a merchant, issue and revoke its
API tokens (the CLI calls these), and the merchant as the audit records it (the CLI
and the admin API alike).

Each change is audited in its own transaction, under the ``actor`` the caller names
(``cli:<user>`` from the shell); ``actor=None`` is for building a world in tests and
benchmarks, which nobody audits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from catalog.models import Merchant
from catalog.money import is_currency_code
from shop.core import audit
from shop.core.auth import ApiToken, StaffPrincipal, issue_token, token_json, token_row
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.i18n import country_codes

Actor = StaffPrincipal | str | None


def merchant_json(merchant: Merchant) -> dict[str, Any]:
    """A merchant as operators see it (and as the audit records it)."""
    return {
        "id": merchant.id,
        "name": merchant.name,
        "country": merchant.country,
        "currency": merchant.currency,
        "status": "active" if merchant.is_active else "suspended",
        "is_demo": merchant.is_demo,
        "created_at": iso_utc(merchant.created_at),
    }


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


def create_merchant(
    name: str, country: str, currency: str | None = None, *, actor: Actor = None
) -> NewMerchant:
    """Register a merchant and give it a first API token; audited as ``merchant.create``."""

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
        if actor is not None:
            audit.record(
                actor, "merchant.create", "merchant", merchant.id, after=merchant_json(merchant)
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return NewMerchant(merchant.id, merchant.name, merchant.country, merchant.currency, token)


def issue_merchant_token(merchant_id: int, label: str = "", *, actor: Actor = None) -> str:
    """Another API token for a merchant (several may be active at once); audited as
    ``merchant.token.issue`` with the token's prefix, never the token."""

    if db.session.get(Merchant, merchant_id) is None:
        raise NotFound(f"No merchant {merchant_id}.")
    try:
        token = issue_token(merchant_id=merchant_id, label=label[:80])
        if actor is not None:
            document = token_json(token_row(token))
            audit.record(actor, "merchant.token.issue", "merchant", merchant_id, after=document)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return token


def revoke_merchant_tokens(
    merchant_id: int, *, token_id: int | None = None, actor: Actor = None
) -> int:
    """Revoke one token of the merchant (by id) or all its active tokens; each audited
    as ``merchant.token.revoke`` with the token before and after, as the admin API
    audits one."""

    if db.session.get(Merchant, merchant_id) is None:
        raise NotFound(f"No merchant {merchant_id}.")
    try:
        query = select(ApiToken).where(
            ApiToken.merchant_id == merchant_id, ApiToken.revoked_at.is_(None)
        )
        if token_id is not None:
            query = query.where(ApiToken.id == token_id)
        tokens = db.session.scalars(query.order_by(ApiToken.id).with_for_update()).all()
        if token_id is not None and not tokens:
            raise NotFound(f"Merchant {merchant_id} has no active token {token_id}.")
        now = datetime.now(UTC)
        for token in tokens:
            before = token_json(token)
            token.revoked_at = now
            if actor is not None:
                audit.record(actor, "merchant.token.revoke", "merchant", merchant_id,
                             before=before, after=token_json(token))  # fmt: skip
        count = len(tokens)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return count
