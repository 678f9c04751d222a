"""Admin API for customs order records."""

from __future__ import annotations

from shop.api_base import Blueprint

admin_customs_blp = Blueprint(
    "admin_customs",
    __name__,
    url_prefix="/api/v1/admin/customs",
    description="Operators: customs order records for brokers",
)
