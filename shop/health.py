"""Liveness with a database check, for load balancers and the Docker HEALTHCHECK."""

from __future__ import annotations

import marshmallow as ma
from sqlalchemy import text

from shop.core.api_base import Blueprint
from shop.core.extensions import db

health_blp = Blueprint("health", __name__, description="Liveness")


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)


@health_blp.route("/healthz")
@health_blp.response(200, HealthSchema)
@health_blp.alt_response(503, description="The database does not answer")
def healthz():
    """Is the shop alive and its database reachable?"""
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return {"status": "ok", "checks": {"database": "ok"}}, 200, {"Cache-Control": "no-store"}
