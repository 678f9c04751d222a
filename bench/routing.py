"""Routing and stock holds: how fast the engine plans, how fast stock is held.

Two measurements, each next to a baseline taken in the same run:

1. Plan time of the pure engine (``warehouse.routing``) for a 10-line order
   over the 4 seeded nodes and 12 lanes (the 7 seeded ones plus 5 variants),
   in three scenarios; the baseline is a naive planner that picks the first
   node holding every line, with no corridor checks, costs or reasons: the
   ratio is what the rules and the explanation cost.
2. Stock holds per second on PostgreSQL with 16 concurrent clients, each
   hold its own transaction through ``warehouse.services.reserve_stock``
   (conditional UPDATE + ledger row), for one hot SKU and for SKUs spread
   over 200 rows; the baseline is the bare conditional UPDATE sent with
   psycopg by the same 16 threads, without the ledger or SQLAlchemy.

    .venv/bin/python bench/routing.py [--plans 3000] [--holds 4000] [--clients 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog.money import ExchangeRateQuote, Money, RateTable  # noqa: E402
from warehouse import routing  # noqa: E402

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def seeded_world() -> tuple[tuple[routing.Node, ...], tuple[routing.Lane, ...], RateTable]:
    nodes_file = json.loads((ROOT / "warehouse/seed/nodes.json").read_text())
    nodes = tuple(routing.Node(n["code"], n["country"], n["priority"]) for n in nodes_file["nodes"])
    lanes_file = json.loads((ROOT / "warehouse/seed/lanes.json").read_text())
    lanes = [routing.Lane.from_json(lane) for lane in lanes_file["lanes"]]
    base = {lane.code: lane for lane in lanes}
    # Five variants (express services, an economy lane), to reach 12 lanes.
    for code, source, days in [
        ("RU-WH-RU-EXPRESS", "RU-WH-RU", (1, 3)),
        ("RU-USS-RU", "RU-WH-RU", (6, 14)),
        ("CN-SFH-CN-EXPRESS", "CN-SFH-CN", (1, 3)),
        ("CN-URC-CN-EXPRESS", "CN-URC-CN", (2, 4)),
        ("CN-URC-CA-ALASHANKOU", "CN-URC-CA", (7, 15)),
    ]:
        original = base[source]
        legs = tuple(
            replace(leg, transit_days_min=days[0], transit_days_max=days[1],
                    cost_base=leg.cost_base * 2)
            for leg in original.legs[:1]
        )  # fmt: skip
        node = "RU-USS" if code == "RU-USS-RU" else original.node
        lanes.append(replace(original, code=code, node=node, legs=legs))
    rates_file = json.loads((ROOT / "catalog/seed/rates.json").read_text())
    quotes = [
        ExchangeRateQuote(currency, "CNY", Decimal(rate), date(2026, 11, 1), "seed")
        for currency, rate in rates_file["rates"].items()
    ]
    return nodes, tuple(lanes), RateTable(quotes)


def order_lines() -> list[routing.OrderLine]:
    return [
        routing.OrderLine(
            index=i,
            sku=f"SKU-{i}",
            quantity=1 + i % 3,
            category="confectionery",
            hs_code="180632",
            weight_g=250,
            unit_value=Money(Decimal("30.00"), "CNY"),
        )
        for i in range(1, 11)
    ]


def naive_plan(request: routing.RoutingRequest) -> str | None:
    """The baseline: the first node (by priority) that holds every line."""
    for node in sorted(request.nodes, key=lambda n: n.priority):
        if all(
            request.stock.get((node.code, line.sku), 0) >= line.quantity for line in request.lines
        ):
            return node.code
    return None


def timed(call, repeats: int) -> list[float]:
    for _ in range(min(200, repeats)):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return samples


def bench_plans(repeats: int) -> list[tuple[str, int, float, float, float]]:
    nodes, lanes, rates = seeded_world()
    lines = order_lines()
    all_nodes = {(n.code, line.sku): 20 for n in nodes for line in lines}
    spread = {
        **{("CN-SFH", f"SKU-{i}"): 20 for i in range(1, 7)},
        **{("CN-URC", f"SKU-{i}"): 20 for i in range(5, 11)},
    }
    kazakh = {(n, line.sku): 20 for n in ("RU-WH", "CN-URC") for line in lines}
    strategy = routing.load_strategy("default")
    results = []
    for name, country, stock in [
        ("CN, every line at every node (1 shipment)", "CN", all_nodes),
        ("CN, lines spread over 2 depots (2 shipments)", "CN", spread),
        ("KZ, lines at RU-WH and CN-URC (1 shipment)", "KZ", kazakh),
    ]:
        request = routing.RoutingRequest(
            lines, routing.Destination(country), nodes, lanes, stock, NOW, rates
        )
        plan = strategy.plan(request)
        engine = timed(lambda request=request: strategy.plan(request), repeats)
        naive = timed(lambda request=request: naive_plan(request), repeats)
        results.append(
            (name, len(plan.shipments), statistics.median(engine),
             engine[int(len(engine) * 0.95)], statistics.median(naive))
        )  # fmt: skip
    return results


# ----------------------------------------------------------------- holds


def bench_holds(total: int, clients: int) -> list[tuple[str, float, float]]:
    from sqlalchemy import create_engine, text

    from orders.models import Order
    from shop.core.extensions import db
    from tests import factories as f
    from tests.conftest import PostgresDatabases, make_test_app
    from warehouse.services import Allocation, OnHandChange, reserve_stock, set_on_hand

    databases = PostgresDatabases("postgresql+psycopg://127.0.0.1:5432/postgres")
    url = databases.create("bench_holds")
    results = []
    try:
        app = make_test_app(
            url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": clients, "max_overflow": 0}
        )
        with app.app_context():
            db.create_all()
            f.rate("RUB", "CNY", "0.088")
            node = f.node("CN-SFH", ["CN"], country="CN")
            merchant, category = f.merchant(), f.category()
            skus = [(f"SKU-{i}", "10.00", "RUB", {}) for i in range(200)]
            product = f.product(merchant, category, "P", en="P", ru="П", skus=skus)
            sku_ids = [s.id for s in product.skus]
            set_on_hand(
                [OnHandChange(s, node.id, 10**7) for s in sku_ids], reason="receipt", actor="b"
            )
            order = Order(number="BENCH", status="pending_payment", currency="CNY",
                          destination_country="CN")  # fmt: skip
            db.session.add(order)
            db.session.commit()
            node_id, order_id = node.id, order.id

        def shop_hold(worker: int, n: int, hot: bool) -> None:
            with app.app_context():
                for i in range(n):
                    sku = sku_ids[0] if hot else sku_ids[(worker * 7919 + i) % len(sku_ids)]
                    reserve_stock([Allocation(sku, node_id, 1)], order_id=order_id, actor="b")
                    db.session.commit()
                db.session.remove()

        raw_engine = create_engine(url, pool_size=clients, max_overflow=0)

        def bare_hold(worker: int, n: int, hot: bool) -> None:
            with raw_engine.connect() as conn:
                for i in range(n):
                    sku = sku_ids[0] if hot else sku_ids[(worker * 7919 + i) % len(sku_ids)]
                    conn.execute(
                        text("UPDATE stock_levels SET reserved = reserved + 1 WHERE sku_id = :s "
                             "AND node_id = :n AND on_hand - reserved >= 1"),
                        {"s": sku, "n": node_id},
                    )  # fmt: skip
                    conn.commit()

        def run(target, hot: bool) -> float:
            per_client = total // clients
            threads = [
                threading.Thread(target=target, args=(w, per_client, hot)) for w in range(clients)
            ]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return per_client * clients / (time.perf_counter() - start)

        for label, hot in (("one hot SKU", True), ("200 SKUs", False)):
            run(shop_hold, hot)  # warm-up: pools and prepared statements
            shop = run(shop_hold, hot)
            bare = run(bare_hold, hot)
            results.append((label, shop, bare))
        raw_engine.dispose()
        with app.app_context():
            db.engine.dispose()
    finally:
        databases.drop_all()
    return results


def main(argv: list[str] | None = None) -> None:
    from benchkit import figure, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=3000, help="timed plans per scenario")
    parser.add_argument("--holds", type=int, default=4000, help="holds per measurement")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--skip-holds", action="store_true", help="no PostgreSQL part")
    args = parser.parse_args(argv)

    now = datetime.now(UTC)
    lines = [f"Run {now:%Y-%m-%d %H:%M} UTC.", ""]
    lines += ["| plan | shipments | engine p50 µs | engine p95 µs | naive p50 µs | × naive |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    figures = []
    for name, shipments, p50, p95, naive in bench_plans(args.plans):
        lines.append(
            f"| {name} | {shipments} | {p50:.0f} | {p95:.0f} | {naive:.1f} | {p50 / naive:.0f}× |"
        )
        figures.append(figure(f"routing plan p50 µs, {name} (naive planner)", p50,
                              baseline=naive, target="< 1,000 µs", met=p50 < 1000))  # fmt: skip
    lines.append("")
    lines.append("Target: engine p50 under 1 ms (1,000 µs).")
    if not args.skip_holds:
        lines += ["", f"| holds, {args.clients} clients | shop holds/s | bare UPDATE/s | ratio |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        for label, shop, bare in bench_holds(args.holds, args.clients):
            lines.append(f"| {label} | {shop:,.0f} | {bare:,.0f} | {shop / bare:.2f} |")
            figures.append(figure(f"stock holds/s, {label} (bare UPDATE)", shop, baseline=bare))
    report = "\n".join(lines) + "\n"
    print(report)
    write_report("routing", "bench/routing.py", argv, report, now, figures)


if __name__ == "__main__":
    main()
