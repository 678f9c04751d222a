"""The node boundary every fulfilment service checks first: a picker acts on their own
node only (another node's objects are 404, as if they did not exist); operators on all.
"""

from __future__ import annotations

from sqlalchemy import select

from shop.core.auth import StaffPrincipal
from shop.core.errors import NotFound
from shop.core.extensions import db
from warehouse.models import Node


def node_for_staff(staff: StaffPrincipal, code: str) -> Node:
    node = db.session.scalar(select(Node).where(Node.code == code.upper()))
    if node is None or not (staff.is_operator or node.id == staff.node_id):
        raise NotFound(f"No node {code}.")
    return node


def staff_sees_node(staff: StaffPrincipal, node_id: int) -> bool:
    return staff.is_operator or node_id == staff.node_id
