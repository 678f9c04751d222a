"""API tokens for merchants and staff, and staff passwords.

Tokens are 256 random bits, so a plain SHA-256 is enough to store them
(nobody can guess one to test against the hash); passwords are low-entropy
and get Werkzeug's scrypt. Neither is ever stored or logged in clear.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import request
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from shop.core.clock import iso_utc, utcnow
from shop.core.errors import DomainError
from shop.core.extensions import db

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


def token_json(token: ApiToken) -> dict[str, Any]:
    """A token as an operator may see it (and as the audit records it): never the
    token itself."""
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


# ------------------------------------------------------------ request auth

LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class MerchantPrincipal:
    """Who is calling the merchant API: services scope every read and write by it."""

    merchant_id: int
    token_id: int | None  # None for an operator at the CLI
    actor: str  # what the audit records, e.g. "token:12" or "cli"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str | None = None, **kwargs):
        super().__init__(detail, **kwargs)
        # RFC 6750: tell the client which scheme to use.
        self.extra.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="sco-pavilion"'})


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the API token as `Authorization: Bearer <token>`.")
    return token.strip()


def touch_token(token: ApiToken) -> None:
    # Write "last used" at most every few minutes: a read must not become a
    # write on every request.
    now = utcnow()
    if token.last_used_at is None or now - _aware(token.last_used_at) > LAST_USED_RESOLUTION:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        db.session.commit()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StaffPrincipal:
    """A staff member calling the staff API: pickers are scoped to their node."""

    staff_id: int
    node_id: int | None
    node_code: str | None
    role: str  # picker | operator
    token_id: int | None
    actor: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def token_summaries(merchant_id: int) -> list[dict[str, object]]:
    """A merchant's tokens as an operator may see them: never the token itself."""
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.merchant_id == merchant_id).order_by(ApiToken.id)
    )
    return [
        {
            "id": t.id,
            "prefix": t.display_prefix,
            "label": t.label,
            "created_at": t.created_at,
            "last_used_at": t.last_used_at,
            "revoked_at": t.revoked_at,
        }
        for t in rows
    ]
