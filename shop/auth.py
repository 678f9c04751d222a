"""API tokens for merchants and staff, and staff passwords.

Tokens are 256 random bits, so a plain SHA-256 is enough to store them
(nobody can guess one to test against the hash); passwords are low-entropy
and get Werkzeug's scrypt. Neither is ever stored or logged in clear.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from catalog.models import utcnow
from shop.extensions import db

MERCHANT_TOKEN_PREFIX = "pvm_"  # noqa: S105 - a public prefix
STAFF_TOKEN_PREFIX = "pvs_"  # noqa: S105 - a public prefix


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("(merchant_id IS NULL) <> (staff_id IS NULL)", name="exactly_one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in listings so an owner can tell tokens apart.
    display_prefix: Mapped[str] = mapped_column(String(12))
    label: Mapped[str] = mapped_column(String(80), default="")
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def issue_token(
    *, merchant_id: int | None = None, staff_id: int | None = None, label: str = ""
) -> str:
    """Add a token row to the session and return the clear token (shown once)."""
    token = new_token(MERCHANT_TOKEN_PREFIX if merchant_id else STAFF_TOKEN_PREFIX)
    db.session.add(
        ApiToken(
            token_hash=hash_token(token),
            display_prefix=token[:12],
            label=label,
            merchant_id=merchant_id,
            staff_id=staff_id,
        )
    )
    return token


def find_active_token(token: str) -> ApiToken | None:
    return db.session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )


def revoke_tokens(
    *, merchant_id: int | None = None, staff_id: int | None = None, label: str | None = None
) -> int:
    """Revoke an owner's active tokens (optionally only those with ``label``)."""
    query = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if merchant_id is not None:
        query = query.where(ApiToken.merchant_id == merchant_id)
    if staff_id is not None:
        query = query.where(ApiToken.staff_id == staff_id)
    if label is not None:
        query = query.where(ApiToken.label == label)
    tokens = db.session.scalars(query).all()
    for token in tokens:
        token.revoked_at = utcnow()
    return len(tokens)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def password_matches(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


def new_password() -> str:
    """A password a person can type: 4 groups of 5 letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))
