"""The audit log: who changed what, when, with the state before and after.

Write and read it here.

``record`` adds the entry to the current session and does not commit: the
service that makes the change commits both together, so there is never a
change without its entry, nor an entry for a change that was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context
from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc, utcnow
from shop.core.extensions import db
from shop.core.paging import one_page


class AuditEntry(db.Model):
    """One operator action. Rows are only ever added, never changed or deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # The staff member who acted (NULL for the CLI, where ``actor`` says "cli").
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80), index=True)  # e.g. merchant.suspend
    target_type: Mapped[str] = mapped_column(String(40))  # merchant | staff | node | ...
    target_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))


MAX_PAGE_SIZE = 200
_DEFERRED_AFTER = "pavilion.audit_deferred_after"


def record(
    actor: StaffPrincipal | str,
    action: str,
    target_type: str,
    target_id: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
) -> AuditEntry:
    """Audit one action by ``actor`` (a staff principal, or a label such as ``"cli"``).

    ``before``/``after`` must be JSON-ready and must not hold secrets (no
    tokens, no password hashes, ID numbers only masked).

    ``after`` may be a function: it is called just before the session commits, for
    a change made by a service that commits itself (``warehouse.services.update_lane``,
    shared with the CLI), so the entry still holds the state that was committed,
    in the same transaction.
    """
    deferred_after = after if callable(after) else None
    if deferred_after is not None:
        after = None
    if isinstance(actor, StaffPrincipal):
        staff_id, label = actor.staff_id, actor.actor
    else:
        staff_id, label = None, str(actor)
    entry = AuditEntry(
        staff_id=staff_id,
        actor=label,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        request_id=g.get("request_id") if has_request_context() else None,
    )
    db.session.add(entry)
    if deferred_after is not None:
        db.session.info.setdefault(_DEFERRED_AFTER, []).append((entry, deferred_after))
    return entry


@event.listens_for(Session, "before_commit")
def _fill_deferred_after(session: Session) -> None:
    for entry, snapshot in session.info.pop(_DEFERRED_AFTER, []):
        entry.after = snapshot()
        if entry.after == entry.before:
            # Saved as it was (a form sent back unchanged): no change, no entry, as
            # for the services that compare before and after themselves. An entry
            # already flushed is taken back inside the transaction nobody saw yet.
            if entry in session.new:
                session.expunge(entry)
            else:
                session.delete(entry)


@event.listens_for(Session, "after_soft_rollback")
def _drop_deferred_after(session: Session, previous_transaction) -> None:
    session.info.pop(_DEFERRED_AFTER, None)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso_utc(entry.at),
        "staff_id": entry.staff_id,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "request_id": entry.request_id,
    }


def list_entries(
    *,
    page: int = 1,
    per_page: int = 50,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Newest first, filtered; one page."""
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == str(target_id))
    # In UTC, as stored: SQLite compares the text and would ignore another offset.
    if since:
        query = query.where(AuditEntry.at >= since.astimezone(UTC))
    if until:
        query = query.where(AuditEntry.at < until.astimezone(UTC))
    return one_page(
        query.order_by(AuditEntry.id.desc()),
        entry_json,
        page=page,
        per_page=per_page,
        max_per_page=MAX_PAGE_SIZE,
    )
