"""What the admin home shows: how many of each thing there are."""

from __future__ import annotations

from typing import Any

from catalog.models import Merchant
from orders.customs.policy_rows import CustomsPolicyRow
from shop.admin.services.transaction import count_rows
from shop.core.audit import AuditEntry
from warehouse.models import Lane, Node, Staff


def overview_counts() -> dict[str, Any]:
    """Merchants, staff, nodes, lanes, customs rows and audit entries, counted."""
    return {
        "merchants": count_rows(Merchant),
        "merchants_suspended": count_rows(Merchant, Merchant.is_active.is_(False)),
        "staff": count_rows(Staff),
        "staff_disabled": count_rows(Staff, Staff.is_active.is_(False)),
        "nodes": count_rows(Node),
        "lanes": count_rows(Lane),
        "policy_rows": count_rows(CustomsPolicyRow),
        "audit_entries": count_rows(AuditEntry),
    }
