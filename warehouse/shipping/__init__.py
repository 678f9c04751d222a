"""Shipping through carriers' APIs: booking, labels and tracking, as background jobs.

Staff ask for a booking and get an answer at once (202): the shipment becomes
``booking_requested`` and a job is written in the same transaction (the
outbox). The job talks to the carrier, outside any transaction and outside
the staff member's request, and is safe to run again:

- before sending a booking whose answer may have been lost (state
  ``sending``), it asks the carrier for a booking under our shipment number,
  so a retry never registers a parcel twice;
- the carrier's asynchronous registration is polled (the job retries with
  backoff while the carrier is still processing);
- a refusal (invalid address, weight…) puts the shipment back to ``packed``
  with the carrier's reasons, so staff can fix it or choose another carrier.

Tracking is re-read from the carrier (a periodic poll, and on each webhook,
whose body is only a hint: CDEK does not sign them).

One module per part: ``adapters`` (which carriers, configured how), ``booking``,
``withdrawal`` (cancelling a booking), ``pickups`` (the courier a node's hand-over
may need), ``tracking`` (labels, tracking, webhooks), ``quotes`` (prices at
checkout, per planned parcel) and ``delivery_points`` (door or pickup point).
Importing the package registers every job; callers may import from here as before.
"""

from __future__ import annotations

from warehouse import routing
from warehouse.services import routing_world
from warehouse.shipping.adapters import (
    CARRIER_SETTINGS,
    DEFAULT_CARRIER_TIMEOUT_SECONDS,
    api_carriers,
    carrier,
    enabled_carriers,
    outside_transaction,
    shipment_number,
    write_shipment,
)
from warehouse.shipping.booking import (
    BOOKED_BY_API_STATES,
    CLAIMABLE_STATES,
    MAYBE_AT_CARRIER_STATES,
    MIN_SENDING_GRACE_SECONDS,
    book_shipment,
    request_booking,
)
from warehouse.shipping.delivery_points import (
    DOOR,
    DeliveryChoice,
    PickupPointsUnavailable,
    QuotedService,
    chosen_points,
    delivery_points,
    pickup_carriers,
)
from warehouse.shipping.pickups import book_pickup, request_pickup
from warehouse.shipping.quotes import (
    MAX_CARRIER_CALLS,
    QUOTE_CACHE_MAX_ENTRIES,
    QUOTE_CACHE_SECONDS,
    QUOTE_FAILURE_SECONDS,
    parcel_quotes,
)
from warehouse.shipping.tracking import (
    EVENT_TO_STATUS,
    TRACKED_STATUSES,
    WEBHOOK_OUTCOME,
    carrier_webhook,
    fetch_label,
    label_pdf,
    poll_tracking,
    refresh_tracking,
    tracking_events,
)
from warehouse.shipping.withdrawal import cancel_booking

__all__ = [
    "BOOKED_BY_API_STATES",
    "CARRIER_SETTINGS",
    "CLAIMABLE_STATES",
    "DEFAULT_CARRIER_TIMEOUT_SECONDS",
    "DOOR",
    "EVENT_TO_STATUS",
    "MAX_CARRIER_CALLS",
    "MAYBE_AT_CARRIER_STATES",
    "MIN_SENDING_GRACE_SECONDS",
    "QUOTE_CACHE_MAX_ENTRIES",
    "QUOTE_CACHE_SECONDS",
    "QUOTE_FAILURE_SECONDS",
    "TRACKED_STATUSES",
    "WEBHOOK_OUTCOME",
    "DeliveryChoice",
    "PickupPointsUnavailable",
    "QuotedService",
    "api_carriers",
    "book_pickup",
    "book_shipment",
    "cancel_booking",
    "carrier",
    "carrier_webhook",
    "chosen_points",
    "delivery_points",
    "enabled_carriers",
    "fetch_label",
    "label_pdf",
    "outside_transaction",
    "parcel_quotes",
    "pickup_carriers",
    "poll_tracking",
    "refresh_tracking",
    "request_booking",
    "request_pickup",
    "routing",
    "routing_world",
    "shipment_number",
    "tracking_events",
    "write_shipment",
]
