"""Operators' use cases: merchants, staff, nodes, bins and lanes, customs policy rows.

Each public function is one transaction and writes its audit entry (who, what,
the state before and after) in that same transaction, so there is never a change
without its entry. Audit entries and answers never hold a secret: tokens and
passwords are returned once to the caller and only their hashes are stored.
No Flask request objects here.

One module per thing operators look after (``merchants``, ``staff``, ``nodes``,
``lanes``, ``customs``), and ``overview`` for the home page's counts. Where the
logic is a lower package's (bins and lane legs are the warehouse's, customs rows
are customs'), the module here only adds the audit entry and the transaction.
The names the admin API and pages use are re-exported here.
"""

from shop.admin.services.customs import add_policy, list_policies, policy_template
from shop.admin.services.lanes import change_lane, change_lane_figures
from shop.admin.services.merchants import (
    create_merchant,
    get_merchant,
    issue_merchant_token,
    list_merchants,
    merchant_json,
    revoke_merchant_token,
    set_merchant_active,
)
from shop.admin.services.nodes import (
    NodeChange,
    change_node,
    get_node,
    get_node_with_bins,
    list_nodes,
    node_codes,
    node_json,
)
from shop.admin.services.overview import overview_counts
from shop.admin.services.staff import (
    change_staff,
    create_staff,
    get_staff,
    issue_staff_token,
    list_staff,
    reset_staff_password,
    staff_json,
)
from shop.admin.services.tokens import Issued
from shop.core.auth import token_json
from warehouse.bins import list_bins, move_bin_units
from warehouse.lane_legs import LegInput

__all__ = [
    "Issued",
    "LegInput",
    "NodeChange",
    "add_policy",
    "change_lane",
    "change_lane_figures",
    "change_node",
    "change_staff",
    "create_merchant",
    "create_staff",
    "get_merchant",
    "get_node",
    "get_node_with_bins",
    "get_staff",
    "issue_merchant_token",
    "issue_staff_token",
    "list_bins",
    "list_merchants",
    "list_nodes",
    "list_policies",
    "list_staff",
    "merchant_json",
    "move_bin_units",
    "node_codes",
    "node_json",
    "overview_counts",
    "policy_template",
    "reset_staff_password",
    "revoke_merchant_token",
    "set_merchant_active",
    "staff_json",
    "token_json",
]
