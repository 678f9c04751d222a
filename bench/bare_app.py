"""The baseline of bench/catalog.py: the least a Flask endpoint can do to serve a page.

One route, ``GET /bare/products?page=N``, reads 24 rows (product id, Russian
name, lowest SKU price) from the shop's own ``products`` table, ordered by
name, with LIMIT/OFFSET, in one statement through plain SQLAlchemy Core, and
returns them as JSON.
No flask-smorest, no schemas, no ETag, no request ids: what is left is the
cost of Flask, the driver, one round trip and a small JSON body.

The engine takes the pool settings the shop takes in production (see
``shop.config``), so the comparison measures the endpoint, not the pool.

Run it the way the benchmark does::

    DATABASE_URL=postgresql+psycopg://127.0.0.1:5432/<db> \\
        .venv/bin/gunicorn -w 4 -b 127.0.0.1:8001 --chdir bench bare_app:app
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

PER_PAGE = 24

# A product's price is its lowest SKU price (the shop's products table has no
# price column). PostgreSQL evaluates the subquery after the sort and LIMIT,
# for the rows of the page only.
PAGE = text(
    """
    SELECT p.id, p.name_ru,
           (SELECT min(s.price_amount) FROM skus AS s WHERE s.product_id = p.id) AS price
    FROM products AS p
    ORDER BY p.name_ru, p.id
    LIMIT :limit OFFSET :offset
    """
)


def _database_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """A one-route app on DATABASE_URL (or ``config["DATABASE_URL"]``)."""
    settings = {"DATABASE_URL": os.environ.get("DATABASE_URL", "")}
    settings.update(config or {})
    if not settings["DATABASE_URL"]:
        raise RuntimeError("DATABASE_URL must be set")
    app = Flask(__name__)
    engine = create_engine(
        _database_url(settings["DATABASE_URL"]),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_recycle=1800,
    )
    app.extensions["bare_engine"] = engine

    @app.get("/bare/products")
    def products():
        page = max(request.args.get("page", 1, type=int), 1)
        with engine.connect() as conn:
            rows = conn.execute(PAGE, {"limit": PER_PAGE, "offset": (page - 1) * PER_PAGE})
            items = [{"id": r.id, "name": r.name_ru, "price": str(r.price)} for r in rows]
        return jsonify({"items": items, "page": page, "per_page": PER_PAGE})

    @app.get("/healthz")
    def healthz():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app


app = create_app() if os.environ.get("DATABASE_URL") else None
