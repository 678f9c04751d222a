"""Reading the admin pages' forms and answering them: a field's text or whole number,
the page number of a listing, and the redirect after a change (its outcome flashed)."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, request, url_for

from shop.admin.web import problem_text
from shop.core.errors import DomainError


def form_text(name: str) -> str:
    """The form field ``name``, stripped; empty when absent."""
    return (request.form.get(name) or "").strip()


def form_int(name: str, errors: dict[str, list[str]]) -> int | None:
    """The form field ``name`` as a whole number; None when empty, or (said in
    ``errors``) when it is not one."""
    raw = form_text(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = ["A whole number."]
        return None


def page_number() -> int:
    """The listing page asked for (``?page=``), 1 when absent or not a number."""
    raw = request.args.get("page", "1")
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    return max(1, min(int(raw), 100_000)) if raw.isascii() and raw.isdecimal() else 1


def done(message: str, endpoint: str, **values: Any) -> Response:
    """After a change: say it worked and go to ``endpoint`` (303, so a reload does not
    post again)."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values), code=303)


def refused(error: DomainError, endpoint: str, **values: Any) -> Response:
    """After a refused change: say why and go back to ``endpoint``; a missing target
    is the admin's 404 page instead."""
    if error.status == 404:
        raise error
    flash(problem_text(error), "error")
    return redirect(url_for(endpoint, **values), code=303)
