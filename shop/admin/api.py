"""Admin API: merchants, staff, nodes, bins and lanes, customs policy rows, the audit log.

Everything under ``/api/v1/admin`` takes an operator's staff token: anonymous or a
merchant token 401, a picker's token 404 (the admin API does not reveal itself).
The guard runs for the whole tree before any view parses its arguments, so the
rates, reports and customs-records blueprints mounted there are covered too.
Every change is written to the audit log in the same transaction (shop.admin.services).
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from shop.admin import services
from shop.admin.schemas import (
    AdminLaneListSchema,
    AdminNodeDetailSchema,
    AdminNodeListSchema,
    AuditPageSchema,
    AuditQuerySchema,
    BinMovedSchema,
    BinMoveSchema,
    IssuedTokenSchema,
    LaneChangeSchema,
    LaneQuerySchema,
    MerchantCreatedSchema,
    MerchantCreateSchema,
    MerchantDetailSchema,
    MerchantPageSchema,
    MerchantQuerySchema,
    MerchantSchema,
    NewTokenSchema,
    NodeBinsSchema,
    NodeChangeSchema,
    PasswordResetSchema,
    PolicyAddedSchema,
    PolicyCreateSchema,
    PolicyListSchema,
    PolicyQuerySchema,
    StaffChangeSchema,
    StaffCreatedSchema,
    StaffCreateSchema,
    StaffDetailSchema,
    StaffPageSchema,
    StaffQuerySchema,
    StaffSchema,
    SuspendSchema,
    TokenSchema,
)
from shop.admin.web import admin_api_operator, operator_only_on
from shop.core import audit
from shop.core.api_base import Blueprint
from warehouse.schemas import LaneSchema
from warehouse.services import LaneChange, get_lane, list_lanes

ADMIN_API_PREFIX = "/api/v1/admin"

admin_blp = Blueprint(
    "admin",
    __name__,
    url_prefix=ADMIN_API_PREFIX,
    description="Operators: merchants, staff, nodes, bins, lanes, customs policies, audit. "
    "Every endpoint takes an operator's staff token; a picker's token gets 404.",
)

ID = "int(max=2147483647)"
CODE = "string(maxlength=40)"


@admin_blp.before_app_request
def _operators_only() -> None:
    path = request.path
    if path == ADMIN_API_PREFIX or path.startswith(ADMIN_API_PREFIX + "/"):
        admin_api_operator()


operator_only = operator_only_on(admin_blp)


# ------------------------------------------------------------------ merchants


@admin_blp.route("/merchants")
class Merchants(MethodView):
    @operator_only
    @admin_blp.arguments(MerchantQuerySchema, location="query")
    @admin_blp.response(200, MerchantPageSchema)
    def get(self, args, operator):
        """Merchants by name, with their product and active-token counts.

        `status` keeps only `active` or `suspended` ones; `q` matches part of the name.
        """
        return services.list_merchants(**args)

    @operator_only
    @admin_blp.arguments(MerchantCreateSchema)
    @admin_blp.response(201, MerchantCreatedSchema)
    @admin_blp.alt_response(422, description="A bad name, country or currency")
    def post(self, args, operator):
        """Onboard a merchant. The answer carries its first API token (unless
        `issue_token` is false): it is shown only here, only its hash is stored."""
        issued = services.create_merchant(
            operator,
            args["name"],
            args["country"],
            args.get("currency"),
            with_token=args["issue_token"],
        )
        return {**issued.document, "token": issued.token}


@admin_blp.route(f"/merchants/<{ID}:merchant_id>")
@operator_only
@admin_blp.response(200, MerchantDetailSchema)
def merchant(merchant_id, operator):
    """One merchant with its tokens (their first characters, never the tokens)."""
    return services.get_merchant(merchant_id)


@admin_blp.route(f"/merchants/<{ID}:merchant_id>/suspend", methods=["POST"])
@operator_only
@admin_blp.arguments(SuspendSchema)
@admin_blp.response(200, MerchantSchema)
def suspend_merchant(args, merchant_id, operator):
    """Suspend a merchant: its tokens are refused (401 `unauthorized`, "suspended"),
    its products leave the storefront and the catalog API. Orders already placed
    ship, cancel and refund as usual. Suspending a suspended merchant changes nothing."""
    return services.set_merchant_active(operator, merchant_id, False, args["reason"])


@admin_blp.route(f"/merchants/<{ID}:merchant_id>/reactivate", methods=["POST"])
@operator_only
@admin_blp.arguments(SuspendSchema)
@admin_blp.response(200, MerchantSchema)
def reactivate_merchant(args, merchant_id, operator):
    """Reactivate a suspended merchant: its active tokens work again and its products
    are back on the storefront."""
    return services.set_merchant_active(operator, merchant_id, True, args["reason"])


@admin_blp.route(f"/merchants/<{ID}:merchant_id>/tokens")
class MerchantTokens(MethodView):
    @operator_only
    @admin_blp.response(200, TokenSchema(many=True))
    def get(self, merchant_id, operator):
        """The merchant's API tokens: first characters, label, when made, last used
        and revoked; never the tokens themselves."""
        return services.get_merchant(merchant_id)["tokens"]

    @operator_only
    @admin_blp.arguments(NewTokenSchema)
    @admin_blp.response(201, IssuedTokenSchema)
    def post(self, args, merchant_id, operator):
        """Issue another API token to the merchant; `token` is shown only in this answer."""
        issued = services.issue_merchant_token(operator, merchant_id, args["label"])
        return {**issued.document, "token": issued.token}


@admin_blp.route(f"/merchants/<{ID}:merchant_id>/tokens/<{ID}:token_id>", methods=["DELETE"])
@operator_only
@admin_blp.response(200, TokenSchema)
def revoke_merchant_token(merchant_id, token_id, operator):
    """Revoke one of the merchant's tokens (refused from the next request on).
    Answers the token with its `revoked_at`; revoking it again changes nothing."""
    return services.revoke_merchant_token(operator, merchant_id, token_id)


# ------------------------------------------------------------------ staff


@admin_blp.route("/staff")
class StaffMembers(MethodView):
    @operator_only
    @admin_blp.arguments(StaffQuerySchema, location="query")
    @admin_blp.response(200, StaffPageSchema)
    def get(self, args, operator):
        """Staff by e-mail; filters `node`, `role`, `active`."""
        return services.list_staff(**args)

    @operator_only
    @admin_blp.arguments(StaffCreateSchema)
    @admin_blp.response(201, StaffCreatedSchema)
    @admin_blp.alt_response(409, description="The e-mail is taken")
    @admin_blp.alt_response(422, description="A bad e-mail, node or role")
    def post(self, args, operator):
        """Add a staff member. The answer carries a one-time `password` (and a `token`
        if `issue_token`): shown only here; the password is stored scrypt-hashed."""
        issued = services.create_staff(
            operator, args["email"], args.get("node"), args["role"], with_token=args["issue_token"]
        )
        return {**issued.document, "password": issued.password, "token": issued.token}


@admin_blp.route(f"/staff/<{ID}:staff_id>")
class StaffMember(MethodView):
    @operator_only
    @admin_blp.response(200, StaffDetailSchema)
    def get(self, staff_id, operator):
        """One staff member with their tokens (first characters only)."""
        return services.get_staff(staff_id)

    @operator_only
    @admin_blp.arguments(StaffChangeSchema)
    @admin_blp.response(200, StaffSchema)
    @admin_blp.alt_response(422, description="A bad node or role, or a change of yourself")
    def patch(self, args, staff_id, operator):
        """Change a staff member's `node`, `role` or `is_active`. Disabling ends their
        page sessions at once and revokes their API tokens. You cannot disable or
        demote yourself."""
        changes = {}
        if "node" in args:
            changes["node_code"] = args["node"]
        return services.change_staff(
            operator, staff_id, role=args.get("role"), is_active=args.get("is_active"), **changes
        )


@admin_blp.route(f"/staff/<{ID}:staff_id>/password", methods=["POST"])
@operator_only
@admin_blp.response(200, PasswordResetSchema)
def reset_staff_password(staff_id, operator):
    """A new one-time password for the staff member (shown only here); their page
    sessions end."""
    issued = services.reset_staff_password(operator, staff_id)
    return {**issued.document, "password": issued.password}


@admin_blp.route(f"/staff/<{ID}:staff_id>/tokens", methods=["POST"])
@operator_only
@admin_blp.arguments(NewTokenSchema)
@admin_blp.response(201, IssuedTokenSchema)
@admin_blp.alt_response(409, description="The staff member is disabled")
def issue_staff_token(args, staff_id, operator):
    """An API token for the staff member; `token` is shown only in this answer."""
    issued = services.issue_staff_token(operator, staff_id, args["label"])
    return {**issued.document, "token": issued.token}


# ------------------------------------------------------------------ nodes and bins


@admin_blp.route("/nodes")
@operator_only
@admin_blp.response(200, AdminNodeListSchema)
def nodes(operator):
    """Every node with its priority, whether routing may use it, its active staff and
    its lanes (countries and cut-off times)."""
    items = services.list_nodes()
    return {"items": items, "total": len(items)}


@admin_blp.route(f"/nodes/<{CODE}:code>")
class NodeResource(MethodView):
    @operator_only
    @admin_blp.response(200, AdminNodeDetailSchema)
    def get(self, code, operator):
        """One node with its lanes in full (legs, transit days, costs, what they refuse)."""
        return services.get_node(code)

    @operator_only
    @admin_blp.arguments(NodeChangeSchema)
    @admin_blp.response(200, AdminNodeDetailSchema)
    def patch(self, args, code, operator):
        """Change a node's `priority` (lower is preferred), names and city, or take it out
        of routing (`is_active` false: no new orders go there; open work continues).
        Cut-off times are per lane: `PUT /lanes/<code>`."""
        services.change_node(operator, code, services.NodeChange(**args))
        return services.get_node(code)


@admin_blp.route(f"/nodes/<{CODE}:code>/bins")
class NodeBins(MethodView):
    @operator_only
    @admin_blp.response(200, NodeBinsSchema)
    def get(self, code, operator):
        """The node's bins and the units of each SKU in them, and units in no bin yet."""
        return services.list_bins(code)

    @operator_only
    @admin_blp.arguments(BinMoveSchema)
    @admin_blp.response(201, BinMovedSchema)
    @admin_blp.alt_response(409, description="An open pick list expects the units there")
    @admin_blp.alt_response(422, description="Unknown SKU, bad bin, or not that many units")
    def post(self, args, code, operator):
        """Put units of a SKU in a bin (a new bin is made on first use): from another
        bin (`from_bin`), or from the units on hand that are in no bin. On-hand stock
        does not change."""
        return services.move_bin_units(operator, code, **args)


# ------------------------------------------------------------------ lanes


@admin_blp.route("/lanes")
@operator_only
@admin_blp.arguments(LaneQuerySchema, location="query")
@admin_blp.response(200, AdminLaneListSchema)
def lanes(args, operator):
    """Every lane (or one node's with `node`): legs, transit, costs, cut-off, limits."""
    items = list_lanes(args["node"].upper() if args.get("node") else None)
    return {"items": items, "total": len(items)}


@admin_blp.route(f"/lanes/<{CODE}:code>")
class LaneResource(MethodView):
    @operator_only
    @admin_blp.response(200, LaneSchema)
    def get(self, code, operator):
        """One lane."""
        return get_lane(code)

    @operator_only
    @admin_blp.arguments(LaneChangeSchema)
    @admin_blp.response(200, LaneSchema)
    @admin_blp.alt_response(422, description="A bad value; `errors` names each field")
    def put(self, args, code, operator):
        """Set a lane's fields: those given are replaced, the others kept (`legs`, when
        given, replaces every leg in order). The same service as `flask lanes set`;
        routing uses the new values on the next order."""
        legs = args.pop("legs", None)
        return services.change_lane(operator, code, LaneChange(**args), legs)


# ------------------------------------------------------------------ customs policies


@admin_blp.route("/customs/policies")
class CustomsPolicies(MethodView):
    @operator_only
    @admin_blp.arguments(PolicyQuerySchema, location="query")
    @admin_blp.response(200, PolicyListSchema)
    def get(self, args, operator):
        """Every customs rule set: shipped with the code (`origin` file) and added by
        operators (`origin` database), each with its figures and `applies`: the
        countries and dates it governs once later rule sets are laid over it."""
        return services.list_policies(country=args.get("country"))

    @operator_only
    @admin_blp.arguments(PolicyCreateSchema)
    @admin_blp.response(201, PolicyAddedSchema)
    @admin_blp.alt_response(422, description="Not a valid rule set, or a date in the past")
    def post(self, args, operator):
        """Add a customs rule set for some countries from a new `effective_from`: one rule
        set exactly as in `orders/customs/rules/*.json` (checked by the same parsers),
        without `effective_to`. It must start after today and not before the latest
        rule set of any of its countries; the one before it then ends the day before.
        Rows are never edited: to correct one, add another (the later added wins a tie)."""
        return services.add_policy(operator, args["kind"], args["rule_set"])


# ------------------------------------------------------------------ audit


@admin_blp.route("/audit")
@operator_only
@admin_blp.arguments(AuditQuerySchema, location="query")
@admin_blp.response(200, AuditPageSchema)
def audit_log(args, operator):
    """The audit log, newest first: who did what to which target, when, with the state
    before and after. Filters `action`, `target_type`, `target_id`, `since`, `until`."""
    return audit.list_entries(**args)
