"""What the benchmark scripts share besides processes (``bench_processes``) and
databases (``bench_database``): the figures of a run and its report, the machine and
commit it ran on, cleaning up after a run and the scripts' ``__main__``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from bench_database import drop_database
from bench_processes import RESULTS_DIR, ROOT, log


def figure(
    name: str,
    value: float | int | None,
    *,
    baseline: float | int | None = None,
    target: str | None = None,
    met: bool | None = None,
) -> dict[str, Any]:
    """One line of ``python -m bench``'s summary: a measured value, the baseline measured
    in the same run (if any) and their ratio, the target in words and whether it is met."""
    ratio = value / baseline if value is not None and baseline else None
    return {
        "figure": name, "value": value, "baseline": baseline, "ratio": ratio,
        "target": target, "met": met,
    }  # fmt: skip


def write_report(
    name: str,
    script: str,
    argv: list[str] | None,
    report: str,
    now: datetime,
    figures: list[dict[str, Any]] | None = None,
):
    """Save ``report`` as bench/results/<name>-<UTC time>.md, headed by the command that
    made it, so every figure in BENCHMARKS.md names how to reproduce it.

    ``figures`` (each: figure, value, baseline, ratio, target, met) go beside it as
    <name>-<UTC time>.json, which ``python -m bench`` reads for its summary table.
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    result_file = RESULTS_DIR / f"{stem}.md"
    options = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python", script, *options])
    result_file.write_text(f"# `{command}`\n\n{report}")
    if figures is not None:
        document = {"command": command, "date": now.isoformat(), "figures": figures}
        (RESULTS_DIR / f"{stem}.json").write_text(
            json.dumps(document, ensure_ascii=False, indent=1, default=str)
        )
    log(f"written to {result_file.relative_to(ROOT)}")
    return result_file


def clean_up(
    admin_url: str,
    *,
    servers: Iterable[Any] = (),
    databases: Iterable[str | None] = (),
    workdir: Path | None = None,
) -> None:
    """What every script's ``finally`` does: stop the servers it started, drop the
    databases it made and remove its working directory. A failure is logged, never
    raised, so that the error that ended the run stays the one reported."""
    for server in servers:
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
    for url in databases:
        if not url:
            continue
        name = url.rsplit("/", 1)[1]
        try:
            drop_database(admin_url, url)
            log(f"database {name} dropped")
        except Exception as exc:  # report, keep the original error
            log(f"could not drop {name}: {exc}")
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def run_script(main: Callable[[], int]) -> NoReturn:
    """A script's ``__main__``: exit with what ``main`` returns; Ctrl-C exits with 130
    (the ``finally`` of ``main`` has cleaned up by then)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)


def machine_description() -> str:
    """The cores, the CPU model and the Python a report's figures come from."""
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


def short_path(filename: str) -> str:
    """A source file as a profile prints it: from the package or the repository root."""
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
