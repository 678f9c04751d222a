"""Admin pages for customs order records."""

from __future__ import annotations

from flask import Blueprint

customs_pages_bp = Blueprint("admin_customs_pages", __name__, url_prefix="/admin/customs")
