"""API tokens and one-time secrets as operators see them: never the secret itself
after the answer that hands it over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shop.core.auth import ApiToken, hash_token
from shop.core.clock import iso_utc
from shop.core.extensions import db


@dataclass(frozen=True)
class Issued:
    """Something made with a secret the caller sees once (a token, a password)."""

    document: dict[str, Any]
    token: str | None = None
    password: str | None = None


def token_json(token: ApiToken) -> dict[str, Any]:
    """A token as an operator may see it: never the token itself."""
    return {
        "id": token.id,
        "prefix": token.display_prefix,
        "label": token.label,
        "created_at": iso_utc(token.created_at),
        "last_used_at": iso_utc(token.last_used_at) if token.last_used_at else None,
        "revoked_at": iso_utc(token.revoked_at) if token.revoked_at else None,
    }


def token_row(token: str) -> ApiToken:
    """The row of a token just issued in this transaction."""
    db.session.flush()
    return db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).one()
