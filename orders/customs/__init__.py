"""Customs policy: duties and import taxes by destination, and China's
real-name identity rules. Rules are dated data in ``rules/*.json``;
``policies`` and ``duties`` are pure, and ``in_force`` lays the rule sets
operators added in the database over the shipped ones."""

from orders.customs.duties import (
    CustomsLimitExceeded,
    DutiableLine,
    DutyAssessment,
    LineAssessment,
    Parcel,
    ParcelAssessment,
)
from orders.customs.in_force import assess_duties, policy_for, requires_customs_identity
from orders.customs.prc_id import InvalidIdNumber, hash_id, mask_id, validate_prc_id

__all__ = [
    "CustomsLimitExceeded",
    "DutiableLine",
    "DutyAssessment",
    "InvalidIdNumber",
    "LineAssessment",
    "Parcel",
    "ParcelAssessment",
    "assess_duties",
    "hash_id",
    "mask_id",
    "policy_for",
    "requires_customs_identity",
    "validate_prc_id",
]
