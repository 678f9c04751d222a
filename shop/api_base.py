"""Project-wide flask-smorest pieces: the Api subclass and the problem schema.

Every error the API returns is ``application/problem+json`` (RFC 9457); the
OpenAPI document says so for every default error response.
"""

from __future__ import annotations

import http
from typing import ClassVar

import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Response, current_app, json, request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.utils import prepare_response
from webargs.flaskparser import FlaskParser

PROBLEM_CONTENT_TYPE = "application/problem+json"


class InvalidParamSchema(ma.Schema):
    name = ma.fields.String(required=True, metadata={"description": "the field or parameter"})
    location = ma.fields.String(metadata={"description": "query, json, path, header or form"})
    reason = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem document."""

    type = ma.fields.String(required=True, metadata={"description": "URI of the problem type"})
    code = ma.fields.String(required=True, metadata={"description": "stable machine code"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    request_id = ma.fields.String()
    errors = ma.fields.Dict(
        metadata={"description": "per-field messages: {field: [message, ...]}"},
    )
    invalid_params = ma.fields.List(ma.fields.Nested(InvalidParamSchema))


class SchemaDecidesUnknownParser(FlaskParser):
    """webargs drops unknown query parameters by default; our schemas say
    RAISE, so that a misspelt filter is a 422 and not the whole catalog."""

    DEFAULT_UNKNOWN_BY_LOCATION: ClassVar[dict[str, str | None]] = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }


class Blueprint(SmorestBlueprint):
    """The project's blueprint: flask-smorest with our argument parser."""

    ARGUMENTS_PARSER = SchemaDecidesUnknownParser()


class PavilionApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("spec_kwargs", {"marshmallow_plugin": MarshmallowPlugin()})
        super().__init__(*args, **kwargs)

    def _register_error_handlers(self):
        # shop.errors registers the handlers for the whole app, API or not.
        pass

    def _register_responses(self):
        """Document default error responses as problem+json, not plain JSON."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def shaped_json(body: dict, headers: dict[str, str] | None = None, status: int = 200) -> Response:
    """A JSON response for a body the service already built in the documented shape.

    flask-smorest then returns it as is, skipping marshmallow's dump, the
    largest Python cost of a hot catalog read; the schema in ``@response``
    still documents it, and tests load every such body with its schema so
    the two cannot drift apart.
    """
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    response.headers.update(headers or {})
    return response


def json_body() -> object:
    """The request's JSON body, or a 400/415 problem that says what is wrong with it.

    For bodies that a pure validator checks row by row (SKUs): marshmallow
    would be a second, slower validator with other messages.
    """
    from shop.errors import MalformedJson, UnsupportedMediaType  # errors imports this module

    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    body = request.get_json(silent=True)
    if body is None:
        raise MalformedJson("The body is not valid JSON.")
    return body


def bearer_protected(blp: Blueprint, authenticate, *, who: str):
    """A decorator for ``blp``'s views: ``authenticate`` runs first (so a caller
    without credentials gets 401 before any 422), and the OpenAPI document
    says which token the operation takes and what refusals look like."""

    def decorate(view):
        view = blp.alt_response(401, description="Missing, unknown or revoked token")(view)
        view = blp.alt_response(403, description=f"Not a {who} token")(view)
        view = blp.doc(security=[{"bearerAuth": []}])(view)
        return authenticate(view)

    return decorate
