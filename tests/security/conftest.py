"""Fixtures for the security tests: apps configured per test (rate limits on, small
body limits) on the same SQLite and PostgreSQL backends as the rest of the suite."""

from __future__ import annotations

import pytest

from shop.core.extensions import db
from tests.conftest import _truncate_all, make_test_app


@pytest.fixture
def make_app(backend, postgres_scratch_url):
    """Build an app on an empty schema of ``backend`` with config overrides."""
    made = []

    def build(**overrides):
        if backend == "sqlite":
            application = make_test_app("sqlite://", **overrides)
            with application.app_context():
                db.create_all()
        else:
            application = make_test_app(postgres_scratch_url, **overrides)
            _truncate_all(application)
        made.append(application)
        return application

    yield build
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
