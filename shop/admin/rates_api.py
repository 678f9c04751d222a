"""Admin API for exchange rates."""

from __future__ import annotations

from shop.api_base import Blueprint

admin_rates_blp = Blueprint("admin_rates", __name__, url_prefix="/api/v1/admin/rates",
                            description="Operators: exchange rates and their feeds")  # fmt: skip
