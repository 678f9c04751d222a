"""The audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import utcnow
from shop.extensions import db


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


# The customs package keeps the rows operators add beside its parsers; importing it
# here puts the table in the metadata with the admin's own (app.py loads this module).
from orders.customs.policy_rows import CustomsPolicyRow  # noqa: E402

__all__ = ["AuditEntry", "CustomsPolicyRow"]
