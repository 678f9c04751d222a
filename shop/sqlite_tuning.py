"""SQLite settings for the embedded default.

SQLite leaves foreign keys off and makes writers fail at once on a lock
unless told otherwise; several gunicorn workers share the file.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event


def install(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from shop.core.extensions import db

    with app.app_context():
        engine = db.engine
    if getattr(engine, "_pavilion_tuned", False):
        return
    engine._pavilion_tuned = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if ":memory:" not in app.config["SQLALCHEMY_DATABASE_URI"]:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
