"""The three uploads of the benchmark and what the shop must answer to each: every
row created, then unchanged, then one in ten updated."""

from __future__ import annotations

import json
import math

from bulk.price_lists import PRICE_CHANGE_EVERY

PHASES = (
    ("a", "(a) first upload: every row created"),
    ("b", "(b) same file again: every row unchanged"),
    ("c", "(c) 1 row in 10 with a new price: updated"),
)


def expected_counts(phase: str, rows: int) -> dict[str, int]:
    changed = math.ceil(rows / PRICE_CHANGE_EVERY)
    created, updated, unchanged = {
        "a": (rows, 0, 0),
        "b": (0, 0, rows),
        "c": (0, changed, rows - changed),
    }[phase]
    return {"rows": rows, "created": created, "updated": updated, "unchanged": unchanged,
            "failed": 0}  # fmt: skip


def check_report(what: str, status: int, document: dict, expected: dict[str, int]) -> None:
    counts = document.get("counts", {})
    got = {key: counts.get(key) for key in expected}
    if status != 200 or got != expected:
        detail = json.dumps(document, ensure_ascii=False)[:3000]
        raise RuntimeError(f"{what}: HTTP {status}, counts {got}, expected {expected}\n{detail}")
