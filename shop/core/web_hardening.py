"""Per-request plumbing every response gets: a request id, security headers, and the
refusal of a request target too long to be a link the shop made."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, g, has_request_context, request

from shop.core.errors import UriTooLong, ValidationFailed

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


# The longest path and query string the app reads. A search link with every filter is
# well under 1 KB; this leaves room for a long pasted link while staying below gunicorn's
# limit_request_line (8190, shop/gunicorn_conf.py), so the app answers first, with
# problem+json, instead of gunicorn's plain HTML 414.
MAX_REQUEST_TARGET_BYTES = 6144


def request_target_bytes(environ: dict) -> int:
    """The length in bytes of the request target as the client sent it (path and query
    string, still percent-encoded), which is what gunicorn's own limit counts too."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:  # a server that keeps no raw URI: rebuild it from its parts
        query = environ.get("QUERY_STRING", "")
        raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        raw += f"?{query}" if query else ""
    # WSGI strings carry the request's bytes one per character (latin-1).
    return len(raw.encode("latin-1", "replace"))


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
        if request.mimetype == "application/x-www-form-urlencoded":
            # Keep the raw body readable after the form is parsed: a payment provider's
            # form-encoded notification (Alipay) is verified from request.get_data().
            request.get_data(cache=True)
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


def install_request_limits(app: Flask) -> None:
    @app.before_request
    def refuse_long_request_target():
        # Before any view reads the query string. A browser on a storefront page gets
        # the storefront's error page (shop.errors decides), an API client problem+json.
        if request_target_bytes(request.environ) > MAX_REQUEST_TARGET_BYTES:
            raise UriTooLong(
                f"The path and query string may be at most {MAX_REQUEST_TARGET_BYTES} bytes.",
                max_bytes=MAX_REQUEST_TARGET_BYTES,
            )
