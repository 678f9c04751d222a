"""The page session: who is logged in (checked against the database on every request),
CSRF on every POST, no caching, the language switch, and error pages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from shop.core.csrf import CSRF_FIELD, csrf_token, csrf_token_sent_is_valid
from shop.core.errors import DomainError
from warehouse.web.blueprint import PAGES_AFTER_LOGIN, web_bp
from warehouse.web.labels import LABELS, LANGUAGE_NAMES, page_language, translate
from warehouse.web.sign_in import SignIn, as_aware, staff_of_session

log = logging.getLogger(__name__)


def start_session(sign_in: SignIn) -> None:
    lang = session.get("lang")
    # A new session on login: nothing set before it (a planted CSRF token, say) survives.
    session.clear()
    session.permanent = True
    session["staff_id"] = sign_in.staff_id
    session["epoch"] = sign_in.session_epoch
    session["login_at"] = int(time.time())
    if lang:
        session["lang"] = lang


def end_session() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def load_page_user() -> None:
    """Put the page session's staff member (or None) in ``g.staff``/``g.staff_email``.

    Shared with the admin pages (shop.admin.web): one login, one session for both.
    """
    g.staff = None
    g.staff_email = None
    if "staff_id" not in session:
        return
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    login_at = session.get("login_at")
    fresh = isinstance(login_at, int) and 0 <= time.time() - login_at <= lifetime
    found = staff_of_session(session.get("staff_id"), session.get("epoch")) if fresh else None
    if found is None:
        end_session()
        g.session_ended = True
        return
    g.staff, g.staff_email = found


def safe_next_url(candidate: str | None) -> str | None:
    """``candidate`` if it is a path of the staff or admin pages, else None (no open
    redirect).

    Only ``/warehouse/...`` and ``/admin/...`` (the admin pages share this login) are
    accepted, which also rules out ``//host``, ``/\\host`` and every absolute URL a
    browser would leave the site for.
    """
    if not candidate or len(candidate) > 2000:
        return None
    if not candidate.startswith(PAGES_AFTER_LOGIN):
        return None
    if any(ch in candidate for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in candidate):
        return None
    return candidate


def login_required(view: Callable) -> Callable:
    """Pass the page user to the view as ``staff``; redirect to the login page without one."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.staff is None:
            if request.method == "GET":
                target = request.full_path if request.query_string else request.path
            else:  # after login, a GET of a form's target would not repeat the form
                target = url_for(".dashboard")
            flash(translate("session_ended" if g.get("session_ended") else "please_log_in", g.lang))
            return redirect(url_for(".login", next=target))
        kwargs["staff"] = g.staff
        return view(*args, **kwargs)

    return wrapper


@web_bp.before_request
def _before_page() -> None:
    g.lang = page_language()
    load_page_user()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_token_sent_is_valid():
        log.warning("CSRF token missing or wrong on %s %s", request.method, request.path)
        abort(400, description="csrf")


@web_bp.after_request
def _no_store(response: Response) -> Response:
    # Pick lists name shoppers' shipments; shared warehouse PCs must not keep them.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


def _language_url(lang: str) -> str:
    if request.method == "GET" and request.endpoint:
        args = {**request.args.to_dict(), **(request.view_args or {}), "lang": lang}
        return url_for(request.endpoint, **args)
    return url_for(".dashboard", lang=lang)


@web_bp.context_processor
def _page_context() -> dict[str, Any]:
    lang = g.get("lang", "en")
    return {
        "lang": lang,
        "t": lambda key, **values: translate(key, lang, **values),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token,
        "current_staff": g.get("staff"),
        "current_email": g.get("staff_email"),
        "languages": LANGUAGE_NAMES,
        "language_url": _language_url,
    }


@web_bp.app_template_filter("staff_time")
def _staff_time(value: Any) -> str:
    """A moment as staff read it on a printout: ``2025-03-01 09:30 UTC``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return as_aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def _error_page(status: int, message_key: str, detail: str | None = None) -> Response:
    page = render_template(
        "warehouse/error.html", status=status, message_key=message_key, detail=detail
    )
    return make_response(page, status)


@web_bp.errorhandler(HTTPException)
def _http_error_page(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 400 and error.description == "csrf":
        return _error_page(400, "error_csrf")
    key = f"error_{status}" if f"error_{status}" in LABELS["en"] else "error_400"
    response = _error_page(status, key)
    if status == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or [])  # type: ignore[attr-defined]
    return response


@web_bp.errorhandler(DomainError)
def _domain_error_page(error: DomainError) -> Response:
    if error.status == 404:
        return _error_page(404, "error_404")
    return _error_page(error.status, "error_400", error.detail)
