"""Reading CDEK's answers (pure): its errors, a refusal that means "no such order",
``Retry-After``, the tariffs of a quote, and a booking from an order answer."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from catalog.money import Money
from warehouse.carriers.base import Booking, CarrierError, CarrierRejected, QuoteOption
from warehouse.carriers.cdek.currencies import CURRENCY_BY_CDEK_CODE

# The adapter's one logger, as before it was split in modules.
log = logging.getLogger(__package__)

_NOT_FOUND_CODE_PREFIXES = ("v2_entity_not_found", "v2_order_not_found")


def parse_cdek_datetime(text: Any) -> datetime | None:
    """CDEK's ``2026-11-02T10:15:00+0000`` (offset without a colon) as an aware
    datetime; ``None`` when missing or unreadable. A naive time is taken as UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def error_strings(body: Any) -> tuple[str, ...]:
    """Every ``code: message`` in a CDEK answer: top-level ``errors`` and each
    ``requests[].errors``."""
    if not isinstance(body, Mapping):
        return ()
    found: list[dict] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        found.extend(errors)
    for request in body.get("requests") or ():
        if isinstance(request, Mapping) and isinstance(request.get("errors"), list):
            found.extend(request["errors"])
    out = []
    for error in found:
        if isinstance(error, Mapping):
            code = str(error.get("code") or "unknown")
            message = str(error.get("message") or "").strip()
            out.append(f"{code}: {message}" if message else code)
    return tuple(dict.fromkeys(out))


def is_not_found(status_code: int, body: Any) -> bool:
    """A refusal saying CDEK has no such entity (404, or a 4xx naming
    ``v2_entity_not_found*`` / ``v2_order_not_found``). A 200 whose order
    failed validation with such a code is an answer, not a miss."""
    if status_code == 404:
        return True
    return 400 <= status_code < 500 and any(
        e.startswith(_NOT_FOUND_CODE_PREFIXES) for e in error_strings(body)
    )


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def quote_options(
    body: Mapping[str, Any],
    currency: str,
    tariffs: Iterable[int] | None = None,
    carrier: str = "cdek",
) -> list[QuoteOption]:
    """A ``/v2/calculator/tarifflist`` answer as quote options, cheapest first.

    Raises ``CarrierRejected`` when CDEK names errors and offers no tariff (an
    unknown city, a parcel too heavy for every tariff).
    """
    wanted = {int(code) for code in tariffs} if tariffs is not None else None
    options = []
    for tariff in body.get("tariff_codes") or ():
        try:
            code = int(tariff["tariff_code"])
            if wanted is not None and code not in wanted:
                continue
            answer_currency = tariff.get("currency", body.get("currency"))
            if isinstance(answer_currency, int):
                answer_currency = CURRENCY_BY_CDEK_CODE.get(answer_currency)
            options.append(
                QuoteOption(
                    carrier=carrier,
                    service=str(code),
                    price=Money(Decimal(str(tariff["delivery_sum"])), answer_currency or currency),
                    transit_days_min=int(tariff["period_min"]),
                    transit_days_max=int(tariff["period_max"]),
                )
            )
        except (KeyError, TypeError, ValueError, ArithmeticError):
            log.warning("CDEK tariff entry cannot be read, skipped: %r", tariff)
    errors = error_strings(body)
    if not options and errors:
        raise CarrierRejected("CDEK offers no tariff for this parcel", errors=errors)
    return sorted(options, key=lambda o: (o.price.amount, o.transit_days_max, o.service))


def _create_request(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CREATE request among ``requests`` (the first when none says its type)."""
    requests_ = [r for r in body.get("requests") or () if isinstance(r, Mapping)]
    for request in requests_:
        if request.get("type") == "CREATE":
            return request
    return requests_[0] if requests_ else {}


def booking_from_creation(body: Mapping[str, Any], carrier: str = "cdek") -> Booking:
    """The answer to ``POST /v2/orders`` (202) as a booking: ``pending`` while
    CDEK validates, ``invalid`` when it refused at once."""
    entity = body.get("entity") or {}
    reference = entity.get("uuid") or None
    service = str(entity["tariff_code"]) if entity.get("tariff_code") else None
    state = _create_request(body).get("state")
    if state == "INVALID":
        return Booking(carrier, reference, "invalid", errors=error_strings(body), service=service)
    if not reference:
        raise CarrierError(f"CDEK accepted the order but named no uuid (state {state!r})")
    if entity.get("cdek_number"):
        return Booking(
            carrier, reference, "registered", str(entity["cdek_number"]), service=service
        )
    return Booking(carrier, reference, "pending", service=service)


def booking_from_order(body: Mapping[str, Any], carrier: str = "cdek") -> Booking:
    """The answer to ``GET /v2/orders/{uuid}`` (or ``?im_number=``) as a booking."""
    entity = body.get("entity") or {}
    reference = entity.get("uuid") or None
    service = str(entity["tariff_code"]) if entity.get("tariff_code") else None
    if entity.get("cdek_number"):
        return Booking(
            carrier, reference, "registered", str(entity["cdek_number"]), service=service
        )
    codes = {s.get("code") for s in entity.get("statuses") or () if isinstance(s, Mapping)}
    if _create_request(body).get("state") == "INVALID" or "INVALID" in codes:
        return Booking(carrier, reference, "invalid", errors=error_strings(body), service=service)
    return Booking(carrier, reference, "pending", service=service)


def create_request_state(body: Mapping[str, Any]) -> str | None:
    return _create_request(body).get("state")


def latest_status_code(statuses: Iterable[Any]) -> str | None:
    """The newest status code; CDEK lists newest first, but the times decide."""
    dated = []
    for index, status in enumerate(statuses):
        if isinstance(status, Mapping) and status.get("code"):
            at = parse_cdek_datetime(status.get("date_time"))
            dated.append((at or datetime.min.replace(tzinfo=UTC), -index, str(status["code"])))
    return max(dated)[2] if dated else None
