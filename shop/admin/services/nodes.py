"""Operators' use cases for nodes: listing them with their lanes, changing their routing
settings. Bins are the warehouse's (``warehouse.bins``): listed and moved from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from shop.admin.services.transaction import in_transaction
from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from warehouse.bins import list_bins
from warehouse.models import Node, Staff
from warehouse.services import forget_routing_world, list_lanes


def node_json(node: Node) -> dict[str, Any]:
    """A node as operators see it (and as the audit records it)."""
    return {
        "code": node.code,
        "kind": node.kind,
        "country": node.country,
        "city": node.city,
        "name": {"en": node.name_en, "ru": node.name_ru, "zh": node.name_zh},
        "priority": node.priority,
        "is_active": node.is_active,
    }


def list_nodes() -> list[dict[str, Any]]:
    """Every node with its lanes (code, countries, cut-off) and counts."""
    lanes = list_lanes()
    staff_counts = dict(
        db.session.execute(
            select(Staff.node_id, func.count()).where(Staff.is_active).group_by(Staff.node_id)
        ).all()
    )
    result = []
    for node in db.session.scalars(select(Node).order_by(Node.code)):
        mine = [lane for lane in lanes if lane["node"] == node.code]
        result.append(
            {
                **node_json(node),
                "staff": staff_counts.get(node.id, 0),
                "lanes": [
                    {
                        "code": lane["code"],
                        "countries": lane["countries"],
                        "cutoff_time": lane["cutoff_time"],
                        "timezone": lane["timezone"],
                        "active": lane["active"],
                    }
                    for lane in mine
                ],
            }
        )
    return result


def node_codes() -> list[str]:
    """Every node's code, in order: what a form offers to choose from."""
    return list(db.session.scalars(select(Node.code).order_by(Node.code)))


def node_by_code(code: str, errors: dict[str, list[str]], field: str = "node") -> Node | None:
    """The node of ``code`` (any case); None, with the known codes in ``errors[field]``,
    when there is none: for use cases that name a node in a form."""
    node = db.session.scalar(select(Node).where(Node.code == code.strip().upper()))
    if node is None:
        known = ", ".join(db.session.scalars(select(Node.code).order_by(Node.code))) or "none yet"
        errors[field] = [f"No node {code!r} (known: {known})."]
    return node


def get_node(code: str) -> dict[str, Any]:
    """A node with its full lanes (legs included)."""
    node = db.session.scalar(select(Node).where(Node.code == code.upper()))
    if node is None:
        raise NotFound(f"No node {code}.")
    return {**node_json(node), "lanes": list_lanes(node.code)}


def get_node_with_bins(code: str) -> dict[str, Any]:
    """A node with its full lanes (``node``) and its bins (``bins``, ``warehouse.bins``)."""
    return {"node": get_node(code), "bins": list_bins(code)}


@dataclass(frozen=True)
class NodeChange:
    """What an operator may change on a node; None leaves a field as it is."""

    priority: int | None = None
    is_active: bool | None = None
    city: str | None = None
    name_en: str | None = None
    name_ru: str | None = None
    name_zh: str | None = None


def change_node(operator: StaffPrincipal, code: str, change: NodeChange) -> dict[str, Any]:
    """Change a node's priority (routing's last tie-break), names, city, or take it out
    of routing (inactive: no new orders are routed to it; its open work continues)."""
    errors: dict[str, list[str]] = {}
    if change.priority is not None and not 0 <= change.priority <= 10_000:
        errors["priority"] = ["A whole number from 0 to 10000 (lower is preferred)."]
    for name in ("city", "name_en", "name_ru", "name_zh"):
        value = getattr(change, name)
        if value is not None and not 1 <= len(value.strip()) <= (80 if name == "city" else 120):
            errors[name] = ["Must not be empty or too long."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> dict[str, Any]:
        node = db.session.scalar(select(Node).where(Node.code == code.upper()).with_for_update())
        if node is None:
            raise NotFound(f"No node {code}.")
        before = node_json(node)
        for name in ("priority", "is_active", "city", "name_en", "name_ru", "name_zh"):
            value = getattr(change, name)
            if value is not None:
                setattr(node, name, value.strip() if isinstance(value, str) else value)
        after = node_json(node)
        if after != before:
            audit.record(operator, "node.update", "node", node.code, before=before, after=after)
        return after

    result = in_transaction(work)
    forget_routing_world()
    return result
