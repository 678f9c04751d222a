"""How each node hands its parcels to a carrier (``NodeHandover``), as operators set it
and as the booking reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select

from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from warehouse.carriers.pickups import HANDOVER_KINDS, Handover, is_clock_time
from warehouse.models import Node, NodeHandover


def handover_json(row: NodeHandover | None) -> dict[str, Any] | None:
    """A hand-over as operators read it (and as the audit records it)."""
    if row is None:
        return None
    shown: dict[str, Any] = {"carrier": row.carrier, "kind": row.kind}
    if row.kind == "drop_off":
        shown["office_code"] = row.office_code
    else:
        shown.update(
            window={"from": row.window_from, "to": row.window_to},
            timezone=row.timezone,
            address=row.address,
            contact_name=row.contact_name,
            contact_phone=row.contact_phone,
        )
    return shown


def as_handover(row: NodeHandover | None) -> Handover | None:
    """The row as the carrier port's ``Handover``."""
    if row is None:
        return None
    return Handover(
        kind=row.kind,
        office_code=row.office_code,
        window_from=row.window_from,
        window_to=row.window_to,
        timezone=row.timezone,
        address=row.address,
        contact_name=row.contact_name,
        contact_phone=row.contact_phone,
    )


def handover_row(node_id: int, carrier: str) -> NodeHandover | None:
    return db.session.scalar(
        select(NodeHandover).where(NodeHandover.node_id == node_id, NodeHandover.carrier == carrier)
    )


def node_handover(node_id: int, carrier: str) -> Handover | None:
    """How ``node_id`` hands parcels to ``carrier``; ``None`` when nobody set it."""
    return as_handover(handover_row(node_id, carrier))


def list_handovers(node_code: str | None = None) -> list[dict[str, Any]]:
    query = select(NodeHandover, Node.code).join(Node, Node.id == NodeHandover.node_id)
    if node_code:
        query = query.where(Node.code == node_code.upper())
    rows = db.session.execute(query.order_by(Node.code, NodeHandover.carrier)).all()
    return [{"node": code, **handover_json(row)} for row, code in rows]


@dataclass(frozen=True)
class HandoverChange:
    """A node's whole hand-over to one carrier (it replaces the one there was)."""

    carrier: str
    kind: str
    office_code: str | None = None
    window_from: str | None = None
    window_to: str | None = None
    timezone: str | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None


def _problems(change: HandoverChange) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if change.kind not in HANDOVER_KINDS:
        errors["kind"] = [f"One of: {', '.join(HANDOVER_KINDS)}."]
        return errors
    if not change.carrier or len(change.carrier) > 40:
        errors["carrier"] = ["A carrier's name, e.g. cdek."]
    if change.kind == "drop_off":
        if not change.office_code or len(change.office_code.strip()) > 40:
            errors["office_code"] = ["The carrier office's code (CDEK: its PVZ code, e.g. NSK27)."]
        return errors
    for name in ("window_from", "window_to"):
        if not is_clock_time(getattr(change, name)):
            errors[name] = ["HH:MM, 24-hour local time."]
    if not errors and change.window_from >= change.window_to:
        errors["window_to"] = ["The window must end after it starts."]
    if change.timezone not in available_timezones():
        errors["timezone"] = ["An IANA time zone, e.g. Asia/Vladivostok."]
    if not change.address or not 1 <= len(change.address.strip()) <= 255:
        errors["address"] = ["The address the courier comes to."]
    if change.contact_phone and len(change.contact_phone) > 24:
        errors["contact_phone"] = ["At most 24 characters."]
    return errors


def set_handover(actor: StaffPrincipal | str, node_code: str, change: HandoverChange) -> dict:
    """Set how ``node_code`` hands parcels to ``change.carrier``: audited as
    ``node.handover`` under ``actor``, before and after, in the same transaction.
    Bookings from then on pick their tariff by it."""
    errors = _problems(change)
    if errors:
        raise ValidationFailed(errors=errors)
    node = db.session.scalar(select(Node).where(Node.code == node_code.strip().upper()))
    if node is None:
        raise NotFound(f"No node {node_code}.")
    try:
        row = db.session.scalar(
            select(NodeHandover)
            .where(NodeHandover.node_id == node.id, NodeHandover.carrier == change.carrier)
            .with_for_update()
        )
        before = handover_json(row)
        if row is None:
            row = NodeHandover(node_id=node.id, carrier=change.carrier)
            db.session.add(row)
        row.kind = change.kind
        drop_off = change.kind == "drop_off"
        row.office_code = change.office_code.strip() if drop_off else None
        for name in ("window_from", "window_to", "timezone", "address", "contact_name",
                     "contact_phone"):  # fmt: skip
            value = getattr(change, name)
            setattr(row, name, None if drop_off or value is None else value.strip())
        after = handover_json(row)
        if after != before:
            audit.record(actor, "node.handover", "node", node.code, before=before, after=after)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return {"node": node.code, **after}
