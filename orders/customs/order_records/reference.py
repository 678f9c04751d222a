"""What every record is made against: China time and the CNY, the customs parameter
codes (dated data in ``rules/ceb_codes.json``), our XSD, the parties a record names,
and the window of China days an export covers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

CHINA_TIME = ZoneInfo("Asia/Shanghai")
CNY = "CNY"
ZERO = Decimal(0)
FEN = Decimal("0.01")
MAX_WINDOW_DAYS = 31


@dataclass(frozen=True)
class CebCodes:
    """China customs parameter codes (units, countries, currencies), as dated data."""

    version: str
    default_unit: str
    unit_by_category: dict[str, str]
    countries: dict[str, str]
    currencies: dict[str, str]

    def unit_for(self, category: str) -> str:
        return self.unit_by_category.get(category, self.default_unit)

    def country_for(self, iso_alpha2: str) -> str | None:
        return self.countries.get((iso_alpha2 or "").upper())

    def currency_for(self, iso_code: str) -> str:
        return self.currencies[iso_code]


@cache
def ceb_codes() -> CebCodes:
    raw = json.loads(
        resources.files("orders.customs").joinpath("rules/ceb_codes.json").read_text("utf-8")
    )
    return CebCodes(
        version=raw["version"],
        default_unit=raw["default_unit"],
        unit_by_category=dict(raw["unit_by_category"]),
        countries=dict(raw["countries"]),
        currencies=dict(raw["currencies"]),
    )


def schema_path():
    """Our XSD (it imports the extension's, beside it): for tests and brokers' tooling."""
    return resources.files("orders.customs").joinpath("schemas/ceb311.xsd")


@dataclass(frozen=True)
class CustomsParties:
    """Who the record names: the platform (电商平台) and the seller (电商企业)."""

    platform_code: str
    platform_name: str
    enterprise_code: str
    enterprise_name: str

    @classmethod
    def from_config(cls, config) -> CustomsParties:
        return cls(
            platform_code=(config.get("CUSTOMS_PLATFORM_CODE") or "").strip(),
            platform_name=(config.get("CUSTOMS_PLATFORM_NAME") or "").strip(),
            enterprise_code=(config.get("CUSTOMS_ENTERPRISE_CODE") or "").strip(),
            enterprise_name=(config.get("CUSTOMS_ENTERPRISE_NAME") or "").strip(),
        )

    def missing(self) -> list[str]:
        settings = {
            "PAVILION_CUSTOMS_PLATFORM_CODE": self.platform_code,
            "PAVILION_CUSTOMS_PLATFORM_NAME": self.platform_name,
            "PAVILION_CUSTOMS_ENTERPRISE_CODE": self.enterprise_code,
            "PAVILION_CUSTOMS_ENTERPRISE_NAME": self.enterprise_name,
        }
        return [name for name, value in settings.items() if not value]

    def as_json(self) -> dict[str, str]:
        return {
            "platform_code": self.platform_code,
            "platform_name": self.platform_name,
            "enterprise_code": self.enterprise_code,
            "enterprise_name": self.enterprise_name,
        }


# ------------------------------------------------------------------ the window


@dataclass(frozen=True)
class ExportWindow:
    """China days, first and last included."""

    first_day: date
    last_day: date

    def __post_init__(self):
        if self.last_day < self.first_day:
            raise ValueError("the window ends before it starts")

    @property
    def label(self) -> str:
        if self.first_day == self.last_day:
            return self.first_day.isoformat()
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: China midnight of the first day to that of the day after."""
        start = datetime.combine(self.first_day, time(0), tzinfo=CHINA_TIME)
        end = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=CHINA_TIME)
        return start.astimezone(UTC), end.astimezone(UTC)
