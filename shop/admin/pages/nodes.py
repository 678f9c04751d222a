"""Node pages: the nodes with their lanes, one node with its bins, moving units
between bins, and a lane's edit form (its fields and its legs' figures)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from shop.admin import services
from shop.admin.pages import admin_pages_bp
from shop.admin.pages.forms import done, form_int, form_text, refused
from shop.admin.web import current_operator, problem_text
from shop.core.errors import DomainError, ValidationFailed
from warehouse.services import LaneChange, get_lane


@admin_pages_bp.get("/nodes/")
def nodes():
    """Nodes and their lanes, with priority and cut-off times."""
    return render_template("admin/nodes.html", nodes=services.list_nodes())


@admin_pages_bp.get("/nodes/<string(maxlength=16):code>")
def node(code: str):
    """One node: settings, lanes with legs, bins."""
    return render_template("admin/nodes_detail.html", **services.get_node_with_bins(code))


@admin_pages_bp.post("/nodes/<string(maxlength=16):code>")
def change_node(code: str):
    """Save a node's priority, city and whether routing may use it."""
    errors: dict[str, list[str]] = {}
    priority = form_int("priority", errors)
    if errors:
        flash(problem_text(ValidationFailed(errors=errors)), "error")
        return redirect(url_for(".node", code=code), code=303)
    change = services.NodeChange(
        priority=priority,
        is_active=request.form.get("is_active") == "on",
        city=form_text("city") or None,
    )
    try:
        services.change_node(current_operator(), code, change)
    except DomainError as error:
        return refused(error, ".node", code=code)
    return done("Saved.", ".node", code=code.upper())


@admin_pages_bp.post("/nodes/<string(maxlength=16):code>/bins")
def move_bin_units(code: str):
    """Put units into a bin (from another bin or from no bin)."""
    errors: dict[str, list[str]] = {}
    quantity = form_int("quantity", errors)
    try:
        if errors:
            raise ValidationFailed(errors=errors)
        moved = services.move_bin_units(
            current_operator(), code, sku=form_text("sku"), to_bin=form_text("to_bin"),
            from_bin=form_text("from_bin") or None, quantity=quantity or 0,
        )  # fmt: skip
    except DomainError as error:
        return refused(error, ".node", code=code)
    return done(
        f"{moved['quantity']} × {moved['sku']} are in {moved['to']['bin']}.", ".node",
        code=code.upper(),
    )  # fmt: skip


@admin_pages_bp.get("/lanes/<string(maxlength=40):code>")
def lane(code: str):
    """A lane's edit form: cut-off, time zone, countries, active, and each leg's transit
    days and costs."""
    return render_template("admin/lanes_edit.html", lane=get_lane(code))


def _leg_figure(n: int, name: str) -> str:
    # The edit form names leg n's fields leg<n>_<name> (admin/lanes_edit.html).
    return request.form.get(f"leg{n}_{name}", "")


@admin_pages_bp.post("/lanes/<string(maxlength=40):code>")
def change_lane(code: str):
    """Save a lane (the same service as ``flask lanes set``; legs replaced in order)."""
    countries = [c.strip().upper() for c in form_text("countries").split(",") if c.strip()]
    change = LaneChange(
        cutoff_time=form_text("cutoff_time") or None,
        timezone=form_text("timezone") or None,
        active=request.form.get("active") == "on",
        countries=countries or None,
    )
    try:
        saved = services.change_lane_figures(current_operator(), code, change, _leg_figure)
    except DomainError as error:
        return refused(error, ".lane", code=code)
    return done("Saved.", ".lane", code=saved["code"])
