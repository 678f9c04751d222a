"""A gunicorn worker SIGKILLed while shoppers check out: no order is lost and none is
made twice.

A real gunicorn (three workers, the production config) serves a throwaway PostgreSQL
database. Shopper threads place orders, each with its own Idempotency-Key, and, as a
well-behaved client does, send the same request with the same key again when the
connection breaks or the shop says to retry (409 ``idempotency_in_progress``, 5xx).
Workers are killed in the middle of the run. In the end every key has one order, the
database holds exactly those orders, and the shared invariants hold."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from catalog.models import Sku
from orders.models import Order
from shop.core.extensions import db
from tests.checkout_world import build_world, order_body
from tests.conftest import make_test_app
from tests.invariants import assert_invariants
from tests.live_server import running_gunicorn
from warehouse.models import StockLevel
from warehouse.services import OnHandChange, set_on_hand

SHOPPERS = 6
ORDERS_EACH = 6
KILLS = 2
SKU = "LAST-UNITS"
SECRET = "fault-test-secret-shared-by-every-worker"


def _children(pid: int) -> list[int]:
    """The gunicorn master's workers (from /proc: no process-name matching)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces, so split after its ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


@pytest.fixture
def gunicorn_shop(postgres, tmp_path):
    url = postgres.create("fault_gunicorn")
    app = make_test_app(url, SECRET_KEY=SECRET)
    with app.app_context():
        db.create_all()
        world = build_world()
        level = db.session.execute(
            select(StockLevel.id, StockLevel.sku_id, StockLevel.on_hand)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .where(Sku.code == SKU, StockLevel.node_id == world["nodes"]["RU-WH"])
        ).one()
        set_on_hand(
            [OnHandChange(level.sku_id, world["nodes"]["RU-WH"], 500, level.id, level.on_hand)],
            reason="receipt", actor="test",
        )  # fmt: skip
        db.session.commit()
        db.session.remove()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "PAVILION_ENV": "test",
        "PAVILION_VAR_DIR": str(tmp_path / "var"),
        # A request whose worker died holds its key this long, then a retry takes it over.
        "PAVILION_IDEMPOTENCY_LEASE_SECONDS": "3",
        "PAVILION_IDEMPOTENCY_WAIT_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
        "PAVILION_RATE_LIMITS": "off",  # one client machine plays all the shoppers
    }
    env.pop("CELERY_BROKER_URL", None)
    log = tmp_path / "gunicorn.log"
    args = ("--timeout", "30", "--graceful-timeout", "5")
    try:
        with running_gunicorn(env, log, workers=3, args=args) as (base, master):
            yield app, base, master, log
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _place(base: str, key: str, tally: dict) -> str:
    """POST the order until the shop gives its answer for this key; its number."""
    body = order_body(SKU, 1, currency="CNY")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answer = requests.post(f"{base}/api/v1/orders", json=body, timeout=30,
                                   headers={"Idempotency-Key": key})  # fmt: skip
        except requests.ConnectionError:
            tally["broken"] += 1
            time.sleep(0.1)
            continue
        if answer.status_code == 201:
            if answer.headers.get("Idempotent-Replayed") == "true":
                tally["replayed"] += 1
            return answer.json()["number"]
        assert answer.status_code in (409, 500, 502, 503), answer.text
        if answer.status_code != 409:
            tally["retried_5xx"] += 1
        time.sleep(0.2)
    raise AssertionError(f"key {key} never got an order")


def test_workers_killed_under_checkout_load_lose_and_duplicate_no_order(gunicorn_shop):
    app, base, master, log = gunicorn_shop
    keys = [f"fault-{uuid.uuid4().hex}" for _ in range(SHOPPERS * ORDERS_EACH)]
    tally = {"broken": 0, "replayed": 0, "retried_5xx": 0}
    placed: dict[str, str] = {}
    progress = threading.Event()

    def shopper(my_keys: list[str]) -> None:
        for key in my_keys:
            placed[key] = _place(base, key, tally)
            progress.set()

    killed = []
    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        running = [pool.submit(shopper, keys[i::SHOPPERS]) for i in range(SHOPPERS)]
        for _ in range(KILLS):
            progress.wait(timeout=30)
            progress.clear()
            time.sleep(0.05)  # mid-run: requests are in flight in every worker
            victim = _children(master.pid)[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            time.sleep(0.3)
        for future in running:
            future.result(timeout=120)

    assert master.poll() is None, log.read_text()
    assert len(killed) == KILLS
    # The kills hit requests in flight (six shoppers keep three workers busy).
    assert tally["broken"] >= 1, tally
    assert len(placed) == len(keys)
    numbers = set(placed.values())
    assert len(numbers) == len(keys), "two keys were answered with one order"
    with app.app_context():
        stored = set(db.session.scalars(select(Order.number)))
        db.session.remove()
    assert stored == numbers, (
        f"orders without a key's answer: {sorted(stored - numbers)}; "
        f"answers without an order: {sorted(numbers - stored)}; tally {tally}"
    )
    assert_invariants(app)
