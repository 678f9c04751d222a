"""Admin pages for reports."""

from __future__ import annotations

from flask import Blueprint

reports_pages_bp = Blueprint("admin_reports_pages", __name__, url_prefix="/admin/reports")
