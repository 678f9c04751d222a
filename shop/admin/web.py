"""Admin pages under /admin/ (the staff login, operators only).

The admin pages share the staff pages' login and session (``/warehouse/login``,
shop.core.csrf, the session epoch): an operator logs in once for both. Every admin page
blueprint — this one and the rates, reports and customs-records pages — is put behind
``protect_admin_blueprint``, which is the one place that decides who may see them.
Pages are English only: operators are few and work in English (the shoppers' and
pickers' pages are the translated ones).

The admin API (``/api/v1/admin/...``) takes a bearer token instead; its guard is
``admin_api_operator``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any, NamedTuple

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from shop.admin import services
from shop.core.audit import list_entries
from shop.core.auth import Forbidden, StaffPrincipal, Unauthorized
from shop.core.csrf import CSRF_FIELD, csrf_token, csrf_token_sent_is_valid
from shop.core.errors import DomainError, NotFound, ValidationFailed
from warehouse.auth import authenticate_staff
from warehouse.services import LaneChange, get_lane
from warehouse.web import load_page_user, page_language, translate

log = logging.getLogger(__name__)

admin_pages_bp = Blueprint("admin_pages", __name__, url_prefix="/admin")


class NavLink(NamedTuple):
    """One entry of the admin navigation. Linked by path, not ``url_for``, so a page
    blueprint that is missing (or renamed) never breaks the others' pages."""

    endpoint: str
    label: str

    @property
    def path(self) -> str:
        return ADMIN_NAV_PATHS[self.endpoint]


ADMIN_NAV_PATHS = {
    "admin_pages.index": "/admin/",
    "admin_pages.merchants": "/admin/merchants/",
    "admin_pages.staff": "/admin/staff/",
    "admin_pages.nodes": "/admin/nodes/",
    "admin_pages.policies": "/admin/policies/",
    "admin_pages.audit": "/admin/audit/",
    "admin_rates_pages.index": "/admin/rates/",
    "admin_reports_pages.index": "/admin/reports/",
    "admin_customs_pages.index": "/admin/customs/",
}

ADMIN_NAV = [
    NavLink("admin_pages.merchants", "Merchants"),
    NavLink("admin_pages.staff", "Staff"),
    NavLink("admin_pages.nodes", "Nodes & lanes"),
    NavLink("admin_pages.policies", "Customs policies"),
    NavLink("admin_rates_pages.index", "Rates"),
    NavLink("admin_reports_pages.index", "Reports"),
    NavLink("admin_customs_pages.index", "Customs records"),
    NavLink("admin_pages.audit", "Audit"),
]

ERROR_MESSAGES = {
    400: "The request could not be processed.",
    404: "Nothing is here.",
    405: "This page does not accept that request.",
    409: "That conflicts with the current state; reload and try again.",
    422: "Some fields are not valid.",
    429: "Too many requests. Try again later.",
    500: "Something failed on our side.",
}
CSRF_MESSAGE = (
    "The form has expired or did not come from this site. Go back, reload the page and try again."
)


# ------------------------------------------------------------ who may act


def current_operator() -> StaffPrincipal:
    """The operator of this page request (set by the guard ``protect_admin_blueprint``
    installs; calling it from an unguarded view is a programming error)."""
    operator = g.get("admin_operator")
    if operator is None:
        raise RuntimeError("current_operator() outside a protected admin page")
    return operator


def admin_api_operator() -> StaffPrincipal:
    """The operator behind an admin API request's bearer token.

    No or an unknown token, or a merchant's token: 401 (a merchant token is no
    credential at all here). A staff token of a picker: 404, as for a path that does
    not exist, so the admin API does not reveal itself to someone who may not use it.
    The answer is kept on ``g`` so the guard of the whole ``/api/v1/admin`` tree and
    the view share one token lookup.
    """
    operator = g.get("admin_api_operator")
    if operator is not None:
        return operator
    try:
        staff = authenticate_staff()
    except Forbidden as error:  # a merchant token
        raise Unauthorized("The admin API takes an operator's staff token.") from error
    if not staff.is_operator:
        raise NotFound()
    g.admin_api_operator = staff
    return staff


def operator_only_on(blueprint):
    """The decorator every admin API view of ``blueprint`` wears: it documents the
    operator's bearer token and the refusals in the OpenAPI document, and passes the
    operator to the view as ``operator``. The tree-wide guard (shop.admin.api) has
    already refused anyone else before arguments are parsed; this lookup is cached."""

    def operator_only(view):
        view = blueprint.alt_response(
            401, description="Missing, unknown, revoked or merchant token"
        )(view)
        view = blueprint.alt_response(
            404, description="Not found, or not an operator's token (not shown to others)"
        )(view)
        view = blueprint.doc(security=[{"bearerAuth": []}])(view)

        @wraps(view)
        def with_operator(*args, **kwargs):
            kwargs["operator"] = admin_api_operator()
            return view(*args, **kwargs)

        return with_operator

    return operator_only


# ------------------------------------------------------------ page guard


def _guard_admin_page() -> Response | None:
    if g.get("admin_page_checked"):
        return None  # a second protected blueprint on the same request
    g.admin_page_checked = True
    load_page_user()
    g.lang = "en"
    if g.staff is None:
        if request.method == "GET":
            target = request.full_path if request.query_string else request.path
        else:  # after login, a GET of a form's target would not repeat the form
            target = ADMIN_NAV_PATHS["admin_pages.index"]
        key = "session_ended" if g.get("session_ended") else "please_log_in"
        flash(translate(key, page_language()))
        return redirect(url_for("warehouse_pages.login", next=target))
    if not g.staff.is_operator:
        # As for a page that does not exist: pickers need not learn what is here.
        abort(404)
    if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_token_sent_is_valid():
        log.warning("CSRF token missing or wrong on %s %s", request.method, request.path)
        abort(400, description="csrf")
    g.admin_operator = g.staff
    return None


def _no_store(response: Response) -> Response:
    # Admin pages show accounts, tokens once, customs data: never cached anywhere.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


def csrf_field() -> Markup:
    """The hidden CSRF input every admin POST form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


def _admin_context() -> dict[str, Any]:
    return {
        "current_staff": g.get("staff"),
        "current_email": g.get("staff_email"),
        "csrf_field": csrf_field,
        "csrf_token": csrf_token,
        "admin_nav": ADMIN_NAV,
    }


def error_page(status: int, message: str | None = None, detail: str | None = None) -> Response:
    """An error in the admin look (also for pickers refused with a 404)."""
    message = message or ERROR_MESSAGES.get(status, ERROR_MESSAGES[400])
    page = render_template("admin/error.html", status=status, message=message, detail=detail)
    return make_response(page, status)


def _http_error_page(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 400 and error.description == "csrf":
        return error_page(400, CSRF_MESSAGE)
    response = error_page(status)
    if status == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or [])  # type: ignore[attr-defined]
    return response


def problem_text(error: DomainError) -> str:
    """A domain error as one line a person reads (fields and their reasons included)."""
    text = error.detail or error.title
    for field, reasons in (error.errors or {}).items():
        said = " ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)
        text += f" {field}: {said}"
    return text


def _domain_error_page(error: DomainError) -> Response:
    if error.status == 404:
        return error_page(404)
    return error_page(error.status, detail=problem_text(error))


def protect_admin_blueprint(bp: Blueprint) -> None:
    """Put a page blueprint behind the operators' login.

    Installs: the guard (staff session of ``/warehouse/login``; anonymous → redirect
    to the login with ``next``; a logged-in non-operator → 404; CSRF on every POST),
    ``Cache-Control: no-store``, the template context (``current_staff``,
    ``current_email``, ``csrf_field()``, ``admin_nav``) and error pages in the admin
    look.
    """
    bp.before_request(_guard_admin_page)
    bp.after_request(_no_store)
    bp.context_processor(_admin_context)
    bp.register_error_handler(HTTPException, _http_error_page)
    bp.register_error_handler(DomainError, _domain_error_page)


protect_admin_blueprint(admin_pages_bp)


# ------------------------------------------------------------ pages


@admin_pages_bp.get("/")
def index():
    """The admin home: counts and links."""
    return render_template("admin/index.html", counts=services.overview_counts())


def _form_text(name: str) -> str:
    return (request.form.get(name) or "").strip()


def _form_int(name: str, errors: dict[str, list[str]]) -> int | None:
    raw = _form_text(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = ["A whole number."]
        return None


def _page_number() -> int:
    raw = request.args.get("page", "1")
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    return max(1, min(int(raw), 100_000)) if raw.isascii() and raw.isdecimal() else 1


def _done(message: str, endpoint: str, **values: Any) -> Response:
    flash(message, "success")
    return redirect(url_for(endpoint, **values), code=303)


def _refused(error: DomainError, endpoint: str, **values: Any) -> Response:
    if error.status == 404:
        raise error
    flash(problem_text(error), "error")
    return redirect(url_for(endpoint, **values), code=303)


# ------------------------------------------------------------ merchants


STATUSES = ("active", "suspended")


@admin_pages_bp.get("/merchants/")
def merchants():
    """Merchants, with the form to onboard one."""
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    listing = services.list_merchants(
        page=_page_number(), per_page=50, status=status, q=request.args.get("q") or None
    )
    return render_template("admin/merchants.html", listing=listing, status=status, form={})


@admin_pages_bp.post("/merchants/")
def create_merchant():
    """Onboard a merchant and show its first API token, once."""
    form = {name: _form_text(name) for name in ("name", "country", "currency")}
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
    services.set_merchant_active(current_operator(), merchant_id, False, _form_text("reason"))
    return _done("The merchant is suspended.", ".merchant", merchant_id=merchant_id)


@admin_pages_bp.post("/merchants/<int(max=2147483647):merchant_id>/reactivate")
def reactivate_merchant(merchant_id: int):
    """Reactivate a suspended merchant."""
    services.set_merchant_active(current_operator(), merchant_id, True, _form_text("reason"))
    return _done("The merchant is active again.", ".merchant", merchant_id=merchant_id)


@admin_pages_bp.post("/merchants/<int(max=2147483647):merchant_id>/tokens")
def issue_merchant_token(merchant_id: int):
    """Issue another token and show it, once."""
    issued = services.issue_merchant_token(current_operator(), merchant_id, _form_text("label"))
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
    return _done("The token is revoked.", ".merchant", merchant_id=merchant_id)


# ------------------------------------------------------------ staff


def _node_codes() -> list[str]:
    return [node["code"] for node in services.list_nodes()]


@admin_pages_bp.get("/staff/")
def staff():
    """Staff, with the form to add one."""
    listing = services.list_staff(page=_page_number(), per_page=50)
    return render_template("admin/staff.html", listing=listing, nodes=_node_codes(), form={})


@admin_pages_bp.post("/staff/")
def create_staff():
    """Add a staff member and show their one-time password (and token), once."""
    form = {name: _form_text(name) for name in ("email", "node", "role")}
    with_token = request.form.get("issue_token") == "on"
    try:
        issued = services.create_staff(
            current_operator(), form["email"], form["node"] or None, form["role"] or "picker",
            with_token=with_token,
        )  # fmt: skip
    except DomainError as error:
        page = render_template(
            "admin/staff.html", listing=services.list_staff(per_page=50), nodes=_node_codes(),
            form=form, errors=error.errors or {"email": [problem_text(error)]},
        )  # fmt: skip
        return make_response(page, error.status)
    flash(f"{issued.document['email']} is added.", "success")
    return render_template(
        "admin/staff_detail.html",
        member=services.get_staff(issued.document["id"]),
        nodes=_node_codes(),
        new_password=issued.password,
        new_token=issued.token,
    )


@admin_pages_bp.get("/staff/<int(max=2147483647):staff_id>")
def staff_member(staff_id: int):
    """One staff member: node, role, active, password reset."""
    return render_template(
        "admin/staff_detail.html",
        member=services.get_staff(staff_id),
        nodes=_node_codes(),
        new_password=None,
        new_token=None,
    )


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>")
def change_staff(staff_id: int):
    """Change node and role."""
    try:
        services.change_staff(
            current_operator(), staff_id,
            node_code=_form_text("node") or None, role=_form_text("role") or None,
        )  # fmt: skip
    except DomainError as error:
        return _refused(error, ".staff_member", staff_id=staff_id)
    return _done("Saved.", ".staff_member", staff_id=staff_id)


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>/disable")
def disable_staff(staff_id: int):
    """Disable: sessions end now, tokens are revoked."""
    try:
        services.change_staff(current_operator(), staff_id, is_active=False)
    except DomainError as error:
        return _refused(error, ".staff_member", staff_id=staff_id)
    return _done("Disabled; their sessions ended and tokens were revoked.", ".staff_member",
                 staff_id=staff_id)  # fmt: skip


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>/enable")
def enable_staff(staff_id: int):
    """Enable again (reset the password to hand them a new one)."""
    services.change_staff(current_operator(), staff_id, is_active=True)
    return _done("Enabled.", ".staff_member", staff_id=staff_id)


@admin_pages_bp.post("/staff/<int(max=2147483647):staff_id>/password")
def reset_staff_password(staff_id: int):
    """A new one-time password, shown once."""
    issued = services.reset_staff_password(current_operator(), staff_id)
    flash("A new password is set. Hand it over now: it is not shown again.", "warning")
    return render_template(
        "admin/staff_detail.html",
        member=services.get_staff(staff_id),
        nodes=_node_codes(),
        new_password=issued.password,
        new_token=None,
    )


# ------------------------------------------------------------ nodes, bins, lanes


@admin_pages_bp.get("/nodes/")
def nodes():
    """Nodes and their lanes, with priority and cut-off times."""
    return render_template("admin/nodes.html", nodes=services.list_nodes())


@admin_pages_bp.get("/nodes/<string(maxlength=16):code>")
def node(code: str):
    """One node: settings, lanes with legs, bins."""
    return render_template(
        "admin/nodes_detail.html", node=services.get_node(code), bins=services.list_bins(code)
    )


@admin_pages_bp.post("/nodes/<string(maxlength=16):code>")
def change_node(code: str):
    """Save a node's priority, city and whether routing may use it."""
    errors: dict[str, list[str]] = {}
    priority = _form_int("priority", errors)
    if errors:
        flash(problem_text(ValidationFailed(errors=errors)), "error")
        return redirect(url_for(".node", code=code), code=303)
    change = services.NodeChange(
        priority=priority,
        is_active=request.form.get("is_active") == "on",
        city=_form_text("city") or None,
    )
    try:
        services.change_node(current_operator(), code, change)
    except DomainError as error:
        return _refused(error, ".node", code=code)
    return _done("Saved.", ".node", code=code.upper())


@admin_pages_bp.post("/nodes/<string(maxlength=16):code>/bins")
def move_bin_units(code: str):
    """Put units into a bin (from another bin or from no bin)."""
    errors: dict[str, list[str]] = {}
    quantity = _form_int("quantity", errors)
    try:
        if errors:
            raise ValidationFailed(errors=errors)
        moved = services.move_bin_units(
            current_operator(), code, sku=_form_text("sku"), to_bin=_form_text("to_bin"),
            from_bin=_form_text("from_bin") or None, quantity=quantity or 0,
        )  # fmt: skip
    except DomainError as error:
        return _refused(error, ".node", code=code)
    return _done(
        f"{moved['quantity']} × {moved['sku']} are in {moved['to']['bin']}.", ".node",
        code=code.upper(),
    )  # fmt: skip


LEG_FIELDS = ("transit_days_min", "transit_days_max", "cost_base", "cost_per_kg")


@admin_pages_bp.get("/lanes/<string(maxlength=40):code>")
def lane(code: str):
    """A lane's edit form: cut-off, time zone, countries, active, and each leg's transit
    days and costs."""
    return render_template("admin/lanes_edit.html", lane=get_lane(code))


@admin_pages_bp.post("/lanes/<string(maxlength=40):code>")
def change_lane(code: str):
    """Save a lane (the same service as ``flask lanes set``; legs replaced in order)."""
    current = get_lane(code)
    legs = []
    errors: list[str] = []
    for n, leg in enumerate(current["legs"], 1):
        try:
            legs.append(
                services.LegInput(
                    carrier=leg["carrier"],
                    service=leg["service"],
                    transit_days_min=int(request.form.get(f"leg{n}_transit_days_min", "")),
                    transit_days_max=int(request.form.get(f"leg{n}_transit_days_max", "")),
                    cost_base=Decimal(request.form.get(f"leg{n}_cost_base", "")),
                    cost_per_kg=Decimal(request.form.get(f"leg{n}_cost_per_kg", "")),
                    cost_currency=leg["cost"]["base"]["currency"],
                    crossing=leg["crossing"],
                    customs_mode=leg["customs_mode"],
                )
            )
        except (ValueError, InvalidOperation):
            errors.append(f"Leg {n}: transit days are whole numbers, costs decimal numbers.")
    countries = [c.strip().upper() for c in _form_text("countries").split(",") if c.strip()]
    change = LaneChange(
        cutoff_time=_form_text("cutoff_time") or None,
        timezone=_form_text("timezone") or None,
        active=request.form.get("active") == "on",
        countries=countries or None,
    )
    try:
        if errors:
            raise ValidationFailed(errors={"legs": errors})
        services.change_lane(current_operator(), code, change, legs)
    except DomainError as error:
        return _refused(error, ".lane", code=code)
    return _done("Saved.", ".lane", code=current["code"])


# ------------------------------------------------------------ customs policies


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
    form = {"kind": _form_text("kind"), "rule_set": request.form.get("rule_set", "")}
    try:
        document = json.loads(form["rule_set"])
    except ValueError as error:
        return _policies_page(form, {"rule_set": [f"Not JSON: {error}"]}, 422)
    try:
        added = services.add_policy(current_operator(), form["kind"], document)
    except DomainError as error:
        return _policies_page(form, error.errors or {"rule_set": [problem_text(error)]}, 422)
    return _done(f"{added['version']} is added for {', '.join(added['countries'])}.", ".policies")


# ------------------------------------------------------------ audit


AUDIT_FILTERS = ("action", "target_type", "target_id", "since", "until")


@admin_pages_bp.get("/audit/")
def audit():
    """The audit log, newest first, with filters."""
    filters = {name: (request.args.get(name) or "").strip() for name in AUDIT_FILTERS}
    moments: dict[str, datetime | None] = {}
    problems = []
    for name in ("since", "until"):
        moments[name] = None
        if filters[name]:
            try:
                moment = datetime.fromisoformat(filters[name])
            except ValueError:
                problems.append(f"{name}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC).")
                continue
            moments[name] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    listing = list_entries(
        page=_page_number(), per_page=50,
        action=filters["action"] or None, target_type=filters["target_type"] or None,
        target_id=filters["target_id"] or None, since=moments["since"], until=moments["until"],
    )  # fmt: skip
    for problem in problems:
        flash(problem, "error")
    return render_template("admin/audit.html", listing=listing, filters=filters)
