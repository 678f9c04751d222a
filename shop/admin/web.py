"""Who may use the admin, and how its pages look when something is refused.

The admin pages share the staff pages' login and session (``/warehouse/login``,
shop.core.csrf, the session epoch): an operator logs in once for both. Every admin page
blueprint — the admin pages (``shop.admin.pages``) and the rates, reports and
customs-records pages — is put behind ``protect_admin_blueprint``, which is the one
place that decides who may see them. Pages are English only: operators are few and
work in English (the shoppers' and pickers' pages are the translated ones).

The admin API (``/api/v1/admin/...``) takes a bearer token instead; its guard is
``admin_api_operator``.
"""

from __future__ import annotations

import logging
from functools import wraps
from typing import Any, NamedTuple

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from shop.core.auth import Forbidden, StaffPrincipal, Unauthorized
from shop.core.csrf import CSRF_FIELD, csrf_token, csrf_token_sent_is_valid
from shop.core.errors import DomainError, NotFound
from warehouse.auth import authenticate_staff
from warehouse.web import load_page_user, page_language, translate

log = logging.getLogger(__name__)


class NavLink(NamedTuple):
    """One entry of the admin navigation. Linked by path, not ``url_for``, so a page
    blueprint that is missing (or renamed) never breaks the others' pages."""

    endpoint: str
    label: str

    @property
    def path(self) -> str:
        return ADMIN_NAV_PATHS[self.endpoint]


ADMIN_NAV_PATHS = {
    "admin_pages.index": "/admin/",
    "admin_pages.merchants": "/admin/merchants/",
    "admin_pages.staff": "/admin/staff/",
    "admin_pages.nodes": "/admin/nodes/",
    "admin_pages.policies": "/admin/policies/",
    "admin_pages.audit": "/admin/audit/",
    "admin_rates_pages.index": "/admin/rates/",
    "admin_reports_pages.index": "/admin/reports/",
    "admin_customs_pages.index": "/admin/customs/",
}

ADMIN_NAV = [
    NavLink("admin_pages.merchants", "Merchants"),
    NavLink("admin_pages.staff", "Staff"),
    NavLink("admin_pages.nodes", "Nodes & lanes"),
    NavLink("admin_pages.policies", "Customs policies"),
    NavLink("admin_rates_pages.index", "Rates"),
    NavLink("admin_reports_pages.index", "Reports"),
    NavLink("admin_customs_pages.index", "Customs records"),
    NavLink("admin_pages.audit", "Audit"),
]

ERROR_MESSAGES = {
    400: "The request could not be processed.",
    404: "Nothing is here.",
    405: "This page does not accept that request.",
    409: "That conflicts with the current state; reload and try again.",
    422: "Some fields are not valid.",
    429: "Too many requests. Try again later.",
    500: "Something failed on our side.",
}
CSRF_MESSAGE = (
    "The form has expired or did not come from this site. Go back, reload the page and try again."
)


# ------------------------------------------------------------ who may act


def current_operator() -> StaffPrincipal:
    """The operator of this page request (set by the guard ``protect_admin_blueprint``
    installs; calling it from an unguarded view is a programming error)."""
    operator = g.get("admin_operator")
    if operator is None:
        raise RuntimeError("current_operator() outside a protected admin page")
    return operator


def admin_api_operator() -> StaffPrincipal:
    """The operator behind an admin API request's bearer token.

    No or an unknown token, or a merchant's token: 401 (a merchant token is no
    credential at all here). A staff token of a picker: 404, as for a path that does
    not exist, so the admin API does not reveal itself to someone who may not use it.
    The answer is kept on ``g`` so the guard of the whole ``/api/v1/admin`` tree and
    the view share one token lookup.
    """
    operator = g.get("admin_api_operator")
    if operator is not None:
        return operator
    try:
        staff = authenticate_staff()
    except Forbidden as error:  # a merchant token
        raise Unauthorized("The admin API takes an operator's staff token.") from error
    if not staff.is_operator:
        raise NotFound()
    g.admin_api_operator = staff
    return staff


def operator_only_on(blueprint):
    """The decorator every admin API view of ``blueprint`` wears: it documents the
    operator's bearer token and the refusals in the OpenAPI document, and passes the
    operator to the view as ``operator``. The tree-wide guard (shop.admin.api) has
    already refused anyone else before arguments are parsed; this lookup is cached."""

    def operator_only(view):
        view = blueprint.alt_response(
            401, description="Missing, unknown, revoked or merchant token"
        )(view)
        view = blueprint.alt_response(
            404, description="Not found, or not an operator's token (not shown to others)"
        )(view)
        view = blueprint.doc(security=[{"bearerAuth": []}])(view)

        @wraps(view)
        def with_operator(*args, **kwargs):
            kwargs["operator"] = admin_api_operator()
            return view(*args, **kwargs)

        return with_operator

    return operator_only


# ------------------------------------------------------------ page guard


def _guard_admin_page() -> Response | None:
    if g.get("admin_page_checked"):
        return None  # a second protected blueprint on the same request
    g.admin_page_checked = True
    load_page_user()
    g.lang = "en"
    if g.staff is None:
        if request.method == "GET":
            target = request.full_path if request.query_string else request.path
        else:  # after login, a GET of a form's target would not repeat the form
            target = ADMIN_NAV_PATHS["admin_pages.index"]
        key = "session_ended" if g.get("session_ended") else "please_log_in"
        flash(translate(key, page_language()))
        return redirect(url_for("warehouse_pages.login", next=target))
    if not g.staff.is_operator:
        # As for a page that does not exist: pickers need not learn what is here.
        abort(404)
    if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_token_sent_is_valid():
        log.warning("CSRF token missing or wrong on %s %s", request.method, request.path)
        abort(400, description="csrf")
    g.admin_operator = g.staff
    return None


def _no_store(response: Response) -> Response:
    # Admin pages show accounts, tokens once, customs data: never cached anywhere.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


def csrf_field() -> Markup:
    """The hidden CSRF input every admin POST form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


def _admin_context() -> dict[str, Any]:
    return {
        "current_staff": g.get("staff"),
        "current_email": g.get("staff_email"),
        "csrf_field": csrf_field,
        "csrf_token": csrf_token,
        "admin_nav": ADMIN_NAV,
    }


def error_page(status: int, message: str | None = None, detail: str | None = None) -> Response:
    """An error in the admin look (also for pickers refused with a 404)."""
    message = message or ERROR_MESSAGES.get(status, ERROR_MESSAGES[400])
    page = render_template("admin/error.html", status=status, message=message, detail=detail)
    return make_response(page, status)


def _http_error_page(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 400 and error.description == "csrf":
        return error_page(400, CSRF_MESSAGE)
    response = error_page(status)
    if status == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or [])  # type: ignore[attr-defined]
    return response


def problem_text(error: DomainError) -> str:
    """A domain error as one line a person reads (fields and their reasons included)."""
    text = error.detail or error.title
    for field, reasons in (error.errors or {}).items():
        said = " ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)
        text += f" {field}: {said}"
    return text


def _domain_error_page(error: DomainError) -> Response:
    if error.status == 404:
        return error_page(404)
    return error_page(error.status, detail=problem_text(error))


def protect_admin_blueprint(bp: Blueprint) -> None:
    """Put a page blueprint behind the operators' login.

    Installs: the guard (staff session of ``/warehouse/login``; anonymous → redirect
    to the login with ``next``; a logged-in non-operator → 404; CSRF on every POST),
    ``Cache-Control: no-store``, the template context (``current_staff``,
    ``current_email``, ``csrf_field()``, ``admin_nav``) and error pages in the admin
    look.
    """
    bp.before_request(_guard_admin_page)
    bp.after_request(_no_store)
    bp.context_processor(_admin_context)
    bp.register_error_handler(HTTPException, _http_error_page)
    bp.register_error_handler(DomainError, _domain_error_page)
