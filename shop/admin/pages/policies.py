"""Customs rule set pages: every rule set (shipped and added) and the form that adds
a row from a new date, optionally started from an existing rule set."""

from __future__ import annotations

import json
from typing import Any

from flask import make_response, render_template, request

from shop.admin import services
from shop.admin.pages import admin_pages_bp
from shop.admin.pages.forms import done, form_text
from shop.admin.web import current_operator, problem_text
from shop.core.errors import DomainError


def _policies_page(form: dict[str, Any], errors: dict[str, Any] | None, status: int = 200):
    page = render_template(
        "admin/policies.html", policies=services.list_policies(), form=form, errors=errors or {}
    )
    return make_response(page, status)


@admin_pages_bp.get("/policies/")
def policies():
    """Customs rule sets (shipped and added) and the form to add a row; ``?from=<version>``
    fills the form with that rule set's figures."""
    form: dict[str, Any] = {"kind": "eaeu", "rule_set": ""}
    start_from = request.args.get("from")
    if start_from:
        template = services.policy_template(start_from)
        form = {
            "kind": template["kind"],
            "rule_set": json.dumps(template["rule_set"], ensure_ascii=False, indent=2),
        }
    return _policies_page(form, None)


@admin_pages_bp.post("/policies/")
def add_policy():
    """Add a customs rule set row from a new date (never an edit of one in force)."""
    form = {"kind": form_text("kind"), "rule_set": request.form.get("rule_set", "")}
    try:
        document = json.loads(form["rule_set"])
    except ValueError as error:
        return _policies_page(form, {"rule_set": [f"Not JSON: {error}"]}, 422)
    try:
        added = services.add_policy(current_operator(), form["kind"], document)
    except DomainError as error:
        return _policies_page(form, error.errors or {"rule_set": [problem_text(error)]}, 422)
    return done(f"{added['version']} is added for {', '.join(added['countries'])}.", ".policies")
