"""The operator's export, the use case: read, build every record that reconciles, hold
back those that do not, make the XML on demand, and audit what was exported."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app

from orders.customs import id_vault
from orders.customs.order_records.build import build_record
from orders.customs.order_records.ceb311_xml import to_ceb311_xml
from orders.customs.order_records.load import load_order_facts
from orders.customs.order_records.records import OrderRecord, Unreconciled, money_text
from orders.customs.order_records.reference import (
    CHINA_TIME,
    CNY,
    ZERO,
    CustomsParties,
    ExportWindow,
    ceb_codes,
)
from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import DomainError, register_problem_types
from shop.core.extensions import db

register_problem_types(
    {
        "customs_codes_not_configured": (
            "The platform's or the seller's customs codes are not set, so no valid order "
            "message can be made; `missing` names the settings."
        )
    }
)


class CustomsCodesNotConfigured(DomainError):
    status = 409
    code = "customs_codes_not_configured"
    title = "Customs codes not configured"


@dataclass
class CustomsExport:
    window: ExportWindow
    parties: CustomsParties
    generated_at: datetime
    records: list[OrderRecord] = field(default_factory=list)
    problems: list[Unreconciled] = field(default_factory=list)
    xml: bytes | None = None  # made on demand: it needs the customs codes configured

    def as_json(self) -> dict[str, Any]:
        return {
            "format": "customs-order-records/1",
            "message_type": "CEB311-style (validated against our own schema, not certified)",
            "window": {
                "from": self.window.first_day.isoformat(),
                "to": self.window.last_day.isoformat(),
                "timezone": str(CHINA_TIME),
                "by": "the China day the order's first parcel was handed to the carrier",
            },
            "generated_at": iso_utc(self.generated_at),
            "parties": self.parties.as_json(),
            "missing_settings": self.parties.missing(),
            "codes_version": ceb_codes().version,
            "records": [record.as_json() for record in self.records],
            "problems": [problem.as_json() for problem in self.problems],
            "totals": {
                "orders": len(self.records),
                "actual_paid": money_text(sum((r.actual_paid for r in self.records), ZERO)),
                "currency": CNY,
            },
        }

    def summary_json(self) -> dict[str, Any]:
        """For the admin page: masked IDs only."""
        return {
            "window": self.as_json()["window"],
            "records": [record.summary_json() for record in self.records],
            "problems": [problem.as_json() for problem in self.problems],
        }

    def to_xml(self) -> bytes:
        missing = self.parties.missing()
        if missing:
            raise CustomsCodesNotConfigured(
                "Set " + ", ".join(missing) + " to the codes customs registered for the "
                "platform and the seller; the XML message cannot be made without them.",
                missing=missing,
            )
        return to_ceb311_xml(self.records, self.parties, self.window,
                             generated_at=self.generated_at)  # fmt: skip


def build_export(window: ExportWindow, *, reveal_id_numbers: bool) -> CustomsExport:
    """Read and build; nothing written. ``reveal_id_numbers`` decrypts the full IDs."""
    config = current_app.config
    export = CustomsExport(
        window=window, parties=CustomsParties.from_config(config), generated_at=utcnow()
    )
    decrypt = id_vault.decrypt_id if reveal_id_numbers else None
    codes = ceb_codes()
    for facts in load_order_facts(window):
        try:
            export.records.append(build_record(facts, codes, decrypt))
        except Unreconciled as problem:
            export.problems.append(problem)
    return export


def export_order_records(actor: StaffPrincipal, window: ExportWindow, output: str) -> CustomsExport:
    """The operator's export (``output``: json or xml): built, audited and committed.

    The audit entry names the window, the orders exported and those held back, and
    the format, never an ID number. The XML is made before the audit is written, so
    an export that could not be produced is not recorded as one.
    """
    if output not in ("json", "xml"):
        raise ValueError(f"unknown output {output!r}")
    export = build_export(window, reveal_id_numbers=True)
    if output == "xml":
        export.xml = export.to_xml()
    audit.record(
        actor,
        "customs.export",
        "customs_orders",
        window.label,
        after={
            "orders": [record.order_no for record in export.records],
            "held_back": [problem.order_no for problem in export.problems],
            "format": output,
            "masked_only": [r.order_no for r in export.records if not r.id_number_available],
        },
    )
    db.session.commit()
    return export
