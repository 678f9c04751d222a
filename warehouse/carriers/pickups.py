"""How a node hands its parcels to a carrier, and the courier pickups that needs.

A node either takes its parcels to one of the carrier's offices (``drop_off``: the
office's code is what the carrier calls the sender's point, CDEK's
``shipment_point``), or has the carrier's courier collect them at its door
(``intake``: within a daily time window, booked per parcel, CDEK's
``POST /v2/intakes``). Which one a node does is data (``warehouse.models.NodeHandover``,
set by operators with ``flask nodes handover``); the carrier adapter picks a tariff
that fits it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HANDOVER_KINDS = ("drop_off", "intake")
PICKUP_STATES = ("pending", "registered", "invalid")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# CDEK: "a courier invitation created on the current date after 15 p.m. by the sender's
# time can be done the next day" (api-docs.cdek.ru/33828859.html).
SAME_DAY_BEFORE = time(15, 0)


def is_clock_time(value: str | None) -> bool:
    """``HH:MM`` on a 24-hour clock."""
    return bool(value) and bool(_CLOCK.match(value))


@dataclass(frozen=True)
class Handover:
    """A node's way of handing parcels to one carrier.

    ``office_code`` is set for ``drop_off``; ``window_from``/``window_to`` (local
    ``HH:MM``), ``timezone`` (IANA) and ``address`` (where the courier comes) for
    ``intake``. ``contact_name``/``contact_phone`` are whom the courier asks for.
    """

    kind: str
    office_code: str | None = None
    window_from: str | None = None
    window_to: str | None = None
    timezone: str | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None

    def __post_init__(self):
        if self.kind not in HANDOVER_KINDS:
            raise ValueError(f"a hand-over is one of {HANDOVER_KINDS}, not {self.kind!r}")
        if self.kind == "drop_off" and not self.office_code:
            raise ValueError("a drop-off hand-over needs the carrier office's code")
        if self.kind == "intake":
            if not (is_clock_time(self.window_from) and is_clock_time(self.window_to)):
                raise ValueError("a courier intake needs its window as HH:MM to HH:MM")
            if self.window_from >= self.window_to:
                raise ValueError("a courier intake window must end after it starts")
            if not self.address:
                raise ValueError("a courier intake needs the address the courier comes to")

    @property
    def courier_collects(self) -> bool:
        return self.kind == "intake"


@dataclass(frozen=True)
class PickupRequest:
    """A courier visit for one booked parcel: ``reference`` is the carrier's booking
    (CDEK's order uuid), ``on`` the local date, the window from the node's hand-over."""

    reference: str
    shipment_number: str
    on: date
    window_from: str
    window_to: str
    weight_g: int
    description: str = ""
    comment: str = ""


@dataclass(frozen=True)
class Pickup:
    """The carrier's answer to a pickup request; ``state`` is one of ``PICKUP_STATES``."""

    carrier: str
    reference: str | None
    state: str
    errors: tuple[str, ...] = ()

    def __post_init__(self):
        if self.state not in PICKUP_STATES:
            raise ValueError(f"pickup state must be one of {PICKUP_STATES}, not {self.state!r}")


def pickup_date(now: datetime, handover: Handover) -> date:
    """The first day a courier can still come in the node's window: today, in the node's
    time zone, while it is before both 15:00 and the window's start; else tomorrow."""
    if now.tzinfo is None:
        raise ValueError("pickup_date needs an aware datetime")
    local = now.astimezone(ZoneInfo(handover.timezone or "UTC"))
    starts = time.fromisoformat(handover.window_from or "09:00")
    if local.time() < SAME_DAY_BEFORE and local.time() < starts:
        return local.date()
    return local.date() + timedelta(days=1)
