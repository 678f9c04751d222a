"""The admin pages under ``/admin/``: one blueprint, ``admin_pages``, behind the
operators' login (``shop.admin.web.protect_admin_blueprint``).

Its routes live in one module per thing operators look after: ``home``,
``merchants``, ``staff``, ``nodes`` (nodes, bins and lanes), ``policies`` (customs
rule sets) and ``audit``; ``forms`` reads their forms and answers them. Each view
reads the request, calls a service of ``shop.admin.services`` and renders.
"""

from __future__ import annotations

from flask import Blueprint

from shop.admin.web import protect_admin_blueprint

admin_pages_bp = Blueprint("admin_pages", __name__, url_prefix="/admin")
protect_admin_blueprint(admin_pages_bp)
