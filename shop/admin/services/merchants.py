"""Operators' use cases for merchants: onboarding, suspending, and their API tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from catalog.merchants import merchant_json
from catalog.models import Merchant, Product
from catalog.money import is_currency_code
from shop.admin.services.tokens import Issued
from shop.admin.services.transaction import MAX_PER_PAGE, count_rows, in_transaction
from shop.core import audit
from shop.core.auth import ApiToken, StaffPrincipal, issue_token, token_json, token_row
from shop.core.clock import utcnow
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.paging import one_page


def _merchant_listing_json(merchant: Merchant) -> dict[str, Any]:
    return {
        **merchant_json(merchant),
        "products": count_rows(Product, Product.merchant_id == merchant.id),
        "active_tokens": count_rows(
            ApiToken, ApiToken.merchant_id == merchant.id, ApiToken.revoked_at.is_(None)
        ),
    }


def list_merchants(
    *, page: int = 1, per_page: int = 50, status: str | None = None, q: str | None = None
) -> dict[str, Any]:
    """Merchants by name, optionally only ``active`` or ``suspended`` ones or matching ``q``."""
    query = select(Merchant).order_by(Merchant.name, Merchant.id)
    if status:
        query = query.where(Merchant.is_active.is_(status == "active"))
    if q:
        query = query.where(func.lower(Merchant.name).contains(q.strip().lower(), autoescape=True))
    return one_page(
        query, _merchant_listing_json, page=page, per_page=per_page, max_per_page=MAX_PER_PAGE
    )


def _merchant(merchant_id: int) -> Merchant:
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound(f"No merchant {merchant_id}.")
    return merchant


def get_merchant(merchant_id: int) -> dict[str, Any]:
    """A merchant with its tokens (prefixes only) and counts."""
    merchant = _merchant(merchant_id)
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.merchant_id == merchant_id).order_by(ApiToken.id)
    )
    return {**_merchant_listing_json(merchant), "tokens": [token_json(t) for t in tokens]}


def _default_currency(country: str) -> str | None:
    # The currency the country's shops price in (CLDR through Babel, not a hand table).
    from babel.numbers import get_territory_currencies

    found = get_territory_currencies(country, start_date=datetime.now(UTC).date(), tender=True)
    return found[0] if found else None


def create_merchant(
    operator: StaffPrincipal,
    name: str,
    country: str,
    currency: str | None = None,
    *,
    with_token: bool = True,
) -> Issued:
    """Onboard a merchant; with a first API token (shown once) unless told not to."""
    from shop.core.i18n import country_codes

    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = ["A name of 1 to 200 characters is required."]
    country = (country or "").strip().upper()
    if country not in country_codes():
        errors["country"] = [f"{country!r} is not an ISO 3166-1 alpha-2 country code."]
    elif not currency:
        currency = _default_currency(country)
    currency = (currency or "").strip().upper()
    if "country" not in errors and not is_currency_code(currency):
        errors["currency"] = [f"{currency!r} is not an ISO 4217 currency code."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> Issued:
        merchant = Merchant(name=name, country=country, currency=currency, is_active=True)
        db.session.add(merchant)
        db.session.flush()
        token = issue_token(merchant_id=merchant.id, label="admin") if with_token else None
        audit.record(
            operator, "merchant.create", "merchant", merchant.id, after=merchant_json(merchant)
        )
        return Issued(merchant_json(merchant), token=token)

    return in_transaction(work)


def set_merchant_active(
    operator: StaffPrincipal, merchant_id: int, active: bool, reason: str = ""
) -> dict[str, Any]:
    """Suspend or reactivate a merchant.

    Suspended: its tokens are refused (shop.core.auth) and its products leave the
    storefront and the catalog API (catalog.services reads only active merchants);
    orders already placed are not touched and ship or cancel as usual. Asking for
    the state a merchant is already in changes nothing and audits nothing.
    """

    def work() -> dict[str, Any]:
        merchant = db.session.scalar(
            select(Merchant).where(Merchant.id == merchant_id).with_for_update()
        )
        if merchant is None:
            raise NotFound(f"No merchant {merchant_id}.")
        if merchant.is_active == active:
            return merchant_json(merchant)
        before = merchant_json(merchant)
        merchant.is_active = active
        after = merchant_json(merchant)
        if reason:
            after["reason"] = reason[:500]
        action = "merchant.reactivate" if active else "merchant.suspend"
        audit.record(operator, action, "merchant", merchant.id, before=before, after=after)
        return merchant_json(merchant)

    return in_transaction(work)


def issue_merchant_token(operator: StaffPrincipal, merchant_id: int, label: str = "") -> Issued:
    """Another API token for a merchant (shown once; several may be active)."""

    def work() -> Issued:
        _merchant(merchant_id)
        token = issue_token(merchant_id=merchant_id, label=(label or "admin")[:80])
        document = token_json(token_row(token))
        audit.record(operator, "merchant.token.issue", "merchant", merchant_id, after=document)
        return Issued(document, token=token)

    return in_transaction(work)


def revoke_merchant_token(operator: StaffPrincipal, merchant_id: int, token_id: int):
    """Revoke one of a merchant's tokens; it is refused from the next request on."""

    def work() -> dict[str, Any]:
        _merchant(merchant_id)
        token = db.session.scalar(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.merchant_id == merchant_id)
        )
        if token is None:
            raise NotFound(f"Merchant {merchant_id} has no token {token_id}.")
        if token.revoked_at is not None:
            return token_json(token)
        before = token_json(token)
        token.revoked_at = utcnow()
        after = token_json(token)
        audit.record(
            operator, "merchant.token.revoke", "merchant", merchant_id, before=before, after=after
        )
        return after

    return in_transaction(work)
