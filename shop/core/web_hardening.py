"""Per-request plumbing every response gets: a request id, security headers."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, g, has_request_context, request

from shop.core.errors import ValidationFailed

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(self)",
    # Swagger UI sets style attributes from its script, hence 'unsafe-inline'
    # for styles only; scripts come from our own origin alone.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    ),
}


NUL_REFUSED = "Text may not contain the NUL character (U+0000)."


def holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


def _any_nul(values: list[str]) -> bool:
    return any("\x00" in value for value in values)


class RequestIdLogFilter(logging.Filter):
    """Put the request id on every log record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def install_request_ids_and_security_headers(app: Flask) -> None:
    @app.before_request
    def assign_request_id():
        offered = request.headers.get("X-Request-ID", "")
        # A proxy's id is kept so logs line up across hops; anything odd is replaced.
        g.request_id = offered if _CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex

    @app.before_request
    def refuse_nul_in_query_and_form():
        # The same rule as for JSON bodies, for query strings and HTML forms: a 422
        # naming each field, before any service or the database sees the value.
        fields = [name for name, values in request.args.lists() if _any_nul(values)]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            fields += [name for name, values in request.form.lists() if _any_nul(values)]
        if fields:
            raise ValidationFailed(errors={name: [NUL_REFUSED] for name in fields})

    @app.after_request
    def add_headers(response):
        response.headers.setdefault("X-Request-ID", g.get("request_id", ""))
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
