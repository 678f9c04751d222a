"""Every benchmark in one command, with one summary table.

Usage (from the repository root)::

    .venv/bin/python -m bench [--quick] [--only catalog,checkout,...] [--soak-minutes N]

Each script runs in its own process, one after the other (so a failing one
does not stop the rest, and none competes with another for the machine), with
its own output in ``bench/results/<name>-<time>.log``. Afterwards the runner
reads the figures each script wrote beside its report
(``bench/results/<prefix>-<time>.json``, see ``benchkit.write_report``; for a
script that writes only markdown, its ``- ...: met`` / ``NOT met`` lines) and
prints one table: figure, value, the baseline measured in the same run, their
ratio, the target and whether it is met. The table is also written to
``bench/results/summary-<time>.md`` headed by the command that made it.

``--quick`` runs every script with its smallest settings (a check that all of
them work, not figures to quote). ``--soak-minutes 0`` leaves the soak out.
The exit status is 1 when a script failed, 0 otherwise (a missed target is a
figure, not a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
SCRIPT_TIMEOUT_S = 3 * 60 * 60


@dataclass(frozen=True)
class Script:
    """One benchmark: its name on the command line, its file, the prefix of its
    result files, and its arguments in a full and in a quick run."""

    name: str
    path: str
    prefix: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()


SCRIPTS = (
    Script("catalog", "bench/catalog.py", "catalog",
           quick=("--duration", "3", "--rounds", "1", "--warmup", "1", "--products", "200",
                  "--connections", "8", "--workers", "2")),
    Script("bulk_upload", "bench/bulk_upload.py", "bulk",
           quick=("--rounds", "1", "--rows", "1000")),
    Script("routing", "bench/routing.py", "routing",
           quick=("--plans", "300", "--holds", "800", "--clients", "8")),
    Script("checkout", "bench/checkout.py", "checkout",
           quick=("--duration", "3", "--rounds", "1", "--warmup", "1", "--scale", "2",
                  "--clients", "8", "--workers", "2")),
    Script("pick_list", "bench/pick_list.py", "pick_list",
           quick=("--rounds", "1", "--shipments", "100")),
    Script("reports", "bench/reports.py", "reports",
           quick=("--orders", "5000", "--days", "60", "--rounds", "1")),
    Script("scale", "bench/scale.py", "scale",
           quick=("--duration", "3", "--rounds", "1", "--warmup", "1", "--scale", "2",
                  "--clients", "8", "--workers", "2")),
    Script("soak", "bench/soak.py", "soak",
           quick=("--warmup", "10", "--clients", "4", "--workers", "2")),
)  # fmt: skip
VERDICT = re.compile(r":\s+(?P<met>NOT met|met)\b(?P<after>.*)$")
TARGET = re.compile(r"\btarget (?P<target>[^);]*)")


@dataclass
class Outcome:
    script: Script
    command: str
    exit_code: int
    seconds: float
    log: Path
    figures: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def arguments(script: Script, quick: bool, soak_minutes: float) -> list[str]:
    argv = list(script.quick if quick else script.full)
    if script.name == "soak":
        argv += ["--minutes", f"{soak_minutes:g}"]
    return argv


def run_script(script: Script, argv: list[str], stamp: str) -> Outcome:
    """The script in its own process; its new result files afterwards."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    before = set(RESULTS_DIR.glob(f"{script.prefix}-*"))
    log_path = RESULTS_DIR / f"{script.name}-{stamp}.log"
    command = " ".join([".venv/bin/python", script.path, *argv])
    log(f"{command}  (output: {log_path.relative_to(ROOT)})")
    started = time.monotonic()
    with log_path.open("w") as out:
        try:
            exit_code = subprocess.run(
                [sys.executable, script.path, *argv], cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT, timeout=SCRIPT_TIMEOUT_S, check=False,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            exit_code = -1
    outcome = Outcome(script, command, exit_code, time.monotonic() - started, log_path)
    made = sorted(set(RESULTS_DIR.glob(f"{script.prefix}-*")) - before - {log_path})
    reports = [p for p in made if p.suffix == ".md"]
    outcome.report = reports[-1] if reports else None
    figures = [p for p in made if p.suffix == ".json"]
    if figures:
        outcome.figures = json.loads(figures[-1].read_text())["figures"]
    elif outcome.report is not None:
        outcome.figures = figures_from_markdown(outcome.report.read_text())
    state = "done" if exit_code == 0 else f"FAILED (exit {exit_code})"
    log(f"{script.name}: {state} in {outcome.seconds:.0f} s, {len(outcome.figures)} figures")
    return outcome


def figures_from_markdown(report: str) -> list[dict[str, Any]]:
    """Figures from a report's verdict lines (``- what: value (target …): met``), for
    a script that writes no figures of its own."""
    figures = []
    for line in report.splitlines():
        match = VERDICT.search(line) if line.startswith("- ") else None
        if not match:
            continue
        # "- what: value (target …): met" or "- what: met (value)"
        before = line[2 : match.start()]
        what, _, detail = before.partition(": ")
        detail = (detail or match["after"]).strip(" ().:;")
        target = TARGET.search(detail)
        figures.append(
            {
                "figure": what, "value": detail or None, "baseline": None, "ratio": None,
                "target": target["target"] if target else None, "met": match["met"] == "met",
            }
        )  # fmt: skip
    return figures


def shown(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def summary_table(outcomes: list[Outcome]) -> str:
    lines = [
        "| script | figure | value | baseline (same run) | ratio | target | met? |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for outcome in outcomes:
        name = outcome.script.name
        if outcome.exit_code != 0:
            lines.append(
                f"| {name} | **failed** (exit {outcome.exit_code}, "
                f"{outcome.seconds:.0f} s): see `{outcome.log.relative_to(ROOT)}` "
                "| | | | | |"
            )
        if not outcome.figures and outcome.exit_code == 0:
            lines.append(f"| {name} | no figures found | | | | | |")
        for item in outcome.figures:
            met = {True: "yes", False: "**no**", None: "–"}[item.get("met")]
            lines.append(
                f"| {name} | {shown(item['figure'])} | {shown(item.get('value'))} "
                f"| {shown(item.get('baseline'))} | {shown(item.get('ratio'))} "
                f"| {shown(item.get('target'))} | {met} |"
            )
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu or 'unknown'}), Python {sys.version.split()[0]}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n", 1)[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="smallest settings: check that every script runs"
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="NAMES",
        help="comma-separated scripts to run: " + ", ".join(s.name for s in SCRIPTS),
    )
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=None,
        metavar="N",
        help="minutes of soak traffic (default 10, 1 with --quick; 0 leaves the soak out)",
    )
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - {s.name for s in SCRIPTS}
    if unknown:
        parser.error(f"unknown script(s): {', '.join(sorted(unknown))}")
    args.only = wanted
    if args.soak_minutes is None:
        args.soak_minutes = 1.0 if args.quick else 10.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python -m bench", *options])
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    chosen = [s for s in SCRIPTS if not args.only or s.name in args.only]
    if args.soak_minutes <= 0:
        chosen = [s for s in chosen if s.name != "soak"]
    outcomes = []
    for script in chosen:
        if not (ROOT / script.path).exists():
            log(f"{script.path} is missing: skipped")
            continue
        argv_for = arguments(script, args.quick, args.soak_minutes)
        outcomes.append(run_script(script, argv_for, stamp))
    finished = datetime.now(UTC)
    header = (
        f"Run {started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC on {machine()}, "
        f"1-min load average at the end {os.getloadavg()[0]:.2f}"
        + (" (--quick: smallest settings, not figures to quote)" if args.quick else "")
        + ". Each script's full report and the command that reproduces it:\n\n"
        + "\n".join(
            f"- {o.script.name}: `{o.command}` → "
            + (f"`{o.report.relative_to(ROOT)}`" if o.report else "no report")
            for o in outcomes
        )
        + "\n\n"
    )
    table = header + summary_table(outcomes)
    print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    summary = RESULTS_DIR / f"summary-{stamp}.md"
    summary.write_text(f"# `{command}`\n\n{table}")
    log(f"written to {summary.relative_to(ROOT)}")
    return 1 if any(o.exit_code != 0 for o in outcomes) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
