"""Admin API for reports."""

from __future__ import annotations

from shop.api_base import Blueprint

admin_reports_blp = Blueprint(
    "admin_reports",
    __name__,
    url_prefix="/api/v1/admin/reports",
    description="Operators: sales, duties, fulfilment and stock reports",
)
