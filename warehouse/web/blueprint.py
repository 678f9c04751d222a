"""The staff pages' blueprint, and how long a page session lasts (one shift)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint

web_bp = Blueprint("warehouse_pages", __name__, url_prefix="/warehouse")
# Where the login may send its user back to: these pages and the admin pages.
PAGES_AFTER_LOGIN = ("/warehouse/", "/admin/")

SESSION_LIFETIME = timedelta(hours=12)  # one shift


@web_bp.record_once
def _configure(state) -> None:
    app = state.app
    # Flask's default is 31 days; a staff page session should not outlive a
    # shift. An operator who set the lifetime explicitly keeps theirs.
    if app.config["PERMANENT_SESSION_LIFETIME"] == app.default_config["PERMANENT_SESSION_LIFETIME"]:
        app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
