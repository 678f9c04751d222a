"""Merchant pages: the list and onboarding form, one merchant, suspending and
reactivating it, and its API tokens (a new one shown once)."""

from __future__ import annotations

from flask import flash, make_response, render_template, request

from shop.admin import services
from shop.admin.pages import admin_pages_bp
from shop.admin.pages.forms import done, form_text, page_number
from shop.admin.web import current_operator, problem_text
from shop.core.errors import DomainError

STATUSES = ("active", "suspended")


@admin_pages_bp.get("/merchants/")
def merchants():
    """Merchants, with the form to onboard one."""
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    listing = services.list_merchants(
        page=page_number(), per_page=50, status=status, q=request.args.get("q") or None
    )
    return render_template("admin/merchants.html", listing=listing, status=status, form={})


@admin_pages_bp.post("/merchants/")
def create_merchant():
    """Onboard a merchant and show its first API token, once."""
    form = {name: form_text(name) for name in ("name", "country", "currency")}
    try:
        issued = services.create_merchant(
            current_operator(), form["name"], form["country"], form["currency"] or None
        )
    except DomainError as error:
        listing = services.list_merchants(per_page=50)
        page = render_template(
            "admin/merchants.html", listing=listing, status=None, form=form,
            errors=error.errors or {"name": [problem_text(error)]},
        )  # fmt: skip
        return make_response(page, error.status)
    flash(f"Merchant {issued.document['name']} is onboarded.", "success")
    return render_template(
        "admin/merchants_detail.html",
        merchant=services.get_merchant(issued.document["id"]),
        new_token=issued.token,
    )


@admin_pages_bp.get("/merchants/<int(max=2147483647):merchant_id>")
def merchant(merchant_id: int):
    """One merchant: status, tokens, and the actions on them."""
    return render_template(
        "admin/merchants_detail.html", merchant=services.get_merchant(merchant_id), new_token=None
    )


@admin_pages_bp.post("/merchants/<int(max=2147483647):merchant_id>/suspend")
def suspend_merchant(merchant_id: int):
    """Suspend: tokens refused, products off the storefront, orders in flight go on."""
    services.set_merchant_active(current_operator(), merchant_id, False, form_text("reason"))
    return done("The merchant is suspended.", ".merchant", merchant_id=merchant_id)


@admin_pages_bp.post("/merchants/<int(max=2147483647):merchant_id>/reactivate")
def reactivate_merchant(merchant_id: int):
    """Reactivate a suspended merchant."""
    services.set_merchant_active(current_operator(), merchant_id, True, form_text("reason"))
    return done("The merchant is active again.", ".merchant", merchant_id=merchant_id)


@admin_pages_bp.post("/merchants/<int(max=2147483647):merchant_id>/tokens")
def issue_merchant_token(merchant_id: int):
    """Issue another token and show it, once."""
    issued = services.issue_merchant_token(current_operator(), merchant_id, form_text("label"))
    flash("A new token is issued. Copy it now: it is not shown again.", "warning")
    return render_template(
        "admin/merchants_detail.html",
        merchant=services.get_merchant(merchant_id),
        new_token=issued.token,
    )


@admin_pages_bp.post(
    "/merchants/<int(max=2147483647):merchant_id>/tokens/<int(max=2147483647):token_id>/revoke"
)
def revoke_merchant_token(merchant_id: int, token_id: int):
    """Revoke one token of the merchant."""
    services.revoke_merchant_token(current_operator(), merchant_id, token_id)
    return done("The token is revoked.", ".merchant", merchant_id=merchant_id)
