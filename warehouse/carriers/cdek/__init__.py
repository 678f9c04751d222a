"""``cdek``: CDEK's integration API v2 (https://api-docs.cdek.ru) over ``requests``.

``adapter`` holds ``CdekCarrier``, the port (``setup.cfg`` names it as the ``cdek``
entry point); it sends what ``request_bodies`` builds through ``client`` (session,
OAuth token, errors) and reads the answers with ``answers`` and ``tracking``
(statuses and webhooks), all pure but the client.

Settings read:

``CDEK_API_BASE``
    Default ``https://api.edu.cdek.ru`` (CDEK's test server); production is
    ``https://api.cdek.ru``. Paths are ``/v2/...``.
``CDEK_CLIENT_ID``, ``CDEK_CLIENT_SECRET``
    The integration account (not the web account's login). Required.
``CDEK_TIMEOUT_SECONDS``
    ``(connect, read)`` seconds, or one number for both. Default ``(5, 15)``.
``CDEK_TARIFF_CODE``
    The tariff family booked when ``BookingRequest.service`` is ``None``. Default
    ``137`` (Посылка): the member booked is the one whose sides fit the node's
    hand-over (drop-off: склад; courier intake: дверь) and the recipient's (door,
    or a pickup point), so 137 at a courier-intake node books 139. The table is
    ``rules/tariffs.json`` (``tariffs``), with its source.
``CDEK_SENDER_LOCATIONS``
    ``{node code: CDEK city code}``, e.g. ``{"RU-WH": 44}``. ``Origin.carrier_location``
    wins when given; without either, the origin's country, city and postal
    code are sent and CDEK looks the city up.
``CDEK_CURRENCY``
    ISO code CDEK prices quotes in. Default ``RUB``.
``CDEK_QUOTE_TARIFFS``
    Tariff codes to offer in quotes (all CDEK answers when unset).
``CDEK_SENDER``
    Optional ``sender`` object sent with every order as is (CDEK asks for one on
    international orders: ``{"company": ..., "name": ..., "phones": [{"number": ...}]}``).

Not settings: how a node hands parcels over (``BookingRequest.handover``, from
``warehouse.models.NodeHandover``), the pickup point (``delivery_point``) and the
customs paperwork (``customs``, built into CDEK's international block by
``customs``, whose docstring tables which route sends what).
``CDEK_PRINT_FORMAT``
    Barcode label size: ``A4``, ``A5`` or ``A6`` (default, label printers).
``CDEK_RETRIES``, ``CDEK_RETRY_BACKOFF_SECONDS``
    How often urllib3 retries a GET answered 500/502/503/504 or timed out
    while reading, and its backoff factor. Default 2 and 0.5. Never POST or
    DELETE: a lost answer to ``POST /v2/orders`` may mean an order exists.
``CDEK_TOKEN_MARGIN_SECONDS``
    Renew the OAuth token this long before CDEK says it expires. Default 60.

CDEK facts this adapter relies on (and the fake in tests/fake_cdek.py follows):

- Booking is asynchronous: ``POST /v2/orders`` answers 202 with ``entity.uuid``
  and ``requests[0].state`` ACCEPTED (or WAITING); validation ends later and
  shows in ``GET /v2/orders/{uuid}`` as ``requests[type=CREATE].state``
  SUCCESSFUL (``entity.cdek_number`` set: the tracking number) or INVALID
  (with ``errors``). Missing fields are refused at once with HTTP 400.
- CDEK does not deduplicate by our ``number``; ``GET /v2/orders?im_number=``
  finds an order by it, which is how a caller avoids booking twice.
- Quotes (``tarifflist``) are in the requested ``currency`` (an integer code,
  see ``CDEK_CURRENCY_CODES``); periods are working days.
- Dimensions go in whole centimetres (rounded up), weights in grams; money as
  JSON numbers (``Decimal`` turned to a number only at the edge; answers are
  read back as ``Decimal``).
- Labels: ``POST /v2/print/barcodes`` starts a print job; ``GET
  /v2/print/barcodes/{uuid}`` shows READY and an ``url`` to download with the
  bearer token (the link lives an hour; afterwards the job shows REMOVED and
  this adapter starts a new one).
- ``DELETE /v2/orders/{uuid}`` withdraws an order (CDEK refuses once the
  parcel was handed over); a 404 means it is gone already.
- Webhooks are unsigned: ``parse_webhook`` returns only a hint.
- Pickup points (``delivery_points``): ``GET /v2/deliverypoints`` ("Список офисов",
  api-docs.cdek.ru/36982648.html) by the city's ``postal_code``, or by its CDEK
  ``city_code`` from ``GET /v2/location/cities``; both answer JSON arrays
  (``offices``). An order to a pickup point sends ``delivery_point`` (the office
  code) instead of ``to_location``.
- Quotes say where each tariff of ``CDEK_TARIFF_CODE``'s family hands the parcel over
  (``QuoteOption.delivery``: door, office or locker) when its sender side is the
  node's hand-over (``Origin.handover``), from the one tariff table
  (``tariffs``, rules/tariffs.json: 136 склад-склад, 137 склад-дверь, 138
  дверь-склад, 139 дверь-дверь, 366 дверь-постамат, 368 склад-постамат).
- Errors arrive as ``requests[].errors[{code, message}]`` or top-level
  ``errors[]``; 401 ``v2_token_expired`` means renew the token (done once per call).
"""

from warehouse.carriers.cdek.adapter import (
    DEFAULT_API_BASE,
    DEFAULT_CURRENCY,
    DEFAULT_PRINT_FORMAT,
    DEFAULT_TARIFF_CODE,
    CdekCarrier,
)
from warehouse.carriers.cdek.answers import (
    booking_from_creation,
    booking_from_order,
    error_strings,
    is_not_found,
    parse_cdek_datetime,
    quote_options,
    retry_after_seconds,
)
from warehouse.carriers.cdek.client import CdekClient, build_session
from warehouse.carriers.cdek.currencies import CDEK_CURRENCY_CODES, CURRENCY_BY_CDEK_CODE
from warehouse.carriers.cdek.request_bodies import centimetres, json_number, money_number
from warehouse.carriers.cdek.tracking import tracking_events, tracking_status, webhook_hint

__all__ = [
    "CDEK_CURRENCY_CODES",
    "CURRENCY_BY_CDEK_CODE",
    "DEFAULT_API_BASE",
    "DEFAULT_CURRENCY",
    "DEFAULT_PRINT_FORMAT",
    "DEFAULT_TARIFF_CODE",
    "CdekCarrier",
    "CdekClient",
    "booking_from_creation",
    "booking_from_order",
    "build_session",
    "centimetres",
    "error_strings",
    "is_not_found",
    "json_number",
    "money_number",
    "parse_cdek_datetime",
    "quote_options",
    "retry_after_seconds",
    "tracking_events",
    "tracking_status",
    "webhook_hint",
]
