"""Catalog page throughput and latency on PostgreSQL, next to a bare Flask baseline.

Usage (from the repository root)::

    .venv/bin/python bench/catalog.py [--duration 20] [--rounds 3] [--connections 16]
                                      [--workers 4] [--products 2000] [--profile 300]

Method, all in one invocation so that both figures come from the same machine
state:

1. A fresh database ``pavilion_bench_<random>`` is created on the server of
   BENCH_POSTGRES_URL (default ``postgresql+psycopg://127.0.0.1:5432/postgres``),
   migrated with ``flask --app wsgi db upgrade`` and seeded with
   ``flask --app wsgi seed``, both as subprocesses in production mode. Then
   ``--products`` synthetic products (with SKUs and stock, ``search_text``
   built as ``shop.seed`` builds it) are spread over the 11 categories, so
   that the tables are realistically larger than the demo pavilion, and the
   database is ANALYZEd.
2. The shop runs under gunicorn (``wsgi:app``, ``--workers`` sync workers,
   PAVILION_ENV=production, no access log). The baseline, ``bench/bare_app.py``
   (plain Flask and SQLAlchemy Core: 24 rows of the same ``products`` table
   ordered by name, LIMIT/OFFSET, as JSON), runs under a second gunicorn with
   the same number of workers on the same database.
3. Load: wrk (``/usr/bin/wrk``; the script tries ``apt-get install -y wrk``
   when it is missing) with ``--connections`` connections and 2 threads, or,
   without wrk, a Python load generator (threads over keep-alive
   ``http.client`` connections). Each target gets a warm-up, then
   ``--rounds`` timed runs of ``--duration`` seconds, the two targets taking
   turns (bare, catalog, catalog, bare, ...) so that a change in the
   machine's load hits both. Requests/s is over all rounds; p50 and p99 are
   the medians of the rounds' percentiles. The catalog target rotates over
   the 11 category pages
   (``/api/v1/products?category=…&per_page=24&lang=ru&currency=RUB``), the
   baseline over 11 page offsets. No If-None-Match is ever sent: every
   response is a full 200, and any other status is counted and reported.
   Around each timed run the script reads from /proc the CPU time of the
   target's gunicorn (master and workers) and of the PostgreSQL backends of
   the bench database, and its own and wrk's from getrusage: CPU
   milliseconds per request show where a saturated machine spends its cores.
4. SQL statements per catalog request are counted in-process: an app built
   with ``create_app`` on the bench database, a ``before_cursor_execute``
   listener on its engine, and the category page fetched through the test
   client: the fresh app's first request (which fills any per-process cache),
   then per_page 1, 24 and 100.
5. The page statement captured from the app is timed alone in PostgreSQL,
   with the server's plan cache mode and with a forced generic plan, and
   the plans PostgreSQL chose are counted (``page_statement_timing``).
6. ``--profile N`` (optional) runs N category pages through the test client
   under cProfile and prints the functions with the largest cumulative share.

The results table (markdown) is printed and written to
``bench/results/catalog-<timestamp>.md``. The gunicorns are stopped and the
database dropped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import io
import json
import os
import platform
import pstats
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
BIN_DIR = Path(sys.executable).parent
DEFAULT_ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/postgres"
WRK = Path("/usr/bin/wrk")

CATEGORIES = (
    "confectionery",
    "honey",
    "grain-oil",
    "dairy",
    "seafood",
    "meat-sausage",
    "tea-coffee",
    "nuts-dried-fruit",
    "beverages",
    "beauty",
    "crafts",
)
CATALOG_PATH = "/api/v1/products?category={slug}&per_page={per_page}&lang=ru&currency=RUB"
BARE_PATH = "/bare/products?page={page}"
SQL_COUNT_PAGE_SIZES = (1, 24, 100)
SQL_COUNT_TARGET = 3

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ----------------------------------------------------------------- results


@dataclass
class LoadResult:
    """What one timed run against one target measured."""

    target: str
    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    # CPU seconds used during the run by the target's gunicorn (master and
    # workers), by the PostgreSQL backends of the bench database, and by the
    # load generator.
    app_cpu_s: float = 0.0
    db_cpu_s: float = 0.0
    loadgen_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_200(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    def cpu_ms_per_request(self) -> tuple[float, float, float]:
        """(app, PostgreSQL, load generator) CPU milliseconds per request."""
        n = max(self.requests, 1)
        return (
            self.app_cpu_s * 1000 / n,
            self.db_cpu_s * 1000 / n,
            self.loadgen_cpu_s * 1000 / n,
        )


# ------------------------------------------------------------ processes


def log(message: str) -> None:
    """Progress on stderr; the results go to stdout."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(base_url: str, path: str, timeout: float = 10) -> tuple[int, bytes]:
    """One GET on a new connection: (status, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_checked(argv: list[str], env: dict[str, str], what: str) -> str:
    """Run a command from the repository root; on failure show its output and stop."""
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}")
    return done.stdout


class Gunicorn:
    """One gunicorn master in its own process group, stopped on ``stop``."""

    def __init__(
        self,
        name: str,
        app: str,
        port: int,
        workers: int,
        env: dict[str, str],
        chdir: Path,
        logdir: Path,
    ):
        self.name = name
        self.port = port
        self.log_path = logdir / f"{name}-gunicorn.log"
        argv = [
            str(BIN_DIR / "gunicorn"),
            "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}",
            "--chdir", str(chdir),
            "--log-level", "warning",
            "--error-logfile", str(self.log_path),
            app,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            argv, cwd=chdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_get(self.base_url, "/healthz", timeout=2)[0] == 200:
                    return
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        raise RuntimeError(f"{self.name} gunicorn did not become healthy:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # SIGTERM to the master: gunicorn stops its workers itself.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# -------------------------------------------------------------- database


def create_database(admin_url: str) -> str:
    """Create ``pavilion_bench_<random>``; returns its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shop.config import normalize_database_url

    admin = make_url(normalize_database_url(admin_url))
    name = f"pavilion_bench_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shop.config import normalize_database_url

    name = make_url(url).database
    if not name or not name.startswith("pavilion_bench_"):
        raise ValueError(f"refusing to drop {name!r}")
    engine = create_engine(
        make_url(normalize_database_url(admin_url)), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def production_env(url: str, workdir: Path) -> dict[str, str]:
    """The environment the shop runs in under a benchmark: production settings on the
    bench database, throwaway secrets, and no rate limits (every client is 127.0.0.1)."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DATABASE_URL": url,
        "PAVILION_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "PAVILION_ID_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PAVILION_RATE_LIMITS": "off",
        "LOG_LEVEL": "WARNING",
        "PAVILION_VAR_DIR": str(workdir / "var"),
    }


def migrate_and_seed(env: dict[str, str]) -> str:
    """The real migrations and the real demo seed, as an operator runs them."""
    flask = str(BIN_DIR / "flask")
    run_checked([flask, "--app", "wsgi", "db", "upgrade"], env, "flask db upgrade")
    out = run_checked([flask, "--app", "wsgi", "seed"], env, "flask seed")
    # The first line names what was created; the rest are demo credentials.
    return out.splitlines()[0] if out else ""


_ADJECTIVES = (
    ("Altai", "Алтайский", "阿尔泰"),
    ("Baikal", "Байкальский", "贝加尔"),
    ("Kazakh steppe", "Степной", "草原"),
    ("Pamir", "Памирский", "帕米尔"),
    ("Fergana", "Ферганский", "费尔干纳"),
    ("Tianshan", "Тяньшаньский", "天山"),
    ("Amur", "Амурский", "阿穆尔"),
    ("Mongolian", "Монгольский", "蒙古"),
    ("Kashmir", "Кашмирский", "克什米尔"),
    ("Silk Road", "Шёлковый", "丝路"),
    ("Golden", "Золотой", "金色"),
    ("Mountain", "Горный", "高山"),
)
_NOUNS = {
    "confectionery": ("chocolate", "шоколад", "巧克力"),
    "honey": ("honey", "мёд", "蜂蜜"),
    "grain-oil": ("buckwheat", "гречневый продел", "荞麦"),
    "dairy": ("cheese", "сыр", "奶酪"),
    "seafood": ("smoked fish", "копчёный омуль", "熏鱼"),
    "meat-sausage": ("sausage", "колбаса", "香肠"),
    "tea-coffee": ("green tea", "зелёный чай", "绿茶"),
    "nuts-dried-fruit": ("dried apricots", "курага", "杏干"),
    "beverages": ("birch sap", "берёзовый сок", "桦树汁"),
    "beauty": ("sea buckthorn cream", "облепиховый крем", "沙棘霜"),
    "crafts": ("carved box", "резная шкатулка", "雕花盒"),
}
_ORIGINS = ("CN", "RU", "KZ", "KG", "UZ", "TJ", "IN", "PK", "IR", "BY", "MN")
_COLUMNS = (
    "merchant_id",
    "category_id",
    "code",
    "origin_country",
    "hs_code",
    "name_en",
    "name_ru",
    "name_zh",
    "description_en",
    "description_ru",
    "description_zh",
    "search_text",
)


def add_synthetic_products(url: str, count: int, seed: int = 20261101) -> dict[str, int]:
    """Insert ``count`` products over the 11 categories, 1-3 SKUs each, stock on 0-2 nodes.

    Rows go in through bulk Core inserts on the app's own models; each
    product's ``search_text`` comes from ``shop.seed.product_search_text``.
    """
    from sqlalchemy import insert, select, text

    from catalog.models import Category, Merchant, Product, Sku
    from shop import create_app
    from shop.core.extensions import db
    from shop.seed import product_search_text
    from warehouse.models import Node, StockLevel

    rng = random.Random(seed)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    with app.app_context():
        try:
            categories = {c.slug: c for c in db.session.scalars(select(Category))}
            merchants = list(db.session.scalars(select(Merchant).order_by(Merchant.id)))
            node_ids = list(db.session.scalars(select(Node.id).order_by(Node.id)))
            rate_currencies = {"CNY"} | set(
                db.session.scalars(text("SELECT DISTINCT base_currency FROM exchange_rates"))
            )
            if not merchants or len(categories) < len(CATEGORIES):
                raise RuntimeError("the demo seed has no merchants or categories")
            products: list[dict[str, Any]] = []
            sku_specs: list[list[dict[str, Any]]] = []
            for i in range(count):
                slug = CATEGORIES[i % len(CATEGORIES)]
                category = categories[slug]
                merchant = merchants[rng.randrange(len(merchants))]
                adjective = _ADJECTIVES[rng.randrange(len(_ADJECTIVES))]
                noun = _NOUNS[slug]
                code = f"BENCH-{i + 1:05d}"
                product = Product(
                    merchant_id=merchant.id,
                    category_id=category.id,
                    code=code,
                    origin_country=_ORIGINS[rng.randrange(len(_ORIGINS))],
                    hs_code=f"{category.hs_chapters[0]}{rng.randrange(10000):04d}",
                    name_en=f"{adjective[0]} {noun[0]} no. {i + 1}",
                    name_ru=f"{adjective[1]} {noun[1]} № {i + 1}",
                    name_zh=f"{adjective[2]}{noun[2]} {i + 1}号",
                    description_en=f"Synthetic benchmark product {i + 1}: {noun[0]}.",
                    description_ru=f"Синтетический товар для замеров {i + 1}: {noun[1]}.",
                    description_zh=f"基准测试合成商品 {i + 1}：{noun[2]}。",
                )
                currency = merchant.currency if merchant.currency in rate_currencies else "CNY"
                skus = [
                    {
                        "code": f"{code}-{k + 1}",
                        "label_en": f"{(k + 1) * 250} g",
                        "label_ru": f"{(k + 1) * 250} г",
                        "label_zh": f"{(k + 1) * 250}克",
                        "price_amount": Decimal(rng.randrange(500, 500000)) / 100,
                        "price_currency": currency,
                        "weight_g": (k + 1) * 250 + 50,
                        "shelf_life_days": rng.choice((0, 90, 180, 365, 730)),
                    }
                    for k in range(rng.randint(1, 3))
                ]
                product.search_text = product_search_text(product, [s["code"] for s in skus])
                products.append({column: getattr(product, column) for column in _COLUMNS})
                sku_specs.append(skus)

            product_ids = db.session.scalars(
                insert(Product).returning(Product.id, sort_by_parameter_order=True), products
            ).all()
            sku_rows = [
                {**sku, "product_id": product_id}
                for product_id, skus in zip(product_ids, sku_specs, strict=True)
                for sku in skus
            ]
            sku_ids = db.session.scalars(
                insert(Sku).returning(Sku.id, sort_by_parameter_order=True), sku_rows
            ).all()
            stock_rows = [
                {"sku_id": sku_id, "node_id": node_id, "on_hand": rng.choice((0, 5, 40, 300))}
                for sku_id in sku_ids
                for node_id in rng.sample(node_ids, rng.randint(0, min(2, len(node_ids))))
            ]
            if stock_rows:
                db.session.execute(insert(StockLevel), stock_rows)
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            return {"products": len(product_ids), "SKUs": len(sku_ids), "stock": len(stock_rows)}
        finally:
            db.session.remove()
            db.engine.dispose()


def table_sizes(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.scalar(text(f"SELECT count(*) FROM {table}"))
                for table in ("products", "skus", "stock_levels")
            }
    finally:
        engine.dispose()


# ---------------------------------------------------------------- load


WRK_SCRIPT = """
-- Written by bench/catalog.py: rotate over a fixed list of paths, count
-- non-200 responses per thread, print one machine-readable line at the end.
local paths = {%(paths)s}
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  position = id
  non200 = 0
end

function request()
  position = position %% #paths + 1
  return wrk.format("GET", paths[position])
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%%d duration_us=%%d p50_us=%%d p99_us=%%d non200=%%d errors=%%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, e.connect + e.read + e.write + e.timeout))
end
"""


def ensure_wrk() -> bool:
    """wrk from Debian's packages; one install attempt if it is missing (failure tolerated)."""
    if WRK.exists():
        return True
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        log("wrk missing: trying apt-get install -y wrk")
        subprocess.run(
            [apt, "install", "-y", "wrk"], capture_output=True, check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )  # fmt: skip
    return WRK.exists()


def run_wrk(
    base_url: str,
    paths: list[str],
    seconds: float,
    connections: int,
    threads: int,
    workdir: Path,
    target: str,
) -> LoadResult:
    script = workdir / f"{target}.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths)})
    argv = [
        str(WRK), "--threads", str(threads), "--connections", str(connections),
        "--duration", f"{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
        "--script", str(script), base_url,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    match = re.search(r"^BENCH (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    fields = {k: int(v) for k, v in (item.split("=") for item in match.group(1).split())}
    return LoadResult(
        target=target,
        generator=f"wrk -t{threads} -c{connections}",
        requests=fields["requests"],
        seconds=fields["duration_us"] / 1e6,
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        statuses={"200": fields["requests"] - fields["non200"], "other": fields["non200"]},
        socket_errors=fields["errors"],
    )


def run_python_load(
    base_url: str, paths: list[str], seconds: float, connections: int, target: str
) -> LoadResult:
    """``connections`` threads, each with its own keep-alive connection, for ``seconds``."""
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[Counter[str]] = [Counter() for _ in range(connections)]
    errors = [0] * connections
    start_gate = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        position = index
        start_gate.wait()
        while (now := time.perf_counter()) < deadline[0]:
            position = (position + 1) % len(paths)
            try:
                conn.request("GET", paths[position])
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                continue
            latencies[index].append(time.perf_counter() - now)
            statuses[index][str(response.status)] += 1
        conn.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in workers:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    start_gate.wait()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = sorted(x for per_thread in latencies for x in per_thread)
    total = sum(statuses, Counter())

    def percentile(q: float) -> float:
        if not merged:
            return float("nan")
        return merged[min(len(merged) - 1, int(q / 100 * len(merged)))] * 1000

    return LoadResult(
        target=target,
        generator=f"python -c{connections}",
        requests=len(merged),
        seconds=elapsed,
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        statuses=dict(total),
        socket_errors=sum(errors),
    )


def run_load(
    use_wrk: bool,
    base_url: str,
    paths: list[str],
    seconds: float,
    connections: int,
    workdir: Path,
    target: str,
) -> LoadResult:
    """One timed run of wrk (2 threads) or of the Python generator."""
    if use_wrk:
        return run_wrk(base_url, paths, seconds, connections, 2, workdir, target)
    return run_python_load(base_url, paths, seconds, connections, target)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process; None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_snapshot(master_pid: int, database: str) -> tuple[float, float, float]:
    """CPU seconds so far: a gunicorn master with its workers, the PostgreSQL
    backends connected to ``database``, and this process with its waited-for
    children (the load generator). Zeros where /proc is missing."""
    app = db = 0.0
    proc = Path("/proc")
    if proc.is_dir():
        tag = f" {database} ".encode()
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            stat = _proc_stat(int(entry.name))
            if stat is None:
                continue
            parent, used = stat
            if master_pid in (int(entry.name), parent):
                app += used
                continue
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                if cmdline.startswith(b"postgres:") and tag in cmdline:
                    db += used
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    loadgen = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return app, db, loadgen


def combine(results: list[LoadResult]) -> LoadResult:
    """Rounds of one target as one: summed requests and time, median percentiles."""
    return LoadResult(
        target=results[0].target,
        generator=results[0].generator,
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        statuses=dict(sum((Counter(r.statuses) for r in results), Counter())),
        socket_errors=sum(r.socket_errors for r in results),
        app_cpu_s=sum(r.app_cpu_s for r in results),
        db_cpu_s=sum(r.db_cpu_s for r in results),
        loadgen_cpu_s=sum(r.loadgen_cpu_s for r in results),
    )


def check_responses(base_url: str, paths: list[str]) -> int:
    """Every path answers 200 with a non-empty page; returns the mean body size."""
    sizes = []
    for path in paths:
        status, body = http_get(base_url, path)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
        if not json.loads(body)["items"]:
            raise RuntimeError(f"{path}: empty page")
        sizes.append(len(body))
    return sum(sizes) // len(sizes)


# --------------------------------------------------------- in-process


COLD = "first request of a fresh app"


def count_sql_statements(url: str) -> dict[str, int]:
    """Statements the category page executes: on a fresh app's first request
    (per_page=24), then per ``per_page`` of SQL_COUNT_PAGE_SIZES.

    The first request also fills whatever the app keeps per process (today's
    exchange rates, for one); the later ones show the steady state.
    """
    from sqlalchemy import event

    from shop import create_app
    from shop.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    requests = [(COLD, CATEGORIES[1], 24)] + [
        (f"per_page={n}", CATEGORIES[0], n) for n in SQL_COUNT_PAGE_SIZES
    ]
    counts: dict[str, int] = {}
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            client = app.test_client()
            for label, slug, per_page in requests:
                statements.clear()
                path = CATALOG_PATH.format(slug=slug, per_page=per_page)
                response = client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {response.status_code}")
                counts[label] = len(statements)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
            db.engine.dispose()
    return counts


def page_statement_timing(url: str, executions: int = 300) -> str:
    """How PostgreSQL runs the catalog's page statement, taken from the app.

    The statement and its parameters are captured from one category page
    through the test client. The statement is then executed ``executions``
    times, the category rotating, on a fresh psycopg connection: first with
    the server's plan cache mode, then with ``plan_cache_mode =
    force_generic_plan``. psycopg prepares it after a few executions, as it
    does in the app. Returns markdown with milliseconds per execution and
    the generic and custom plans counted in ``pg_prepared_statements``.
    """
    import psycopg
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    from shop import create_app
    from shop.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    captured: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        captured.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            app.test_client().get(CATALOG_PATH.format(slug=CATEGORIES[0], per_page=24))
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
            db.engine.dispose()
    pages = [(st, params) for st, params in captured if "LIMIT" in st.upper()]
    if not pages or not isinstance(pages[-1][1], dict):
        return "Page statement: not captured (no LIMIT statement with named parameters).\n"
    statement, params = pages[-1]
    slug_keys = [key for key, value in params.items() if value == CATEGORIES[0]]
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    lines = [
        f"Page statement in PostgreSQL: {executions} executions on one connection, "
        "the category rotating, prepared by psycopg as in the app.",
        "",
        "| plan_cache_mode | ms per execution | generic plans | custom plans |",
        "|---|---:|---:|---:|",
    ]
    for mode in ("server default", "force_generic_plan"):
        with psycopg.connect(conninfo) as conn:
            if mode != "server default":
                conn.execute(f"SET plan_cache_mode = {mode}")
            shown = conn.execute("SHOW plan_cache_mode").fetchone()[0]
            with conn.cursor() as cursor:
                started = time.perf_counter()
                for i in range(executions):
                    for key in slug_keys:
                        params[key] = CATEGORIES[i % len(CATEGORIES)]
                    cursor.execute(statement, params)
                    cursor.fetchall()
                elapsed_ms = (time.perf_counter() - started) / executions * 1000
            generic, custom = conn.execute(
                "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
                "FROM pg_prepared_statements"
            ).fetchone()
            conn.rollback()
        label = f"{shown} (server default)" if mode == "server default" else f"{shown} (forced)"
        lines.append(f"| {label} | {elapsed_ms:.2f} | {generic} | {custom} |")
    return "\n".join(lines) + "\n"


# Functions worth a line of their own in the profile summary: (file suffix, name, what).
PROFILE_BREAKDOWN = (
    ("catalog/services.py", "list_products", "catalog.services.list_products, all of it"),
    ("catalog/services.py", "load_rate_table", "load_rate_table (rates query, ORM objects)"),
    ("catalog/services.py", "_price_in", "_price_in (CASE over currencies)"),
    ("sqlalchemy/orm/session.py", "execute", "Session.execute (compile, run, fetch; both queries)"),
    ("psycopg/connection.py", "wait", "waiting for PostgreSQL (psycopg wait)"),
    ("sqlalchemy/sql/cache_key.py", "_generate_cache_key", "SQL cache-key generation"),
    ("sqlalchemy/sql/coercions.py", "expect", "SQL expression building (coercions.expect)"),
    ("marshmallow/schema.py", "dump", "response schema (marshmallow dump)"),
    ("webargs/core.py", "parse", "query-string parsing (webargs)"),
    ("flask/json/provider.py", "dumps", "JSON encoding"),
    ("werkzeug/wrappers/response.py", "add_etag", "ETag (hash of the body)"),
    ("catalog/money.py", "as_json", "Money.as_json"),
)


def profile_catalog(url: str, requests: int, top: int = 25) -> str:
    """Time, then cProfile, ``requests`` category pages through the test client.

    Returns markdown: milliseconds per request with and without the profiler,
    a breakdown over the functions of PROFILE_BREAKDOWN, the ``top``
    functions by cumulative time and the largest own times. Shares are of
    the profiled total.
    """
    from shop import create_app
    from shop.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAVILION_ENV": "test"})
    paths = [CATALOG_PATH.format(slug=slug, per_page=24) for slug in CATEGORIES]
    profiler = cProfile.Profile()
    with app.app_context():
        try:
            client = app.test_client()
            for path in paths * 3:  # imports, connections, compiled-statement cache
                client.get(path)
            started = time.perf_counter()
            for i in range(requests):
                client.get(paths[i % len(paths)])
            plain_ms = (time.perf_counter() - started) / requests * 1000
            started = time.perf_counter()
            profiler.enable()
            for i in range(requests):
                client.get(paths[i % len(paths)])
            profiler.disable()
            profiled_ms = (time.perf_counter() - started) / requests * 1000
        finally:
            db.session.remove()
            db.engine.dispose()

    bare_ms = time_bare_in_process(url, requests)
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)
    rows = [
        (cumtime, tottime, ncalls, _short(filename), line, function)
        for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    out = io.StringIO()
    out.write(
        f"Profile: {requests} category pages through the test client, one process: "
        f"{plain_ms:.2f} ms per request ({profiled_ms:.2f} ms under cProfile); "
        f"the bare endpoint, the same way: {bare_ms:.2f} ms. "
        "Shares are of the profiled time.\n\n"
        "| share (cumulative) | calls/request | where |\n|---:|---:|---|\n"
    )
    for suffix, name, what in PROFILE_BREAKDOWN:
        matches = [r for r in rows if r[3].endswith(suffix) and r[5] == name]
        if matches:
            best = max(matches)
            out.write(f"| {best[0] / total:.1%} | {best[2] / requests:.1f} | {what} |\n")
    out.write(
        f"\nTop {top} by cumulative time:\n\n"
        "| cumulative | own | calls/request | function |\n|---:|---:|---:|---|\n"
    )
    for cumtime, tottime, ncalls, filename, line, function in sorted(rows, reverse=True)[:top]:
        out.write(
            f"| {cumtime / total:.1%} | {tottime / total:.1%} | {ncalls / requests:.1f} "
            f"| `{filename}:{line}({function})` |\n"
        )
    out.write("\nLargest own time:\n\n| own | calls/request | function |\n|---:|---:|---|\n")
    for _, tottime, ncalls, filename, line, function in sorted(
        rows, key=lambda r: r[1], reverse=True
    )[: top // 2]:
        out.write(
            f"| {tottime / total:.1%} | {ncalls / requests:.1f} "
            f"| `{filename}:{line}({function})` |\n"
        )
    return out.getvalue()


def time_bare_in_process(url: str, requests: int) -> float:
    """Milliseconds per bare page through bare_app's test client (same rotation)."""
    sys.path.insert(0, str(BENCH_DIR))
    try:
        from bare_app import create_app as create_bare_app
    finally:
        sys.path.remove(str(BENCH_DIR))
    app = create_bare_app({"DATABASE_URL": url})
    client = app.test_client()
    paths = [BARE_PATH.format(page=page) for page in range(1, len(CATEGORIES) + 1)]
    try:
        for path in paths * 3:
            client.get(path)
        started = time.perf_counter()
        for i in range(requests):
            client.get(paths[i % len(paths)])
        return (time.perf_counter() - started) / requests * 1000
    finally:
        app.extensions["bare_engine"].dispose()


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# ------------------------------------------------------------- report


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def code_version() -> str:
    """The commit measured, and whether tracked files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, check=False)
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {commit}" + (" with uncommitted changes" if dirty.returncode else "")


def postgres_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()


def _cpu_cell(result: LoadResult) -> str:
    return " + ".join(f"{ms:.2f}" for ms in result.cpu_ms_per_request())


def render_report(
    args: argparse.Namespace,
    rounds: dict[str, list[LoadResult]],
    sql_counts: dict[str, int],
    sizes: dict[str, int],
    body_sizes: dict[str, int],
    context: dict[str, str],
) -> str:
    """The results as markdown: a context line, the table, the verdicts."""
    catalog, bare = combine(rounds["catalog"]), combine(rounds["bare"])
    ratio = catalog.rps / bare.rps if bare.rps else float("nan")
    round_ratios = ", ".join(
        f"{c.rps / b.rps:.2f}" for c, b in zip(rounds["catalog"], rounds["bare"], strict=True)
    )
    steady = {k: v for k, v in sql_counts.items() if k != COLD}
    sql_ok = len(set(steady.values())) == 1 and max(sql_counts.values()) <= SQL_COUNT_TARGET
    sql_text = ", ".join(f"{k}: {v}" for k, v in steady.items())
    if COLD in sql_counts:
        sql_text += f"; {COLD}: {sql_counts[COLD]}"
    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; "
        f"PostgreSQL {context['postgres']}; "
        f"1-min load average before the run {context['loadavg']}. "
        f"gunicorn {args.workers} sync workers per target; {catalog.generator}; "
        f"{args.rounds} round(s) of {args.duration:g} s per target, alternating, after a "
        f"{args.warmup:g} s warm-up each (requests/s over all rounds, p50/p99: median of "
        f"rounds); {sizes['products']} products, {sizes['skus']} SKUs, "
        f"{sizes['stock_levels']} stock rows.",
        "",
        "| target | requests/s | p50 ms | p99 ms | × bare rps | responses (non-200) "
        "| body bytes | CPU ms/request: app + PostgreSQL + load gen. | SQL statements/request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| catalog `{CATALOG_PATH.format(slug='<11 rotating>', per_page=24)}` "
        f"| {catalog.rps:,.0f} | {catalog.p50_ms:.1f} | {catalog.p99_ms:.1f} | {ratio:.2f} "
        f"| {catalog.requests:,} ({catalog.non_200 + catalog.socket_errors}) "
        f"| {body_sizes['catalog']:,} | {_cpu_cell(catalog)} | {sql_text} |",
        f"| bare Flask `{BARE_PATH.format(page='<1..11>')}` "
        f"| {bare.rps:,.0f} | {bare.p50_ms:.1f} | {bare.p99_ms:.1f} | 1.00 "
        f"| {bare.requests:,} ({bare.non_200 + bare.socket_errors}) "
        f"| {body_sizes['bare']:,} | {_cpu_cell(bare)} | 1 |",
        "",
        f"- throughput: catalog/bare = {ratio:.2f} (rounds: {round_ratios}; target ≥ 0.90): "
        f"{'met' if ratio >= 0.9 else 'NOT met'}",
        f"- catalog p99 = {catalog.p99_ms:.1f} ms (target < 50 ms): "
        f"{'met' if catalog.p99_ms < 50 else 'NOT met'}",
        f"- SQL statements per catalog request: {sql_text} (target: constant, ≤ "
        f"{SQL_COUNT_TARGET}): {'met' if sql_ok else 'NOT met'}",
    ]
    if catalog.non_200 or bare.non_200 or catalog.socket_errors or bare.socket_errors:
        lines.append(
            f"- WARNING: non-200 responses or socket errors (catalog {catalog.statuses}, "
            f"{catalog.socket_errors} errors; bare {bare.statuses}, {bare.socket_errors} errors)"
        )
    return "\n".join(lines) + "\n"


def report_figures(
    rounds: dict[str, list[LoadResult]], sql_counts: dict[str, int]
) -> list[dict[str, Any]]:
    """The verdicts of ``render_report`` as figures for ``python -m bench``."""
    from benchkit import figure  # benchkit loads this module: import it late

    catalog, bare = combine(rounds["catalog"]), combine(rounds["bare"])
    worst_sql = max(sql_counts.values())
    steady = {v for k, v in sql_counts.items() if k != COLD}
    failures = catalog.non_200 + catalog.socket_errors
    return [
        figure("catalog page requests/s (× bare Flask)", catalog.rps, baseline=bare.rps,
               target="ratio ≥ 0.90", met=catalog.rps >= 0.9 * bare.rps),
        figure("catalog page p99 ms (bare Flask p99)", catalog.p99_ms, baseline=bare.p99_ms,
               target="< 50 ms", met=catalog.p99_ms < 50),
        figure("SQL statements per catalog page (worst)", worst_sql,
               target=f"constant, ≤ {SQL_COUNT_TARGET}",
               met=len(steady) == 1 and worst_sql <= SQL_COUNT_TARGET),
        figure("catalog non-200 answers", failures, target="0", met=failures == 0),
    ]  # fmt: skip


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds per timed run (per target, per round)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed runs per target, alternating the targets"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per target")
    parser.add_argument(
        "--products", type=int, default=2000, help="synthetic products added to the demo pavilion"
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (auto: wrk when available)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile N category pages in-process with cProfile",
    )
    parser.add_argument(
        "--seed-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for catalog/seed/pavilion.json to appear",
    )
    return parser.parse_args(argv)


def wait_for_seed_file(seconds: float) -> None:
    seed_file = ROOT / "catalog" / "seed" / "pavilion.json"
    deadline = time.monotonic() + seconds
    while not seed_file.exists():
        if time.monotonic() >= deadline:
            raise SystemExit(f"{seed_file.relative_to(ROOT)} is missing: the demo seed needs it")
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0 even when a target is missed)."""
    args = parse_args(argv)
    wait_for_seed_file(args.seed_wait)
    admin_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and ensure_wrk())
    if args.generator == "wrk" and not WRK.exists():
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    # SIGTERM takes the same way out as Ctrl-C: through the finally below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    servers: list[Gunicorn] = []
    url = ""
    workdir = Path(tempfile.mkdtemp(prefix="pavilion-bench-"))
    try:
        url = create_database(admin_url)
        log(f"database {url.rsplit('/', 1)[1]}")
        env = production_env(url, workdir)
        log("flask db upgrade, flask seed")
        log(migrate_and_seed(env) or "seeded")
        if args.products > 0:
            log(f"adding {args.products} synthetic products")
            log(f"added {add_synthetic_products(url, args.products)}")
        sizes = table_sizes(url)

        shop = Gunicorn("catalog", "wsgi:app", free_port(), args.workers, env, ROOT, workdir)
        servers.append(shop)
        bare = Gunicorn("bare", "bare_app:app", free_port(), args.workers, env, BENCH_DIR, workdir)
        servers.append(bare)
        shop.wait_healthy()
        bare.wait_healthy()

        catalog_paths = [CATALOG_PATH.format(slug=slug, per_page=24) for slug in CATEGORIES]
        bare_paths = [BARE_PATH.format(page=page) for page in range(1, len(CATEGORIES) + 1)]
        body_sizes = {
            "catalog": check_responses(shop.base_url, catalog_paths),
            "bare": check_responses(bare.base_url, bare_paths),
        }
        targets = {"bare": (bare, bare_paths), "catalog": (shop, catalog_paths)}
        database = url.rsplit("/", 1)[1]
        generator = "wrk" if use_wrk else "python"
        log(
            f"load: {generator}, {args.connections} connections, {args.rounds} x "
            f"{args.duration:g} s per target"
        )
        loadavg = f"{os.getloadavg()[0]:.2f}"
        for name, (server, paths) in targets.items():
            run_load(use_wrk, server.base_url, paths, args.warmup, args.connections, workdir, name)
        rounds: dict[str, list[LoadResult]] = {name: [] for name in targets}
        for number in range(args.rounds):
            # Alternate the order so that a drift in the machine's state hits both.
            order = list(targets) if number % 2 == 0 else list(reversed(targets))
            for name in order:
                server, paths = targets[name]
                before = cpu_snapshot(server.process.pid, database)
                result = run_load(
                    use_wrk, server.base_url, paths, args.duration, args.connections, workdir, name
                )
                after = cpu_snapshot(server.process.pid, database)
                result.app_cpu_s, result.db_cpu_s, result.loadgen_cpu_s = (
                    b - a for a, b in zip(before, after, strict=True)
                )
                rounds[name].append(result)
                app_ms, db_ms, _ = result.cpu_ms_per_request()
                log(
                    f"round {number + 1} {name}: {result.rps:,.0f} req/s, "
                    f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                    f"CPU/request app {app_ms:.2f} ms, PostgreSQL {db_ms:.2f} ms"
                )
        for server in servers:
            server.stop()

        sql_counts = count_sql_statements(url)
        now = datetime.now(UTC)
        context = {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "postgres": postgres_version(url),
            "loadavg": loadavg,
            "code": code_version(),
        }
        report = render_report(args, rounds, sql_counts, sizes, body_sizes, context)
        report += "\n" + page_statement_timing(url)
        if args.profile > 0:
            log(f"profiling {args.profile} category pages")
            report += "\n" + profile_catalog(url, args.profile)
        print(report)
        from benchkit import write_report  # benchkit loads this module: import it late

        figures = report_figures(rounds, sql_counts)
        write_report("catalog", "bench/catalog.py", argv, report, now, figures)
        return 0
    finally:
        from benchkit import clean_up  # benchkit loads this module: import it late

        clean_up(admin_url, servers=servers, databases=[url], workdir=workdir)


if __name__ == "__main__":
    from benchkit import run_script  # benchkit loads this module: import it late

    run_script(main)
