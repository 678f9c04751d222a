"""Customs policy: duties and import taxes by destination, and China's
real-name identity rules. Pure: rules are dated data in ``rules/*.json``;
no database, no Flask request context."""

from orders.customs.duties import (
    CustomsLimitExceeded,
    DutiableLine,
    DutyAssessment,
    LineAssessment,
    Parcel,
    ParcelAssessment,
    assess_duties,
)
from orders.customs.policies import policy_for, requires_customs_identity
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
