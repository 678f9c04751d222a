"""The load: checkouts over keep-alive HTTP from client threads, and the baseline,
pgbench's TPC-B-like transactions in their own database on the same server."""

from __future__ import annotations

import http.client
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from placing_orders.runs import CheckoutRun, PgbenchRun
from placing_orders.world import ORDERS_PATH

PGBENCH = Path("/usr/bin/pgbench")


def run_checkout_load(
    base_url: str, bodies: list[bytes], seconds: float, clients: int
) -> CheckoutRun:
    """``clients`` threads POSTing orders for ``seconds``, the body rotating."""
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[Counter[int]] = [Counter() for _ in range(clients)]
    samples: list[list[tuple[int, str]]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]
    headers = {"Content-Type": "application/json", "Accept-Language": "en"}

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        position = index
        start_gate.wait()
        while (now := time.perf_counter()) < deadline[0]:
            position = (position + 1) % len(bodies)
            try:
                conn.request("POST", ORDERS_PATH, body=bodies[position], headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                continue
            latencies[index].append((time.perf_counter() - now) * 1000)
            statuses[index][response.status] += 1
            if response.status != 201 and len(samples[index]) < 3:
                samples[index].append((response.status, data[:300].decode(errors="replace")))
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    return CheckoutRun(
        seconds=time.perf_counter() - started,
        latencies_ms=[x for per_thread in latencies for x in per_thread],
        statuses=sum(statuses, Counter()),
        socket_errors=sum(errors),
        samples=[s for per_thread in samples for s in per_thread],
    )


def pgbench_conn_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Host, port, user and database for pgbench; the password goes in PGPASSWORD."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    if parsed.username:
        args += ["-U", parsed.username]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def pgbench_init(url: str, scale: int) -> None:
    from sqlalchemy.engine import make_url

    conn_args, env = pgbench_conn_args(url)
    argv = [str(PGBENCH), "-i", "-q", "-s", str(scale), *conn_args, str(make_url(url).database)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i failed:\n{done.stdout}\n{done.stderr}")


_PGBENCH_FIGURES = {
    "tps": re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE),
    "transactions": re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE),
    "failed": re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE),
    "latency": re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE),
}


def run_pgbench(url: str, seconds: float, clients: int, workdir: Path) -> PgbenchRun:
    """``pgbench -c clients -j 2 -T seconds -l``: tps as printed, latencies from its log."""
    from sqlalchemy.engine import make_url

    conn_args, env = pgbench_conn_args(url)
    logdir = Path(tempfile.mkdtemp(prefix="pgbench-log-", dir=workdir))
    argv = [
        str(PGBENCH), "-c", str(clients), "-j", "2", "-T", str(max(1, round(seconds))),
        "-l", "--log-prefix", str(logdir / "tx"), *conn_args, str(make_url(url).database),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    found = {name: pattern.search(done.stdout) for name, pattern in _PGBENCH_FIGURES.items()}
    if done.returncode != 0 or not found["tps"] or not found["transactions"]:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    latencies = []
    for log_file in logdir.iterdir():
        for line in log_file.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():  # "skipped" / "failed" are not
                latencies.append(int(parts[2]) / 1000)
    shutil.rmtree(logdir, ignore_errors=True)
    return PgbenchRun(
        tps=float(found["tps"].group(1)),
        transactions=int(found["transactions"].group(1)),
        failed=int(found["failed"].group(1)) if found["failed"] else 0,
        latency_avg_ms=float(found["latency"].group(1)) if found["latency"] else float("nan"),
        latencies_ms=latencies,
        seconds=elapsed,
    )


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
