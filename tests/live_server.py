"""Serve an app over real HTTP on loopback, in a thread, for tests that need a
server: concurrent shoppers, or a payment provider that calls our webhook."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server


@contextmanager
def live_server(app) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:<port>``); one thread per request."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
