"""The audit log page: newest first, filtered by action, target and time."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, render_template, request

from shop.admin.pages import admin_pages_bp
from shop.admin.pages.forms import page_number
from shop.core.audit import list_entries

AUDIT_FILTERS = ("action", "target_type", "target_id", "since", "until")


@admin_pages_bp.get("/audit/")
def audit():
    """The audit log, newest first, with filters."""
    filters = {name: (request.args.get(name) or "").strip() for name in AUDIT_FILTERS}
    moments: dict[str, datetime | None] = {}
    problems = []
    for name in ("since", "until"):
        moments[name] = None
        if filters[name]:
            try:
                moment = datetime.fromisoformat(filters[name])
            except ValueError:
                problems.append(f"{name}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC).")
                continue
            moments[name] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    listing = list_entries(
        page=page_number(), per_page=50,
        action=filters["action"] or None, target_type=filters["target_type"] or None,
        target_id=filters["target_id"] or None, since=moments["since"], until=moments["until"],
    )  # fmt: skip
    for problem in problems:
        flash(problem, "error")
    return render_template("admin/audit.html", listing=listing, filters=filters)
