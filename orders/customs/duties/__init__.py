"""Duties and import taxes of an order: a pure policy over dated rule data.

``assess.assess_duties_under`` takes the parcels after routing and the rule set in
force (``orders.customs.in_force`` finds it) and returns an ``assessment.DutyAssessment``
whose ``as_json()`` is stored on the order: the rule set's
version and figures, the exchange rates, and every intermediate value per
parcel and line, so that an operator can explain a charge a year later.

Money is Decimal throughout. Figures are computed at full precision in the
regime's base currency (CNY for China, EUR for the EAEU), converted to the
order currency and rounded half up once per parcel; the order's amount is the
sum of the rounded parcel amounts, so parcels and order always add up.

A destination without rules is ``status="unknown"`` with no amount, never a
zero: the shopper is told that duties may be collected on delivery.

The sums of each regime are in ``china`` (CBEC) and ``eaeu``; ``pro_rata`` splits an
amount over lines, and ``rates_used`` converts and records the rates for the record.
"""

from orders.customs.duties.assess import assess_duties_under
from orders.customs.duties.assessment import (
    JSON_FORMAT,
    UNKNOWN_NOTICE,
    ZERO,
    CustomsLimitExceeded,
    DutiableLine,
    DutyAssessment,
    LineAssessment,
    Parcel,
    ParcelAssessment,
)
from orders.customs.duties.pro_rata import allocate_pro_rata

__all__ = [
    "JSON_FORMAT",
    "UNKNOWN_NOTICE",
    "ZERO",
    "CustomsLimitExceeded",
    "DutiableLine",
    "DutyAssessment",
    "LineAssessment",
    "Parcel",
    "ParcelAssessment",
    "allocate_pro_rata",
    "assess_duties_under",
]
