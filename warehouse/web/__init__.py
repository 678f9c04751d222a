"""Staff pages under ``/warehouse/``: log in, see the node's work, print pick lists.

Server-rendered (Jinja) views over the same services as the staff JSON API;
the pages are for people at a warehouse PC or a tablet, the API for scripts.
Not part of the OpenAPI document.

Sessions are Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in
production; see shop.config): it holds the staff id, the staff member's
``session_epoch`` at login and the login time. Every request checks them
against the database, so disabling an account or "log out everywhere"
(which bumps the epoch) ends every session at once, and a session lasts one
shift (PERMANENT_SESSION_LIFETIME, 12 h unless configured) from login.
Every POST carries a CSRF token (shop.core.csrf). Failed logins are throttled from the
LoginAttempt table per (e-mail, remote address), per address, and (much higher)
per e-mail across all addresses.

One module per part: ``blueprint``, ``labels`` (the pages' words and language),
``sign_in`` (the use cases), ``page_session`` (the session on each request, error
pages) and ``pages`` (the views). Importing the package registers them all on
``web_bp``; callers may import from here as before.
"""

from __future__ import annotations

from warehouse.web import pages  # noqa: F401  (registers the views on web_bp)
from warehouse.web.blueprint import PAGES_AFTER_LOGIN, SESSION_LIFETIME, web_bp
from warehouse.web.labels import LABELS, LANGUAGE_NAMES, page_language, translate
from warehouse.web.page_session import load_page_user, login_required, safe_next_url
from warehouse.web.sign_in import (
    LOGIN_ATTEMPT_RETENTION,
    MAX_FAILURES_PER_ADDRESS,
    MAX_FAILURES_PER_EMAIL,
    MAX_FAILURES_PER_EMAIL_AND_ADDRESS,
    THROTTLE_WINDOW,
    SignIn,
    end_all_sessions,
    sign_in_staff,
    staff_of_session,
    throttle_wait,
)

__all__ = [
    "LABELS",
    "LANGUAGE_NAMES",
    "LOGIN_ATTEMPT_RETENTION",
    "MAX_FAILURES_PER_ADDRESS",
    "MAX_FAILURES_PER_EMAIL",
    "MAX_FAILURES_PER_EMAIL_AND_ADDRESS",
    "PAGES_AFTER_LOGIN",
    "SESSION_LIFETIME",
    "THROTTLE_WINDOW",
    "SignIn",
    "end_all_sessions",
    "load_page_user",
    "login_required",
    "page_language",
    "safe_next_url",
    "sign_in_staff",
    "staff_of_session",
    "throttle_wait",
    "translate",
    "web_bp",
]
