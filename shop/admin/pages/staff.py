"""Staff pages: the list and the form to add someone, one staff member, their node
and role, disabling and enabling them, and a new one-time password."""

from __future__ import annotations

from flask import flash, make_response, render_template, request

from shop.admin import services
from shop.admin.pages import admin_pages_bp
from shop.admin.pages.forms import done, form_text, page_number, refused
from shop.admin.web import current_operator, problem_text
from shop.core.errors import DomainError


@admin_pages_bp.get("/staff/")
def staff():
    """Staff, with the form to add one."""
    listing = services.list_staff(page=page_number(), per_page=50)
    return render_template(
        "admin/staff.html", listing=listing, nodes=services.node_codes(), form={}
    )


@admin_pages_bp.post("/staff/")
def create_staff():
    """Add a staff member and show their one-time password (and token), once."""
    form = {name: form_text(name) for name in ("email", "node", "role")}
    with_token = request.form.get("issue_token") == "on"
    try:
        issued = services.create_staff(
            current_operator(), form["email"], form["node"] or None, form["role"] or "picker",
            with_token=with_token,
        )  # fmt: skip
    except DomainError as error:
        page = render_template(
            "admin/staff.html",
            listing=services.list_staff(per_page=50),
            nodes=services.node_codes(),
            form=form,
            errors=error.errors or {"email": [problem_text(error)]},
        )
        return make_response(page, error.status)
    flash(f"{issued.document['email']} is added.", "success")
    return render_template(
        "admin/staff_detail.html",
        member=services.get_staff(issued.document["id"]),
        nodes=services.node_codes(),
        new_password=issued.password,
        new_token=issued.token,
    )


@admin_pages_bp.get("/staff/<int(max=2147483647):staff_id>")
def staff_member(staff_id: int):
    """One staff member: node, role, active, password reset."""
    return render_template(
        "admin/staff_detail.html",
        member=services.get_staff(staff_id),
        nodes=services.node_codes(),
        new_password=None,
        new_token=None,
    )


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>")
def change_staff(staff_id: int):
    """Change node and role."""
    try:
        services.change_staff(
            current_operator(), staff_id,
            node_code=form_text("node") or None, role=form_text("role") or None,
        )  # fmt: skip
    except DomainError as error:
        return refused(error, ".staff_member", staff_id=staff_id)
    return done("Saved.", ".staff_member", staff_id=staff_id)


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>/disable")
def disable_staff(staff_id: int):
    """Disable: sessions end now, tokens are revoked."""
    try:
        services.change_staff(current_operator(), staff_id, is_active=False)
    except DomainError as error:
        return refused(error, ".staff_member", staff_id=staff_id)
    return done("Disabled; their sessions ended and tokens were revoked.", ".staff_member",
                 staff_id=staff_id)  # fmt: skip


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>/enable")
def enable_staff(staff_id: int):
    """Enable again (reset the password to hand them a new one)."""
    services.change_staff(current_operator(), staff_id, is_active=True)
    return done("Enabled.", ".staff_member", staff_id=staff_id)


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>/password")
def reset_staff_password(staff_id: int):
    """A new one-time password, shown once."""
    issued = services.reset_staff_password(current_operator(), staff_id)
    flash("A new password is set. Hand it over now: it is not shown again.", "warning")
    return render_template(
        "admin/staff_detail.html",
        member=services.get_staff(staff_id),
        nodes=services.node_codes(),
        new_password=issued.password,
        new_token=None,
    )
