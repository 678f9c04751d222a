"""The one place that turns every error into an ``application/problem+json``
response (RFC 9457): domain errors (``shop.core.errors``), HTTP errors, lost
databases and the unexpected."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, json, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from shop.core.api_base import PROBLEM_CONTENT_TYPE
from shop.core.errors import HTTP_CODES, PROBLEM_DESCRIPTIONS, DomainError
from shop.core.extensions import db
from shop.core.transactions import is_database_unavailable

log = logging.getLogger("shop.errors")


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    errors: dict[str, Any] | None = None,
    invalid_params: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
):
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "code": code,
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if invalid_params:
        body["invalid_params"] = invalid_params
    body.update(extra)
    try:
        body["instance"] = request.path
        body["request_id"] = g.get("request_id")
    except RuntimeError:  # outside a request (e.g. a CLI caller formatting an error)
        pass
    from flask import current_app

    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _flatten_webargs_messages(messages: dict[str, Any]) -> tuple[dict, list[dict[str, str]]]:
    """webargs says {location: {field: [msg]}}; clients want {field: [msg]}."""
    errors: dict[str, Any] = {}
    params: list[dict[str, str]] = []
    for location, fields in messages.items():
        if not isinstance(fields, dict):
            errors.setdefault("_body" if location == "json" else location, fields)
            continue
        for name, reasons in fields.items():
            errors[name] = reasons
            for reason in _leaf_messages(reasons):
                params.append({"name": str(name), "location": location, "reason": reason})
    return errors, params


def _leaf_messages(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [m for item in value for m in _leaf_messages(item)]
    if isinstance(value, dict):
        return [f"{k}: {m}" for k, v in value.items() for m in _leaf_messages(v)]
    return [str(value)]


# Paths whose clients read problem+json, or that draw their own error pages;
# everything else is the storefront, where a browser gets a page in the shop's look.
NON_STOREFRONT_PREFIXES = (
    "/api/", "/warehouse", "/admin", "/healthz", "/readyz", "/problems/"
)  # fmt: skip


def wants_storefront_page() -> bool:
    """Whether this error should be a storefront HTML page: a storefront route, or
    another path outside the API (a mistyped URL) asked for by a browser."""
    try:
        path = request.path
    except RuntimeError:  # outside a request
        return False
    if path == "/api" or path.startswith(NON_STOREFRONT_PREFIXES):
        return False
    if request.blueprint == "storefront":
        return True
    best = request.accept_mimetypes.best_match(
        [PROBLEM_CONTENT_TYPE, "application/json", "text/html"]
    )
    return best == "text/html"


def storefront_page(status: int, *, without_database: bool = False, headers=None):
    from shop.storefront.context import error_page, error_page_without_database

    response = error_page_without_database(status) if without_database else error_page(status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    if status >= 500 and isinstance(error, InternalServerError):
        return handle_unexpected_exception(error.original_exception or error)
    if wants_storefront_page():
        allow = dict(error.get_headers()).get("Allow") if status == 405 else None
        return storefront_page(status, headers={"Allow": allow} if allow else None)
    code = HTTP_CODES.get(status, "error")
    headers = dict(error.get_headers()) if status == 405 else {}
    headers.pop("Content-Type", None)
    data = getattr(error, "data", None) or {}
    errors = invalid_params = None
    detail = data.get("message") or error.description
    if "messages" in data or "errors" in data:
        errors, invalid_params = _flatten_webargs_messages(data.get("errors") or data["messages"])
        if status == 400 and "json" in (data.get("messages") or {}):
            code, detail = "malformed_json", "The body is not valid JSON."
        else:
            names = ", ".join(sorted({p["name"] for p in invalid_params})) or "the request"
            detail = f"Invalid value for: {names}."
    headers.update(data.get("headers") or {})
    title = error.name if code != "malformed_json" else "Malformed JSON"
    return problem_response(
        status, code, title, detail, errors=errors, invalid_params=invalid_params, headers=headers
    )


def handle_domain_error(error: DomainError):
    if wants_storefront_page():
        return storefront_page(error.status)
    invalid_params = None
    if error.errors:
        invalid_params = [
            {"name": name, "reason": reason}
            for name, reasons in error.errors.items()
            for reason in _leaf_messages(reasons)
        ]
    return problem_response(
        error.status,
        error.code,
        error.title,
        error.detail,
        errors=error.errors,
        invalid_params=invalid_params,
        **error.extra,
    )


def handle_database_error(error: DBAPIError | PoolTimeout):
    if not is_database_unavailable(error):
        return handle_unexpected_exception(error)
    return handle_database_unavailable(error)


def handle_database_unavailable(error: DBAPIError | PoolTimeout):
    try:
        db.session.rollback()
    except Exception:  # a rollback on a connection that is gone can fail too
        log.warning("rollback after losing the database failed", exc_info=True)
    log.error(
        "database unavailable (request %s): %s",
        g.get("request_id"),
        getattr(error, "orig", None) or error,
    )
    if wants_storefront_page():
        return storefront_page(503, without_database=True, headers={"Retry-After": "5"})
    return problem_response(
        503,
        "database_unavailable",
        "Service unavailable",
        "The database is unavailable; retry later.",
        headers={"Retry-After": "5"},
    )


def handle_unexpected_exception(error: BaseException):
    # The traceback goes to the log with the request id; the client sees neither.
    log.error("unhandled error (request %s)", g.get("request_id"), exc_info=error)
    try:
        db.session.rollback()
    except Exception:  # the session may be the thing that broke
        log.exception("rollback after an unhandled error failed")
    if wants_storefront_page():
        return storefront_page(500, without_database=True)
    return problem_response(
        500,
        "internal_error",
        "Internal server error",
        "Something failed on our side. Quote the request id when you report it.",
    )


def handle_recursion_error(error: RecursionError):
    """A body nested deeper than Python's stack (``[[[[…``) stops the JSON decoder,
    wherever it is parsed (webargs, ``request.get_json``): that is the client's
    malformed input, a 400. Any other RecursionError is our bug, a 500."""
    innermost = error.__traceback__
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    in_decoder = innermost is not None and innermost.tb_frame.f_code.co_filename.replace(
        "\\", "/"
    ).endswith("json/decoder.py")
    if not in_decoder:
        return handle_unexpected_exception(error)
    return problem_response(
        400, "malformed_json", "Malformed JSON", "The body is nested too deeply to read."
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(RecursionError, handle_recursion_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(PoolTimeout, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected_exception)

    @app.get("/problems/<code>")
    def describe_problem(code: str):
        """What a problem ``type`` means."""
        if code not in PROBLEM_DESCRIPTIONS:
            return problem_response(404, "not_found", "Not Found", "No such problem type.")
        return {"code": code, "description": PROBLEM_DESCRIPTIONS[code]}
