"""What the benchmark scripts share, importable from any of them (``bench/`` is first
on ``sys.path`` when a script runs): bench/catalog.py's helpers, and writing a report.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType


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


shared = load_catalog_bench()  # also puts the repository root first on sys.path


def write_report(name: str, script: str, argv: list[str] | None, report: str, now: datetime):
    """Save ``report`` as bench/results/<name>-<UTC time>.md, headed by the command that
    made it, so every figure in BENCHMARKS.md names how to reproduce it."""
    shared.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result_file = shared.RESULTS_DIR / f"{name}-{now.strftime('%Y%m%dT%H%M%SZ')}.md"
    options = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python", script, *options])
    result_file.write_text(f"# `{command}`\n\n{report}")
    shared.log(f"written to {result_file.relative_to(shared.ROOT)}")
    return result_file
