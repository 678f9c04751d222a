"""Carrier adapters: the port (``base``), the plugin registry (``registry``),
and the adapters this project ships (``manual``, ``cdek``).

Services import from here and receive an adapter from ``load_carrier``; they
never import a concrete adapter.
"""

from warehouse.carriers.base import (
    BOOKING_STATES,
    DELIVERY_METHODS,
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
    DeliveryPoint,
    LabelNotReady,
    NoLabel,
    Origin,
    Parcel,
    ParcelItem,
    QuoteOption,
    TrackingEvent,
    WebhookHint,
)
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
    "DELIVERY_METHODS",
    "ENTRY_POINT_GROUP",
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
    "DeliveryPoint",
    "LabelNotReady",
    "NoLabel",
    "Origin",
    "Parcel",
    "ParcelItem",
    "QuoteOption",
    "TrackingEvent",
    "UnknownCarrier",
    "WebhookHint",
    "available_carriers",
    "clear_carrier_cache",
    "load_carrier",
]
