"""The reports benchmark's report and the figures ``python -m bench`` summarises."""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from operator_reports.measured import REPORTS

TARGET_SECONDS = 0.5


def _median(values: list[float]) -> float:
    return statistics.median(values)


def render_report(args: argparse.Namespace, world: dict[str, Any], info: dict[str, Any],
                  context: dict[str, str]) -> str:  # fmt: skip
    times, first, counts = info["times"], info["first"], info["counts"]
    m = {name: _median(values) * 1000 for name, values in times.items()}

    def spread(name: str) -> str:
        return f"{min(times[name]) * 1000:.0f}–{max(times[name]) * 1000:.0f}"

    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; PostgreSQL "
        f"{context['postgres']}; 1-min load average before the run {context['loadavg']}. "
        f"{args.rounds} round(s), medians in ms, after one warm-up call of each.",
        "",
        f"World: {world['orders']:,} orders over the last {args.days} days, "
        f"{world['order_lines']:,} order lines, {world['shipments']:,} shipments "
        f"({world['shipment_lines']:,} lines), {world['order_events']:,} history rows, "
        f"{world['skus']:,} SKUs, {world['stock_levels']:,} stock levels.",
        "",
        "| target | range | median ms | min–max ms | × bare aggregate | × bare line join "
        "| first call ms "
        "| SQL statements | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    count_name = "count(*) FROM orders"
    lines.append(
        f"| baseline: `SELECT count(*) FROM orders` | all | {m[count_name]:.1f} | "
        f"{spread(count_name)} | – | – | {first[count_name] * 1000:.1f} | 1 | "
        f"{info['rows'][count_name]} |"
    )
    for label in info["ranges"]:
        bare, join = f"bare aggregate, {label}", f"bare line join, {label}"
        lines.append(
            f"| baseline: one `GROUP BY currency` aggregate of the range's orders | {label} | "
            f"{m[bare]:.1f} | {spread(bare)} | 1.0× | – | {first[bare] * 1000:.1f} | 1 | "
            f"{info['rows'][bare]} orders |"
        )
        lines.append(
            f"| baseline: the range's sold orders joined to their lines, counted | {label} | "
            f"{m[join]:.1f} | {spread(join)} | {m[join] / m[bare]:.1f}× | 1.0× | "
            f"{first[join] * 1000:.1f} | 1 | {info['rows'][join]} lines |"
        )
        for name, _, _ in REPORTS:
            key = f"{name}, {label}"
            lines.append(
                f"| {name} | {label} | {m[key]:.1f} | {spread(key)} | "
                f"{m[key] / m[bare]:.1f}× | {m[key] / m[join]:.1f}× | {first[key] * 1000:.1f} "
                f"| {counts[key]} | {info['rows'][key]} |"
            )
    lines += ["", "Through HTTP in-process (Flask test client, operator token or login; "
              "default range, 28 days):", "", "| request | median ms | min–max ms |",
              "|---|---:|---:|"]  # fmt: skip
    for name, values in info["http"].items():
        lines.append(
            f"| `{name}` | {_median(values) * 1000:.1f} | "
            f"{min(values) * 1000:.0f}–{max(values) * 1000:.0f} |"
        )
    lines.append("")
    slowest = max((k for k in m if not k.startswith(("bare", "count"))), key=lambda k: m[k])
    over = [k for k in m if not k.startswith(("bare", "count")) and m[k] > TARGET_SECONDS * 1000]
    lines.append(
        f"- Each report under {TARGET_SECONDS * 1000:.0f} ms on PostgreSQL: "
        + ("met" if not over else "NOT met for " + ", ".join(over))
        + f" (slowest: {slowest}, {m[slowest]:.1f} ms)."
    )
    for name, plans in info["plans"].items():
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS) of `{name}`:", ""]
        for plan in plans:
            lines += ["```", plan, "```", ""]
    return "\n".join(lines) + "\n"


def figures(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Each report's median per range, against the bare line join of that range, for
    ``python -m bench``'s summary."""
    from benchkit import figure

    medians = {name: _median(values) * 1000 for name, values in info["times"].items()}
    found = []
    for label in info["ranges"]:
        join = medians[f"bare line join, {label}"]
        for name, _, _ in REPORTS:
            value = medians[f"{name}, {label}"]
            found.append(figure(f"report ms: {name}, {label} (× bare line join)", value,
                                baseline=join, target=f"< {TARGET_SECONDS * 1000:.0f} ms",
                                met=value < TARGET_SECONDS * 1000))  # fmt: skip
    return found
