"""The baseline: ``psql \\copy`` of the same CSV into a plain table of the same
database, timed by psql itself."""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench_processes import log

from bulk.price_lists import HEADER


@dataclass
class CopyRun:
    """One round of the baseline: medians of COPY_REPEATS loads of the round's file."""

    wall: float  # psql subprocess, start-up and connection included
    startup: float  # psql -c 'select 1', the same way
    psql_timing: float  # what psql's \timing says of the \copy alone

    @property
    def net(self) -> float:
        return self.wall - self.startup


COPY_REPEATS = 3
_TIMING = re.compile(r"^Time: ([0-9.]+) ms", re.MULTILINE)


def psql_conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def psql(conninfo: str, *commands: str) -> tuple[float, str]:
    """Run psql with the commands; (the subprocess's wall-clock seconds, its output)."""
    argv = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    for command in commands:
        argv += ["-c", command]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {commands}\n{done.stdout}{done.stderr}")
    return elapsed, done.stdout


def create_copy_table(conninfo: str) -> None:
    columns = ", ".join(f"{name} text" for name in HEADER)
    psql(conninfo, f"CREATE TABLE bench_copy ({columns})")


def copy_file(conninfo: str, path: Path, rows: int) -> tuple[float, float]:
    """Truncate bench_copy, then time ``\\copy`` of the file into it:
    (wall-clock seconds of psql, seconds psql's \\timing gives the copy)."""
    psql(conninfo, "TRUNCATE bench_copy")
    wall, out = psql(
        conninfo, "\\timing on", f"\\copy bench_copy FROM '{path}' WITH (FORMAT csv, HEADER true)"
    )
    timing = _TIMING.search(out)
    _, count = psql(conninfo, "SELECT count(*) FROM bench_copy")
    if int(count.strip()) != rows or not timing:
        raise RuntimeError(f"COPY loaded {count.strip()} rows, not {rows}:\n{out}")
    return wall, float(timing.group(1)) / 1000


def timed_copy(conninfo: str, path: Path, rows: int, number: int) -> CopyRun:
    """psql's start-up (median of 5 ``select 1``), then COPY_REPEATS loads of the file."""
    startup = statistics.median(psql(conninfo, "select 1")[0] for _ in range(5))
    loads = [copy_file(conninfo, path, rows) for _ in range(COPY_REPEATS)]
    run = CopyRun(
        wall=statistics.median(wall for wall, _ in loads),
        startup=startup,
        psql_timing=statistics.median(timing for _, timing in loads),
    )
    log(
        f"round {number} COPY: {run.wall:.3f} s wall, {run.net:.3f} s without psql start-up "
        f"({startup * 1000:.0f} ms), psql \\timing {run.psql_timing:.3f} s"
    )
    return run
