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

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from flask import Response, current_app, g, has_request_context, request
from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.clock import as_utc, utcnow
from shop.core.errors import Conflict, DomainError
from shop.core.extensions import db

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
    # What the first request created, written in the same transaction as it (e.g. the
    # order number): if that request then fails, a retry answers from it instead of
    # creating a second one.
    resource: Mapped[str | None] = mapped_column(String(64))
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


@dataclass(frozen=True)
class Claim:
    record_id: int
    scope: str
    key: str


def idempotent(view=None, *, recover=None, secret_fields=(), key_from=None, body_from=None):
    """Make a view replay-safe when the client sends ``Idempotency-Key``.

    ``recover(resource)`` rebuilds the response when the first request committed its
    work (``mark_committed``) and then failed before answering; ``secret_fields`` are
    top-level response fields not stored (a token): a replay fills them again from
    ``derived_secret``, which gives the same value for the same claim.

    A browser form cannot send a header: ``key_from()`` reads the key from elsewhere
    (a hidden field), and ``body_from()`` gives the bytes that identify the request
    (a parsed form is no longer in ``request.get_data()``). Such a view may answer
    with a redirect: its key is kept while its work is, and a repeat is answered by
    ``recover`` (which can set cookies a stored response could not replay).
    """
    if view is None:
        return lambda v: idempotent(
            v, recover=recover, secret_fields=secret_fields, key_from=key_from, body_from=body_from
        )

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = key_from() if key_from is not None else request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise InvalidIdempotencyKey(
                "Idempotency-Key must be 1 to 255 printable characters.",
                errors={HEADER: ["1 to 255 printable characters, e.g. a UUID."]},
            )
        scope = _scope()
        body = body_from() if body_from is not None else request.get_data()
        fingerprint = hashlib.sha256(body).hexdigest()
        claimed = _claim_or_replay(scope, key, fingerprint, recover, secret_fields)
        if isinstance(claimed, Response):
            return claimed
        g.idempotency = Claim(claimed, scope, key)
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            recovered = _recover(claimed, recover, secret_fields)
            if recovered is not None:
                return recovered
            _give_back(claimed)
            raise
        if 200 <= response.status_code < 300:
            _keep(claimed, response, secret_fields)
        else:
            _give_back(claimed)
        return response

    return wrapper


def mark_committed(resource: str) -> None:
    """Record, in the caller's transaction, what this idempotent request created."""
    claim = g.get("idempotency") if has_request_context() else None
    if claim is not None:
        db.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == claim.record_id)
            .values(resource=resource[:64])
            .execution_options(synchronize_session=False)
        )


def derived_secret(purpose: str) -> str | None:
    """A secret bound to this request's claim (None without an Idempotency-Key): the same
    on every replay, unguessable without SECRET_KEY and the client's key."""
    claim = g.get("idempotency") if has_request_context() else None
    if claim is None:
        return None
    message = f"{purpose}\n{claim.scope}\n{claim.key}\n{claim.record_id}".encode()
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


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


def _claim_or_replay(scope, key, fingerprint, recover, secret_fields) -> int | Response:
    wait = float(current_app.config.get("IDEMPOTENCY_WAIT_SECONDS", 10))
    lease = timedelta(seconds=float(current_app.config.get("IDEMPOTENCY_LEASE_SECONDS", 120)))
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
            g.idempotency = Claim(existing.id, scope, key)
            replay = _replay(existing, secret_fields)
            db.session.rollback()
            return replay
        if existing.resource is not None:
            # The first request committed its work: answer from it (reading is harmless
            # even if that request is still building its own answer).
            record_id = existing.id
            db.session.rollback()
            recovered = _recover(record_id, recover, secret_fields, scope=scope, key=key)
            if recovered is not None:
                return recovered
        if as_utc(existing.created_at) + lease < now:
            # The first request died (a killed worker): finish from what it committed,
            # or, if it committed nothing, take the key over.
            record_id = existing.id
            db.session.rollback()
            recovered = _recover(record_id, recover, secret_fields, scope=scope, key=key)
            if recovered is not None:
                return recovered
            db.session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == record_id, IdempotencyRecord.state == "started"
                )
            )
            db.session.commit()
            continue
        db.session.rollback()
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress(
                "The first request with this Idempotency-Key has not finished yet; "
                "retry in a moment with the same key.",
                headers={"Retry-After": "1"},
            )
        time.sleep(0.05)


def _recover(record_id, recover, secret_fields, *, scope=None, key=None) -> Response | None:
    """The first request's work was committed (its resource is recorded): answer from it."""
    db.session.rollback()
    resource = db.session.scalar(
        select(IdempotencyRecord.resource).where(IdempotencyRecord.id == record_id)
    )
    db.session.rollback()
    if resource is None or recover is None:
        return None
    if scope is not None:
        g.idempotency = Claim(record_id, scope, key)
    response = current_app.make_response(recover(resource))
    if 200 <= response.status_code < 300:
        _keep(record_id, response, secret_fields)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _replay(record: IdempotencyRecord, secret_fields=()) -> Response:
    headers = dict(
        line.split(": ", 1) for line in (record.response_headers or "").splitlines() if line
    )
    body = record.response_body or ""
    if secret_fields and body:
        document = json.loads(body)
        restored = {name: derived_secret(name) for name in secret_fields}
        body = json.dumps({**restored, **document}, ensure_ascii=False)
    response = Response(body, status=record.response_status)
    for name, value in headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _keep(record_id: int, response: Response, secret_fields=()) -> None:
    db.session.rollback()
    record = db.session.get(IdempotencyRecord, record_id)
    if record is None:
        return
    body = response.get_data(as_text=True)
    if secret_fields:
        # Secrets are not kept at rest: a replay derives them again.
        document = json.loads(body)
        body = json.dumps({k: v for k, v in document.items() if k not in secret_fields},
                          ensure_ascii=False)  # fmt: skip
    record.state = "done"
    record.response_status = response.status_code
    record.response_body = body
    record.response_headers = "\n".join(
        f"{name}: {response.headers[name]}" for name in REPLAYED_HEADERS if name in response.headers
    )
    db.session.commit()


def _give_back(record_id: int) -> None:
    """Free the key of a request that did not succeed; but a request whose work was
    committed (``mark_committed``) keeps it, so a repeat answers from that work
    instead of doing it twice."""
    db.session.rollback()
    db.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.id == record_id, IdempotencyRecord.resource.is_(None)
        )
    )
    db.session.commit()
