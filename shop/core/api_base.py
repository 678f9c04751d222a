"""Project-wide flask-smorest pieces: the Api subclass and the problem schema.

Every error the API returns is ``application/problem+json`` (RFC 9457); the
OpenAPI document says so for every default error response.
"""

from __future__ import annotations

import http
from json import JSONDecodeError
from typing import ClassVar

import marshmallow as ma
from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Response, current_app, json, request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.spec.plugins import unicodeconverter2paramschema
from flask_smorest.utils import prepare_response
from webargs.flaskparser import FlaskParser
from werkzeug.routing import UnicodeConverter

from shop.core.errors import MalformedJson, UnsupportedMediaType
from shop.core.web_hardening import NUL_REFUSED, holds_nul

PROBLEM_CONTENT_TYPE = "application/problem+json"


class InvalidParamSchema(ma.Schema):
    name = ma.fields.String(required=True, metadata={"description": "the field or parameter"})
    location = ma.fields.String(metadata={"description": "query, json, path, header or form"})
    reason = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem document.

    Problems carry extension members (RFC 9457, section 3.2) named by their code:
    ``lines`` of an insufficient_stock, ``status_now`` of an illegal_transition, the
    ``line`` of a CSV problem, a bulk ``report``; so the document allows more members.
    """

    class Meta:
        unknown = ma.INCLUDE

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

    def _raw_load_json(self, req):
        document = super()._raw_load_json(req)
        # The same rule as request.get_json (shop.core.web_hardening): no NUL in any string.
        if holds_nul(document):
            raise JSONDecodeError(NUL_REFUSED, "\\u0000", 0)
        return document


class Blueprint(SmorestBlueprint):
    """The project's blueprint: flask-smorest with our argument parser, and error
    responses documented as what they are."""

    ARGUMENTS_PARSER = SchemaDecidesUnknownParser()

    def alt_response(self, status_code, response=None, *, schema=None, content_type=None,
                     **kwargs):  # fmt: skip
        """An error response declared with only a description is still a problem document:
        say so in the OpenAPI document, so that clients (and the fuzzer) can rely on it."""
        if response is None and schema is None and _is_error_status(status_code):
            schema, content_type = ProblemSchema, content_type or PROBLEM_CONTENT_TYPE
        return super().alt_response(
            status_code, response, schema=schema, content_type=content_type, **kwargs
        )

    def arguments(self, schema, *, location="json", **kwargs):
        """A JSON body that does not parse is a 400 ``malformed_json`` wherever it is read,
        so every operation that reads one declares it (unless it says more itself)."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse

        def decorate(view):
            parsed = parse(view)
            declared = getattr(parsed, "_apidoc", {}).get("response", {}).get("responses", {})
            if 400 in declared or "400" in declared:
                return parsed
            return self.alt_response(400, description="The body is not valid JSON")(parsed)

        return decorate


def _is_error_status(status_code) -> bool:
    try:
        return int(status_code) >= 400
    except (TypeError, ValueError):  # "4XX"-style ranges name their own content
        return False


PRINTABLE_SEGMENT = r"[^/\x00-\x1f\x7f]"  # one path segment without control characters


class PrintableSegmentConverter(UnicodeConverter):
    """The default ``string`` URL converter, minus control characters.

    No name in the shop (SKU code, order number, node code, slug) holds one, and
    PostgreSQL refuses NUL in a text comparison: without this, ``/skus/%00`` would be
    a 500 from the database instead of the 404 it is, in every view that looks it up.
    """

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", PRINTABLE_SEGMENT, 1)


def printable_segment_param_schema(converter: PrintableSegmentConverter) -> dict:
    schema = unicodeconverter2paramschema(converter)
    schema["pattern"] = f"^{PRINTABLE_SEGMENT}+$"
    return schema


def decimal_strings_are_strings(converter, field, ret, **kwargs) -> dict:
    """apispec documents every ``fields.Decimal`` as a JSON number, but one dumped
    ``as_string`` (money, rates, averages: exact decimals) is sent as a JSON string."""
    if not (isinstance(field, ma.fields.Decimal) and field.as_string):
        return {}
    kind = ret.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1 spells nullable as ["number", "null"]
        return {"type": ["string" if t == "number" else t for t in kind], "format": "decimal"}
    return {"type": "string", "format": "decimal"}


class RefusedBeforeRouting(BasePlugin):
    """Declares on every operation the refusals the app makes before any view runs, so
    that a client (and the fuzzer's rule that every 4xx is declared) knows of them: a
    request target over ``MAX_REQUEST_TARGET_BYTES`` is a 414 whatever its route."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            operation.setdefault("responses", {}).setdefault("414", "REQUEST_URI_TOO_LONG")


class PavilionApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("spec_kwargs", {"marshmallow_plugin": MarshmallowPlugin()})
        super().__init__(*args, **kwargs)
        self.register_converter(PrintableSegmentConverter, printable_segment_param_schema)

    def _init_spec(self, *args, extra_plugins=None, **kwargs):
        plugins = (*(extra_plugins or ()), RefusedBeforeRouting())
        super()._init_spec(*args, extra_plugins=plugins, **kwargs)
        self.ma_plugin.converter.add_attribute_function(decimal_strings_are_strings)

    def init_app(self, app, *, spec_kwargs=None):
        # Before any blueprint adds its rules: <code> and <string(...):code> both mean it.
        app.url_map.converters["default"] = PrintableSegmentConverter
        app.url_map.converters["string"] = PrintableSegmentConverter
        super().init_app(app, spec_kwargs=spec_kwargs)

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

    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    body = request.get_json(silent=True)
    if body is None:
        raise MalformedJson("The body is not valid JSON.")
    if holds_nul(body):
        raise MalformedJson(NUL_REFUSED)
    return body


def reads_json_body(blp: Blueprint):
    """A decorator for views that read their body with ``json_body()``: the OpenAPI
    document declares the 400 and 415 problems it raises."""

    def decorate(view):
        view = blp.alt_response(400, description="The body is not valid JSON")(view)
        return blp.alt_response(415, description="The body is not application/json")(view)

    return decorate


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
