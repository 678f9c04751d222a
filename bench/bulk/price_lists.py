"""The CSV price lists a merchant uploads: ``--rows`` rows over the demo pavilion's
categories, and the same list with one price in ten changed."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from decimal import Decimal
from typing import Any

from bench_processes import ROOT

HEADER = (
    "sku", "product_code", "category", "name_en", "name_ru", "name_zh",
    "description_en", "description_ru", "description_zh", "origin_country", "hs_code",
    "weight_g", "shelf_life_days", "price", "currency", "stock",
)  # fmt: skip
NODES = ("RU-WH", "RU-USS", "CN-SFH", "CN-URC")
SKUS_PER_PRODUCT = 3
PRICE_CHANGE_EVERY = 10  # phase (c): one row in ten gets a new price


def _templates() -> list[dict[str, Any]]:
    """The demo pavilion's products: real names and descriptions in three languages."""
    data = json.loads((ROOT / "catalog" / "seed" / "pavilion.json").read_text(encoding="utf-8"))
    return data["products"]


def price_list(prefix: str, rows: int, seed: int = 20261124) -> list[list[str]]:
    """``rows`` CSV rows (no header) of SKUs coded ``<prefix>...``, three per product."""
    rng = random.Random(seed)
    templates = _templates()
    out: list[list[str]] = []
    for number in range(math.ceil(rows / SKUS_PER_PRODUCT)):
        template = templates[number % len(templates)]
        batch = number // len(templates) + 1
        product_code = f"{prefix}{template['code'][:32]}-{batch:03d}"
        name, description = template["name"], template["description"]
        first_sku = template["skus"][0]
        base_weight = max(int(first_sku["weight_g"]), 20)
        base_price = Decimal(rng.randrange(90, 2500))
        for size, (weight_factor, price_factor) in enumerate(
            ((1, Decimal(1)), (2, Decimal("1.85")), (5, Decimal("4.2")))[:SKUS_PER_PRODUCT]
        ):
            if len(out) == rows:
                break
            weight = base_weight * weight_factor
            stock_nodes = sorted(rng.sample(NODES, rng.randint(1, 3)))
            out.append(
                [
                    f"{product_code}-{size + 1}",
                    product_code,
                    template["category"],
                    f"{name['en']}, batch {batch}",
                    f"{name['ru']}, партия {batch}",
                    f"{name['zh']}（第{batch}批）",
                    description["en"],
                    description["ru"],
                    description["zh"],
                    template["origin_country"],
                    template["hs_code"],
                    str(weight),
                    str(first_sku["shelf_life_days"]),
                    f"{(base_price * price_factor).quantize(Decimal(1))}.00",
                    "RUB",
                    ";".join(f"{node}:{rng.choice((0, 12, 40, 120, 300))}" for node in stock_nodes),
                ]
            )
    return out


def with_new_prices(rows: list[list[str]], every: int = PRICE_CHANGE_EVERY) -> list[list[str]]:
    """A copy of the rows where every ``every``-th row costs 7 % more."""
    price = HEADER.index("price")
    changed = []
    for index, row in enumerate(rows):
        if index % every == 0:
            row = list(row)
            row[price] = f"{(Decimal(row[price]) * Decimal('1.07')).quantize(Decimal('0.01'))}"
        changed.append(row)
    return changed


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")  # what spreadsheets write
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
