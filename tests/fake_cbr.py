"""A fake Central Bank of Russia ``XML_daily.asp`` on loopback: real HTTP, one thread.

Use the fixture from a test module (an assignment, so ruff sees no unused import)::

    from tests import fake_cbr as fake_cbr_module

    fake_cbr = fake_cbr_module.fake_cbr

    def test_something(app, fake_cbr):
        app.config.update(fake_cbr.settings())
        ...

It serves the recorded-shape document ``catalog/rates/fixtures/cbr_daily.xml``
(windows-1251, comma decimals) with ``ValCurs Date`` set to ``fake.published_on``
(default: today, UTC, so the rates are in force in the test). ``fake.mode``
switches what every following request gets:

- ``"good"``: the document;
- ``"malformed"``: a document cut short (not well-formed XML);
- ``"doctype"``: a well-formed document carrying a DTD with an entity (refused);
- ``"503"``: ``503 Service Unavailable`` with an HTML page, as during an outage;
- ``"hang"``: no answer for ``HANG_SECONDS``, longer than ``READ_TIMEOUT``.

``fake.replace_rate("CNY", "11,5000")`` changes one Value (a new day's figures);
``fake.requests`` counts the requests served.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "catalog" / "rates" / "fixtures" / "cbr_daily.xml"
READ_TIMEOUT = 0.5  # the feed's timeout in fake.settings(); a hang outlasts it
HANG_SECONDS = 3.0
MODES = ("good", "malformed", "doctype", "503", "hang")


class FakeCbr:
    def __init__(self) -> None:
        self.mode = "good"
        self.published_on: date = datetime.now(UTC).date()
        self.values: dict[str, str] = {}  # CharCode -> Value text replacing the recorded one
        self.requests = 0
        self._released = threading.Event()  # ends every hang at stop()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/scripts/XML_daily.asp"

    def start(self) -> FakeCbr:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.name = f"fake-cbr-{self.port}"
        thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """App configuration aimed at this server (short timeout)."""
        return {"CBR_RATES_URL": self.url, "CBR_TIMEOUT_SECONDS": READ_TIMEOUT, **overrides}

    def replace_rate(self, char_code: str, value: str) -> None:
        self.values[char_code] = value

    def document(self) -> bytes:
        text = FIXTURE.read_bytes().decode("cp1251")
        text = re.sub(r'Date="[^"]*"', f'Date="{self.published_on:%d.%m.%Y}"', text, count=1)
        for code, value in self.values.items():
            text = re.sub(
                rf"(<CharCode>{code}</CharCode>.*?<Value>)[^<]*(</Value>)",
                rf"\g<1>{value}\g<2>",
                text,
                count=1,
            )
        return text.encode("cp1251")


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
        pass

    def do_GET(self) -> None:
        fake: FakeCbr = self.server.fake
        fake.requests += 1
        mode = fake.mode
        if mode == "hang":
            fake._released.wait(HANG_SECONDS)
            mode = "good"
        if mode == "503":
            self._answer(503, b"<html><body>Service Unavailable</body></html>", "text/html")
            return
        body = fake.document()
        if mode == "malformed":
            body = body[: len(body) // 2]
        elif mode == "doctype":
            body = body.replace(
                b"<ValCurs ",
                b'<!DOCTYPE ValCurs [<!ENTITY big "' + b"x" * 64 + b'">]>\n<ValCurs ',
                1,
            ).replace(b"<Name>", b"<Name>&big;", 1)
        self._answer(200, body, "application/xml; charset=windows-1251")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a hang outlasted its timeout)


@pytest.fixture
def fake_cbr() -> Iterator[FakeCbr]:
    fake = FakeCbr().start()
    try:
        yield fake
    finally:
        fake.stop()
