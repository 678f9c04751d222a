"""Browsable API docs at /api/docs, served from the installed swagger-ui-bundle.

No CDN: the shop, docs included, works on a machine with no internet.
"""

from __future__ import annotations

from flask import Blueprint, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

docs_bp = Blueprint("docs", __name__, url_prefix="/api/docs")

_ASSETS = {
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
}


@docs_bp.get("/")
def swagger_ui():
    return render_template("api_docs.html")


@docs_bp.get("/assets/<name>")
def swagger_asset(name: str):
    if name not in _ASSETS:
        from werkzeug.exceptions import NotFound

        raise NotFound()
    return send_from_directory(str(swagger_ui_path), name, max_age=86400)
