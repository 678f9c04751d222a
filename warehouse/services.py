"""Warehouse use cases: staff accounts, and stock (the ledger, holds, releases, expiry)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from time import monotonic
from types import MappingProxyType
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import joinedload, selectinload

from catalog.money import Money
from shop.core.auth import StaffPrincipal, hash_password, issue_token, new_password
from shop.core.bulk_insert import insert_rows
from shop.core.clock import utcnow
from shop.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from shop.core.extensions import db
from shop.core.transactions import retry_on_conflict
from warehouse import routing
from warehouse.models import (
    Lane,
    Node,
    RoutingDecision,
    Shipment,
    ShipmentLine,
    Staff,
    StockLevel,
    StockMovement,
)
from warehouse.parcel_orders import parcel_orders

log = logging.getLogger(__name__)

ROLES = ("picker", "operator")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class NewStaff:
    id: int
    email: str
    node: str | None
    role: str
    password: str  # shown once
    token: str  # shown once


def create_staff(email: str, node_code: str | None, role: str = "picker") -> NewStaff:
    """Add a staff member of a node (operators may have none) with a password and a token."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not _EMAIL.match(email) or len(email) > 254:
        errors["email"] = ["Not an e-mail address."]
    if role not in ROLES:
        errors["role"] = [f"Role must be one of {', '.join(ROLES)}."]
    node = None
    if node_code:
        node = db.session.scalar(select(Node).where(Node.code == node_code.upper()))
        if node is None:
            known = (
                ", ".join(db.session.scalars(select(Node.code).order_by(Node.code))) or "none yet"
            )
            errors["node"] = [f"No node {node_code!r} (known: {known})."]
    elif role == "picker":
        errors["node"] = ["A picker works at one node: give --node."]
    if errors:
        raise ValidationFailed(errors=errors)
    if db.session.scalar(select(Staff.id).where(Staff.email == email)) is not None:
        raise Conflict(f"Staff member {email} already exists.")

    password = new_password()
    try:
        staff = Staff(
            email=email,
            node_id=node.id if node else None,
            role=role,
            password_hash=hash_password(password),
        )
        db.session.add(staff)
        db.session.flush()
        token = issue_token(staff_id=staff.id, label="cli")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return NewStaff(staff.id, email, node.code if node else None, role, password, token)


# ------------------------------------------------------------------ stock
# Every change of a stock level goes through this section and leaves a row
# in the ledger (StockMovement), so that on hand and reserved always equal
# the ledger's sums. Stock rows are always touched in (sku_id, node_id)
# order, so two transactions never wait on each other in a cycle.


@dataclass(frozen=True)
class OnHandChange:
    """Set the on-hand count of a SKU at a node; ``stock_level_id`` when the row exists."""

    sku_id: int
    node_id: int
    on_hand: int
    stock_level_id: int | None = None
    previous: int = 0  # the count the caller saw; the ledger records the difference


def set_on_hand(changes: list[OnHandChange], *, reason: str, actor: str) -> None:
    """Write on-hand counts in the caller's transaction, in a few batched statements.

    Existing rows move by the difference to what the caller saw (so a
    concurrent receipt is not lost); reserved units are never touched, and the
    ``reserved <= on_hand`` constraint refuses a count below what orders hold.
    """
    changes = sorted(changes, key=lambda c: (c.sku_id, c.node_id))
    updates = [c for c in changes if c.stock_level_id and c.on_hand != c.previous]
    inserts = [c for c in changes if not c.stock_level_id]
    if updates:
        levels = StockLevel.__table__  # Core: an executemany with a WHERE, not an ORM bulk update
        db.session.execute(
            sql_update(levels)
            .where(levels.c.id == bindparam("level_id"))
            .values(on_hand=levels.c.on_hand + bindparam("delta"), updated_at=utcnow()),
            [{"level_id": c.stock_level_id, "delta": c.on_hand - c.previous} for c in updates],
        )
    if inserts:
        now = utcnow()
        insert_rows(
            StockLevel.__table__,
            [{"sku_id": c.sku_id, "node_id": c.node_id, "on_hand": c.on_hand, "reserved": 0,
              "updated_at": now} for c in inserts],
        )  # fmt: skip
    record_movements(
        [(c.sku_id, c.node_id, c.on_hand - (c.previous if c.stock_level_id else 0), 0)
         for c in changes if c.on_hand != (c.previous if c.stock_level_id else 0)],
        reason=reason,
        actor=actor,
    )  # fmt: skip


def movement_row(
    sku_id: int,
    node_id: int,
    delta_on_hand: int,
    delta_reserved: int,
    *,
    reason: str,
    actor: str,
    order_id: int | None = None,
    shipment_id: int | None = None,
    reference: str = "",
    bin: str | None = None,
) -> dict[str, Any]:
    """One stock ledger row, as ``record_movement_rows`` writes it."""
    return {
        "sku_id": sku_id,
        "node_id": node_id,
        "delta_on_hand": delta_on_hand,
        "delta_reserved": delta_reserved,
        "reason": reason,
        "actor": actor,
        "order_id": order_id,
        "shipment_id": shipment_id,
        "reference": reference,
        "bin": bin,
    }


def record_movement_rows(rows: list[dict[str, Any]]) -> None:
    """Write ledger rows in one statement (COPY on PostgreSQL), in the caller's transaction."""
    if rows:
        now = utcnow()
        insert_rows(StockMovement.__table__, [{**row, "created_at": now} for row in rows])


def record_movements(
    deltas: list[tuple[int, int, int, int]],
    *,
    reason: str,
    actor: str,
    order_id: int | None = None,
    shipment_id: int | None = None,
    reference: str = "",
    bin: str | None = None,
) -> None:
    """Ledger rows for (sku_id, node_id, delta on hand, delta reserved), sharing the rest."""
    record_movement_rows(
        [
            movement_row(sku_id, node_id, on_hand, reserved, reason=reason, actor=actor,
                         order_id=order_id, shipment_id=shipment_id, reference=reference,
                         bin=bin)
            for sku_id, node_id, on_hand, reserved in deltas
        ]
    )  # fmt: skip


@dataclass(frozen=True)
class Allocation:
    """Units of a SKU to hold at a node for a shipment line."""

    sku_id: int
    node_id: int
    quantity: int
    shipment_id: int | None = None
    sku_code: str = ""


class StockShortage(DomainError):
    """Between routing and reserving, someone else took the last units.

    Its ``lines`` have the routing engine's ``InsufficientStock`` shape (``sku``,
    ``wanted``, ``available``), plus the node that ran short: a client handles
    one ``insufficient_stock`` problem whichever step found it.
    """

    status = 409
    code = "insufficient_stock"
    title = "Not enough stock"

    @classmethod
    def for_lines(cls, short: list[tuple[int, int, str, int]]) -> StockShortage:
        """``short``: (sku id, node id, sku code, wanted) the holds could not take."""
        levels = {
            (sku_id, node_id): (code, available)
            for sku_id, node_id, code, available in db.session.execute(
                select(StockLevel.sku_id, StockLevel.node_id, Node.code,
                       StockLevel.on_hand - StockLevel.reserved)
                .join(Node, Node.id == StockLevel.node_id)
                .where(StockLevel.sku_id.in_([s[0] for s in short]))
            )
        }  # fmt: skip
        lines = []
        for sku_id, node_id, sku_code, wanted in short:
            node, available = levels.get((sku_id, node_id), (None, 0))
            lines.append({"sku": sku_code or str(sku_id), "node": node, "wanted": wanted,
                          "available": max(0, available)})  # fmt: skip
        return cls(
            "Not enough stock left for: "
            + ", ".join(f"{line['sku']} ({line['wanted']} wanted, {line['available']} left)"
                        for line in lines)
            + ".",
            lines=lines,
        )  # fmt: skip


def reserve_stock(allocations: list[Allocation], *, order_id: int, actor: str) -> None:
    """Hold units for an order, in the caller's transaction, never beyond what is available.

    Each hold is one conditional UPDATE (``on_hand - reserved >= quantity``),
    which PostgreSQL applies under the row's lock and SQLite under its write
    lock: two buyers of the last unit cannot both succeed. Raises
    ``StockShortage`` naming every short line; the caller rolls back.
    """
    merged: dict[tuple[int, int], list[Allocation]] = {}
    for allocation in allocations:
        merged.setdefault((allocation.sku_id, allocation.node_id), []).append(allocation)
    short = []
    for (sku_id, node_id), parts in sorted(merged.items()):
        quantity = sum(p.quantity for p in parts)
        held = db.session.execute(
            sql_update(StockLevel)
            .where(
                StockLevel.sku_id == sku_id,
                StockLevel.node_id == node_id,
                StockLevel.on_hand - StockLevel.reserved >= quantity,
            )
            .values(reserved=StockLevel.reserved + quantity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if held.rowcount != 1:
            short.append((sku_id, node_id, parts[0].sku_code, quantity))
    if short:
        raise StockShortage.for_lines(short)
    # One ledger write for the whole hold, each row naming its shipment.
    record_movement_rows(
        [
            movement_row(a.sku_id, a.node_id, 0, a.quantity, reason="reservation", actor=actor,
                         order_id=order_id, shipment_id=a.shipment_id)
            for a in allocations
        ]
    )  # fmt: skip


def release_order_stock(order_id: int, *, reason: str, actor: str, new_state: str) -> int:
    """Give back every unit an order still holds (cancel, expiry); returns units released.

    In the caller's transaction; idempotent, since only ``held`` lines move.
    """
    return _release_held(
        Shipment.order_id == order_id, reason=reason, actor=actor, new_state=new_state
    )


def release_shipment_stock(shipment: Shipment, *, reason: str, actor: str) -> int:
    """Give back the units one shipment holds (its lines become ``released``)."""
    return _release_held(
        Shipment.id == shipment.id, reason=reason, actor=actor, new_state="released"
    )


def _release_held(which, *, reason: str, actor: str, new_state: str) -> int:
    """Release the ``held`` shipment lines ``which`` selects, in (sku, node) lock order."""
    lines = db.session.execute(
        select(ShipmentLine, Shipment.node_id, Shipment.order_id)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(which, ShipmentLine.reservation == "held")
        .order_by(ShipmentLine.sku_id, Shipment.node_id)
    ).all()
    released = 0
    for line, node_id, order_id in lines:
        db.session.execute(
            sql_update(StockLevel)
            .where(StockLevel.sku_id == line.sku_id, StockLevel.node_id == node_id)
            .values(reserved=StockLevel.reserved - line.quantity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        line.reservation = new_state
        record_movements(
            [(line.sku_id, node_id, 0, -line.quantity)],
            reason=reason,
            actor=actor,
            order_id=order_id,
            shipment_id=line.shipment_id,
        )
        released += line.quantity
    return released


def release_unpaid_order(order_id: int, *, actor: str, at: datetime) -> int:
    """An order's hold ran out unpaid: its units go back (lines become ``expired``, so a
    late payment can hold them again) and its parcels that waited for the payment are
    cancelled. In the caller's transaction; returns the units released."""
    released = release_order_stock(order_id, reason="expiry", actor=actor, new_state="expired")
    db.session.execute(
        sql_update(Shipment)
        .where(Shipment.order_id == order_id, Shipment.status == "awaiting_payment")
        .values(status="cancelled", updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return released


def ledger_mismatches() -> list[dict[str, int]]:
    """Stock levels that differ from the sums of their ledger rows (should be none)."""
    sums = (
        select(
            StockMovement.sku_id,
            StockMovement.node_id,
            func.sum(StockMovement.delta_on_hand).label("on_hand"),
            func.sum(StockMovement.delta_reserved).label("reserved"),
        )
        .group_by(StockMovement.sku_id, StockMovement.node_id)
        .subquery()
    )
    same_level = (sums.c.sku_id == StockLevel.sku_id) & (sums.c.node_id == StockLevel.node_id)
    rows = db.session.execute(
        select(
            StockLevel.sku_id,
            StockLevel.node_id,
            StockLevel.on_hand,
            StockLevel.reserved,
            func.coalesce(sums.c.on_hand, 0),
            func.coalesce(sums.c.reserved, 0),
        ).outerjoin(sums, same_level)
    ).all()
    return [
        {"sku_id": r[0], "node_id": r[1], "on_hand": r[2], "reserved": r[3],
         "ledger_on_hand": r[4], "ledger_reserved": r[5]}
        for r in rows
        if (r[2], r[3]) != (r[4], r[5])
    ]  # fmt: skip


# ------------------------------------------------------------------ lanes


def lane_document(lane: Lane) -> dict[str, Any]:
    """A lane as staff and operators read it (API, CLI)."""
    legs = [
        {
            "position": leg.position,
            "carrier": leg.carrier,
            "service": leg.service,
            "transit_days": {"min": leg.transit_days_min, "max": leg.transit_days_max},
            "cost": {
                "base": {"amount": str(leg.cost_base), "currency": leg.cost_currency},
                "per_kg": {"amount": str(leg.cost_per_kg), "currency": leg.cost_currency},
            },
            "crossing": leg.crossing,
            "customs_mode": leg.customs_mode,
        }
        for leg in lane.legs
    ]
    max_value = None
    if lane.max_parcel_value_amount is not None:
        max_value = Money(
            Decimal(lane.max_parcel_value_amount), lane.max_parcel_value_currency or "CNY"
        ).as_json()
    return {
        "code": lane.code,
        "node": lane.node.code,
        "countries": lane.countries,
        "regions": lane.regions,
        "cutoff_time": lane.cutoff_time,
        "timezone": lane.timezone,
        "transit_days": {
            "min": sum(leg.transit_days_min for leg in lane.legs),
            "max": sum(leg.transit_days_max for leg in lane.legs),
        },
        "refuses": {
            "categories": lane.refuses_categories,
            "hs_prefixes": lane.refuses_hs_prefixes,
            "outside_cbec_positive_list": lane.requires_cbec_positive_list,
            "max_parcel_value": max_value,
            "max_parcel_weight_g": lane.max_parcel_weight_g,
        },
        "active": lane.is_active,
        "legs": legs,
    }


def _lanes_query():
    return select(Lane).options(selectinload(Lane.legs), joinedload(Lane.node)).order_by(Lane.code)


def list_lanes(node_code: str | None = None) -> list[dict[str, Any]]:
    query = _lanes_query()
    if node_code:
        query = query.join(Node, Node.id == Lane.node_id).where(Node.code == node_code)
    return [lane_document(lane) for lane in db.session.scalars(query).unique()]


def get_lane(code: str) -> dict[str, Any]:
    lane = db.session.scalars(_lanes_query().where(Lane.code == code.upper())).unique().first()
    if lane is None:
        raise NotFound(f"No lane {code}.")
    return lane_document(lane)


_CUTOFF = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_HS_PREFIX = re.compile(r"^\d{2,8}$")


@dataclass(frozen=True)
class LaneChange:
    """What an operator may change on a lane; None leaves a field as it is."""

    cutoff_time: str | None = None
    timezone: str | None = None
    active: bool | None = None
    countries: list[str] | None = None
    regions: list[str] | None = None
    refuses_categories: list[str] | None = None
    refuses_hs_prefixes: list[str] | None = None
    requires_cbec_positive_list: bool | None = None
    max_parcel_weight_g: int | None = None
    max_parcel_value: Money | None = None


def update_lane(code: str, change: LaneChange, *, actor: str) -> dict[str, Any]:
    """Change a lane's data; routing reads the new values on the next order."""
    from zoneinfo import available_timezones

    from catalog.models import Category
    from shop.core.i18n import country_codes

    lane = db.session.scalars(_lanes_query().where(Lane.code == code.upper())).unique().first()
    if lane is None:
        raise NotFound(f"No lane {code}.")
    errors: dict[str, list[str]] = {}
    if change.cutoff_time is not None and not _CUTOFF.match(change.cutoff_time):
        errors["cutoff_time"] = ["Use HH:MM, 24-hour, local time of the lane's time zone."]
    if change.timezone is not None and change.timezone not in available_timezones():
        errors["timezone"] = ["Not an IANA time zone, e.g. Asia/Vladivostok."]
    if change.countries is not None:
        bad = [c for c in change.countries if c.upper() not in country_codes()]
        if bad or not change.countries:
            errors["countries"] = [
                f"Give ISO 3166-1 alpha-2 codes (not: {', '.join(bad) or 'none'})."
            ]
    if change.refuses_categories is not None:
        known = set(db.session.scalars(select(Category.slug)))
        bad = [c for c in change.refuses_categories if c not in known]
        if bad:
            errors["refuses_categories"] = [f"Unknown categories: {', '.join(bad)}."]
    if change.refuses_hs_prefixes is not None:
        bad = [p for p in change.refuses_hs_prefixes if not _HS_PREFIX.match(p)]
        if bad:
            errors["refuses_hs_prefixes"] = [
                f"HS prefixes are 2 to 8 digits (not: {', '.join(bad)})."
            ]
    if change.max_parcel_weight_g is not None and change.max_parcel_weight_g <= 0:
        errors["max_parcel_weight_g"] = ["Must be above 0."]
    if errors:
        raise ValidationFailed(errors=errors)

    before = lane_document(lane)
    plain_fields = (
        "cutoff_time", "timezone", "regions", "refuses_categories",
        "refuses_hs_prefixes", "requires_cbec_positive_list", "max_parcel_weight_g",
    )  # fmt: skip
    for name in plain_fields:
        value = getattr(change, name)
        if value is not None:
            setattr(lane, name, value)
    if change.countries is not None:
        lane.countries = [c.upper() for c in change.countries]
    if change.active is not None:
        lane.is_active = change.active
    if change.max_parcel_value is not None:
        lane.max_parcel_value_amount = change.max_parcel_value.amount
        lane.max_parcel_value_currency = change.max_parcel_value.currency
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    after = lane_document(lane)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    log.info("lane %s changed by %s: %s", lane.code, actor, changed)
    return after


# ------------------------------------------------------------------ routing data


@dataclass(frozen=True)
class RoutingWorld:
    """Nodes and lanes as the routing engine reads them (plain data, no rows)."""

    nodes: tuple[routing.Node, ...]
    lanes: tuple[routing.Lane, ...]
    node_ids: Mapping[str, int] = field(default_factory=dict)  # code -> row id, for writes

    @property
    def destinations(self) -> tuple[str, ...]:
        """Every country an active lane serves, sorted."""
        return tuple(sorted({c for lane in self.lanes if lane.active for c in lane.countries}))


def load_routing_world() -> RoutingWorld:
    rows = db.session.scalars(select(Node).order_by(Node.code)).all()
    nodes = tuple(routing.Node(n.code, n.country, n.priority, n.is_active) for n in rows)
    node_ids = MappingProxyType({node.code: node.id for node in rows})
    lanes = []
    for lane in db.session.scalars(_lanes_query()).unique():
        max_value = None
        if lane.max_parcel_value_amount is not None:
            max_value = Money(
                Decimal(lane.max_parcel_value_amount), lane.max_parcel_value_currency or "CNY"
            )
        lanes.append(
            routing.Lane(
                code=lane.code,
                node=lane.node.code,
                countries=tuple(lane.countries),
                regions=tuple(lane.regions or ()),
                legs=tuple(
                    routing.Leg(
                        carrier=leg.carrier,
                        service=leg.service,
                        transit_days_min=leg.transit_days_min,
                        transit_days_max=leg.transit_days_max,
                        cost_base=Decimal(leg.cost_base),
                        cost_per_kg=Decimal(leg.cost_per_kg),
                        cost_currency=leg.cost_currency,
                        crossing=leg.crossing,
                        customs_mode=leg.customs_mode,
                    )
                    for leg in lane.legs
                ),
                cutoff=time.fromisoformat(lane.cutoff_time),
                timezone=lane.timezone,
                refuses_categories=tuple(lane.refuses_categories or ()),
                refuses_hs_prefixes=tuple(lane.refuses_hs_prefixes or ()),
                requires_cbec_positive_list=lane.requires_cbec_positive_list,
                max_parcel_value=max_value,
                max_parcel_weight_g=lane.max_parcel_weight_g,
                active=lane.is_active,
            )
        )
    return RoutingWorld(nodes, tuple(lanes), node_ids)


def routing_world() -> RoutingWorld:
    """The routing data, kept per app for PAVILION_RATES_CACHE_SECONDS like the rates:
    every product page plans deliveries, and lanes change rarely."""
    cache = current_app.extensions.setdefault("pavilion.routing_world", {})
    ttl = current_app.config.get("RATES_CACHE_SECONDS", 0)
    now = monotonic()
    cached = cache.get("world")
    if cached is None or now - cached[0] >= ttl:
        cached = cache["world"] = (now, load_routing_world())
    return cached[1]


def routing_strategy() -> routing.RoutingStrategy:
    """The strategy the ROUTING_STRATEGY setting names (an installed entry point)."""
    return routing.load_strategy(current_app.config["ROUTING_STRATEGY"])


# ------------------------------------------------------------------ re-route

REROUTABLE = ("awaiting_payment", "ready_to_pick")


@retry_on_conflict()
def reroute_shipment(staff: StaffPrincipal, shipment_id: int, reason: str) -> dict[str, Any]:
    """Move a shipment a node cannot fulfil to the node(s) the engine picks without it.

    One transaction: the old holds are released, the new ones taken (never
    beyond what is available), the old shipment marked ``rerouted``, and the
    decision kept with the engine's explanation. Pickers may re-route only
    their node's shipments (another node's is a 404); operators any.
    """
    from catalog.cbec import cbec_rules
    from catalog.models import Category, Product, Sku
    from catalog.services import load_rate_table

    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(errors={"reason": ["Say why the node cannot ship it."]})
    found = db.session.execute(
        select(Shipment.order_id, Shipment.node_id).where(Shipment.id == shipment_id)
    ).first()
    if found is None or not (staff.is_operator or found.node_id == staff.node_id):
        raise NotFound(f"No shipment {shipment_id}.")
    # The order, then the shipment: the lock order cancel uses too, so a cancel and a
    # re-route of one order run one after the other. Orders refuse an order whose
    # parcels may no longer move.
    order = parcel_orders().lock_for_reroute(found.order_id)
    shipment, node_code = db.session.execute(
        select(Shipment, Node.code)
        .join(Node, Node.id == Shipment.node_id)
        .where(Shipment.id == shipment_id)
        .with_for_update(of=Shipment)
        .execution_options(populate_existing=True)
    ).one()
    if shipment.status not in REROUTABLE:
        raise Conflict(
            f"Shipment {shipment_id} is {shipment.status}; only a shipment not yet picked "
            "can be re-routed.",
            code="shipment_not_reroutable",
        )
    held = db.session.execute(
        select(ShipmentLine, Sku, Product.hs_code, Category.slug)
        .join(Sku, Sku.id == ShipmentLine.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(ShipmentLine.shipment_id == shipment.id, ShipmentLine.reservation == "held")
        .order_by(ShipmentLine.id)
    ).all()
    lines = [
        routing.OrderLine(
            index=position,
            sku=sku.code,
            quantity=line.quantity,
            category=category,
            hs_code=hs_code,
            weight_g=sku.weight_g,
            unit_value=sku.price,
            outside_cbec_positive_list=cbec_rules().is_likely_outside_positive_list(hs_code),
        )
        for position, (line, sku, hs_code, category) in enumerate(held, start=1)
    ]
    sku_ids = {sku.code: sku.id for _, sku, _, _ in held}
    world = load_routing_world()
    node_ids = dict(db.session.execute(select(Node.code, Node.id)).all())
    stock = {
        (code, sku_code): available
        for code, sku_code, available in db.session.execute(
            select(Node.code, Sku.code, StockLevel.on_hand - StockLevel.reserved)
            .join(Node, Node.id == StockLevel.node_id)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .where(StockLevel.sku_id.in_(list(sku_ids.values())))
        )
    }
    strategy = routing_strategy()
    request = routing.RoutingRequest(
        lines=tuple(lines),
        destination=routing.Destination(order.destination_country),
        nodes=world.nodes,
        lanes=world.lanes,
        stock=stock,
        now=utcnow(),
        rates=load_rate_table(),
        compare_in=order.currency,
        excluded_nodes={node_code: reason},
    )
    plan = strategy.plan(request)  # RoutingError -> 409/422 problem, nothing changed

    try:
        kept_status = shipment.status  # the new parcels are as far along as the old one
        release_shipment_stock(shipment, reason="reroute", actor=staff.actor)
        shipment.status = "rerouted"
        created = []
        for planned in plan.shipments:
            new = Shipment(
                order_id=order.id, order_number=shipment.order_number,
                node_id=node_ids[planned.node], lane_code=planned.lane,
                status=kept_status,
                currency=shipment.currency, customs_mode=planned.customs_modes[0]
                if planned.customs_modes else None, weight_g=planned.weight_g,
                deliver_from=planned.deliver_from, deliver_by=planned.deliver_by,
                shipping_amount=planned.cost.amount,
            )  # fmt: skip
            db.session.add(new)
            db.session.flush()
            allocations = []
            for item in planned.lines:
                db.session.add(
                    ShipmentLine(
                        shipment_id=new.id, sku_id=sku_ids[item.sku], quantity=item.quantity
                    )
                )
                allocations.append(
                    Allocation(sku_ids[item.sku], node_ids[planned.node], item.quantity, new.id,
                               item.sku)
                )  # fmt: skip
            reserve_stock(allocations, order_id=order.id, actor=staff.actor)
            created.append({"id": new.id, **planned.as_json()})
        db.session.add(
            RoutingDecision(
                order_id=order.id,
                shipment_id=shipment.id,
                kind="reroute",
                strategy=plan.strategy,
                explanation=plan.as_json(),
                actor=staff.actor,
                reason=reason[:500],
            )
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return {
        "rerouted": shipment.id,
        "from_node": node_code,
        "reason": reason,
        "shipments": created,
        "explanation": plan.explanation.as_json(),
    }
