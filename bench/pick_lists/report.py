"""The pick-list benchmark's report and the figures ``python -m bench`` summarises."""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from benchkit import figure

from pick_lists.world import NODE

TARGET_SECONDS = 1.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}" if values else "–"


def render_report(args: argparse.Namespace, world: dict[str, Any], info: dict[str, Any],
                  context: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:  # fmt: skip
    times, first, counts = info["times"], info["first"], info["counts"]
    sizes = info["sizes"]
    big_n = sizes[-1]
    pdf_doc, long_doc = info["pdf doc"], info["long doc"]
    m = {name: _median(values) for name, values in times.items()}

    def row(label: str, name: str, base: str | None, extra: str = "", statements: str = "–") -> str:
        ratio = f"**{m[name] / m[base]:.1f}×**" if base else "1.0×"
        return (
            f"| {label} | {m[name]:.3f} | {_spread(times[name])} | {ratio} "
            f"| {first.get(name, float('nan')):.3f} | {statements} | {extra} |"
        )

    lines = [
        f"Run {context['date']} ({context['code']}) on {context['machine']}; PostgreSQL "
        f"{context['postgres']}; ReportLab {context['reportlab']}; 1-min load average before "
        f"the run {context['loadavg']}. {args.rounds} round(s), medians, after one warm-up "
        "call of each (first-call column).",
        "",
        f"World: {world['shipments']:,} `ready_to_pick` shipments at {NODE}, "
        f"{world['lines']:,} held lines, {world['units']:,} units, over {world['skus']} SKUs "
        f"({world['skus_with_bins']} with {world['bins']} bins); ledger consistent "
        f"({world['movements']:,} movements written, no stock level off its ledger).",
        "",
        "| target | median s | min–max s | × baseline | first call s | SQL statements | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for n in sizes:
        shipment_count, line_count, units = info[f"list {n}"]
        lines.append(
            row(
                f"`create_pick_list(max_shipments={n})`",
                f"create {n}",
                f"bare {n}",
                f"{shipment_count} shipments → {line_count} pick lines, {units} units; "
                "includes the document it returns",
                str(len(counts[f"create {n}"])),
            )
        )
        lines.append(
            row(
                f"baseline: bare SELECT of the same {n} shipments' lines",
                f"bare {n}",
                None,
                f"{info[f'bare rows {n}']:,} rows",
                "1",
            )
        )
    lines += [
        row(
            f"`pick_list_pdf` of the {big_n}-shipment list ({args.lang})",
            "pdf",
            "plain",
            f"{len(pdf_doc.lines)} lines, {pdf_doc.shipment_count} shipments; "
            f"{len(info['pdf']):,} bytes; {info['pdf check']}",
            str(len(counts["pdf"])),
        ),
        row("  of which `render_pick_list_pdf`", "render", "plain"),
        row(
            "baseline: plain-text PDF of the same rows (canvas, same font, no barcodes)",
            "plain",
            None,
            f"{info['plain bytes']:,} bytes",
        ),
        row(
            f"`render_pick_list_pdf`, {len(long_doc.lines):,}-line list ({args.lang})",
            "render long",
            "plain long",
            f"{long_doc.shipment_count} shipments; {len(info['long pdf']):,} bytes; "
            f"{info['long check']}",
        ),
        row(
            "baseline: plain-text PDF of the same 2,500 rows",
            "plain long",
            None,
            f"{info['plain long bytes']:,} bytes",
        ),
        "",
    ]
    create_counts = {n: len(counts[f"create {n}"]) for n in sizes}
    constant = len(set(create_counts.values())) == 1
    verdicts = [
        (f"`create_pick_list` of {big_n} shipments < {TARGET_SECONDS:g} s",
         m[f"create {big_n}"]),
        (f"PDF of the {big_n}-shipment list (`pick_list_pdf`) < {TARGET_SECONDS:g} s", m["pdf"]),
        (f"`render_pick_list_pdf` of {len(long_doc.lines):,} lines < {TARGET_SECONDS:g} s",
         m["render long"]),
    ]  # fmt: skip
    for label, value in verdicts:
        lines.append(f"- {label}: {value:.3f} s: {'met' if value < TARGET_SECONDS else 'NOT met'}")
    lines.append(
        "- SQL statements of `create_pick_list` constant in the number of shipments: "
        + ", ".join(f"{n} shipments {c}" for n, c in create_counts.items())
        + (": met" if constant else ": NOT met")
    )
    for name, statements in counts.items():
        lines += ["", f"Statements of `{name}`:", ""]
        lines += [f"{i}. `{' '.join(s.split())[:160]}`" for i, s in enumerate(statements, 1)]
    profiled = (
        ("profile create", f"create_pick_list({big_n})"),
        ("profile render", f"render_pick_list_pdf, {len(long_doc.lines)} lines"),
    )
    for key, title in profiled:
        if key in info:
            lines += ["", f"cProfile of {title} (cumulative):", "", "```", info[key], "```"]
    bases = (f"bare {big_n}", "plain", "plain long")
    figures = [
        figure(f"{label.split(' < ')[0]} (s)", value, baseline=m[base],
               target=f"< {TARGET_SECONDS:g} s", met=value < TARGET_SECONDS)
        for (label, value), base in zip(verdicts, bases, strict=True)
    ]  # fmt: skip
    figures.append(
        figure("SQL statements of `create_pick_list`, most", max(create_counts.values()),
               target="constant in shipments", met=constant)
    )  # fmt: skip
    return "\n".join(lines) + "\n", figures
