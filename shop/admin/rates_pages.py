"""Admin pages for exchange rates: what each pair converts at and how old it is (a
warning when any is stale), the feeds with their last success and failure, a form
to set a rate by hand and a button to fetch a feed now."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from catalog import rate_feeds
from shop.admin.web import current_operator, protect_admin_blueprint
from shop.core.errors import ValidationFailed

rates_pages_bp = Blueprint("admin_rates_pages", __name__, url_prefix="/admin/rates")
protect_admin_blueprint(rates_pages_bp)

FORM_FIELDS = ("base", "quote", "rate", "effective_on")


def _page(form: dict[str, str] | None = None, errors: dict[str, Any] | None = None,
          status: int = 200):  # fmt: skip
    page = render_template(
        "admin/rates.html",
        ages=rate_feeds.rate_ages(),
        feeds=rate_feeds.feed_status(),
        form=form or {},
        errors=errors or {},
    )
    return page, status


@rates_pages_bp.get("/")
def index():
    """The rates in force with their ages, the feeds, and the forms."""
    return _page()


@rates_pages_bp.post("/")
def set_rate():
    """Set a rate by hand from the form; on a mistake, the page again with the reasons."""
    form = {name: request.form.get(name, "").strip() for name in FORM_FIELDS}
    effective_on = None
    if form["effective_on"]:
        try:
            effective_on = date.fromisoformat(form["effective_on"])
        except ValueError:
            return _page(form, {"effective_on": ["Use YYYY-MM-DD."]}, 422)
    try:
        row = rate_feeds.set_rate(
            current_operator(), form["base"], form["quote"], form["rate"], effective_on
        )
    except ValidationFailed as error:
        return _page(form, error.errors or {"rate": [error.detail or error.title]}, 422)
    if row["created"]:
        flash(f"Set 1 {row['base']} = {row['rate']} {row['quote']} from {row['effective_on']}.",
              "success")  # fmt: skip
    else:
        flash(f"1 {row['base']} = {row['rate']} {row['quote']} was already set for "
              f"{row['effective_on']}: nothing changed.", "success")  # fmt: skip
    if not row["in_force_today"]:
        flash("It is not in force today: a newer rate of this pair wins, or its day is ahead.",
              "warning")  # fmt: skip
    return redirect(url_for(".index"), 303)


@rates_pages_bp.post("/feeds/<string(maxlength=40):name>/fetch")
def fetch_feed(name: str):
    """Fetch one feed now and say how it went."""
    run = rate_feeds.fetch_rates(name, current_operator())
    if run["outcome"] == "ok":
        flash(f"{name}: {run['rates_seen']} rates dated {run['published_on']}, "
              f"{run['rows_added']} new.", "success")  # fmt: skip
    else:
        flash(f"{name} failed: {run['error']}. The rates in force are kept.", "error")
    return redirect(url_for(".index"), 303)
