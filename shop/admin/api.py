"""Admin API: merchants, staff, nodes and lanes, customs policy rows, the audit log."""

from __future__ import annotations

from shop.api_base import Blueprint

admin_blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/api/v1/admin",
    description="Operators: merchants, staff, nodes, lanes, policies, audit",
)
