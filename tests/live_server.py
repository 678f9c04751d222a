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


@contextmanager
def served_world(postgres, purpose: str, **overrides):
    """A throwaway PostgreSQL database with the checkout world (tests/checkout_world.py),
    served over HTTP; yields ``(app, base_url, world)``. The pool is large enough that
    races are decided by the database, not by waiting for a connection."""
    from shop.core.extensions import db
    from tests.checkout_world import build_world
    from tests.conftest import make_test_app

    overrides.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", {"pool_size": 20, "max_overflow": 20, "pool_timeout": 60}
    )
    app = make_test_app(postgres.create(purpose), **overrides)
    with app.app_context():
        db.create_all()
        world = build_world()
    try:
        with live_server(app) as base_url:
            yield app, base_url, world
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
