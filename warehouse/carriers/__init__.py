"""Carrier adapters: the port (``base``), the plugin registry (``registry``),
and the adapters this project ships (``manual``, ``cdek``).

Services import from here and receive an adapter from ``load_carrier``; they
never import a concrete adapter.
"""

from warehouse.carriers.base import (
    BOOKING_STATES,
    QUOTE_SOURCES,
    TRACKING_STATUSES,
    Address,
    Booking,
    BookingRequest,
    CarrierAdapter,
    CarrierConfigurationError,
    CarrierError,
    CarrierRejected,
    CarrierUnavailable,
    LabelNotReady,
    NoLabel,
    NoPickup,
    Origin,
    Parcel,
    ParcelItem,
    QuoteOption,
    TrackingEvent,
    WebhookHint,
)
from warehouse.carriers.customs import CustomsDeclaration, Party, RecipientIdentity
from warehouse.carriers.pickups import HANDOVER_KINDS, Handover, Pickup, PickupRequest
from warehouse.carriers.registry import (
    ENTRY_POINT_GROUP,
    CarrierLoadError,
    UnknownCarrier,
    available_carriers,
    clear_carrier_cache,
    load_carrier,
)

__all__ = [
    "BOOKING_STATES",
    "ENTRY_POINT_GROUP",
    "HANDOVER_KINDS",
    "QUOTE_SOURCES",
    "TRACKING_STATUSES",
    "Address",
    "Booking",
    "BookingRequest",
    "CarrierAdapter",
    "CarrierConfigurationError",
    "CarrierError",
    "CarrierLoadError",
    "CarrierRejected",
    "CarrierUnavailable",
    "CustomsDeclaration",
    "Handover",
    "LabelNotReady",
    "NoLabel",
    "NoPickup",
    "Origin",
    "Parcel",
    "ParcelItem",
    "Party",
    "Pickup",
    "PickupRequest",
    "QuoteOption",
    "RecipientIdentity",
    "TrackingEvent",
    "UnknownCarrier",
    "WebhookHint",
    "available_carriers",
    "clear_carrier_cache",
    "load_carrier",
]
