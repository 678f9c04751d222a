"""What operators use to run the pavilion: the admin API (``/api/v1/admin/...``, staff
tokens with role ``operator``) and the admin pages (``/admin/...``, the staff login).

Every change an operator makes is written to the audit log (``shop.core.audit``) in
the same transaction as the change itself.
"""

from __future__ import annotations

from flask import Flask


def register_admin(app: Flask) -> None:
    from shop.admin import customs_api, rates_api, reports_api
    from shop.admin.api import admin_blp
    from shop.admin.customs_pages import customs_pages_bp

    # Importing the page modules attaches their routes to the admin pages' blueprint.
    from shop.admin.pages import admin_pages_bp, audit, home, merchants, nodes, policies, staff  # noqa: F401
    from shop.admin.rates_pages import rates_pages_bp
    from shop.admin.reports_pages import reports_pages_bp
    from shop.core.extensions import api

    api.register_blueprint(admin_blp)
    api.register_blueprint(rates_api.admin_rates_blp)
    api.register_blueprint(reports_api.admin_reports_blp)
    api.register_blueprint(customs_api.admin_customs_blp)
    app.register_blueprint(admin_pages_bp)
    app.register_blueprint(rates_pages_bp)
    app.register_blueprint(reports_pages_bp)
    app.register_blueprint(customs_pages_bp)
