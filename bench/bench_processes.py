"""The benchmarks' processes: where things are, progress on stderr, free ports, the
commands they run, a gunicorn in its own process group, and CPU time read from /proc.

``bench/`` is first on ``sys.path`` when a script runs; importing this module puts
the repository root before it, so that the scripts import the shop's packages
(``catalog`` is the package, not ``bench/catalog.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
BIN_DIR = Path(sys.executable).parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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


def http_post(base_url: str, path: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    """One JSON POST on a new connection: (status, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_stat(pid: int) -> tuple[int, float] | None:
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
            stat = proc_stat(int(entry.name))
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
