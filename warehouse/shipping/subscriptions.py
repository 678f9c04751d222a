"""Operators' side of CDEK's webhook subscriptions (``flask carriers cdek ...``): list
them, subscribe the shop's URL to ORDER_STATUS once, remove one. Each change is
audited (``carrier.webhook.subscribe`` / ``carrier.webhook.remove``) once CDEK has
made it; the carrier is called with no transaction open.

Subscribing is idempotent: the subscriptions are listed first and nothing is sent
when one of type ORDER_STATUS already points at the URL. CDEK keeps one
subscription per type, so subscribing replaces an ORDER_STATUS one pointing
elsewhere (its url changes); the audit entry keeps what it pointed at before.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from shop.core import audit
from shop.core.auth import StaffPrincipal
from shop.core.errors import ValidationFailed
from shop.core.extensions import db
from warehouse.shipping.adapters import carrier, outside_transaction

ORDER_STATUS = "ORDER_STATUS"


def _cdek():
    adapter = carrier("cdek")
    if not hasattr(adapter, "list_subscriptions"):
        raise ValidationFailed(errors={"carrier": ["The cdek carrier manages no webhooks."]})
    return adapter


def list_subscriptions() -> list[dict[str, Any]]:
    """Every webhook subscription CDEK holds for the account."""
    return [asdict(row) for row in outside_transaction(_cdek().list_subscriptions)]


def subscribe(url: str, actor: StaffPrincipal | str) -> dict[str, Any]:
    """An ORDER_STATUS subscription to ``url``: created only when none points there.
    Returns ``{"created": bool, "subscription": {...}, "replaced": {...} | None}``."""
    if not url or not url.startswith(("https://", "http://")):
        raise ValidationFailed(errors={"url": ["The shop's public URL of its CDEK webhook."]})
    adapter = _cdek()
    existing = outside_transaction(adapter.list_subscriptions)
    for row in existing:
        if row.type == ORDER_STATUS and row.url == url:
            return {"created": False, "subscription": asdict(row), "replaced": None}
    replaced = next((asdict(row) for row in existing if row.type == ORDER_STATUS), None)
    uuid = outside_transaction(adapter.subscribe, url, ORDER_STATUS)
    made = {"uuid": uuid, "type": ORDER_STATUS, "url": url}
    audit.record(actor, "carrier.webhook.subscribe", "carrier", "cdek", before=replaced,
                 after=made)  # fmt: skip
    db.session.commit()
    return {"created": True, "subscription": made, "replaced": replaced}


def remove_subscription(uuid: str, actor: StaffPrincipal | str) -> bool:
    """Remove subscription ``uuid``; whether CDEK had it (audited only then)."""
    adapter = _cdek()
    before = next(
        (
            asdict(row)
            for row in outside_transaction(adapter.list_subscriptions)
            if row.uuid == uuid
        ),
        None,
    )
    removed = outside_transaction(adapter.unsubscribe, uuid)
    if removed:
        audit.record(actor, "carrier.webhook.remove", "carrier", "cdek",
                     before=before or {"uuid": uuid}, after=None)  # fmt: skip
        db.session.commit()
    return removed
