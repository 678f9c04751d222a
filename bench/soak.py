"""Soak run: minutes of mixed traffic on PostgreSQL, with throughput, latency and the
gunicorn workers' memory sampled over time.

Usage (from the repository root)::

    .venv/bin/python bench/soak.py [--minutes 10] [--warmup 30] [--sample-seconds 10]
                                   [--clients 8] [--workers 4] [--seed 20261201]

Method:

1. A fresh database ``pavilion_bench_<random>`` on the server of BENCH_POSTGRES_URL
   (default ``postgresql+psycopg://127.0.0.1:5432/postgres``), migrated and seeded
   with the demo pavilion by ``flask db upgrade`` and ``flask seed`` (subprocesses,
   production mode), as bench/catalog.py does. In-process, with the shop's own
   services: a merchant "Soak LLC" (its uploads), an API token for each demo merchant
   whose SKUs are bought (their restocks) and an operator (mark-paid, pick lists).
2. The shop runs under gunicorn (``wsgi:app``, ``--workers`` sync workers,
   PAVILION_ENV=production). Before the clock starts, each stocked SKU is ordered
   once to Russia and once to China over HTTP; the ones answering 201 are what the
   shoppers buy there, and every stock level they ship from is raised through the
   merchant API.
3. Traffic: ``--clients`` threads, each with its own random generator (``--seed``
   plus its number), choosing per step: catalog API (``/api/v1/products`` with
   filters, product pages, categories), storefront pages (``/``, ``/c/<slug>``,
   ``/search?q=``, ``/p/<id>``), checkout (``POST /api/v1/orders``, manual payment,
   to Moscow in RUB or to Qingdao in CNY with a valid and new PRC ID each time), a
   cart (made, a line added, quoted, checked out two times in three) and a merchant
   upload (20 rows, CSV or JSON, from a pool of 200 SKUs, some prices changed).
   A back-office thread, every 15 s: the operator marks up to 10 new orders paid,
   makes a pick list at each node that has ready shipments and fetches it as JSON
   and as PDF; every 20 s each bought SKU whose availability fell under 150 at a
   node is restocked there with the merchant's ``PATCH /api/v1/merchant/skus/<code>``.
   The same seed gives the same choices, not the same interleaving.
4. Every ``--sample-seconds`` a sampler takes, per kind of traffic, requests/s and
   p50/p99 latency of the requests finished in that interval, the statuses (any
   5xx or broken connection is a failure), and each gunicorn worker's VmRSS from
   /proc/<pid>/status (workers are the master's children; a worker that changes
   pid is reported). The first ``--warmup`` seconds of traffic are not sampled.
5. Memory verdict over the sampled run, per worker: the least-squares slope of RSS
   over the second half (MB per minute) and the median of the last third against
   the median of the first third. Flat means every worker's slope is at most
   1 MB/min and its last-third median at most 5 % (or 5 MB, whichever is larger)
   above its first-third median.

The report (markdown) is printed and written to ``bench/results/soak-<time>.md``,
the figures to ``soak-<time>.json`` beside it. gunicorn is stopped and the
database dropped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_database import (
    DEFAULT_ADMIN_URL,
    create_database,
    migrate_and_seed,
    postgres_version,
    production_env,
)
from bench_processes import ROOT, Gunicorn, free_port, log, proc_stat
from benchkit import clean_up, code_version, machine_description, run_script, write_report

KINDS = ("api", "storefront", "checkout", "cart", "upload", "staff", "restock")
# Share of the shoppers' and the merchant's steps; staff and restock run on their own clock.
STEP_WEIGHTS = {"api": 30, "storefront": 30, "checkout": 20, "cart": 12, "upload": 8}
STAFF_EVERY_S = 15.0
RESTOCK_EVERY_S = 20.0
RESTOCK_BELOW = 150
RESTOCK_TO = 1500  # available after a restock
UPLOAD_ROWS = 20
UPLOAD_POOL = 200
PROBE_SKUS = 80  # stocked SKUs tried once per destination before the run
SLOPE_LIMIT_MB_PER_MIN = 1.0
GROWTH_LIMIT = 0.05
GROWTH_FLOOR_MB = 5.0

SEARCH_WORDS = ("мёд", "honey", "茶", "chocolate", "шоколад", "сыр", "tea", "орех", "蜂蜜", "oil")
LANGUAGES = ("ru", "zh", "en")
CURRENCIES = ("RUB", "CNY", "KZT", "USD")
SORTS = ("name", "-name", "price", "-price", "newest")
RU_ADDRESS = {
    "country": "RU", "region": "Moscow", "city": "Moscow", "postal_code": "101000",
    "line1": "Tverskaya 1", "recipient": "Ivan Petrov", "phone": "+7 900 000 00 00",
}  # fmt: skip
CN_ADDRESS = {
    "country": "CN", "region": "Shandong", "city": "Qingdao", "postal_code": "266300",
    "line1": "Xianggang Rd 1", "recipient": "张三", "phone": "+86 138 0000 0000",
}  # fmt: skip
CN_NAMES = ("张三", "李四", "王五", "赵六", "刘洋", "陈静")


def prc_id(rng: random.Random) -> str:
    """A valid PRC resident ID number nobody has used in this run (almost surely):
    China's yearly CBEC allowance is per person, so each order brings its own."""
    from orders.customs.prc_id import check_character

    born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
    first17 = f"110105{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_character(first17)


# ------------------------------------------------------------------ stats


def is_failure(status: str) -> bool:
    """A 5xx answer, or no answer at all ("error"): never acceptable under load."""
    return status == "error" or status.startswith("5")


@dataclass
class Interval:
    """What finished during one sampling interval, per kind."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


@dataclass
class Failure:
    kind: str
    method: str
    path: str
    status: str
    body: str


class Recorder:
    """Thread-safe tally of requests; the sampler swaps the interval out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = Interval()
        self.recording = False
        self.failures: list[Failure] = []
        self.failure_count = 0

    def add(self, kind: str, method: str, path: str, status: str, ms: float, body: bytes) -> None:
        failed = is_failure(status)
        with self.lock:
            if not self.recording:
                return
            self.current.latencies_ms[kind].append(ms)
            self.current.statuses[kind][status] += 1
            if failed:
                self.failure_count += 1
                if len(self.failures) < 20:
                    path = path.split("?", 1)[0] if "token" in path else path
                    text = body[:400].decode(errors="replace")
                    self.failures.append(Failure(kind, method, path, status, text))

    def swap(self) -> Interval:
        with self.lock:
            done, self.current = self.current, Interval()
            return done


class Client:
    """One keep-alive HTTP connection (reopened when the server closes it) that
    records every request it makes."""

    def __init__(self, base_url: str, recorder: Recorder, timeout: float = 60):
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.recorder = recorder
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection broke."""
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            ms = (time.perf_counter() - started) * 1000
            self.recorder.add(kind, method, path, "error", ms, repr(exc).encode())
            return 0, b""
        ms = (time.perf_counter() - started) * 1000
        self.recorder.add(kind, method, path, str(response.status), ms, raw)
        return response.status, raw

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ------------------------------------------------------------------ world


@dataclass
class World:
    """What the traffic needs to know about the seeded shop."""

    product_ids: list[int]
    categories: list[str]
    countries: list[str]
    ru_skus: list[str] = field(default_factory=list)
    cn_skus: list[str] = field(default_factory=list)
    sku_merchant: dict[str, int] = field(default_factory=dict)
    merchant_tokens: dict[int, str] = field(default_factory=dict)
    uploader_token: str = ""
    operator_token: str = ""
    upload_rows: list[list[str]] = field(default_factory=list)
    new_orders: deque[str] = field(default_factory=lambda: deque(maxlen=5000))


def prepare_world(url: str, secret_key: str) -> tuple[World, list[str]]:
    """Accounts and tokens through the shop's services; the stocked SKUs to probe."""
    from sqlalchemy import select, text

    from catalog.models import Category, Product
    from catalog.services import create_merchant, issue_merchant_token
    from shop import create_app
    from shop.core.extensions import db
    from warehouse.services import create_staff

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test", "SECRET_KEY": secret_key}
    )
    with app.app_context():
        try:
            product_ids = list(
                db.session.scalars(select(Product.id).where(Product.is_active).order_by(Product.id))
            )
            categories = list(db.session.scalars(select(Category.slug).order_by(Category.id)))
            countries = sorted(set(db.session.scalars(select(Product.origin_country))))
            stocked = db.session.execute(
                text(
                    "SELECT DISTINCT s.code, p.merchant_id FROM skus s "
                    "JOIN products p ON p.id = s.product_id "
                    "JOIN stock_levels sl ON sl.sku_id = s.id "
                    "WHERE s.is_active AND p.is_active AND s.deleted_at IS NULL "
                    "AND sl.on_hand - sl.reserved > 0 ORDER BY s.code"
                )
            ).all()
            world = World(product_ids, categories, countries)
            world.sku_merchant = dict(stocked)
            for merchant_id in sorted(set(world.sku_merchant.values())):
                world.merchant_tokens[merchant_id] = issue_merchant_token(merchant_id, "soak")
            world.uploader_token = create_merchant("Soak LLC", "RU").token
            world.operator_token = create_staff("soak-operator@example.com", None, "operator").token
        finally:
            db.session.remove()
            db.engine.dispose()
    step = max(1, len(stocked) // PROBE_SKUS)
    return world, [code for code, _ in stocked][::step][:PROBE_SKUS]


def order_body(rng: random.Random, skus: list[str], destination: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": [{"sku": code, "quantity": 1} for code in skus],
        "email": f"soak{rng.randrange(10**6)}@example.com",
        "payment": {"adapter": "manual"},
    }
    if destination == "CN":
        body["currency"] = "CNY"
        body["shipping_address"] = {**CN_ADDRESS, "recipient": rng.choice(CN_NAMES)}
        body["customs_identity"] = {
            "name": body["shipping_address"]["recipient"],
            "id_number": prc_id(rng),
        }
    else:
        body["currency"] = "RUB"
        body["shipping_address"] = dict(RU_ADDRESS)
    return body


def probe_skus(client: Client, world: World, candidates: list[str], rng: random.Random) -> None:
    """Keep the SKUs one order of one unit to each destination accepts."""
    for destination, kept in (("RU", world.ru_skus), ("CN", world.cn_skus)):
        refusals: Counter[str] = Counter()
        for code in candidates:
            status, raw = client.request(
                "checkout", "POST", "/api/v1/orders", order_body(rng, [code], destination)
            )
            if status == 201:
                kept.append(code)
                continue
            with contextlib.suppress(ValueError, AttributeError):
                refusals[f"{status} {json.loads(raw).get('code')}"] += 1
        if refusals:
            log(f"refused to {destination}: " + ", ".join(f"{k} x{n}" for k, n in refusals.items()))


# ---------------------------------------------------------------- traffic


def step_api(client: Client, world: World, rng: random.Random) -> None:
    lang, currency = rng.choice(LANGUAGES), rng.choice(CURRENCIES)
    roll = rng.random()
    if roll < 0.1:
        client.request("api", "GET", f"/api/v1/categories?lang={lang}")
    elif roll < 0.6:
        query = [f"lang={lang}", f"currency={currency}", f"sort={rng.choice(SORTS)}"]
        if rng.random() < 0.7:
            query.append(f"category={rng.choice(world.categories)}")
        if rng.random() < 0.3:
            query.append(f"country={rng.choice(world.countries)}")
        if rng.random() < 0.2:
            query.append(f"q={_quote(rng.choice(SEARCH_WORDS))}")
        if rng.random() < 0.2:
            query.append(f"min_price={rng.choice((1, 10, 100))}&max_price=100000")
        if rng.random() < 0.3:
            query.append("in_stock=true")
        query.append(f"page={rng.choice((1, 1, 1, 2))}&per_page={rng.choice((12, 24, 48))}")
        client.request("api", "GET", "/api/v1/products?" + "&".join(query))
    else:
        product = rng.choice(world.product_ids)
        destination = rng.choice(("", "&destination=CN", "&destination=RU", "&destination=KZ"))
        client.request(
            "api", "GET", f"/api/v1/products/{product}?lang={lang}&currency={currency}{destination}"
        )


def step_storefront(client: Client, world: World, rng: random.Random) -> None:
    headers = {"Accept-Language": rng.choice(LANGUAGES)}
    roll = rng.random()
    if roll < 0.2:
        path = "/"
    elif roll < 0.5:
        sort = f"&sort={rng.choice(SORTS)}" if rng.random() < 0.3 else ""
        path = f"/c/{rng.choice(world.categories)}?page={rng.choice((1, 1, 2))}{sort}"
    elif roll < 0.7:
        path = f"/search?q={_quote(rng.choice(SEARCH_WORDS))}"
    else:
        path = f"/p/{rng.choice(world.product_ids)}"
    client.request("storefront", "GET", path, headers=headers)


def _placed(world: World, status: int, raw: bytes) -> None:
    if status == 201:
        with contextlib.suppress(ValueError, KeyError):
            world.new_orders.append(json.loads(raw)["number"])


def step_checkout(client: Client, world: World, rng: random.Random) -> None:
    destination = "CN" if world.cn_skus and rng.random() < 0.4 else "RU"
    pool = world.cn_skus if destination == "CN" else world.ru_skus
    if not pool:
        return
    skus = rng.sample(pool, min(len(pool), rng.choice((1, 1, 2))))
    status, raw = client.request(
        "checkout", "POST", "/api/v1/orders", order_body(rng, skus, destination)
    )
    _placed(world, status, raw)


def step_cart(client: Client, world: World, rng: random.Random) -> None:
    if not world.ru_skus:
        return
    first, second = rng.choice(world.ru_skus), rng.choice(world.ru_skus)
    made = {"currency": "RUB", "lines": [{"sku": first, "quantity": 1}]}
    status, raw = client.request("cart", "POST", "/api/v1/carts", made)
    if status != 201:
        return
    cart = json.loads(raw)
    headers = {"X-Cart-Token": cart["token"]}
    base = f"/api/v1/carts/{cart['id']}"
    client.request("cart", "POST", f"{base}/lines", {"sku": second, "quantity": 1}, headers)
    client.request(
        "cart", "GET", f"{base}?destination=RU&region=Moscow&postal_code=101000", headers=headers
    )
    if rng.random() < 2 / 3:
        body = order_body(rng, [], "RU")
        del body["lines"]
        body["cart_id"] = cart["id"]
        status, raw = client.request("cart", "POST", "/api/v1/orders", body, headers)
        _placed(world, status, raw)


def upload_pool() -> list[list[str]]:
    """bench/bulk_upload.py's price list rows, the shape merchants upload."""
    from bulk_upload import price_list

    return price_list("SOAK-", UPLOAD_POOL)


def step_upload(client: Client, world: World, rng: random.Random) -> None:
    from bulk_upload import HEADER, csv_bytes

    start = rng.randrange(0, len(world.upload_rows) - UPLOAD_ROWS)
    rows = [list(row) for row in world.upload_rows[start : start + UPLOAD_ROWS]]
    price = HEADER.index("price")
    for row in rows:
        if rng.random() < 0.3:  # a new price; the rest arrive unchanged (or new)
            row[price] = f"{rng.randrange(90, 9000)}.00"
    headers = {"Authorization": f"Bearer {world.uploader_token}"}
    path = "/api/v1/merchant/skus/bulk"
    if rng.random() < 0.5:
        client.request("upload", "POST", path, csv_bytes(rows), headers, "text/csv")
    else:
        client.request("upload", "POST", path, [_json_row(HEADER, row) for row in rows], headers)


def _json_row(header: tuple[str, ...], row: list[str]) -> dict[str, Any]:
    value = dict(zip(header, row, strict=True))
    return {
        "sku": value["sku"],
        "product_code": value["product_code"],
        "category": value["category"],
        "name": {lang: value[f"name_{lang}"] for lang in LANGUAGES},
        "description": {lang: value[f"description_{lang}"] for lang in LANGUAGES},
        "origin_country": value["origin_country"],
        "hs_code": value["hs_code"],
        "weight_g": int(value["weight_g"]),
        "shelf_life_days": int(value["shelf_life_days"]),
        "price": {"amount": value["price"], "currency": value["currency"]},
        "stock": {
            node: int(count)
            for node, count in (item.split(":") for item in value["stock"].split(";") if item)
        },
    }


def staff_round(client: Client, world: World) -> None:
    """Mark up to 10 new orders paid, then a pick list (JSON and PDF) per node with
    ready shipments."""
    headers = {"Authorization": f"Bearer {world.operator_token}"}
    nodes: set[str] = set()
    for _ in range(10):
        try:
            number = world.new_orders.popleft()
        except IndexError:
            break
        status, raw = client.request(
            "staff", "POST", f"/api/v1/orders/{number}/mark-paid", {}, headers
        )
        if status == 200:
            with contextlib.suppress(ValueError, KeyError):
                nodes.update(s["node"] for s in json.loads(raw)["shipments"])
    for node in sorted(nodes):
        status, raw = client.request(
            "staff", "POST", f"/api/v1/warehouse/nodes/{node}/pick-lists",
            {"max_shipments": 20}, headers,
        )  # fmt: skip
        if status == 201:
            pick_list = json.loads(raw)["id"]
            base = f"/api/v1/warehouse/pick-lists/{pick_list}"
            client.request("staff", "GET", f"{base}?lang=ru", headers=headers)
            client.request("staff", "GET", f"{base}.pdf?lang=zh", headers=headers)


def restock_round(client: Client, world: World, kind: str = "restock") -> int:
    """Through the merchant API: every bought SKU's stocked nodes back to RESTOCK_TO
    available when they fell under RESTOCK_BELOW. Returns the levels raised."""
    raised = 0
    for code in sorted(set(world.ru_skus) | set(world.cn_skus)):
        token = world.merchant_tokens[world.sku_merchant[code]]
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/merchant/skus/{_quote(code)}"
        status, raw = client.request(kind, "GET", path, headers=headers)
        if status != 200:
            continue
        sku = json.loads(raw)
        reserved = sku.get("reserved") or {}
        low = {
            node: reserved.get(node, 0) + RESTOCK_TO
            for node, on_hand in (sku.get("stock") or {}).items()
            if on_hand > 0 and on_hand - reserved.get(node, 0) < RESTOCK_BELOW
        }
        if low:
            status, _ = client.request(
                kind, "PATCH", path, {"stock": low}, headers, "application/merge-patch+json"
            )
            raised += len(low) if status == 200 else 0
    return raised


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


# ----------------------------------------------------------------- memory


def worker_rss_mb(master_pid: int) -> dict[int, float]:
    """VmRSS of each child of the gunicorn master, in MB (2**20 bytes)."""
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is None or stat[0] != master_pid:
            continue
        with contextlib.suppress(OSError):
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[int(entry.name)] = int(line.split()[1]) / 1024
    return rss


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 60


@dataclass
class Sample:
    t: float
    seconds: float
    interval: Interval
    rss: dict[int, float]


@dataclass
class WorkerVerdict:
    pid: int
    first_mb: float
    last_mb: float
    first_third_mb: float
    last_third_mb: float
    slope: float

    @property
    def flat(self) -> bool:
        allowed = max(GROWTH_FLOOR_MB, self.first_third_mb * GROWTH_LIMIT)
        grew = self.last_third_mb - self.first_third_mb
        return self.slope <= SLOPE_LIMIT_MB_PER_MIN and grew <= allowed


def memory_verdicts(samples: list[Sample]) -> list[WorkerVerdict]:
    """Per worker present from the first sample to the last."""
    pids = set(samples[0].rss)
    for sample in samples[1:]:
        pids &= set(sample.rss)
    verdicts = []
    third = max(1, len(samples) // 3)
    for pid in sorted(pids):
        series = [(s.t, s.rss[pid]) for s in samples]
        second_half = series[len(series) // 2 :]
        verdicts.append(
            WorkerVerdict(
                pid=pid,
                first_mb=series[0][1],
                last_mb=series[-1][1],
                first_third_mb=statistics.median(v for _, v in series[:third]),
                last_third_mb=statistics.median(v for _, v in series[-third:]),
                slope=slope_per_minute(second_half),
            )
        )
    return verdicts


# ----------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _cell(values: list[float], seconds: float) -> str:
    if not values:
        return "–"
    p50, p99 = percentile(values, 50), percentile(values, 99)
    return f"{len(values) / seconds:.1f} · {p50:.0f}/{p99:.0f}"


def render_report(
    args: argparse.Namespace,
    samples: list[Sample],
    recorder: Recorder,
    world: World,
    context: dict[str, str],
    restarts: list[str],
) -> tuple[str, list[dict[str, Any]]]:
    total_seconds = sum(s.seconds for s in samples)
    by_kind: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for sample in samples:
        for kind, values in sample.interval.latencies_ms.items():
            by_kind[kind].extend(values)
        for kind, counted in sample.interval.statuses.items():
            statuses[kind].update(counted)
    every = [v for values in by_kind.values() for v in values]
    failures = sum(n for c in statuses.values() for s, n in c.items() if is_failure(s))
    verdicts = memory_verdicts(samples)
    flat = bool(verdicts) and all(v.flat for v in verdicts) and not restarts
    worst_slope = max((v.slope for v in verdicts), default=float("nan"))
    worst_growth = max((v.last_third_mb - v.first_third_mb for v in verdicts), default=0.0)

    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; PostgreSQL "
        f"{context['postgres']}; 1-min load average at the start {context['loadavg']}, at "
        f"the end {context['loadavg_end']} (the machine was shared with other work: "
        "absolute figures are noisy, the memory trend is the point). gunicorn "
        f"{args.workers} sync workers; {args.clients} client threads (seed {args.seed}) plus "
        f"a back-office thread; {args.warmup:g} s warm-up, then {args.minutes:g} min sampled "
        f"every {args.sample_seconds:g} s. Bought: {len(world.ru_skus)} SKUs to RU, "
        f"{len(world.cn_skus)} to CN.",
        "",
        "Over the whole sampled run:",
        "",
        "| kind | requests | requests/s | p50 ms | p99 ms | statuses |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for kind in KINDS:
        values = by_kind.get(kind, [])
        shown = ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses[kind].items()))
        lines.append(
            f"| {kind} | {len(values):,} | {len(values) / total_seconds:.1f} "
            f"| {percentile(values, 50):.0f} | {percentile(values, 99):.0f} | {shown or '–'} |"
        )
    lines.append(
        f"| **all** | {len(every):,} | {len(every) / total_seconds:.1f} "
        f"| {percentile(every, 50):.0f} | {percentile(every, 99):.0f} "
        f"| 5xx or broken: {failures:,} |"
    )
    lines += [
        "",
        "Over time (per interval; per kind: requests/s · p50/p99 ms; RSS per worker in MB):",
        "",
        "| t | req/s | " + " | ".join(KINDS) + " | 4xx | 5xx | worker RSS MB |",
        "|---:|---:|" + "---:|" * len(KINDS) + "---:|---:|---|",
    ]
    for sample in samples:
        interval = sample.interval
        count = sum(len(v) for v in interval.latencies_ms.values())
        four = sum(n for c in interval.statuses.values() for s, n in c.items() if s[0] == "4")
        five = sum(n for c in interval.statuses.values() for s, n in c.items() if is_failure(s))
        cells = [_cell(interval.latencies_ms.get(kind, []), sample.seconds) for kind in KINDS]
        rss = " / ".join(f"{sample.rss[pid]:.1f}" for pid in sorted(sample.rss))
        minutes, seconds = divmod(round(sample.t), 60)
        lines.append(
            f"| {minutes}:{seconds:02d} | {count / sample.seconds:.1f} | "
            + " | ".join(cells)
            + f" | {four} | {five} | {rss} |"
        )
    lines += [
        "",
        "Memory per worker (slope: least squares over the second half; thirds: medians):",
        "",
        "| worker pid | first MB | last MB | first third MB | last third MB | slope MB/min "
        "| flat |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {v.pid} | {v.first_mb:.1f} | {v.last_mb:.1f} | {v.first_third_mb:.1f} "
            f"| {v.last_third_mb:.1f} | {v.slope:+.2f} | {'yes' if v.flat else 'NO'} |"
        )
    lines += [
        "",
        f"- memory: worst slope {worst_slope:+.2f} MB/min (limit {SLOPE_LIMIT_MB_PER_MIN:g}), "
        f"worst last-vs-first third {worst_growth:+.1f} MB (limit {GROWTH_LIMIT:.0%} or "
        f"{GROWTH_FLOOR_MB:g} MB): {'flat' if flat else 'NOT flat'}",
        f"- 5xx or broken connections: {failures:,} (target 0): "
        f"{'met' if failures == 0 else 'NOT met'}",
    ]
    for note in restarts:
        lines.append(f"- WARNING: {note}")
    if recorder.failures:
        lines += ["", "First failures:", ""]
        for failure in recorder.failures:
            body = failure.body.replace("\n", " ")[:300]
            lines.append(
                f"- {failure.kind} {failure.method} `{failure.path}` → {failure.status}: {body}"
            )
    figures = [
        {"figure": "soak throughput, mixed traffic (req/s)", "value": len(every) / total_seconds,
         "baseline": None, "ratio": None, "target": None, "met": None},
        {"figure": "soak p99, all requests (ms)", "value": percentile(every, 99),
         "baseline": None, "ratio": None, "target": None, "met": None},
        {"figure": "soak 5xx and broken connections", "value": failures, "baseline": None,
         "ratio": None, "target": "0", "met": failures == 0},
        {"figure": "soak worker RSS slope, worst (MB/min)", "value": worst_slope,
         "baseline": None, "ratio": None, "target": f"≤ {SLOPE_LIMIT_MB_PER_MIN:g}",
         "met": flat},
    ]  # fmt: skip
    return "\n".join(lines) + "\n", figures


# ------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="sampled traffic, minutes")
    parser.add_argument("--warmup", type=float, default=30.0, help="unsampled traffic first, s")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="sampling interval")
    parser.add_argument("--clients", type=int, default=8, help="shopper/merchant threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--seed", type=int, default=20261201, help="random seed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; returns 0 even when memory grows or requests fail (the report says)."""
    args = parse_args(argv)
    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = None
    url = ""
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-soak-"))
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        url = create_database(admin_url)
        database = url.rsplit("/", 1)[1]
        log(f"database {database}")
        env = production_env(url, workdir)
        secret_key = env["SECRET_KEY"]
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        world, candidates = prepare_world(url, secret_key)
        world.upload_rows = upload_pool()

        server = Gunicorn("soak", "wsgi:app", free_port(), args.workers, env, ROOT, workdir)
        server.wait_healthy()
        recorder = Recorder()
        setup = Client(server.base_url, recorder)
        probe_skus(setup, world, candidates, random.Random(args.seed))
        log(f"bought: {len(world.ru_skus)} SKUs to RU, {len(world.cn_skus)} to CN")
        if not world.ru_skus:
            raise RuntimeError("no stocked SKU can be ordered to Russia")
        log(f"restocked {restock_round(setup, world)} stock levels through the merchant API")
        setup.close()

        steps = {
            "api": step_api,
            "storefront": step_storefront,
            "checkout": step_checkout,
            "cart": step_cart,
            "upload": step_upload,
        }
        kinds, weights = list(STEP_WEIGHTS), list(STEP_WEIGHTS.values())

        def shopper(index: int) -> None:
            rng = random.Random(args.seed + 1 + index)
            client = Client(server.base_url, recorder)
            while not stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                try:
                    steps[kind](client, world, rng)
                except Exception as exc:  # a bad answer the step could not read
                    recorder.add(kind, "-", "-", "error", 0.0, repr(exc).encode())
            client.close()

        def back_office() -> None:
            client = Client(server.base_url, recorder)
            next_staff = next_restock = time.monotonic()
            while not stop.is_set():
                now = time.monotonic()
                try:
                    if now >= next_staff:
                        staff_round(client, world)
                        next_staff = now + STAFF_EVERY_S
                    if now >= next_restock:
                        restock_round(client, world)
                        next_restock = now + RESTOCK_EVERY_S
                except Exception as exc:
                    recorder.add("staff", "-", "-", "error", 0.0, repr(exc).encode())
                stop.wait(1.0)
            client.close()

        threads = [threading.Thread(target=shopper, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=back_office))
        loadavg = f"{os.getloadavg()[0]:.2f}"
        log(f"traffic: {args.clients} clients; warm-up {args.warmup:g} s")
        for thread in threads:
            thread.start()
        stop.wait(args.warmup)

        master = server.process.pid
        first_workers = set(worker_rss_mb(master))
        restarts: list[str] = []
        samples: list[Sample] = []
        recorder.swap()
        recorder.recording = True
        started = last = time.monotonic()
        deadline = started + args.minutes * 60
        log(f"sampling for {args.minutes:g} min every {args.sample_seconds:g} s")
        while (now := time.monotonic()) < deadline:
            stop.wait(min(args.sample_seconds, deadline - now))
            now = time.monotonic()
            interval = recorder.swap()
            rss = worker_rss_mb(master)
            if set(rss) != first_workers:
                note = (
                    f"workers changed at {now - started:.0f} s: "
                    f"{sorted(first_workers)} → {sorted(rss)}"
                )
                if note not in restarts:
                    restarts.append(note)
                    log(note)
            samples.append(Sample(now - started, now - last, interval, rss))
            count = sum(len(v) for v in interval.latencies_ms.values())
            log(
                f"{now - started:5.0f} s: {count / (now - last):6.1f} req/s, "
                f"{recorder.failure_count} failures, RSS "
                + " / ".join(f"{v:.1f}" for _, v in sorted(rss.items()))
            )
            last = now
        recorder.recording = False
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

        now_utc = datetime.now(UTC)
        context = {
            "date": now_utc.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "loadavg": loadavg,
            "loadavg_end": f"{os.getloadavg()[0]:.2f}",
            "code": code_version(),
        }
        report, figures = render_report(args, samples, recorder, world, context, restarts)
        print(report)
        write_report("soak", "bench/soak.py", argv, report, now_utc, figures=figures)
        return 0
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        clean_up(admin_url, servers=[server], databases=[url], workdir=workdir)


if __name__ == "__main__":
    run_script(main)
