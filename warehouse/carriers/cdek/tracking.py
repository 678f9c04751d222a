"""What CDEK says happened to a parcel (pure): its order status codes as our tracking
statuses, the statuses of an order answer as tracking events, and the hint an
ORDER_STATUS webhook carries (webhooks are unsigned: the shop re-reads the order)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from warehouse.carriers.base import TrackingEvent, WebhookHint
from warehouse.carriers.cdek.answers import parse_cdek_datetime

# The adapter's one logger, as before it was split in modules.
log = logging.getLogger(__package__)

# CDEK order status codes -> ours. Any code not named here is a step on the way.
_ACCEPTED_CODES = frozenset({"ACCEPTED", "CREATED"})
_DELIVERED_CODES = frozenset({"DELIVERED"})
_RETURNED_CODES = frozenset({"NOT_DELIVERED", "RETURNED_TO_SENDER_WAREHOUSE"})
# A parcel going backwards (back to a transit or delivery warehouse), a refused
# or deleted order: someone should look.
_PROBLEM_CODES = frozenset(
    {
        "INVALID",
        "REMOVED",
        "RETURNED_TO_TRANSIT_WAREHOUSE",
        "RETURNED_TO_DELIVERY_WAREHOUSE",
        "RETURNED_TO_RECIPIENT_CITY_WAREHOUSE",
    }
)


def tracking_status(code: str) -> str:
    """Our tracking status for a CDEK order status code."""
    if code in _ACCEPTED_CODES:
        return "accepted"
    if code in _DELIVERED_CODES:
        return "delivered"
    if code in _RETURNED_CODES:
        return "returned"
    if code in _PROBLEM_CODES:
        return "problem"
    return "in_transit"


def tracking_events(body: Mapping[str, Any]) -> list[TrackingEvent]:
    """``entity.statuses`` of an order answer as tracking events, oldest first.
    CDEK lists them newest first; a status without a readable time is skipped."""
    events = []
    for status in (body.get("entity") or {}).get("statuses") or ():
        if not isinstance(status, Mapping) or not status.get("code"):
            continue
        at = parse_cdek_datetime(status.get("date_time"))
        if at is None:
            log.warning("CDEK status without a readable date_time skipped: %r", status)
            continue
        code = str(status["code"])
        events.append(
            TrackingEvent(
                code=code,
                status=tracking_status(code),
                at=at,
                location=status.get("city") or None,
                description=str(status.get("name") or ""),
            )
        )
    events.reverse()  # so that a stable sort keeps equal times oldest first
    return sorted(events, key=lambda event: event.at)


def webhook_hint(body: bytes) -> WebhookHint | None:
    """An ORDER_STATUS notification's order uuid, tracking number and our
    number; ``None`` for any other type or anything unreadable."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("type") != "ORDER_STATUS":
        return None
    attributes = data.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}

    def text(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        return str(value).strip() or None

    hint = WebhookHint(
        reference=text(data.get("uuid")),
        tracking_number=text(attributes.get("cdek_number")),
        shipment_number=text(attributes.get("number")),
    )
    if hint == WebhookHint():
        return None
    # ``code`` is the status code of the order statuses table (Приложение 1,
    # "DELIVERED"), ``status_date_time`` when CDEK set it: the same pair an order
    # answer lists in ``entity.statuses``, so a claim can be matched to a stored event.
    # (api-docs.cdek.ru, "Вебхуки" → ORDER_STATUS; the numeric ``status_code`` is not
    # what ``statuses[].code`` holds, so it is not used.)
    code = text(attributes.get("code"))
    at = parse_cdek_datetime(attributes.get("status_date_time"))
    return replace(hint, status_code=code[:60] if code else None, status_at=at)
