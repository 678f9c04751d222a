"""The admin home: how many of each thing there are, and where to look after them."""

from __future__ import annotations

from flask import render_template

from shop.admin import services
from shop.admin.pages import admin_pages_bp


@admin_pages_bp.get("/")
def index():
    """The admin home: counts and links."""
    return render_template("admin/index.html", counts=services.overview_counts())
