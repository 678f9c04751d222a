"""CDEK's webhook subscriptions (api-docs.cdek.ru/33828888.html): list them, add one,
remove one. Not part of the carrier port: only the ``carriers cdek`` CLI uses them.

CDEK keeps one subscription per event type: adding ORDER_STATUS again with another
url replaces the url of the one it has ("If the client already has a subscription
with the specified type, the previous url will be changed to a new one").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from warehouse.carriers.base import CarrierError, CarrierRejected
from warehouse.carriers.cdek.answers import create_request_state, error_strings, is_not_found
from warehouse.carriers.cdek.client import CdekClient

WEBHOOK_TYPES = ("ORDER_STATUS", "PRINT_FORM", "DOWNLOAD_PHOTO", "PREALERT_CLOSED")


@dataclass(frozen=True)
class Subscription:
    uuid: str
    type: str
    url: str


class CdekSubscriptions:
    """``/v2/webhooks`` over the adapter's client."""

    client: CdekClient

    def list_subscriptions(self) -> list[Subscription]:
        """``GET /v2/webhooks``: every subscription of the account."""
        response = self.client.call("GET", "/v2/webhooks")
        body = self.client.body(response)
        if response.status_code >= 400:
            self.client.json_or_raise(response, "webhook list")
        rows = body if isinstance(body, list) else (body.get("entity") or [])
        if isinstance(rows, Mapping):
            rows = [rows]
        return [
            Subscription(str(row["uuid"]), str(row.get("type", "")), str(row.get("url", "")))
            for row in rows
            if isinstance(row, Mapping) and row.get("uuid")
        ]

    def subscribe(self, url: str, event_type: str = "ORDER_STATUS") -> str:
        """``POST /v2/webhooks``; the subscription's uuid."""
        if event_type not in WEBHOOK_TYPES:
            raise ValueError(f"a CDEK webhook type is one of {WEBHOOK_TYPES}")
        response = self.client.call("POST", "/v2/webhooks", json={"url": url, "type": event_type})
        body = self.client.json_or_raise(response, "webhook subscription")
        uuid = (body.get("entity") or {}).get("uuid")
        if create_request_state(body) == "INVALID" or not uuid:
            raise CarrierRejected(
                "CDEK refused the webhook subscription", errors=error_strings(body) or ("INVALID",)
            )
        return str(uuid)

    def unsubscribe(self, uuid: str) -> bool:
        """``DELETE /v2/webhooks/{uuid}``; whether CDEK had it."""
        response = self.client.call("DELETE", f"/v2/webhooks/{uuid}")
        body = self.client.body(response)
        if is_not_found(response.status_code, body):
            return False
        body = self.client.json_or_raise(response, "webhook removal")
        if create_request_state(body) == "INVALID":
            raise CarrierError(f"CDEK refused to remove the webhook: {error_strings(body)}")
        return True
