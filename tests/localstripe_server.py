"""A real Stripe fake on loopback for tests: localstripe (PyPI) in a subprocess.

Use the fixture from a test module (an assignment, so ruff sees no unused
import, and no ``pytest_plugins``, which warns once the module is imported)::

    from tests import localstripe_server

    localstripe_url = localstripe_server.localstripe_url

    def test_something(localstripe_url):
        settings = {"STRIPE_API_KEY": "sk_test_x", "STRIPE_API_BASE": localstripe_url, ...}

``localstripe_url`` (session scope) starts ``localstripe --port <free port>
--from-scratch`` once, waits until it answers, yields ``"http://127.0.0.1:<port>"``
and stops it at the end. Without the ``localstripe`` executable the tests
skip, except under CI (``CI=true``), where they fail: green must mean tested.

Webhooks: ``register_webhook(localstripe_url, "<id>", url, secret)`` makes
localstripe sign every event (``Stripe-Signature``, HMAC-SHA256 with
``secret``) and POST it to ``url`` about a second after it happens;
``WebhookReceiver`` is a loopback HTTP server that collects them.

localstripe facts worth knowing (1.15):

- Any key that starts with ``sk_`` authenticates; objects are shared by all
  keys. It ignores ``Stripe-Version`` and ``Idempotency-Key``.
- It refuses unknown parameters (``description``, ``receipt_email`` on a
  PaymentIntent; ``reason`` on a refund; any parameter of ``cancel``) with 400,
  and ``confirm`` with a ``payment_method`` with 500: set the payment method
  with an update, then confirm with no parameters (``confirm_with_test_card``).
- Test payment methods: ``pm_card_visa`` succeeds,
  ``pm_card_chargeCustomerFail`` is declined at confirmation (402,
  ``card_declined``); card numbers 4242424242424242 (ok), 4000000000000341
  (declined on charge), 4000002500003155 (needs 3-D Secure).
- Events it sends for payments: ``payment_intent.succeeded`` and
  ``payment_intent.payment_failed`` only; no ``payment_intent.canceled``, no
  ``charge.refunded``. Webhooks registered stay for the server's life and
  every one gets every event (pass ``events=[...]`` to filter by type), so
  tests sharing the server match events by their PaymentIntent id.
- It keeps its state in ``/tmp/localstripe.pickle`` (hard-coded); with
  ``--from-scratch`` it never reads it, so concurrent servers do not mix.
- It listens on ``::`` (dual stack); ``127.0.0.1`` reaches it.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

STARTUP_SECONDS = 20.0


class LocalStripeUnavailable(RuntimeError):
    pass


def localstripe_executable() -> str | None:
    """The ``localstripe`` console script beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "localstripe"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("localstripe")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalStripeProcess:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_localstripe(executable: str, workdir: Path, attempts: int = 3) -> LocalStripeProcess:
    """Start localstripe on a free port and wait until it answers.

    Its access log goes to a file, not a pipe: nobody reads a pipe, and a
    full one would stall the server.
    """
    last_error = ""
    for attempt in range(attempts):
        port = free_port()
        log_path = workdir / f"localstripe-{port}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [executable, "--port", str(port), "--from-scratch"],
                cwd=workdir,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = LocalStripeProcess(f"http://127.0.0.1:{port}", process, log_path)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break  # exited: port taken between our probe and its bind, or broken
            if _answers(server.base_url):
                return server
            time.sleep(0.1)
        server.stop()
        last_error = f"attempt {attempt + 1} on port {port}: {server.log_tail() or 'no output'}"
    raise LocalStripeUnavailable(f"localstripe did not start ({last_error})")


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/js.stripe.com/v3/", timeout=1) as response:  # noqa: S310 - loopback
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """Base URL of a localstripe server shared by the session (see the module doc)."""
    executable = localstripe_executable()
    if executable is None:
        skip_or_fail(
            "localstripe is not installed (pip install -e '.[test]' installs it); "
            "Stripe integration tests need it"
        )
    with tempfile.TemporaryDirectory(prefix="pavilion-localstripe-") as workdir:
        try:
            server = start_localstripe(executable, Path(workdir))
        except LocalStripeUnavailable as exc:
            skip_or_fail(str(exc))
        try:
            yield server.base_url
        finally:
            server.stop()


def register_webhook(
    base_url: str,
    endpoint_id: str,
    url: str,
    secret: str,
    events: Sequence[str] | None = None,
) -> None:
    """``POST /_config/webhooks/<endpoint_id>`` (form: ``url``, ``secret``,
    ``events[]``): localstripe then signs and posts events to ``url``.
    Registering the same id again replaces that webhook."""
    form: list[tuple[str, str]] = [("url", url), ("secret", secret)]
    form += [("events[]", event) for event in events or ()]
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        f"{base_url}/_config/webhooks/{urllib.parse.quote(endpoint_id)}",
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        if response.status != 200:
            raise RuntimeError(f"localstripe refused the webhook: {response.status}")


def flush_localstripe(base_url: str) -> None:
    """``DELETE /_config/data``: forget every object (webhooks stay)."""
    request = urllib.request.Request(f"{base_url}/_config/data", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass


def confirm_with_test_card(stripe_client, payment_intent_id: str, payment_method="pm_card_visa"):
    """Confirm a PaymentIntent as the shopper's client would, in the form
    localstripe takes: attach the payment method, then confirm."""
    stripe_client.v1.payment_intents.update(
        payment_intent_id, params={"payment_method": payment_method}
    )
    return stripe_client.v1.payment_intents.confirm(payment_intent_id)


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class WebhookReceiver:
    """A loopback HTTP server thread that answers 200 to every POST and keeps it.

    ``status`` can be set to answer something else (to watch a provider retry).
    Use as a context manager; ``url`` is where to point the webhook.
    """

    def __init__(self, status: int = 200):
        self.status = status
        self.received: queue.Queue[ReceivedWebhook] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.received.put(ReceivedWebhook(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # quiet test output
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_for(
        self, matches: Callable[[ReceivedWebhook], bool], timeout: float = 10.0
    ) -> ReceivedWebhook:
        """The first delivery that ``matches``, waiting up to ``timeout`` seconds;
        deliveries that do not match are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching webhook within {timeout} s")
            try:
                delivery = self.received.get(timeout=remaining)
            except queue.Empty:
                continue
            if matches(delivery):
                return delivery
