"""Admin pages under /admin/ (the staff login, operators only)."""

from __future__ import annotations

from flask import Blueprint

admin_pages_bp = Blueprint("admin_pages", __name__, url_prefix="/admin")
