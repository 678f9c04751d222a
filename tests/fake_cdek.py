"""A fake CDEK API v2 server on loopback for tests: real HTTP, one thread.

Use the fixture from a test module (an assignment, so ruff sees no unused
import, and no ``pytest_plugins``)::

    from tests import fake_cdek as fake_cdek_module

    fake_cdek = fake_cdek_module.fake_cdek

    def test_something(fake_cdek):
        carrier = CdekCarrier(fake_cdek.settings())
        ...

``fake_cdek`` (function scope) starts a fresh server on a free port and stops
it afterwards. ``fake.settings(**overrides)`` gives ``CdekCarrier`` settings
aimed at it (short timeouts: read timeout ``READ_TIMEOUT`` seconds, no retry
backoff).

What it serves, in CDEK's documented shapes (api-docs.cdek.ru, cdek-it/sdk2.0):

- ``POST /v2/oauth/token`` (form): ``client_id``/``client_secret`` must match
  ``fake.client_id``/``fake.client_secret``; answers a bearer token living
  ``fake.token_ttl`` seconds.
- ``POST /v2/calculator/tarifflist``: ``fake.tariffs`` priced per started kilogram of
  the packages' billed weight: each package's weight (grams) or its volumetric weight,
  length × width × height in centimetres / ``VOLUMETRIC_DIVISOR`` kg, whichever is
  greater. The request's ``packages[{weight, length, width, height}]`` (weight in
  grams, sides in whole centimetres) are as the calculator pages document them
  (https://api-docs.cdek.ru/63347458.html, tarifflist; 63347397.html, tariff). A
  tariff is not offered for a package over its weight limit in
  ``fake_cdek_rules.TARIFFS`` (the Посылка tariffs' 30 kg, the same limit an order
  is refused over; the calculator pages do not give the figure). The method answers
  the "available tariffs", so one it would refuse is left out, and none left is an
  empty list.
- ``POST /v2/orders``: 400 ``v2_field_is_empty`` for a missing field, else 202
  with ``entity.uuid`` and ``requests[0].state`` ACCEPTED. Registration ends
  after ``fake.polls_until_registered`` ``GET /v2/orders/{uuid}``: SUCCESSFUL
  with a ``cdek_number``, or INVALID when the city was ``refuse_city``-ed.
  With ``polls_until_registered = 0`` the POST answer is already final.
- ``GET /v2/orders/{uuid}``, ``GET /v2/orders?im_number=`` (404
  ``v2_entity_not_found`` when unknown or deleted).
- ``POST /v2/print/barcodes``, ``GET /v2/print/barcodes/{uuid}`` (READY with an
  ``url`` after ``fake.polls_until_label_ready`` GETs), and the PDF at that url
  (401 without a valid bearer token).
- ``DELETE /v2/orders/{uuid}``: 202, or 400 once the parcel moved past CREATED.
- ``GET /v2/location/cities`` and ``GET /v2/deliverypoints`` (JSON arrays):
  ``fake.cities`` and the offices in ``fake.pickup_points`` (pickup points and
  lockers), filtered as CDEK documents. Every pickup point is also an office the
  order rules know (``known_offices``): a point listed at checkout is one an order
  may name as its ``delivery_point``.
- The order's tariff decides its locations (tests/fake_cdek_rules.py cites the
  pages): a склад sender tariff needs ``shipment_point`` (an office in
  ``fake.offices``) and refuses ``from_location``; a дверь one the reverse; to a
  pickup point ``delivery_point`` (an office in ``fake.offices`` or
  ``fake.pickup_points``), else ``to_location``; Посылка packages up to
  30 kg; an order between two countries needs its international block.
- ``POST /v2/intakes`` (api-docs.cdek.ru/33828859.html), ``GET`` and ``DELETE
  /v2/intakes/{uuid}`` (33828865): a courier invitation for an order; a second one
  to the same order's address on the same day is refused.
- ``GET``/``POST /v2/webhooks``, ``GET``/``DELETE /v2/webhooks/{uuid}`` (Webhook
  Subscription, api-docs.cdek.ru/33828888.html): one subscription per type; adding
  a type again changes its url.

Switches (each takes effect for the calls that follow):

- ``fail_next(path, times=1, status=502, method=None)``: the next ``times``
  calls to ``path`` (exact, no query) answer ``status`` before doing anything
  (a failed ``POST /v2/orders`` creates no order).
- ``hang_next(path, method="POST", times=1, seconds=HANG_SECONDS)``: the next
  call sleeps longer than the client's read timeout before answering. For
  ``POST /v2/orders`` the order is registered first: the answer is lost but the
  order exists (the double-booking trap).
- ``expire_tokens()``: every token issued so far answers 401 ``v2_token_expired``.
- ``refuse_city(city, code=..., message=...)``: orders to ``city`` end INVALID
  and quotes to it answer 400.
- ``outage(seconds=None, mode="refused"|"503")``: every call fails (the port
  is closed, or 503 with ``Retry-After``) until ``end_outage()`` or for
  ``seconds``.
- ``add_status(order, code, city=None)``: CDEK moves the parcel on (tracking).
- ``expire_label(print_uuid)``: the print job's link expired (REMOVED).

Views: ``requests`` (every call: method, path, query, headers, body, json),
``intakes`` and ``webhooks`` (by uuid),
``calls(method, path)``, ``orders`` (by uuid), ``orders_by_number`` (our number
-> every order CDEK created under it, oldest first), ``webhook_body(order, code)``
(an ORDER_STATUS notification as CDEK would POST it).

Inventions of this fake where CDEK's documentation is silent: the 401 code for
a missing token (``v2_unauthorized``), the refused city's error code, deleted
orders answering 404, and prices that ignore the asked currency. The volumetric
divisor 5000 (cm³ per kg) is the one express carriers in CDEK's markets publish;
CDEK's API pages do not state CDEK's own, so it is an assumption here, and so is
applying the 30 kg limit to the package's actual weight.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests import fake_cdek_offices as offices
from tests import fake_cdek_rules as rules
from tests.fake_cdek_offices import DEFAULT_CITIES, DEFAULT_PICKUP_POINTS

READ_TIMEOUT = 1.0  # the client's, in fake.settings(); a hang outlasts it
HANG_SECONDS = 5.0
CLIENT_ID = "pavilion-test-account"
CLIENT_SECRET = "pavilion-test-secure"  # a test fixture, not a credential
STATUS_NAMES = {
    "ACCEPTED": "Принят",
    "CREATED": "Создан",
    "INVALID": "Некорректный заказ",
    "RECEIVED_AT_SHIPMENT_WAREHOUSE": "Принят на склад отправителя",
    "READY_FOR_SHIPMENT_IN_SENDER_CITY": "Готов к отправке в городе отправителе",
    "TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY": "Сдан перевозчику в городе отправителе",
    "SENT_TO_TRANSIT_CITY": "Отправлен в город-транзит",
    "ACCEPTED_IN_TRANSIT_CITY": "Встречен в городе-транзите",
    "SENT_TO_RECIPIENT_CITY": "Отправлен в город-получатель",
    "ACCEPTED_IN_RECIPIENT_CITY": "Встречен в городе-получателе",
    "ACCEPTED_AT_PICK_UP_POINT": "Принят на склад до востребования",
    "TAKEN_BY_COURIER": "Выдан на доставку",
    "DELIVERED": "Вручен",
    "NOT_DELIVERED": "Не вручен",
    "REMOVED": "Удален",
}
DEFAULT_TARIFFS = (
    # tariff_code, name, delivery_mode, base, per started kg, period_min, period_max;
    # names and modes as fake_cdek_rules.TARIFFS (CDEK's appendix), prices invented.
    (137, "Посылка склад-дверь", 3, 450, 90, 3, 5),
    (139, "Посылка дверь-дверь", 1, 390, 80, 3, 6),
    (482, "Экспресс склад-дверь", 3, 790, 140, 1, 2),
)
_EPOCH = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
VOLUMETRIC_DIVISOR = 5000  # cm³ per billed kg
WEBHOOK_TYPES = ("ORDER_STATUS", "PRINT_FORM", "DOWNLOAD_PHOTO", "PREALERT_CLOSED")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class FakeOrder:
    uuid: str
    number: str | None
    body: dict[str, Any]
    state: str = "ACCEPTED"  # the CREATE request's state
    cdek_number: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    statuses: list[dict[str, str]] = field(default_factory=list)  # oldest first
    polls: int = 0
    deleted: bool = False
    refused: tuple[str, str] | None = None  # (code, message) it will end INVALID with
    created_at: str = ""


@dataclass
class FakePrint:
    uuid: str
    orders: list[dict[str, Any]]
    format: str
    statuses: list[dict[str, str]] = field(default_factory=list)
    polls: int = 0
    error: tuple[str, str] | None = None
    cdek_number: str | None = None


@dataclass
class _Fault:
    path: str
    method: str | None
    remaining: int
    status: int = 502
    hang: float | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.path == path and self.method in (None, method)


class FakeCdek:
    """The server and its state; see the module docstring for the switches."""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET):
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = 3600
        self.polls_until_registered = 1
        self.polls_until_label_ready = 1
        self.tariffs = list(DEFAULT_TARIFFS)
        self.requests: list[RecordedRequest] = []
        self.orders: dict[str, FakeOrder] = {}
        self.prints: dict[str, FakePrint] = {}
        self.refused_cities: dict[str, tuple[str, str]] = {}
        self.offices: dict[str, tuple[str, str]] = dict(rules.DEFAULT_OFFICES)
        self.intakes: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, str]] = {}
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._faults: list[_Fault] = []
        self._outage: str | None = None
        self._outage_timer: threading.Timer | None = None
        self._lock = threading.RLock()
        self._released = threading.Event()  # ends every hang at stop()
        self._cdek_numbers = count(1)
        self._ticks = count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.cities = list(DEFAULT_CITIES)
        self.pickup_points = list(DEFAULT_PICKUP_POINTS)

    def known_offices(self) -> dict[str, tuple[str, str]]:
        """Every CDEK office an order may name (``shipment_point``, ``delivery_point``):
        ``offices`` (where nodes drop parcels off) and the ``pickup_points`` listed at
        checkout, one register as CDEK's is: code -> (country, city)."""
        cities = {code: (city, country) for code, city, country, _, _ in self.cities}
        listed = {}
        for code, city_code, *_ in self.pickup_points:
            city, country = cities.get(city_code, ("", "RU"))
            listed[code] = (country, city)
        return {**listed, **self.offices}

    # -- life -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeCdek:
        self._serve(self.port)
        return self

    def stop(self) -> None:
        self._released.set()
        if self._outage_timer:
            self._outage_timer.cancel()
        self._close()

    def _serve(self, port: int) -> None:
        server = _Server(("127.0.0.1", port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.name = f"fake-cdek-{self.port}"
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """``CdekCarrier`` settings aimed at this server."""
        return {
            "CDEK_API_BASE": self.url,
            "CDEK_CLIENT_ID": self.client_id,
            "CDEK_CLIENT_SECRET": self.client_secret,
            "CDEK_TIMEOUT_SECONDS": (READ_TIMEOUT, READ_TIMEOUT),
            "CDEK_RETRIES": 2,
            "CDEK_RETRY_BACKOFF_SECONDS": 0,
            "CDEK_SENDER_LOCATIONS": {"RU-WH": 44, "RU-USS": 287},
            **overrides,
        }

    # -- switches ---------------------------------------------------------------

    def fail_next(
        self, path: str, times: int = 1, status: int = 502, method: str | None = None
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(path, method, times, status=status))

    def hang_next(
        self, path: str, method: str | None = "POST", times: int = 1, seconds: float = HANG_SECONDS
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(path, method, times, hang=seconds))

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def refuse_city(
        self, city: str, code: str = "v2_entity_not_found", message: str | None = None
    ) -> None:
        with self._lock:
            self.refused_cities[city] = (code, message or f"City '{city}' is not found")

    def outage(self, seconds: float | None = None, mode: str = "refused") -> None:
        """Fail every call: ``refused`` closes the port, ``503`` answers 503."""
        if mode not in ("refused", "503"):
            raise ValueError("mode is 'refused' or '503'")
        with self._lock:
            self._outage = mode
        if mode == "refused":
            self._close()
        if seconds is not None:
            self._outage_timer = threading.Timer(seconds, self.end_outage)
            self._outage_timer.daemon = True
            self._outage_timer.start()

    def end_outage(self) -> None:
        with self._lock:
            mode, self._outage = self._outage, None
        if mode == "refused" and self._server is None and not self._released.is_set():
            self._serve(self.port)

    def add_status(self, order: FakeOrder | str, code: str, city: str | None = None) -> None:
        """Move an order (by object, uuid or our number) on to status ``code``."""
        with self._lock:
            target = self._order(order)
            target.statuses.append(self._status(code, city))

    def expire_label(self, print_uuid: str) -> None:
        with self._lock:
            self.prints[print_uuid].statuses.append(self._status("REMOVED"))

    # -- views ------------------------------------------------------------------

    @property
    def orders_by_number(self) -> dict[str, list[FakeOrder]]:
        with self._lock:
            grouped: dict[str, list[FakeOrder]] = {}
            for order in self.orders.values():
                grouped.setdefault(order.number or "", []).append(order)
            return grouped

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def webhook_body(self, order: FakeOrder | str, code: str | None = None) -> bytes:
        """An ORDER_STATUS notification for ``order`` as CDEK POSTs it (unsigned)."""
        with self._lock:
            target = self._order(order)
            status = self._status(code) if code else target.statuses[-1]
        return json.dumps(
            {
                "type": "ORDER_STATUS",
                "date_time": status["date_time"],
                "uuid": target.uuid,
                "attributes": {
                    "is_return": False,
                    "cdek_number": target.cdek_number,
                    "number": target.number,
                    "code": status["code"],
                    "status_code": "1",
                    "status_date_time": status["date_time"],
                    "city_name": status.get("city", "Москва"),
                    "city_code": "44",
                },
            },
            ensure_ascii=False,
        ).encode()

    # -- state ------------------------------------------------------------------

    def _order(self, order: FakeOrder | str) -> FakeOrder:
        if isinstance(order, FakeOrder):
            return order
        if order in self.orders:
            return self.orders[order]
        return self.orders_by_number[order][-1]

    def _status(self, code: str, city: str | None = None) -> dict[str, str]:
        at = _EPOCH + timedelta(minutes=next(self._ticks))
        return {
            "code": code,
            "name": STATUS_NAMES.get(code, code),
            "date_time": at.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "city": city or "Москва",
        }

    def _finish_registration(self, order: FakeOrder) -> None:
        if order.state != "ACCEPTED":
            return
        if order.refused:
            code, message = order.refused
            order.state = "INVALID"
            order.errors = [{"code": code, "message": message}]
            order.statuses.append(self._status("INVALID"))
        else:
            order.state = "SUCCESSFUL"
            order.cdek_number = f"1106{next(self._cdek_numbers):06d}"
            order.statuses.append(self._status("CREATED"))

    def _token_ok(self, headers: dict[str, str]) -> str | None:
        """``None`` when the bearer token is good, else the error code."""
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        expires = self._tokens.get(token)
        if expires is None:
            return "v2_unauthorized"
        if time.monotonic() >= expires:
            return "v2_token_expired"
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeCdek


def _request_record(
    request_type: str, state: str = "INVALID", errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """One entry of CDEK's ``requests[]``: what happened to the call."""
    record: dict[str, Any] = {
        "request_uuid": str(uuid.uuid4()),
        "type": request_type,
        "date_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S%z"),
        "state": state,
    }
    if errors:
        record["errors"] = errors
    return record


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: a closed port is closed

    def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing ---------------------------------------------------------------

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        path = parts.path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            parsed = json.loads(raw) if raw and "json" in headers.get("content-type", "") else None
        except ValueError:
            parsed = None
        record = RecordedRequest(method, path, parse_qs(parts.query), headers, raw, parsed)
        with fake._lock:
            fake.requests.append(record)
            outage = fake._outage
            fault = next((f for f in fake._faults if f.matches(method, path)), None)
            if fault:
                fault.remaining -= 1
        if outage == "503":
            self._send(503, {"errors": [{"code": "v2_internal_error", "message": "outage"}]},
                       extra_headers={"Retry-After": "30"})  # fmt: skip
            return
        if fault and fault.hang is None:
            body = f"<html><body><h1>{fault.status}</h1>nginx</body></html>".encode()
            self._send_raw(fault.status, body, "text/html")
            return
        try:
            status, body, content_type = self._route(method, path, record)
        except Exception as exc:  # a fake bug reads as CDEK's 500, loudly
            body = {"errors": [_error("fake_bug", repr(exc))]}
            status, content_type = 500, None
        if fault and fault.hang is not None:
            # The work is done (an order registered); the answer comes too late.
            fake._released.wait(fault.hang)
        if isinstance(body, bytes):
            self._send_raw(status, body, content_type or "application/octet-stream")
        else:
            self._send(status, body)

    def _send(self, status: int, body: Any, extra_headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self._send_raw(status, payload, "application/json;charset=UTF-8", extra_headers)

    def _send_raw(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client gave up waiting: that is the point of a hang

    # -- routes -----------------------------------------------------------------

    def _route(self, method: str, path: str, record: RecordedRequest):
        fake = self.server.fake
        if (method, path) == ("POST", "/v2/oauth/token"):
            return self._oauth(record)
        with fake._lock:
            problem = fake._token_ok(record.headers)
        if problem:
            message = "Token expired" if problem == "v2_token_expired" else "Unauthorized"
            record = _request_record(method, errors=[_error(problem, message)])
            return 401, {"requests": [record]}, None
        body = record.json if isinstance(record.json, dict) else {}
        segments = path.strip("/").split("/")
        with fake._lock:
            if (method, path) == ("POST", "/v2/calculator/tarifflist"):
                return self._tarifflist(body)
            if (method, path) == ("POST", "/v2/orders"):
                return self._create_order(body)
            if (method, path) == ("GET", "/v2/deliverypoints"):
                return self._delivery_points(record.query)
            if (method, path) == ("GET", "/v2/location/cities"):
                return self._cities(record.query)
            if (method, path) == ("GET", "/v2/orders"):
                return self._find_order(record.query)
            if segments[:2] == ["v2", "orders"] and len(segments) == 3:
                if method == "GET":
                    return self._get_order(segments[2])
                if method == "DELETE":
                    return self._delete_order(segments[2])
            if segments[:2] == ["v2", "intakes"]:
                return self._intakes(method, segments[2:], body)
            if segments[:2] == ["v2", "webhooks"]:
                return self._webhooks(method, segments[2:], body)
            if (method, path) == ("POST", "/v2/print/barcodes"):
                return self._create_print(body)
            if method == "GET" and segments[:3] == ["v2", "print", "barcodes"]:
                if len(segments) == 4 and segments[3].endswith(".pdf"):
                    return self._print_pdf(segments[3].removesuffix(".pdf"))
                if len(segments) == 4:
                    return self._get_print(segments[3])
        return 404, {"errors": [{"code": "v2_not_found", "message": f"{method} {path}"}]}, None

    def _oauth(self, record: RecordedRequest):
        fake = self.server.fake
        form = {k: v[0] for k, v in parse_qs(record.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, None
        if (form.get("client_id"), form.get("client_secret")) != (
            fake.client_id,
            fake.client_secret,
        ):
            return 401, {"error": "invalid_client", "error_description": "Bad credentials"}, None
        token = "fake." + uuid.uuid4().hex
        with fake._lock:
            fake._tokens[token] = time.monotonic() + fake.token_ttl
        return (
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": fake.token_ttl,
                "scope": "order:all payment:all",
                "jti": uuid.uuid4().hex,
            },
            None,
        )

    def _tarifflist(self, body: dict[str, Any]):
        fake = self.server.fake
        missing = [k for k in ("from_location", "to_location", "packages") if not body.get(k)]
        if missing:
            return 400, {"errors": [_empty(missing[0])]}, None
        city = (body["to_location"] or {}).get("city")
        if city in fake.refused_cities:
            code, message = fake.refused_cities[city]
            return 400, {"errors": [{"code": code, "message": message}]}, None
        packages = body["packages"]
        for index, package in enumerate(packages):
            weight = package.get("weight") if isinstance(package, dict) else None
            if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
                return 400, {"errors": [_empty(f"packages[{index}].weight")]}, None
        kilograms = max(1, math.ceil(sum(billed_kg(p) for p in packages)))
        heaviest = max(p["weight"] for p in packages)
        return (
            200,
            {
                "tariff_codes": [
                    {
                        "tariff_code": code,
                        "tariff_name": name,
                        "tariff_description": name,
                        "delivery_mode": mode,
                        "delivery_sum": float(base + per_kg * kilograms),
                        "period_min": period_min,
                        "period_max": period_max,
                        "calendar_min": period_min + 1,
                        "calendar_max": period_max + 2,
                    }
                    for code, name, mode, base, per_kg, period_min, period_max in fake.tariffs
                    if _weight_limit(code) is None or heaviest <= _weight_limit(code)
                ]
            },
            None,
        )

    def _cities(self, query: dict[str, list[str]]):
        return offices.cities_answer(self.server.fake.cities, query)

    def _delivery_points(self, query: dict[str, list[str]]):
        fake = self.server.fake
        return offices.delivery_points_answer(fake.cities, fake.pickup_points, query)

    def _create_order(self, body: dict[str, Any]):
        fake = self.server.fake
        missing = _missing_order_field(body)
        if missing:
            return 400, {"requests": [_request_record("CREATE", errors=[_empty(missing)])]}, None
        problems = rules.order_problems(body, fake.known_offices())
        if problems:
            return 400, {"requests": [_request_record("CREATE", errors=problems)]}, None
        order = FakeOrder(uuid=str(uuid.uuid4()), number=body.get("number"), body=body)
        order.refused = fake.refused_cities.get((body.get("to_location") or {}).get("city"))
        order.statuses.append(fake._status("ACCEPTED"))
        order.created_at = order.statuses[0]["date_time"]
        fake.orders[order.uuid] = order
        if fake.polls_until_registered <= 0:
            fake._finish_registration(order)
        answer = {
            "entity": {"uuid": order.uuid},
            "requests": [self._create_request(order)],
        }
        return 202, answer, None

    @staticmethod
    def _create_request(order: FakeOrder) -> dict[str, Any]:
        request = {
            "request_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, order.uuid)),
            "type": "CREATE",
            "date_time": order.created_at,
            "state": order.state,
        }
        if order.errors:
            request["errors"] = order.errors
        return request

    def _order_answer(self, order: FakeOrder) -> dict[str, Any]:
        entity = {
            "uuid": order.uuid,
            "type": order.body.get("type", 1),
            "is_return": False,
            "is_reverse": False,
            "number": order.number,
            "tariff_code": order.body.get("tariff_code"),
            "recipient": order.body.get("recipient"),
            "from_location": order.body.get("from_location"),
            "to_location": order.body.get("to_location"),
            "packages": order.body.get("packages"),
            "statuses": list(reversed(order.statuses)),  # CDEK lists the newest first
        }
        if order.cdek_number:
            entity["cdek_number"] = order.cdek_number
        return {"entity": entity, "requests": [self._create_request(order)]}

    def _not_found(self, what: str):
        record = _request_record(
            "GET", errors=[_error("v2_entity_not_found", f"Entity is not found: {what}")]
        )
        return 404, {"requests": [record]}, None

    def _get_order(self, order_uuid: str):
        fake = self.server.fake
        order = fake.orders.get(order_uuid)
        if order is None or order.deleted:
            return self._not_found(order_uuid)
        order.polls += 1
        if order.polls >= fake.polls_until_registered:
            fake._finish_registration(order)
        return 200, self._order_answer(order), None

    def _find_order(self, query: dict[str, list[str]]):
        fake = self.server.fake
        number = (query.get("im_number") or [None])[0]
        cdek_number = (query.get("cdek_number") or [None])[0]
        matches = [
            o
            for o in fake.orders.values()
            if not o.deleted
            and ((number and o.number == number) or (cdek_number and o.cdek_number == cdek_number))
        ]
        if not matches:
            return self._not_found(
                f"im_number {number}" if number else f"cdek_number {cdek_number}"
            )
        return 200, self._order_answer(matches[-1]), None

    def _delete_order(self, order_uuid: str):
        order = self.server.fake.orders.get(order_uuid)
        if order is None or order.deleted:
            return self._not_found(order_uuid)
        if any(s["code"] not in ("ACCEPTED", "CREATED", "INVALID") for s in order.statuses):
            message = "The order is in transit and cannot be deleted"
            record = _request_record("DELETE", errors=[_error("v2_bad_request", message)])
            return 400, {"entity": {"uuid": order.uuid}, "requests": [record]}, None
        order.deleted = True
        order.statuses.append(self.server.fake._status("REMOVED"))
        request = _request_record("DELETE", "ACCEPTED")
        return 202, {"entity": {"uuid": order.uuid}, "requests": [request]}, None

    def _intakes(self, method: str, rest: list[str], body: dict[str, Any]):
        fake = self.server.fake
        if method == "POST" and not rest:
            problems = rules.intake_problems(body)
            order = fake.orders.get(body.get("order_uuid") or "")
            if not problems and body.get("order_uuid") and (order is None or order.deleted):
                problems = [_error("v2_entity_not_found", f"Order {body['order_uuid']} not found")]
            if not problems and order is not None:
                address = (order.body.get("from_location") or {}).get("address")
                same_day = [
                    i for i in fake.intakes.values()
                    if i["address"] == address and i["intake_date"] == body["intake_date"]
                    and not i["deleted"]
                ]  # fmt: skip
                if same_day:
                    problems = [_error("v2_bad_request", "A courier is already invited to "
                                       "this address on this day")]  # fmt: skip
            if problems:
                return 400, {"requests": [_request_record("CREATE", errors=problems)]}, None
            intake = {
                **body,
                "uuid": str(uuid.uuid4()),
                "address": (order.body.get("from_location") or {}).get("address") if order else
                (body.get("from_location") or {}).get("address"),
                "deleted": False,
                "statuses": [fake._status("ACCEPTED")],
            }  # fmt: skip
            fake.intakes[intake["uuid"]] = intake
            request = _request_record("CREATE", "ACCEPTED")
            return 202, {"entity": {"uuid": intake["uuid"]}, "requests": [request]}, None
        if len(rest) == 1 and method in ("GET", "DELETE"):
            intake = fake.intakes.get(rest[0])
            if intake is None or intake["deleted"]:
                return self._not_found(rest[0])
            if method == "DELETE":
                intake["deleted"] = True
                request = _request_record("DELETE", "ACCEPTED")
                return 202, {"entity": {"uuid": intake["uuid"]}, "requests": [request]}, None
            entity = {k: v for k, v in intake.items() if k not in ("deleted", "address")}
            entity["statuses"] = list(reversed(intake["statuses"]))
            return 200, {"entity": entity}, None
        return 404, {"errors": [_error("v2_not_found", f"{method} /v2/intakes")]}, None

    def _webhooks(self, method: str, rest: list[str], body: dict[str, Any]):
        fake = self.server.fake
        if method == "GET" and not rest:
            return 200, list(fake.webhooks.values()), None
        if method == "POST" and not rest:
            problems = [_empty(name) for name in ("url", "type") if not body.get(name)]
            if not problems and body["type"] not in WEBHOOK_TYPES:
                problems = [_error("v2_bad_request", f"Unknown webhook type {body['type']}")]
            if problems:
                return 400, {"requests": [_request_record("CREATE", errors=problems)]}, None
            # "If the client already has a subscription with the specified type, the
            # previous url will be changed to a new one."
            same_type = next((w for w in fake.webhooks.values() if w["type"] == body["type"]), None)
            if same_type is None:
                same_type = {"uuid": str(uuid.uuid4()), "type": body["type"]}
                fake.webhooks[same_type["uuid"]] = same_type
            same_type["url"] = body["url"]
            request = _request_record("CREATE", "SUCCESSFUL")
            return 200, {"entity": {"uuid": same_type["uuid"]}, "requests": [request]}, None
        if len(rest) == 1 and method in ("GET", "DELETE"):
            hook = fake.webhooks.get(rest[0])
            if hook is None:
                return self._not_found(rest[0])
            if method == "DELETE":
                del fake.webhooks[rest[0]]
                request = _request_record("DELETE", "SUCCESSFUL")
                return 200, {"entity": {"uuid": hook["uuid"]}, "requests": [request]}, None
            return 200, {"entity": dict(hook)}, None
        return 404, {"errors": [_error("v2_not_found", f"{method} /v2/webhooks")]}, None

    def _create_print(self, body: dict[str, Any]):
        fake = self.server.fake
        wanted = body.get("orders") or []
        if not wanted:
            return 400, {"requests": [_request_record("CREATE", errors=[_empty("orders")])]}, None
        job = FakePrint(str(uuid.uuid4()), wanted, str(body.get("format") or "A4"))
        for item in wanted:
            order = fake.orders.get(item.get("order_uuid"))
            if order is None or order.state != "SUCCESSFUL" or order.deleted:
                job.error = ("v2_order_not_found", f"Order {item} is not registered")
            else:
                job.cdek_number = order.cdek_number
        job.statuses.append(fake._status("ACCEPTED"))
        fake.prints[job.uuid] = job
        request = _request_record("CREATE", "ACCEPTED")
        return 202, {"entity": {"uuid": job.uuid}, "requests": [request]}, None

    def _get_print(self, print_uuid: str):
        fake = self.server.fake
        job = fake.prints.get(print_uuid)
        if job is None:
            return self._not_found(print_uuid)
        job.polls += 1
        codes = [s["code"] for s in job.statuses]
        requests_: list[dict[str, Any]] = []
        if "REMOVED" not in codes and "INVALID" not in codes and "READY" not in codes:
            if job.error:
                job.statuses.append(fake._status("INVALID"))
            elif job.polls >= fake.polls_until_label_ready:
                job.statuses.append(fake._status("READY"))
            elif "PROCESSING" not in codes:
                job.statuses.append(fake._status("PROCESSING"))
        latest = job.statuses[-1]["code"]
        if latest == "INVALID" and job.error:
            requests_.append(_request_record("CREATE", errors=[_error(*job.error)]))
        entity = {
            "uuid": job.uuid,
            "orders": job.orders,
            "format": job.format,
            "statuses": list(reversed(job.statuses)),
        }
        if latest == "READY":
            entity["url"] = f"{fake.url}/v2/print/barcodes/{job.uuid}.pdf"
        answer: dict[str, Any] = {"entity": entity}
        if requests_:
            answer["requests"] = requests_
        return 200, answer, None

    def _print_pdf(self, print_uuid: str):
        job = self.server.fake.prints.get(print_uuid)
        if job is None or job.statuses[-1]["code"] != "READY":
            return self._not_found(print_uuid)
        return 200, minimal_pdf(f"CDEK {job.cdek_number}"), "application/pdf"


def _weight_limit(code: int) -> int | None:
    """A tariff's weight limit per package in grams, as orders are refused over it
    (``fake_cdek_rules``): one table for the calculator and the order."""
    known = rules.TARIFFS.get(code)
    return known[2] if known else None


def billed_kg(package: dict[str, Any]) -> float:
    """A package's weight in kg, or its volumetric weight when that is greater (the
    sides are whole centimetres; a package without all three is billed by weight)."""
    actual = package["weight"] / 1000
    sides = [package.get(key) for key in ("length", "width", "height")]
    if not all(isinstance(side, int) and side > 0 for side in sides):
        return actual
    return max(actual, math.prod(sides) / VOLUMETRIC_DIVISOR)


def _empty(field_name: str) -> dict[str, str]:
    return _error("v2_field_is_empty", f"Field {field_name} is empty")


def _missing_order_field(body: dict[str, Any]) -> str | None:
    if not body.get("tariff_code"):
        return "tariff_code"
    if not (body.get("from_location") or body.get("shipment_point")):
        return "from_location"
    if not (body.get("to_location") or body.get("delivery_point")):
        return "to_location"
    recipient = body.get("recipient") or {}
    if not recipient.get("name"):
        return "recipient.name"
    if not recipient.get("phones"):
        return "recipient.phones"
    packages = body.get("packages") or []
    if not packages:
        return "packages"
    for index, package in enumerate(packages):
        for key in ("number", "weight"):
            if not package.get(key):
                return f"packages[{index}].{key}"
        if body.get("type", 1) == 1 and not package.get("items"):
            return f"packages[{index}].items"
    return None


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text``: enough for a PDF reader to open."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 20 100 Td ({safe}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 298 210] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture
def fake_cdek() -> Iterator[FakeCdek]:
    fake = FakeCdek().start()
    try:
        yield fake
    finally:
        fake.stop()
