"""The reports measured: each by its name, the service function and arguments that
make it, whether it reports money, and its path under the admin API."""

from __future__ import annotations

from typing import Any

REPORTS: list[tuple[str, str, dict[str, Any]]] = [
    ("sales by day", "sales_report", {"by": "day"}),
    ("sales by category", "sales_report", {"by": "category"}),
    ("sales by origin", "sales_report", {"by": "origin"}),
    ("sales by destination", "sales_report", {"by": "destination"}),
    ("sales by node", "sales_report", {"by": "node"}),
    ("duties by regime", "duties_report", {}),
    ("orders by state", "orders_by_state_report", {}),
    ("fulfilment time", "fulfilment_time_report", {}),
    ("stock cover", "stock_cover_report", {}),
    ("top SKUs", "skus_report", {"kind": "top", "limit": 10}),
    ("slow SKUs", "skus_report", {"kind": "slow", "limit": 10}),
]
MONEY_REPORTS = {"sales_report", "duties_report", "orders_by_state_report", "skus_report"}
API_PATHS = {
    "sales by day": "/sales?by=day",
    "sales by category": "/sales?by=category",
    "sales by origin": "/sales?by=origin",
    "sales by destination": "/sales?by=destination",
    "sales by node": "/sales?by=node",
    "duties by regime": "/duties",
    "orders by state": "/orders-by-state",
    "fulfilment time": "/fulfilment-time",
    "stock cover": "/stock-cover",
    "top SKUs": "/skus?kind=top",
    "slow SKUs": "/skus?kind=slow",
}
