"""CSRF protection for server-rendered forms (synchronizer token pattern).

Each browser session holds one random token; every form carries it in a
hidden field and every POST must send it back. A page on another site can
make a browser POST here with our cookie, but it cannot read our pages, so it
cannot know the token. SameSite=Lax on the session cookie is a second fence,
not the only one (older browsers, same-site subdomains).

The token lives in Flask's signed session cookie, so it needs no table. It is
replaced whenever the session is (login, logout): a token seen before login
is worthless after it.
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

CSRF_FIELD = "csrf_token"
_SESSION_KEY = "_csrf"


def csrf_token() -> str:
    """The session's token, made on first use (templates call this for hidden fields)."""
    token = session.get(_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[_SESSION_KEY] = token
    return token


def csrf_token_sent_is_valid() -> bool:
    """Whether the request's form field matches the session's token.

    False when either is missing: a session without a token has never been
    shown a form, so no legitimate POST can come from it.
    """
    expected = session.get(_SESSION_KEY)
    sent = request.form.get(CSRF_FIELD, "")
    if not expected or not sent:
        return False
    # Constant time: the comparison must not leak how much of a guess was right.
    return hmac.compare_digest(expected.encode(), sent.encode())
