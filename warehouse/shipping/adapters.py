"""The carrier adapters as the app's settings configure them, our shipment numbers, and
the calls to a carrier made with no transaction open.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import update as sql_update

from shop.core import background
from shop.core.clock import utcnow
from shop.core.extensions import db
from warehouse.carriers import base as carriers
from warehouse.carriers.registry import load_carrier
from warehouse.models import Shipment

CARRIER_SETTINGS = (
    "CDEK_API_BASE",
    "CDEK_CLIENT_ID",
    "CDEK_CLIENT_SECRET",
    "CDEK_TIMEOUT_SECONDS",
    "CDEK_TARIFF_CODE",
    "CDEK_SENDER_LOCATIONS",
    "CDEK_SENDER",
    "CDEK_CURRENCY",
    "CDEK_QUOTE_TARIFFS",
    "CDEK_PRINT_FORMAT",
    "CDEK_RETRIES",
    "CDEK_RETRY_BACKOFF_SECONDS",
    "CDEK_TOKEN_MARGIN_SECONDS",
)
DEFAULT_CARRIER_TIMEOUT_SECONDS = 20.0


def enabled_carriers() -> tuple[str, ...]:
    return tuple(current_app.config["CARRIERS"])


def carrier(name: str) -> carriers.CarrierAdapter:
    # Unset settings are left out, so the adapter's own defaults apply.
    settings = {k: current_app.config[k] for k in CARRIER_SETTINGS
                if current_app.config.get(k) is not None}  # fmt: skip
    # One adapter per process and settings: it keeps its HTTP session and OAuth token.
    cache = current_app.extensions.setdefault("pavilion.carriers", {})
    key = (name, repr(sorted(settings.items())), enabled_carriers())
    if key not in cache:
        cache[key] = load_carrier(name, settings, enabled_carriers())
    return cache[key]


def shipment_number(order_number: str, shipment_id: int) -> str:
    """Ours, unique, what the carrier files the parcel under (CDEK: ``number``)."""
    return f"{order_number}-{shipment_id}"


def api_carriers() -> tuple[str, ...]:
    return tuple(name for name in enabled_carriers() if name != "manual")


def write_shipment(shipment_id: int, **values) -> None:
    """Write ``values`` on the shipment whatever its state, and commit (the jobs' own
    short transactions)."""
    db.session.execute(
        sql_update(Shipment).where(Shipment.id == shipment_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    db.session.commit()


def outside_transaction(call, *args, **kwargs):
    """Call the carrier with no transaction open; its outages become retries."""
    db.session.rollback()
    try:
        return call(*args, **kwargs)
    except carriers.CarrierUnavailable as outage:
        raise background.TransientError(f"carrier unavailable: {outage}") from outage
    except carriers.CarrierConfigurationError as misconfigured:
        # Credentials or settings: no retry helps until an operator fixes them.
        raise background.PermanentError(f"carrier not configured: {misconfigured}") from None
