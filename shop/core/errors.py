"""Error types the services raise, each with its HTTP meaning and a stable code.

The web layer (``shop/errors.py``) is the one place that turns them, and every
HTTP error, into ``application/problem+json`` (RFC 9457). These types import no
Flask, so a pure policy may raise them.
"""

from __future__ import annotations

from typing import Any

# Stable codes for plain HTTP errors; clients switch on these, not on titles.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
}

# What each code means, served at /problems/<code> so that `type` resolves.
PROBLEM_DESCRIPTIONS = {
    "bad_request": "The request could not be read.",
    "malformed_json": "The body is not valid JSON.",
    "unauthorized": "Credentials are missing or not valid.",
    "forbidden": "The credentials do not allow this.",
    "not_found": "Nothing is here, or it is not yours to see.",
    "method_not_allowed": "The resource does not answer to this HTTP method.",
    "not_acceptable": "The resource cannot answer in the asked representation.",
    "conflict": "The request conflicts with the current state.",
    "gone": "The resource existed but is gone.",
    "precondition_failed": "The If-Match condition failed.",
    "payload_too_large": "The body is larger than the shop accepts.",
    "uri_too_long": "The path and query string are longer than the shop reads; `max_bytes` "
    "says how long they may be.",
    "unsupported_media_type": "The body is in a format this endpoint does not read.",
    "validation_error": "One or more fields or parameters are not valid; see `errors`.",
    "precondition_required": "This request needs an If-Match header.",
    "too_many_requests": "Slow down and retry later.",
    "internal_error": "Something failed on our side; the request id helps us find it.",
    "not_implemented": "Not implemented.",
    "service_unavailable": "A service the shop depends on is unavailable; retry later.",
    "database_unavailable": "The database is unavailable; retry later.",
    "unknown_currency": "No exchange rate reaches the asked currency.",
    "insufficient_stock": "Not enough stock for some lines; `lines` names each one.",
    "no_lane_to_destination": "No shipping lane serves the destination.",
    "corridor_refuses": (
        "Some lines cannot be sent to `country` (and `region`) whatever the stock: every lane "
        "there refuses them, or only nodes with no lane there hold them; `lines` says why, "
        "`short_lines` names lines also short of stock."
    ),
    "sku_in_unshipped_orders": "The SKU is in orders not shipped yet; deactivate it instead.",
    "concurrent_change": "Another request changed the same rows at the same time; send it again.",
    "csv_problem": "The CSV file cannot be read; `detail` says why and where.",
    "too_many_rows": "The upload has more rows than one request takes.",
}


def register_problem_types(descriptions: dict[str, str]) -> None:
    """Let a domain package describe its own problem codes at /problems/<code>."""
    PROBLEM_DESCRIPTIONS.update(descriptions)


class DomainError(Exception):
    """Base of the errors the services raise; each carries its HTTP meaning."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        code: str | None = None,
        **extra,
    ):
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        if code:  # a more precise code than the class's, e.g. conflict -> concurrent_change
            self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The problem as data, for a response that reports it inside a larger document
        (a cart that cannot ship to the asked destination)."""
        body = {"type": f"/problems/{self.code}", "code": self.code, "title": self.title,
                "status": self.status, "detail": self.detail or self.title}  # fmt: skip
        if self.errors:
            body["errors"] = self.errors
        body.update({k: v for k, v in self.extra.items() if k != "headers"})
        return body


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class ValidationFailed(DomainError):
    """Input that parsed but does not make sense; ``errors`` names each field."""

    status = 422
    code = "validation_error"
    title = "Validation failed"


class MalformedJson(DomainError):
    status = 400
    code = "malformed_json"
    title = "Malformed JSON"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UriTooLong(DomainError):
    status = 414
    code = "uri_too_long"
    title = "URI too long"
