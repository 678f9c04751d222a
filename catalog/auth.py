"""Who is calling the merchant API: the merchant behind a bearer token."""

from __future__ import annotations

from functools import wraps

from sqlalchemy import select

from catalog.models import Merchant
from shop.core.auth import (
    Forbidden,
    MerchantPrincipal,
    Unauthorized,
    bearer_token,
    find_active_token,
    touch_token,
)
from shop.core.extensions import db


def authenticate_merchant() -> MerchantPrincipal:
    """The merchant behind the request's bearer token, or 401/403."""
    token = find_active_token(bearer_token())
    if token is None:
        raise Unauthorized("The token is unknown or revoked.")
    if token.merchant_id is None:
        raise Forbidden("This endpoint takes a merchant token.")
    active = db.session.scalar(select(Merchant.is_active).where(Merchant.id == token.merchant_id))
    if not active:
        raise Unauthorized("The merchant account is suspended.")
    touch_token(token)
    return MerchantPrincipal(token.merchant_id, token.id, f"token:{token.id}")


def merchant_required(view):
    """Pass the calling merchant to the view as ``merchant`` (401 without a valid token)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        kwargs["merchant"] = authenticate_merchant()
        return view(*args, **kwargs)

    return wrapper
