"""Fulfilment nodes, stock per SKU per node, and the staff who work there."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models import Localized, Sku
from shop.core.clock import utcnow
from shop.core.extensions import db


class Node(Localized, db.Model):
    """The Russian overseas warehouse or a border transshipment depot."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # warehouse | depot
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(120))
    name_ru: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The boxes this node packs into: {"boxes": [{"code", "length_mm", "width_mm",
    # "height_mm"}...], "default_box": code}; see warehouse.routing.parcel_size. NULL: none
    # known, parcels go to the carrier by weight alone.
    packaging: Mapped[dict | None] = mapped_column(JSON)


class NodeHandover(db.Model):
    """How a node hands its parcels to one carrier (``warehouse.carriers.pickups``):
    dropped off at the carrier's office ``office_code``, or collected by its courier
    at ``address`` between ``window_from`` and ``window_to`` (local time in
    ``timezone``). Operators set it with ``flask nodes handover``; the booking picks
    the tariff that fits it."""

    __tablename__ = "node_handovers"
    __table_args__ = (
        UniqueConstraint("node_id", "carrier"),
        CheckConstraint("kind IN ('drop_off', 'intake')", name="kind_known"),
        CheckConstraint(
            "(kind = 'drop_off' AND office_code IS NOT NULL) OR (kind = 'intake' AND "
            "window_from IS NOT NULL AND window_to IS NOT NULL AND address IS NOT NULL)",
            name="kind_complete",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10))
    office_code: Mapped[str | None] = mapped_column(String(40))
    window_from: Mapped[str | None] = mapped_column(String(5))  # HH:MM local
    window_to: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(255))
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact_phone: Mapped[str | None] = mapped_column(String(24))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    node: Mapped[Node] = relationship()


class StockLevel(db.Model):
    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("sku_id", "node_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    sku: Mapped[Sku] = relationship()
    node: Mapped[Node] = relationship()

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Staff(db.Model):
    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("role IN ('picker', 'operator')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))
    role: Mapped[str] = mapped_column(String(20), default="picker")
    password_hash: Mapped[str] = mapped_column(String(256))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped to end every page session of this staff member at once (log out everywhere).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    node: Mapped[Node | None] = relationship()


class StockMovement(db.Model):
    """The stock ledger: every change of on-hand or reserved, with why and who.

    A stock level always equals the sum of its movements; rows are only added.
    """

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_sku_node", "sku_id", "node_id"),
        CheckConstraint(
            "reason IN ('receipt', 'merchant update', 'reservation', 'release', 'expiry', "
            "'shipment', 'adjustment', 'return', 'reroute')",
            name="reason_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    delta_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    delta_reserved: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    reference: Mapped[str] = mapped_column(String(120), default="")
    # The bin units came into or left from (receipts, counts, picking), when known.
    bin: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StockBin(db.Model):
    """Where a SKU's units sit at a node: a bin (zone-aisle-shelf, e.g. ``A-02-05``)
    and how many units it holds. A SKU may live in several bins; pick lists walk
    them in order. Units on hand that no receipt put in a bin yet are picked
    from "no bin" (the list says so)."""

    __tablename__ = "stock_bins"
    __table_args__ = (
        UniqueConstraint("sku_id", "node_id", "bin"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    bin: Mapped[str] = mapped_column(String(20))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PickList(db.Model):
    """A batch of one node's ready shipments, picked in one walk through the bins."""

    __tablename__ = "pick_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | done | cancelled
    created_by: Mapped[str] = mapped_column(String(80))
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    shipment_count: Mapped[int] = mapped_column(Integer, default=0)
    unit_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    node: Mapped[Node] = relationship()
    lines: Mapped[list[PickListLine]] = relationship(order_by="PickListLine.position")


class PickListLine(db.Model):
    """One stop of the walk: a SKU in a bin, the units to take, and the shipments they feed."""

    __tablename__ = "pick_list_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    pick_list_id: Mapped[int] = mapped_column(ForeignKey("pick_lists.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    bin: Mapped[str | None] = mapped_column(String(20))  # None: no bin recorded for these units
    quantity: Mapped[int] = mapped_column(Integer)
    # [{"shipment_id": 12, "quantity": 2}, ...]
    shipments: Mapped[list] = mapped_column(JSON, default=list)


class LoginAttempt(db.Model):
    """Staff page logins, kept to slow down password guessing (per email and per address)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Lane(db.Model):
    """From a node to destination countries (optionally some regions), through legs.

    Data, not code: operators change lanes with `flask lanes set`; the
    routing engine reads them as they are.
    """

    __tablename__ = "lanes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: whole countries
    cutoff_time: Mapped[str] = mapped_column(String(5), default="16:00")  # HH:MM, local
    timezone: Mapped[str] = mapped_column(String(40))
    refuses_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    refuses_hs_prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    requires_cbec_positive_list: Mapped[bool] = mapped_column(Boolean, default=False)
    max_parcel_value_amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    max_parcel_value_currency: Mapped[str | None] = mapped_column(String(3))
    max_parcel_weight_g: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    node: Mapped[Node] = relationship()
    legs: Mapped[list[LaneLeg]] = relationship(
        order_by="LaneLeg.position", cascade="all, delete-orphan"
    )


class LaneLeg(db.Model):
    __tablename__ = "lane_legs"
    __table_args__ = (UniqueConstraint("lane_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lane_id: Mapped[int] = mapped_column(ForeignKey("lanes.id"))
    position: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str] = mapped_column(String(40))
    service: Mapped[str] = mapped_column(String(80))
    transit_days_min: Mapped[int] = mapped_column(Integer)
    transit_days_max: Mapped[int] = mapped_column(Integer)
    cost_base: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    cost_per_kg: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    cost_currency: Mapped[str] = mapped_column(String(3))
    crossing: Mapped[str | None] = mapped_column(String(80))
    customs_mode: Mapped[str | None] = mapped_column(String(10))


class Shipment(db.Model):
    """The part of an order one node ships, by one lane."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # The order's public number, copied when the shipment is made (checkout, re-route):
    # pages, slips, carriers and webhooks show it without the warehouse reading orders.
    order_number: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    lane_code: Mapped[str | None] = mapped_column(String(40))
    # warehouse.shipment_states.SHIPMENT_STATUSES
    status: Mapped[str] = mapped_column(String(20), default="awaiting_payment", index=True)
    # What the shopper was charged for this parcel and what its customs will take,
    # in the order's currency; the delivery window promised at checkout.
    shipping_amount: Mapped[Decimal] = mapped_column(Numeric(19, 4), default=Decimal(0))
    duties_amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    customs_mode: Mapped[str | None] = mapped_column(String(10))
    weight_g: Mapped[int] = mapped_column(Integer, default=0)
    deliver_from: Mapped[date | None] = mapped_column(Date)
    deliver_by: Mapped[date | None] = mapped_column(Date)
    carrier: Mapped[str | None] = mapped_column(String(40))
    # What checkout quoted for the lane's last leg, booked as quoted: the carrier and
    # its service (a CDEK tariff code), and the pickup point the shopper chose (the
    # carrier's code and, for pages and slips, its name and address). Empty: the lane
    # table priced it, and the parcel goes to the address.
    quoted_carrier: Mapped[str | None] = mapped_column(String(40))
    quoted_service: Mapped[str | None] = mapped_column(String(40))
    delivery_point: Mapped[str | None] = mapped_column(String(40))
    delivery_point_address: Mapped[str | None] = mapped_column(String(300))
    tracking_number: Mapped[str | None] = mapped_column(String(80))
    # Booking through a carrier's API (the row is the source of truth for the job that
    # books it): requested -> sending (asked, answer maybe lost) -> pending (carrier is
    # processing) -> registered; or failed, with the carrier's reasons in last_error.
    booking_state: Mapped[str | None] = mapped_column(String(12))
    # Which request for a booking the job may act for: each request gets a fresh one,
    # and the job's writes only land while it is still the shipment's.
    booking_attempt: Mapped[str | None] = mapped_column(String(32))
    carrier_reference: Mapped[str | None] = mapped_column(String(80), index=True)
    label_reference: Mapped[str | None] = mapped_column(String(80))  # the carrier's print job
    # The courier pickup a door-sender booking needs (carriers.book_pickup): requested ->
    # sending -> pending | registered, or failed with the carrier's reasons in last_error.
    pickup_state: Mapped[str | None] = mapped_column(String(12))
    pickup_reference: Mapped[str | None] = mapped_column(String(80))
    pickup_on: Mapped[date | None] = mapped_column(Date)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    pick_list_id: Mapped[int | None] = mapped_column(ForeignKey("pick_lists.id"), index=True)
    packed_weight_g: Mapped[int | None] = mapped_column(Integer)
    dimensions_mm: Mapped[dict | None] = mapped_column(JSON)
    packed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    node: Mapped[Node] = relationship()
    lines: Mapped[list[ShipmentLine]] = relationship(order_by="ShipmentLine.id")


class ShipmentLine(db.Model):
    """Units of one SKU in a shipment, and the reservation that holds them."""

    __tablename__ = "shipment_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    # held -> consumed (shipped) | released (cancelled) | expired (unpaid in time)
    reservation: Mapped[str] = mapped_column(String(10), default="held")


class ShipmentLabel(db.Model):
    """The carrier's label for a shipment, as its PDF (fetched once, printed many times)."""

    __tablename__ = "shipment_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    carrier: Mapped[str] = mapped_column(String(40))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrackingEvent(db.Model):
    """What the carrier says happened to a parcel; re-read from the carrier, never taken
    from an unsigned webhook body."""

    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("shipment_id", "code", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))  # accepted | in_transit | delivered | ...
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    location: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RoutingDecision(db.Model):
    """Why an order's shipments go where they go: the plan at checkout and every
    re-route after it, with the engine's explanation, who and why."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    kind: Mapped[str] = mapped_column(String(10))  # plan | reroute
    strategy: Mapped[str] = mapped_column(String(40))
    explanation: Mapped[dict] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
