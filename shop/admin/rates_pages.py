"""Admin pages for exchange rates."""

from __future__ import annotations

from flask import Blueprint

rates_pages_bp = Blueprint("admin_rates_pages", __name__, url_prefix="/admin/rates")
