"""What the benchmark scripts share, importable from any of them (``bench/`` is first
on ``sys.path`` when a script runs): bench/catalog.py's helpers, writing a report,
cleaning up after a run and the scripts' ``__main__``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn


def load_catalog_bench() -> ModuleType:
    """bench/catalog.py as a module: its name would clash with the ``catalog`` package."""
    if "bench_catalog" in sys.modules:
        return sys.modules["bench_catalog"]
    path = Path(__file__).resolve().parent / "catalog.py"
    spec = importlib.util.spec_from_file_location("bench_catalog", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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


shared = load_catalog_bench()  # also puts the repository root first on sys.path


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
    shared.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    result_file = shared.RESULTS_DIR / f"{stem}.md"
    options = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python", script, *options])
    result_file.write_text(f"# `{command}`\n\n{report}")
    if figures is not None:
        document = {"command": command, "date": now.isoformat(), "figures": figures}
        (shared.RESULTS_DIR / f"{stem}.json").write_text(
            json.dumps(document, ensure_ascii=False, indent=1, default=str)
        )
    shared.log(f"written to {result_file.relative_to(shared.ROOT)}")
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
            shared.drop_database(admin_url, url)
            shared.log(f"database {name} dropped")
        except Exception as exc:  # report, keep the original error
            shared.log(f"could not drop {name}: {exc}")
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def run_script(main: Callable[[], int]) -> NoReturn:
    """A script's ``__main__``: exit with what ``main`` returns; Ctrl-C exits with 130
    (the ``finally`` of ``main`` has cleaned up by then)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        shared.log("interrupted")
        sys.exit(130)
