"""Browser tests: the storefront in real Chromium, driven by Playwright.

Chromium is Debian's (``/usr/bin/chromium``, or ``TEST_CHROMIUM_PATH``): Playwright's
own browser download cannot run here, and ``.ci/run`` installs Debian's when it is
missing. The shop is the seeded demo pavilion on a throwaway PostgreSQL database,
served over real HTTP on loopback, so the browser sees exactly what a shopper would.

Every step's screenshot is saved under ``tests/browser/artifacts/<test>/`` (git-ignored)
and kept by CI as an artifact; a failing test adds one of the page as it failed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.conftest import make_test_app, skip_or_fail
from tests.live_server import live_server

CHROMIUM_PATH = Path(os.environ.get("TEST_CHROMIUM_PATH", "/usr/bin/chromium"))
# Without the background-networking switches Chromium calls Google's hosts on start
# (component updates, sync, QUIC probes); here they are refused, and a shopper's
# browser talking to third parties is not what these tests are about.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS_DIR = Path(__file__).parent / "artifacts"

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 1,
}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}

LOAD_LAZY_IMAGES = """async () => {
    const lazy = [...document.images].filter(image => image.loading === 'lazy');
    lazy.forEach(image => { image.loading = 'eager'; });
    await Promise.all(lazy.map(image => image.decode().catch(() => null)));
}"""

# Each wait (a navigation, an element appearing) gives up after this long: a page
# that never arrives is a failure, and the browser suite must never hang CI.
ACTION_TIMEOUT_MS = 15_000


def pytest_configure(config):
    # Registered beside the tests that use it, so that ``-m browser`` (or
    # ``-m "not browser"``) selects them under --strict-markers.
    config.addinivalue_line("markers", "browser: drives the storefront in real Chromium")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test item, so that a fixture's teardown can
    # tell whether the test failed and save a screenshot of the page as it was.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session; each test opens its own context (profile)."""
    if not CHROMIUM_PATH.exists():
        skip_or_fail(
            f"Chromium not found at {CHROMIUM_PATH} (apt-get install chromium, "
            "or set TEST_CHROMIUM_PATH)"
        )
    from playwright.sync_api import expect, sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH), headless=True, args=CHROMIUM_ARGS
        )
    except Exception as exc:
        playwright.stop()
        skip_or_fail(f"Chromium at {CHROMIUM_PATH} did not start: {exc}")
    # Assertions on the page wait as long as actions do: a loaded CI machine is slow.
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    yield chromium
    chromium.close()
    playwright.stop()


@dataclass
class ServedPavilion:
    """The demo pavilion served over HTTP, and a way to look into its database."""

    app: object
    base_url: str

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def url(self, path: str) -> str:
        return self.base_url + path

    def order_count(self) -> int:
        from orders.models import Order
        from shop.core.extensions import db

        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(Order))

    def order(self, number: str):
        """The order row (detached, read-only) or None."""
        from orders.models import Order
        from shop.core.extensions import db

        with self.app.app_context():
            found = db.session.scalar(select(Order).where(Order.number == number))
            if found is not None:
                db.session.expunge(found)
            return found


@pytest.fixture(scope="module")
def pavilion(postgres) -> Iterator[ServedPavilion]:
    """The seeded demo pavilion (126 products, the four nodes, lanes, rates) on its own
    PostgreSQL database, served on a loopback port for the module's tests."""
    from shop.core.extensions import db
    from shop.seed import seed_demo_pavilion

    app = make_test_app(postgres.create("browser"))
    with app.app_context():
        db.create_all()
        seed_demo_pavilion()
    try:
        with live_server(app) as base_url:
            yield ServedPavilion(app, base_url)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@dataclass
class ShopperSession:
    """One browser profile on the shop: its page, what it asked for, what it saw."""

    page: object
    pavilion: ServedPavilion
    artifacts: Path
    requested: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    steps: int = 0

    def goto(self, path: str):
        return self.page.goto(self.pavilion.url(path))

    def shot(self, step: str) -> Path:
        """A full-page screenshot named ``<nn>-<step>.png``, in the order taken."""
        self.steps += 1
        path = self.artifacts / f"{self.steps:02d}-{_slug(step)}.png"
        # A full-page picture reaches below the fold, where lazy images have not loaded.
        self.page.evaluate(LOAD_LAZY_IMAGES)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def foreign_requests(self) -> list[str]:
        """Every URL asked for that is not on the shop's own host (data: URLs are inline)."""
        return [
            url
            for url in self.requested
            if not url.startswith(("data:", "blob:")) and urlsplit(url).netloc != self.pavilion.host
        ]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "step"


@pytest.fixture
def open_shopper(request, browser, pavilion):
    """``open_shopper(device=PHONE, **context_options)`` -> a new ShopperSession.

    Every request the page makes is recorded; one for another host is also refused,
    so a test never depends on the outside world even when it would reach it.
    """
    artifacts = ARTIFACTS_DIR / _slug(request.node.name)
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    opened: list[tuple[object, ShopperSession]] = []

    def open_(device: dict | None = None, **options) -> ShopperSession:
        context = browser.new_context(**{**(device or PHONE), **options})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        page = context.new_page()
        session = ShopperSession(page, pavilion, artifacts)
        context.on("request", lambda req: session.requested.append(req.url))
        page.on("pageerror", lambda exc: session.script_errors.append(str(exc)))

        def keep_on_the_shops_host(route):
            url = route.request.url
            if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == pavilion.host:
                route.continue_()
            else:
                session.blocked.append(url)
                route.abort("blockedbyclient")

        context.route("**/*", keep_on_the_shops_host)
        opened.append((context, session))
        return session

    yield open_

    failed = getattr(request.node, "report_call", None)
    for number, (context, session) in enumerate(opened, start=1):
        if failed is not None and failed.failed:
            # A page that is already gone leaves nothing to show; the failure still stands.
            with contextlib.suppress(Exception):
                session.page.screenshot(
                    path=str(artifacts / f"failure-{number}.png"), full_page=True
                )
        context.close()
