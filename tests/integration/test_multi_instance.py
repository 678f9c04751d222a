"""Two shop instances, one Celery worker and one beat over one PostgreSQL database and
one Redis (tests/shop_cluster.py, as bench/scale.py starts them): what one instance
starts, the other finishes; stock, idempotency, rate limits and the caches hold across
them; a carrier booking claimed by a worker that is killed is made once, by the other.

Every process runs the production entry points (``wsgi:app`` under gunicorn with the
production config, ``wsgi:celery_app`` worker and beat) with one environment: one
SECRET_KEY, one database, one broker queue of this run's own, and the rate limits'
counts in the same Redis. The instances sit behind a pretend proxy
(PAVILION_TRUSTED_PROXY_HOPS=1): each shopper sends its own X-Forwarded-For address,
so the per-address limits count shoppers, not this test.

The caches: today's rates and the routing world (nodes, lanes) are kept per gunicorn
worker for PAVILION_RATES_CACHE_SECONDS (30 s by default, README "Configuration"); the
worker that makes a change forgets its own copy at once, the others read again when
theirs is older than that. Here the setting is 2 s, and a change made through A must
show on B within it (plus a margin for a busy machine).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import cycle
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from catalog.models import Product, Sku
from orders.models import Order, OrderLine
from shop.core.background import Job
from shop.core.extensions import db
from tests.checkout_world import build_world, order_body
from tests.conftest import make_test_app, skip_or_fail
from tests.fake_cdek import FakeCdek
from tests.invariants import assert_invariants, fake_cdek_bookings
from tests.shop_cluster import ShopCluster, cluster_env, forget_queue, shop_cluster
from warehouse.models import Shipment
from warehouse.services import create_staff, ledger_mismatches

# A Redis database of its own (the job tests use 15, the rate-limit tests 2), and a
# queue and client addresses of this run's own within it.
REDIS_URL = os.environ.get("TEST_MULTI_INSTANCE_REDIS_URL", "redis://127.0.0.1:6379/14")
SECRET = "multi-instance-secret-every-process-shares"
CACHE_SECONDS = 2
CACHE_MARGIN_SECONDS = 3  # a request or two on a busy 2-core machine
CHECKOUTS_PER_MINUTE = 5
BUYERS, UNITS = 80, 20  # LAST-UNITS at RU-WH in the checkout world


@dataclass
class Shop:
    app: Any  # an app of our own on the same database, to read what the instances wrote
    cluster: ShopCluster
    world: dict
    cdek: FakeCdek
    staff_email: str
    staff_password: str
    products: dict[str, int]

    @property
    def a(self) -> str:
        return self.cluster.urls[0]

    @property
    def b(self) -> str:
        return self.cluster.urls[1]


def shopper() -> requests.Session:
    """A client with an address of its own (as the proxy in front would say it)."""
    session = requests.Session()
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    session.headers["X-Forwarded-For"] = address
    return session


def operator(shop: Shop) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop.world['operator']}"}


def picker(shop: Shop) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop.world['picker_ru']}"}


@pytest.fixture(scope="module")
def shop(postgres, tmp_path_factory):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis not reachable at {REDIS_URL}: {exc}")
    url = postgres.create("multi_instance")
    app = make_test_app(url, SECRET_KEY=SECRET)
    with app.app_context():
        db.create_all()
        world = build_world()
        desk = create_staff("desk@example.com", "RU-WH")
        products = dict(db.session.execute(select(Product.code, Product.id)).all())
        db.session.remove()
    workdir = tmp_path_factory.mktemp("multi_instance")
    cdek = FakeCdek().start()
    queue = f"pavilion-multi-{uuid.uuid4().hex[:8]}"
    env = cluster_env(
        url, REDIS_URL, queue, SECRET, workdir,
        PAVILION_ENV="test",
        PAVILION_RATE_LIMITS="on",
        PAVILION_TRUSTED_PROXY_HOPS="1",
        PAVILION_RATE_LIMIT_CHECKOUT=f"{CHECKOUTS_PER_MINUTE}/minute",
        PAVILION_RATES_CACHE_SECONDS=str(CACHE_SECONDS),
        PAVILION_RATE_FEEDS="manual",
        # Beat sweeps every second; a job whose worker died is taken over after 3 s.
        PAVILION_JOB_SWEEP_SECONDS="1",
        PAVILION_JOB_LEASE_SECONDS="3",
        PAVILION_JOB_BACKOFF_SECONDS="0.5",
        PAVILION_CARRIERS="manual,cdek",
        CDEK_API_BASE=cdek.url,
        CDEK_CLIENT_ID=cdek.client_id,
        CDEK_CLIENT_SECRET=cdek.client_secret,
        # Longer than the test takes to kill the worker that waits on the hung call.
        CDEK_TIMEOUT_SECONDS="20",
        CDEK_SENDER_LOCATIONS=json.dumps({"RU-WH": 44, "RU-USS": 287}),
    )  # fmt: skip
    try:
        with shop_cluster(env, workdir, instances=2, web_workers=2, workers=1) as cluster:
            yield Shop(app, cluster, world, cdek, desk.email, desk.password, products)
    finally:
        cdek.stop()
        # Leave Redis as it was: this run's queue and the killed worker's unacked message.
        forget_queue(client, queue)
        client.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


# ------------------------------------------------------------------ A starts, B finishes


def test_a_cart_made_through_a_is_checked_out_through_b(shop):
    me = shopper()
    lines = [{"sku": "ALENKA-100", "quantity": 1}]
    made = me.post(f"{shop.a}/api/v1/carts", json={"currency": "RUB", "lines": lines}, timeout=30)
    assert made.status_code == 201, made.text
    cart = made.json()
    token = {"X-Cart-Token": cart["token"]}
    more = me.post(f"{shop.b}/api/v1/carts/{cart['id']}/lines", headers=token, timeout=30,
                   json={"sku": "ALENKA-100", "quantity": 1})  # fmt: skip
    assert more.status_code == 201, more.text
    body = order_body(cart_id=cart["id"])
    del body["lines"]
    placed = me.post(f"{shop.b}/api/v1/orders", json=body, headers=token, timeout=30)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [("ALENKA-100", 2)]
    seen = me.get(f"{shop.a}/api/v1/orders/{order['number']}", timeout=30,
                  headers={"X-Order-Token": order["token"]})  # fmt: skip
    assert seen.status_code == 200
    assert seen.json()["number"] == order["number"]


def test_a_staff_session_made_on_a_works_on_b_and_only_with_the_shared_key(shop):
    staff = requests.Session()
    form = staff.get(f"{shop.a}/warehouse/login", timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    login = staff.post(f"{shop.a}/warehouse/login", allow_redirects=False, timeout=30,
                       data={"email": shop.staff_email, "password": shop.staff_password,
                             "csrf_token": csrf})  # fmt: skip
    assert login.status_code == 303, login.text
    board = staff.get(f"{shop.b}/warehouse/", allow_redirects=False, timeout=30)
    assert board.status_code == 200, (board.status_code, board.headers.get("Location"))
    assert shop.staff_email in board.text
    # The CSRF token is in the same signed cookie: a form posted to B is accepted.
    token = re.search(r'name="csrf_token" value="([^"]+)"', board.text).group(1)
    # An instance with another SECRET_KEY reads the cookie as no session at all.
    cookie = staff.cookies.get("session")
    stranger = make_test_app(shop.app.config["SQLALCHEMY_DATABASE_URI"], SECRET_KEY="another")
    client = stranger.test_client()
    client.set_cookie("session", cookie)
    refused = client.get("/warehouse/")
    assert refused.status_code in (302, 303)
    assert "/warehouse/login" in refused.headers["Location"]
    with stranger.app_context():
        db.engine.dispose()
    logout = staff.post(f"{shop.b}/warehouse/logout", data={"csrf_token": token},
                        allow_redirects=False, timeout=30)  # fmt: skip
    assert logout.status_code == 303
    after = staff.get(f"{shop.a}/warehouse/", allow_redirects=False, timeout=30)
    assert after.status_code in (302, 303), "logged out on B is logged out on A"


def test_an_idempotency_key_retried_on_the_other_instance_returns_the_same_order(shop):
    me = shopper()
    body = order_body("ALENKA-100", 1)
    key = {"Idempotency-Key": f"multi-{uuid.uuid4().hex}"}
    first = me.post(f"{shop.a}/api/v1/orders", json=body, headers=key, timeout=30)
    again = me.post(f"{shop.b}/api/v1/orders", json=body, headers=key, timeout=30)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["number"] == first.json()["number"]
    assert again.json()["token"] == first.json()["token"]
    # Sent to both at once (by another shopper: retries count against the checkout
    # limit too): still one order.
    me = shopper()
    key = {"Idempotency-Key": f"multi-{uuid.uuid4().hex}"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(
            lambda base: me.post(f"{base}/api/v1/orders", json=body, headers=key, timeout=60),
            [shop.a, shop.b, shop.a, shop.b],
        ))  # fmt: skip
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
    assert len({r.json()["number"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 3


def test_80_buyers_alternating_between_a_and_b_race_for_20_units_and_exactly_20_win(shop):
    body = order_body("LAST-UNITS", 1, currency="CNY")
    bases = [base for base, _ in zip(cycle([shop.a, shop.b]), range(BUYERS), strict=False)]
    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        responses = list(pool.map(
            lambda base: shopper().post(f"{base}/api/v1/orders", json=body, timeout=60), bases
        ))  # fmt: skip
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == UNITS, statuses
    assert statuses.count(409) == BUYERS - UNITS, statuses
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["code"] == "insufficient_stock"
    won_on = dict.fromkeys((shop.a, shop.b), 0)
    for base, response in zip(bases, responses, strict=True):
        won_on[base] += response.status_code == 201
    assert all(won_on.values()), f"both instances sold: {won_on}"
    with shop.app.app_context():
        sold = db.session.scalar(
            select(func.count(OrderLine.id)).join(Sku, Sku.id == OrderLine.sku_id)
            .where(Sku.code == "LAST-UNITS")
        )  # fmt: skip
        assert sold == UNITS
        assert ledger_mismatches() == []
        db.session.remove()


# ------------------------------------------------------------------ shared limits, caches


def test_the_checkout_rate_limit_counts_requests_to_both_instances_together(shop):
    import redis

    me = shopper()
    answers = [
        me.post(f"{base}/api/v1/orders", json={}, timeout=30).status_code
        for base in [shop.a, shop.b] * CHECKOUTS_PER_MINUTE
    ]
    # Four gunicorn workers counting alone would each allow five.
    assert answers == [422] * CHECKOUTS_PER_MINUTE + [429] * CHECKOUTS_PER_MINUTE, answers
    address = me.headers["X-Forwarded-For"]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        counted = list(client.scan_iter(match=f"*{address}*"))
        assert counted, "the count is in Redis"
        assert any(b"place_order" in key for key in counted), counted
        client.delete(*counted)
    finally:
        client.close()
    other = shopper()  # another address still checks out
    assert other.post(f"{shop.b}/api/v1/orders", json={}, timeout=30).status_code == 422


def _honey(shop: Shop, base: str, **query: str) -> dict:
    answer = requests.get(f"{base}/api/v1/products/{shop.products['HONEY-500']}",
                          params=query, timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def _both_instances_say(shop: Shop, read: Callable[[str], Any], expected: Any) -> float:
    """Seconds until every worker of A and B answers ``expected`` (several reads of each
    instance, so that both of its workers are asked); fails after the cache time and
    the margin."""
    started = time.monotonic()

    def agreed() -> bool:
        return all(read(base) == expected for base in [shop.a, shop.b] * 4)

    wait_for(agreed, CACHE_SECONDS + CACHE_MARGIN_SECONDS, f"both instances to say {expected}")
    return time.monotonic() - started


def test_a_rate_set_through_a_is_seen_on_b_within_the_cache_time(shop):
    def price(base: str) -> str:
        return _honey(shop, base, currency="RUB")["price"]["amount"]

    before = price(shop.b)
    assert before == "681.82"  # 60 CNY at 1 RUB = 0.088 CNY
    changed = requests.post(f"{shop.a}/api/v1/admin/rates", headers=operator(shop), timeout=30,
                            json={"base": "RUB", "quote": "CNY", "rate": "0.1"})  # fmt: skip
    assert changed.status_code == 201, changed.text
    took = _both_instances_say(shop, price, "600.00")
    print(f"new rate on every worker of A and B after {took:.2f} s (cache {CACHE_SECONDS} s)")


def test_a_lane_closed_through_a_is_seen_on_b_within_the_cache_time(shop):
    def deliverable(base: str) -> bool:
        return _honey(shop, base, destination="KZ")["availability"][0]["deliverable"]

    assert deliverable(shop.b) is True  # CN-URC-CA carries HONEY-500 to Kazakhstan
    lane = f"{shop.a}/api/v1/admin/lanes/CN-URC-CA"
    closed = requests.put(lane, json={"active": False}, headers=operator(shop), timeout=30)
    assert closed.status_code == 200, closed.text
    took = _both_instances_say(shop, deliverable, False)
    print(f"closed lane on every worker of A and B after {took:.2f} s")
    opened = requests.put(lane, json={"active": True}, headers=operator(shop), timeout=30)
    assert opened.status_code == 200, opened.text
    took = _both_instances_say(shop, deliverable, True)
    print(f"reopened lane on every worker of A and B after {took:.2f} s")


# ------------------------------------------------------------------ background workers


def _packed_shipment(shop: Shop) -> tuple[int, dict]:
    """A paid one-unit order at RU-WH, picked and packed, each step on the other
    instance than the one before; its shipment id and the order."""
    me = shopper()
    order = me.post(f"{shop.a}/api/v1/orders", json=order_body("ALENKA-100", 1), timeout=30)
    assert order.status_code == 201, order.text
    order = order.json()
    paid = requests.post(f"{shop.b}/api/v1/orders/{order['number']}/mark-paid", json={},
                         headers=operator(shop), timeout=30)  # fmt: skip
    assert paid.status_code == 200, paid.text
    pick_list = requests.post(f"{shop.a}/api/v1/warehouse/nodes/RU-WH/pick-lists", json={},
                              headers=picker(shop), timeout=30)  # fmt: skip
    assert pick_list.status_code == 201, pick_list.text
    [shipment_id] = [s["id"] for s in pick_list.json()["shipments"]]
    packed = requests.post(f"{shop.b}/api/v1/warehouse/shipments/{shipment_id}/pack",
                           json={"weight_g": 700}, headers=picker(shop), timeout=30)  # fmt: skip
    assert packed.status_code == 200, packed.text
    return shipment_id, order


def _booking_job(shop: Shop, shipment_id: int) -> Job | None:
    with shop.app.app_context():
        jobs = db.session.scalars(
            select(Job).where(Job.name == "carriers.book_shipment").order_by(Job.id.desc())
        ).all()
        db.session.expunge_all()
        db.session.remove()
    return next((j for j in jobs if (j.kwargs or {}).get("shipment_id") == shipment_id), None)


def _shipment(shop: Shop, shipment_id: int) -> Shipment:
    with shop.app.app_context():
        row = db.session.get(Shipment, shipment_id)
        db.session.expunge(row)
        db.session.remove()
        return row


def test_a_booking_whose_worker_is_killed_mid_call_is_made_once_by_the_other(shop):
    cluster = shop.cluster
    second = cluster.start_worker()
    cluster.wait_ready()
    shipment_id, order = _packed_shipment(shop)
    number = f"{order['number']}-{shipment_id}"
    # CDEK registers the parcel, then does not answer: the worker waits on the call.
    shop.cdek.hang_next("/v2/orders", method="POST", seconds=30)
    shipped = requests.post(f"{shop.a}/api/v1/warehouse/shipments/{shipment_id}/ship",
                            json={"carrier": "cdek"}, headers=picker(shop), timeout=30)  # fmt: skip
    assert shipped.status_code == 202, shipped.text
    wait_for(lambda: shop.cdek.orders_by_number.get(number), 20, "the booking call")
    job = _booking_job(shop, shipment_id)
    assert job is not None
    assert job.state == "running", job
    holder_pid = int(job.locked_by.split(":")[1])
    [holder] = [w for w in cluster.workers if w.pid == holder_pid]
    holder.kill()
    survivor = next(w for w in cluster.workers if w.alive())
    assert survivor in (second, cluster.workers[0])

    # Beat's sweeper takes the job back once the dead worker's lease is over; the
    # survivor asks CDEK for the parcel under our number and adopts it.
    done = wait_for(
        lambda: (s := _shipment(shop, shipment_id)).booking_state == "registered" and s, 30,
        "the booking to be registered",
    )  # fmt: skip
    assert done.tracking_number
    assert len(shop.cdek.orders_by_number[number]) == 1, "booked once"
    finished = _booking_job(shop, shipment_id)
    assert finished.state == "done"
    assert finished.attempts == 2, "the killed attempt and the survivor's"
    assert_invariants(shop.app, live_bookings=fake_cdek_bookings(shop.cdek))
    with shop.app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) >= UNITS
        db.session.remove()


def test_every_process_is_still_up_but_the_killed_worker(shop):
    dead = [p.name for p in shop.cluster.processes() if not p.alive()]
    assert len(dead) == 1, dead
    assert dead[0].startswith("worker-"), dead
