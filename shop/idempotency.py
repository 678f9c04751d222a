"""Idempotency-Key for writes that move money or stock (orders, cancel, mark-paid).

The first request with a key claims it (a row committed before the work
starts; the unique constraint makes the claim atomic on PostgreSQL and
SQLite alike). Later requests with that key:

- same body, first one finished: the first response, replayed byte for byte
  (``Idempotent-Replayed: true``);
- same body, first one still running: wait for it (up to
  ``IDEMPOTENCY_WAIT_SECONDS``), then replay, or 409 if it is still running;
- a different body: 422, the key belongs to another request.

Only successful (2xx) responses are kept; a failed request gives its key
back, so the shopper can fix the problem and retry with the same key. Keys
are kept 24 hours, like Stripe's.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from functools import wraps

from flask import Response, current_app, request
from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import as_utc, utcnow
from shop.errors import Conflict, DomainError
from shop.extensions import db

KEEP_FOR = timedelta(hours=24)
HEADER = "Idempotency-Key"
REPLAYED_HEADERS = ("Location", "Content-Type")


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who and what: method, route and a hash of the caller's credentials, so two
    # shoppers who pick the same key never see each other's responses.
    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="started")  # started | done
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency-Key already used for another request"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "A request with this Idempotency-Key is still running"


class InvalidIdempotencyKey(DomainError):
    status = 400
    code = "invalid_idempotency_key"
    title = "Invalid Idempotency-Key"


def idempotent(view):
    """Make a view replay-safe when the client sends ``Idempotency-Key``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise InvalidIdempotencyKey(
                "Idempotency-Key must be 1 to 255 printable characters.",
                errors={HEADER: ["1 to 255 printable characters, e.g. a UUID."]},
            )
        scope = _scope()
        fingerprint = hashlib.sha256(request.get_data()).hexdigest()
        record_id = _claim_or_replay(scope, key, fingerprint)
        if isinstance(record_id, Response):
            return record_id
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            _give_back(record_id)
            raise
        if 200 <= response.status_code < 300:
            _keep(record_id, response)
        else:
            _give_back(record_id)
        return response

    return wrapper


def purge_expired(now: datetime | None = None) -> int:
    """Forget keys older than 24 hours; returns how many."""
    removed = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < (now or utcnow()))
    ).rowcount
    db.session.commit()
    return removed


def _scope() -> str:
    credentials = (
        request.headers.get("Authorization")
        or request.headers.get("X-Order-Token")
        or request.args.get("token")
        or ""
    )
    who = hashlib.sha256(credentials.encode()).hexdigest()[:16]
    return f"{request.method} {request.path} {who}"[:200]


def _claim_or_replay(scope: str, key: str, fingerprint: str) -> int | Response:
    wait = float(current_app.config.get("IDEMPOTENCY_WAIT_SECONDS", 10))
    deadline = time.monotonic() + wait
    db.session.rollback()  # claim in a transaction of its own
    while True:
        now = utcnow()
        record = IdempotencyRecord(
            scope=scope, key=key, request_hash=fingerprint, expires_at=now + KEEP_FOR
        )
        db.session.add(record)
        try:
            db.session.commit()
            return record.id
        except IntegrityError:
            db.session.rollback()
        existing = db.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
        if existing is None:
            continue  # given back between our insert and our read: claim again
        if as_utc(existing.expires_at) < now:
            db.session.delete(existing)
            db.session.commit()
            continue
        if existing.request_hash != fingerprint:
            db.session.rollback()
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request body. "
                "Use a new key for a new request.",
                errors={HEADER: ["Already used with a different body."]},
            )
        if existing.state == "done":
            replay = _replay(existing)
            db.session.rollback()
            return replay
        db.session.rollback()
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress(
                "The first request with this Idempotency-Key has not finished yet; "
                "retry in a moment with the same key.",
                headers={"Retry-After": "1"},
            )
        time.sleep(0.05)


def _replay(record: IdempotencyRecord) -> Response:
    headers = dict(
        line.split(": ", 1) for line in (record.response_headers or "").splitlines() if line
    )
    response = Response(record.response_body or "", status=record.response_status)
    for name, value in headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _keep(record_id: int, response: Response) -> None:
    db.session.rollback()
    record = db.session.get(IdempotencyRecord, record_id)
    if record is None:
        return
    record.state = "done"
    record.response_status = response.status_code
    record.response_body = response.get_data(as_text=True)
    record.response_headers = "\n".join(
        f"{name}: {response.headers[name]}" for name in REPLAYED_HEADERS if name in response.headers
    )
    db.session.commit()


def _give_back(record_id: int) -> None:
    db.session.rollback()
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    db.session.commit()
