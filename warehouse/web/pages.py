"""The staff pages: log in and out, the node board, pick lists (page and PDF)."""

from __future__ import annotations

import math

from flask import flash, g, make_response, redirect, render_template, request, url_for

from shop.core.auth import StaffPrincipal
from shop.core.errors import DomainError, NotFound
from warehouse import fulfilment
from warehouse.shipment_states import SHIPMENT_STATUSES
from warehouse.web.blueprint import web_bp
from warehouse.web.labels import translate
from warehouse.web.page_session import end_session, login_required, safe_next_url, start_session
from warehouse.web.sign_in import end_all_sessions, sign_in_staff


@web_bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success a fresh session and a redirect to ``next`` (or the nodes)."""
    next_url = safe_next_url(request.values.get("next"))
    if request.method == "GET":
        if g.staff is not None:
            return redirect(next_url or url_for(".dashboard"))
        return render_template("warehouse/login.html", next_url=next_url, email="")

    email = request.form.get("email", "")
    outcome = sign_in_staff(email, request.form.get("password", ""), request.remote_addr or "")
    if outcome.staff_id is None:
        if outcome.refused == "throttled":
            minutes = max(1, math.ceil(outcome.retry_after / 60))
            error = translate("too_many_attempts", g.lang, minutes=minutes)
            status = 429
        else:
            error = translate(outcome.refused or "bad_credentials", g.lang)
            status = 200
        response = make_response(
            render_template("warehouse/login.html", next_url=next_url, email=email, error=error),
            status,
        )
        if outcome.retry_after:
            response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    start_session(outcome)
    return redirect(next_url or url_for(".dashboard"), code=303)


@web_bp.post("/logout")
def logout():
    """End this browser's session (other devices stay logged in)."""
    end_session()
    flash(translate("logged_out", g.lang))
    return redirect(url_for(".login"), code=303)


@web_bp.post("/logout-everywhere")
@login_required
def logout_everywhere(staff: StaffPrincipal):
    """End every session of the staff member, on every device (a lost phone, a shared PC)."""
    end_all_sessions(staff.staff_id)
    end_session()
    flash(translate("logged_out_everywhere", g.lang))
    return redirect(url_for(".login"), code=303)


def _problem_text(error: DomainError) -> str:
    text = error.detail or error.title
    for field, reasons in (error.errors or {}).items():
        text += f" {field}: {' '.join(map(str, reasons)) if isinstance(reasons, list) else reasons}"
    return text


def _ordered_states(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Every shipment state in lifecycle order (zeros too: a node's board keeps its shape),
    then any state the lifecycle does not list."""
    known = [(state, counts.get(state, 0)) for state in SHIPMENT_STATUSES]
    return known + sorted((s, n) for s, n in counts.items() if s not in SHIPMENT_STATUSES)


@web_bp.get("/")
@login_required
def dashboard(staff: StaffPrincipal):
    """The staff member's node (operators: every node) with shipments per state,
    open pick lists, and a form to batch ready shipments into a new pick list."""
    board = fulfilment.node_board(staff, g.lang)
    return render_template(
        "warehouse/dashboard.html",
        nodes=board["nodes"],
        carriers=board["carriers"],
        ordered_states=_ordered_states,
        max_pick_list_size=fulfilment.MAX_PICK_LIST_SIZE,
    )


@web_bp.post("/nodes/<code>/pick-lists")
@login_required
def create_pick_list(code: str, staff: StaffPrincipal):
    """Batch the node's ready shipments into a pick list and show it."""
    raw_max = request.form.get("max_shipments", "").strip()
    max_shipments = None
    if raw_max:
        if not (raw_max.isascii() and raw_max.isdecimal()) or not (
            1 <= int(raw_max) <= fulfilment.MAX_PICK_LIST_SIZE
        ):
            flash(
                translate("max_shipments_invalid", g.lang, most=fulfilment.MAX_PICK_LIST_SIZE),
                "error",
            )
            return redirect(url_for(".dashboard"), code=303)
        max_shipments = int(raw_max)
    carrier = request.form.get("carrier", "").strip() or None
    try:
        document = fulfilment.create_pick_list(
            staff, code.upper(), max_shipments=max_shipments, carrier=carrier
        )
    except NotFound:
        raise
    except DomainError as error:
        # "Nothing ready to pick" and the like: said on the board the form is on.
        flash(_problem_text(error), "error")
        return redirect(url_for(".dashboard"), code=303)
    return redirect(url_for(".pick_list", pick_list_id=document["id"]), code=303)


@web_bp.get("/pick-lists/<int(max=2147483647):pick_list_id>")
@login_required
def pick_list(pick_list_id: int, staff: StaffPrincipal):
    """A pick list as a page made for printing (A4: bins bold, quantities large)."""
    document = fulfilment.pick_list_document(staff, pick_list_id, g.lang)
    return render_template("warehouse/pick_list.html", pick_list=document)


@web_bp.get("/pick-lists/<int(max=2147483647):pick_list_id>.pdf")
@login_required
def pick_list_pdf(pick_list_id: int, staff: StaffPrincipal):
    """The pick list as PDF, for the logged-in page user (the API's takes a bearer token)."""
    pdf = fulfilment.pick_list_pdf(staff, pick_list_id, g.lang)
    response = make_response(pdf)
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="pick-list-{pick_list_id}.pdf"'
    return response
