"""Reports for operators: what sold, what customs took, how fast nodes ship, what stock
lasts. Each report is one or a few SQL aggregates (GROUP BY in the database, never
every order loaded into Python) over a date range, returned as plain JSON-ready dicts.

Definitions a manager can rely on:

- The range is of calendar days in UTC, both ends included, on the day an order was
  placed (``orders.created_at``); the fulfilment report uses the day a parcel left.
- An order *sold* once its money came in: ``PAID_STATUSES``, ``partially_refunded`` and
  ``refunded``. Cancelled, expired and unpaid orders are not sales (see "orders by state").
- Sales are goods only (quantity x unit price of each line, in the order's currency),
  without shipping or duties; duties have their own report.
- Sales and duties are net of refunds (``refunds``): a sale counts on the day its order
  was placed, a refund on the day it was made, so a closed period never changes because
  of a later refund (a day may give back more than it sold). Every refund counts but a
  failed one, and a cancelled order's: it never sold. Each refund is split between the
  goods, shipping and duties its order charged, pro rata, in whole minor units, and an
  order refunded in pieces gives back exactly what it charged for each part. Units stay
  sold: a refund of money takes none back.
- Money is summed per currency in SQL and converted to the asked currency in Python
  with one rate table (today's, unless the caller passes another), at full precision,
  rounded once per figure shown; the rates used are listed with every report. Orders
  keep the rates they were priced with; a report compares periods at one set of rates.

The modules: ``definitions`` (what is counted, the period, pure arithmetic), ``queries``
(what every query shares), ``refunds`` (refunds counted and split), ``money`` (sales,
duties), ``fulfilment`` (orders by state,
shipping times), ``stock`` (stock cover, best and worst SKUs).
"""

from orders.reports.definitions import (
    DEAD_SHIPMENT_STATUSES,
    DEFAULT_CURRENCY,
    DEFAULT_DAYS,
    MAX_DAYS,
    REGIME_LABELS,
    SALES_GROUPINGS,
    SKU_LISTS,
    SOLD_STATUSES,
    Converter,
    ReportRange,
    check_currency,
    daily_average,
    days_of_cover,
    report_range,
    to_csv,
)
from orders.reports.fulfilment import (
    fulfilment_time_report,
    orders_by_state_report,
)
from orders.reports.money import (
    duties_report,
    sales_report,
)
from orders.reports.queries import (
    REPORT_WORK_MEM,
    day_of,
    seconds_between,
)
from orders.reports.stock import (
    skus_report,
    stock_cover_report,
)

__all__ = [
    "DEAD_SHIPMENT_STATUSES",
    "DEFAULT_CURRENCY",
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "REGIME_LABELS",
    "REPORT_WORK_MEM",
    "SALES_GROUPINGS",
    "SKU_LISTS",
    "SOLD_STATUSES",
    "Converter",
    "ReportRange",
    "check_currency",
    "daily_average",
    "day_of",
    "days_of_cover",
    "duties_report",
    "fulfilment_time_report",
    "orders_by_state_report",
    "report_range",
    "sales_report",
    "seconds_between",
    "skus_report",
    "stock_cover_report",
    "to_csv",
]
