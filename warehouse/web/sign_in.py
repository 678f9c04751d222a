"""Signing staff in to the pages: passwords checked, failures throttled per (e-mail,
address), per address and per e-mail; sessions ended everywhere; a session's staff
member found again. Use cases, each one transaction; no request objects.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from shop.core.auth import StaffPrincipal, hash_password, password_matches
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse.models import LoginAttempt, Node, Staff

log = logging.getLogger(__name__)

THROTTLE_WINDOW = timedelta(minutes=15)
# Per e-mail *and* address: guessing one account from one place stops soon, but a
# stranger failing on someone's e-mail cannot lock them out of their own PC.
MAX_FAILURES_PER_EMAIL_AND_ADDRESS = 5
# Higher than per e-mail: a depot's PCs share one address behind its router.
MAX_FAILURES_PER_ADDRESS = 20
# One account guessed at from many addresses: still slowed, far above a person's typos.
MAX_FAILURES_PER_EMAIL = 50
# Attempts older than this are deleted as new ones come in: the table only
# serves the throttle (and a day of history for whoever looks at an attack).
LOGIN_ATTEMPT_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class SignIn:
    """What became of a login attempt: the staff member, or why not."""

    staff_id: int | None = None
    session_epoch: int = 0
    refused: str | None = None  # bad_credentials | account_disabled | throttled
    retry_after: int = 0  # seconds, when throttled


def as_aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DUMMY_HASH: list[str] = []


def _dummy_password_hash() -> str:
    # Checked against when the e-mail is unknown, so that an unknown address
    # takes as long to refuse as a wrong password (no account discovery by timing).
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("not-a-password-anyone-has"))
    return _DUMMY_HASH[0]


def throttle_wait(email: str, remote_addr: str, now: datetime) -> int:
    """Seconds until another attempt for ``email`` from ``remote_addr`` is allowed (0: now).

    Failures count within a sliding window, under three limits: per (e-mail,
    address), per address, and per e-mail from anywhere. The low per-e-mail limit
    is tied to the address so that failures from elsewhere never lock the owner out
    of their own PC. A successful login for the e-mail resets the e-mail's counts
    (but not the address's: an attacker with one account of their own must not be
    able to reset the address limit).
    """
    window_start = now - THROTTLE_WINDOW
    last_success = db.session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email,
            LoginAttempt.succeeded.is_(True),
            LoginAttempt.at > window_start,
        )
    )
    email_since = max(window_start, as_aware(last_success)) if last_success else window_start
    waits = [0]
    same_email = LoginAttempt.email == email
    same_address = LoginAttempt.remote_addr == remote_addr
    for matches, since, limit in (
        (same_email & same_address, email_since, MAX_FAILURES_PER_EMAIL_AND_ADDRESS),
        (same_address, window_start, MAX_FAILURES_PER_ADDRESS),
        (same_email, email_since, MAX_FAILURES_PER_EMAIL),
    ):
        recent = db.session.scalars(
            select(LoginAttempt.at)
            .where(matches, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
            .order_by(LoginAttempt.at.desc())
            .limit(limit)
        ).all()
        if len(recent) >= limit:
            # Allowed again once the oldest of the last ``limit`` failures leaves the window.
            frees_at = as_aware(recent[-1]) + THROTTLE_WINDOW
            waits.append(max(1, math.ceil((frees_at - now).total_seconds())))
    return max(waits)


def sign_in_staff(email: str, password: str, remote_addr: str) -> SignIn:
    """Check a staff member's e-mail and password, throttled; every checked attempt is kept.

    A throttled attempt is refused before the password is looked at, and is not
    recorded: the Retry-After it gets stays true. (Two attempts racing past the
    count may both be checked; the limit is a brake on guessing, not a quota.)
    """
    email = email.strip().lower()[:254]
    remote_addr = (remote_addr or "unknown")[:64]
    now = utcnow()
    try:
        wait = throttle_wait(email, remote_addr, now)
        if wait:
            db.session.rollback()
            log.warning("staff login throttled for %r from %s", email, remote_addr)
            return SignIn(refused="throttled", retry_after=wait)
        staff = db.session.scalar(select(Staff).where(Staff.email == email)) if email else None
        if staff is None:
            password_matches(_dummy_password_hash(), password)
            outcome = SignIn(refused="bad_credentials")
        elif not password_matches(staff.password_hash, password):
            outcome = SignIn(refused="bad_credentials")
        elif not staff.is_active:
            # Said only to whoever knows the password: the account exists, ask why.
            outcome = SignIn(refused="account_disabled")
        else:
            outcome = SignIn(staff_id=staff.id, session_epoch=staff.session_epoch)
        db.session.add(
            LoginAttempt(
                email=email,
                remote_addr=remote_addr,
                succeeded=outcome.staff_id is not None,
                at=now,
            )
        )
        db.session.execute(
            delete(LoginAttempt).where(LoginAttempt.at < now - LOGIN_ATTEMPT_RETENTION)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if outcome.refused:
        log.info("staff login refused (%s) for %r from %s", outcome.refused, email, remote_addr)
    return outcome


def end_all_sessions(staff_id: int) -> None:
    """Log a staff member out everywhere: every session cookie carries the old epoch."""
    try:
        db.session.execute(
            update(Staff)
            .where(Staff.id == staff_id)
            .values(session_epoch=Staff.session_epoch + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def staff_of_session(staff_id: Any, epoch: Any) -> tuple[StaffPrincipal, str] | None:
    """The principal (and e-mail) behind a page session, or None when the session no
    longer stands: unknown or disabled staff, or an epoch bumped since login."""
    if not isinstance(staff_id, int):
        return None
    found = db.session.execute(
        select(Staff, Node.code)
        .outerjoin(Node, Node.id == Staff.node_id)
        .where(Staff.id == staff_id)
    ).first()
    if found is None:
        return None
    staff, node_code = found
    if not staff.is_active or staff.session_epoch != epoch:
        return None
    principal = StaffPrincipal(
        staff.id, staff.node_id, node_code, staff.role, None, f"staff:{staff.id}"
    )
    return principal, staff.email
