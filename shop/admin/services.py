"""Operators' use cases: merchants, staff, nodes, bins and lanes, customs policy rows.

Each public function is one transaction and writes its audit entry (who, what,
the state before and after) in that same transaction, so there is never a change
without its entry. Audit entries and answers never hold a secret: tokens and
passwords are returned once to the caller and only their hashes are stored.
No Flask request objects here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from catalog.models import Merchant, Product, Sku
from catalog.money import is_currency_code
from orders.customs import policy_rows
from orders.customs.policies import KIND_OF_POLICY, Policy, merge_rule_sets, shipped_rule_sets
from shop.core import audit
from shop.core.audit import AuditEntry
from shop.core.auth import (
    ApiToken,
    StaffPrincipal,
    hash_password,
    hash_token,
    issue_token,
    new_password,
)
from shop.core.clock import iso_utc, utcnow
from shop.core.errors import Conflict, NotFound, ValidationFailed
from shop.core.extensions import db
from warehouse.models import Lane, LaneLeg, Node, PickList, PickListLine, Staff, StockBin
from warehouse.services import ROLES, LaneChange, lane_document, list_lanes, update_lane

MAX_PER_PAGE = 200
EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
BIN_SHAPE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")


def _in_transaction(work: Callable[[], Any]) -> Any:
    """Run ``work`` and commit; roll back and re-raise on any failure."""
    try:
        result = work()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return result


def _page(query, to_json: Callable[[Any], dict[str, Any]], page: int, per_page: int):
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {
        "items": [to_json(row) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": -(-total // per_page),
    }


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def overview_counts() -> dict[str, Any]:
    """What the admin home shows: how many of each thing there are."""
    return {
        "merchants": _count(Merchant),
        "merchants_suspended": _count(Merchant, Merchant.is_active.is_(False)),
        "staff": _count(Staff),
        "staff_disabled": _count(Staff, Staff.is_active.is_(False)),
        "nodes": _count(Node),
        "lanes": _count(Lane),
        "policy_rows": _count(policy_rows.CustomsPolicyRow),
        "audit_entries": _count(AuditEntry),
    }


# ------------------------------------------------------------------ merchants


def merchant_json(merchant: Merchant) -> dict[str, Any]:
    """A merchant as operators see it (and as the audit records it)."""
    return {
        "id": merchant.id,
        "name": merchant.name,
        "country": merchant.country,
        "currency": merchant.currency,
        "status": "active" if merchant.is_active else "suspended",
        "is_demo": merchant.is_demo,
        "created_at": iso_utc(merchant.created_at),
    }


def _merchant_listing_json(merchant: Merchant) -> dict[str, Any]:
    return {
        **merchant_json(merchant),
        "products": _count(Product, Product.merchant_id == merchant.id),
        "active_tokens": _count(
            ApiToken, ApiToken.merchant_id == merchant.id, ApiToken.revoked_at.is_(None)
        ),
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    """A token as an operator may see it: never the token itself."""
    return {
        "id": token.id,
        "prefix": token.display_prefix,
        "label": token.label,
        "created_at": iso_utc(token.created_at),
        "last_used_at": iso_utc(token.last_used_at) if token.last_used_at else None,
        "revoked_at": iso_utc(token.revoked_at) if token.revoked_at else None,
    }


def _token_row(token: str) -> ApiToken:
    db.session.flush()
    return db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).one()


def list_merchants(
    *, page: int = 1, per_page: int = 50, status: str | None = None, q: str | None = None
) -> dict[str, Any]:
    """Merchants by name, optionally only ``active`` or ``suspended`` ones or matching ``q``."""
    query = select(Merchant).order_by(Merchant.name, Merchant.id)
    if status:
        query = query.where(Merchant.is_active.is_(status == "active"))
    if q:
        query = query.where(func.lower(Merchant.name).contains(q.strip().lower(), autoescape=True))
    return _page(query, _merchant_listing_json, page, per_page)


def _merchant(merchant_id: int) -> Merchant:
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound(f"No merchant {merchant_id}.")
    return merchant


def get_merchant(merchant_id: int) -> dict[str, Any]:
    """A merchant with its tokens (prefixes only) and counts."""
    merchant = _merchant(merchant_id)
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.merchant_id == merchant_id).order_by(ApiToken.id)
    )
    return {**_merchant_listing_json(merchant), "tokens": [token_json(t) for t in tokens]}


def _default_currency(country: str) -> str | None:
    # The currency the country's shops price in (CLDR through Babel, not a hand table).
    from babel.numbers import get_territory_currencies

    found = get_territory_currencies(country, start_date=datetime.now(UTC).date(), tender=True)
    return found[0] if found else None


@dataclass(frozen=True)
class Issued:
    """Something made with a secret the caller sees once (a token, a password)."""

    document: dict[str, Any]
    token: str | None = None
    password: str | None = None


def create_merchant(
    operator: StaffPrincipal,
    name: str,
    country: str,
    currency: str | None = None,
    *,
    with_token: bool = True,
) -> Issued:
    """Onboard a merchant; with a first API token (shown once) unless told not to."""
    from shop.core.i18n import country_codes

    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = ["A name of 1 to 200 characters is required."]
    country = (country or "").strip().upper()
    if country not in country_codes():
        errors["country"] = [f"{country!r} is not an ISO 3166-1 alpha-2 country code."]
    elif not currency:
        currency = _default_currency(country)
    currency = (currency or "").strip().upper()
    if "country" not in errors and not is_currency_code(currency):
        errors["currency"] = [f"{currency!r} is not an ISO 4217 currency code."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> Issued:
        merchant = Merchant(name=name, country=country, currency=currency, is_active=True)
        db.session.add(merchant)
        db.session.flush()
        token = issue_token(merchant_id=merchant.id, label="admin") if with_token else None
        audit.record(
            operator, "merchant.create", "merchant", merchant.id, after=merchant_json(merchant)
        )
        return Issued(merchant_json(merchant), token=token)

    return _in_transaction(work)


def set_merchant_active(
    operator: StaffPrincipal, merchant_id: int, active: bool, reason: str = ""
) -> dict[str, Any]:
    """Suspend or reactivate a merchant.

    Suspended: its tokens are refused (shop.core.auth) and its products leave the
    storefront and the catalog API (catalog.services reads only active merchants);
    orders already placed are not touched and ship or cancel as usual. Asking for
    the state a merchant is already in changes nothing and audits nothing.
    """

    def work() -> dict[str, Any]:
        merchant = db.session.scalar(
            select(Merchant).where(Merchant.id == merchant_id).with_for_update()
        )
        if merchant is None:
            raise NotFound(f"No merchant {merchant_id}.")
        if merchant.is_active == active:
            return merchant_json(merchant)
        before = merchant_json(merchant)
        merchant.is_active = active
        after = merchant_json(merchant)
        if reason:
            after["reason"] = reason[:500]
        action = "merchant.reactivate" if active else "merchant.suspend"
        audit.record(operator, action, "merchant", merchant.id, before=before, after=after)
        return merchant_json(merchant)

    return _in_transaction(work)


def issue_merchant_token(operator: StaffPrincipal, merchant_id: int, label: str = "") -> Issued:
    """Another API token for a merchant (shown once; several may be active)."""

    def work() -> Issued:
        _merchant(merchant_id)
        token = issue_token(merchant_id=merchant_id, label=(label or "admin")[:80])
        document = token_json(_token_row(token))
        audit.record(operator, "merchant.token.issue", "merchant", merchant_id, after=document)
        return Issued(document, token=token)

    return _in_transaction(work)


def revoke_merchant_token(operator: StaffPrincipal, merchant_id: int, token_id: int):
    """Revoke one of a merchant's tokens; it is refused from the next request on."""

    def work() -> dict[str, Any]:
        _merchant(merchant_id)
        token = db.session.scalar(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.merchant_id == merchant_id)
        )
        if token is None:
            raise NotFound(f"Merchant {merchant_id} has no token {token_id}.")
        if token.revoked_at is not None:
            return token_json(token)
        before = token_json(token)
        token.revoked_at = utcnow()
        after = token_json(token)
        audit.record(
            operator, "merchant.token.revoke", "merchant", merchant_id, before=before, after=after
        )
        return after

    return _in_transaction(work)


# ------------------------------------------------------------------ staff


def staff_json(staff: Staff) -> dict[str, Any]:
    """A staff member as operators see them (never the password hash)."""
    return {
        "id": staff.id,
        "email": staff.email,
        "node": staff.node.code if staff.node else None,
        "role": staff.role,
        "is_active": staff.is_active,
        "is_demo": staff.is_demo,
        "created_at": iso_utc(staff.created_at),
    }


def _staff_listing_json(staff: Staff) -> dict[str, Any]:
    return {
        **staff_json(staff),
        "active_tokens": _count(
            ApiToken, ApiToken.staff_id == staff.id, ApiToken.revoked_at.is_(None)
        ),
    }


def list_staff(
    *,
    page: int = 1,
    per_page: int = 50,
    node: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """Staff by e-mail, filtered by node code, role and whether active."""
    query = select(Staff).order_by(Staff.email)
    if node:
        query = query.join(Node, Node.id == Staff.node_id).where(Node.code == node.upper())
    if role:
        query = query.where(Staff.role == role)
    if active is not None:
        query = query.where(Staff.is_active.is_(active))
    return _page(query, _staff_listing_json, page, per_page)


def _staff(staff_id: int) -> Staff:
    staff = db.session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"No staff member {staff_id}.")
    return staff


def get_staff(staff_id: int) -> dict[str, Any]:
    staff = _staff(staff_id)
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.staff_id == staff_id).order_by(ApiToken.id)
    )
    return {**_staff_listing_json(staff), "tokens": [token_json(t) for t in tokens]}


def _node_by_code(code: str, errors: dict[str, list[str]], field: str = "node") -> Node | None:
    node = db.session.scalar(select(Node).where(Node.code == code.strip().upper()))
    if node is None:
        known = ", ".join(db.session.scalars(select(Node.code).order_by(Node.code))) or "none yet"
        errors[field] = [f"No node {code!r} (known: {known})."]
    return node


def create_staff(
    operator: StaffPrincipal,
    email: str,
    node_code: str | None,
    role: str = "picker",
    *,
    with_token: bool = False,
) -> Issued:
    """Add a staff member with a one-time password (and an API token if asked), both
    shown once. Pickers work at one node; operators may have none."""
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL_SHAPE.match(email) or len(email) > 254:
        errors["email"] = ["Not an e-mail address."]
    if role not in ROLES:
        errors["role"] = [f"Role must be one of {', '.join(ROLES)}."]
    node = _node_by_code(node_code, errors) if node_code else None
    if not node_code and role == "picker":
        errors["node"] = ["A picker works at one node: give the node."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> Issued:
        if db.session.scalar(select(Staff.id).where(Staff.email == email)) is not None:
            raise Conflict(f"Staff member {email} already exists.")
        password = new_password()
        staff = Staff(
            email=email,
            node_id=node.id if node else None,
            role=role,
            password_hash=hash_password(password),
        )
        db.session.add(staff)
        db.session.flush()
        token = issue_token(staff_id=staff.id, label="admin") if with_token else None
        audit.record(operator, "staff.create", "staff", staff.id, after=staff_json(staff))
        return Issued(staff_json(staff), token=token, password=password)

    return _in_transaction(work)


_UNCHANGED: Any = object()


def change_staff(
    operator: StaffPrincipal,
    staff_id: int,
    *,
    node_code: str | None = _UNCHANGED,
    role: str | None = None,
    is_active: bool | None = None,
) -> dict[str, Any]:
    """Move a staff member to another node, change their role, disable or re-enable them.

    Disabling ends every page session at once (the session epoch moves on) and
    revokes their API tokens; re-enabling gives nothing back (reset the password,
    issue a token). An operator cannot disable or demote themselves: another
    operator must, so the pavilion is never left without one by a slip.
    """
    errors: dict[str, list[str]] = {}
    if role is not None and role not in ROLES:
        errors["role"] = [f"Role must be one of {', '.join(ROLES)}."]
    new_node = None
    if node_code is not _UNCHANGED and node_code:
        new_node = _node_by_code(node_code, errors)
    if staff_id == operator.staff_id and (is_active is False or role == "picker"):
        errors["staff"] = ["You cannot disable or demote yourself; ask another operator."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> dict[str, Any]:
        staff = db.session.scalar(select(Staff).where(Staff.id == staff_id).with_for_update())
        if staff is None:
            raise NotFound(f"No staff member {staff_id}.")
        before = staff_json(staff)
        if node_code is not _UNCHANGED:
            staff.node = new_node
        if role is not None:
            staff.role = role
        # The relationship, not node_id: a node given in this change is not flushed yet.
        if staff.role == "picker" and staff.node is None:
            raise ValidationFailed(errors={"node": ["A picker works at one node: give the node."]})
        revoked = 0
        if is_active is not None and is_active != staff.is_active:
            staff.is_active = is_active
            if not is_active:
                staff.session_epoch = staff.session_epoch + 1
                revoked = _revoke_staff_tokens(staff.id)
        after = staff_json(staff)
        if after == before:
            return after
        if revoked:
            after["tokens_revoked"] = revoked
        audit.record(operator, "staff.update", "staff", staff.id, before=before, after=after)
        return staff_json(staff)

    return _in_transaction(work)


def _revoke_staff_tokens(staff_id: int) -> int:
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def reset_staff_password(operator: StaffPrincipal, staff_id: int) -> Issued:
    """A new one-time password (shown once); the old one and every page session end."""

    def work() -> Issued:
        staff = db.session.scalar(select(Staff).where(Staff.id == staff_id).with_for_update())
        if staff is None:
            raise NotFound(f"No staff member {staff_id}.")
        password = new_password()
        staff.password_hash = hash_password(password)
        staff.session_epoch = staff.session_epoch + 1
        audit.record(operator, "staff.password_reset", "staff", staff.id, after=staff_json(staff))
        return Issued(staff_json(staff), password=password)

    return _in_transaction(work)


def issue_staff_token(operator: StaffPrincipal, staff_id: int, label: str = "") -> Issued:
    """An API token for a staff member (shown once)."""

    def work() -> Issued:
        staff = _staff(staff_id)
        if not staff.is_active:
            raise Conflict(f"Staff member {staff_id} is disabled; enable them first.")
        token = issue_token(staff_id=staff_id, label=(label or "admin")[:80])
        document = token_json(_token_row(token))
        audit.record(operator, "staff.token.issue", "staff", staff_id, after=document)
        return Issued(document, token=token)

    return _in_transaction(work)


# ------------------------------------------------------------------ nodes and bins


def node_json(node: Node) -> dict[str, Any]:
    return {
        "code": node.code,
        "kind": node.kind,
        "country": node.country,
        "city": node.city,
        "name": {"en": node.name_en, "ru": node.name_ru, "zh": node.name_zh},
        "priority": node.priority,
        "is_active": node.is_active,
    }


def _forget_routing_world() -> None:
    # Routing keeps nodes and lanes per app for a while; this worker applies a
    # change at once (the others within PAVILION_RATES_CACHE_SECONDS).
    current_app.extensions.get("pavilion.routing_world", {}).clear()


def list_nodes() -> list[dict[str, Any]]:
    """Every node with its lanes (code, countries, cut-off) and counts."""
    lanes = list_lanes()
    staff_counts = dict(
        db.session.execute(
            select(Staff.node_id, func.count()).where(Staff.is_active).group_by(Staff.node_id)
        ).all()
    )
    result = []
    for node in db.session.scalars(select(Node).order_by(Node.code)):
        mine = [lane for lane in lanes if lane["node"] == node.code]
        result.append(
            {
                **node_json(node),
                "staff": staff_counts.get(node.id, 0),
                "lanes": [
                    {
                        "code": lane["code"],
                        "countries": lane["countries"],
                        "cutoff_time": lane["cutoff_time"],
                        "timezone": lane["timezone"],
                        "active": lane["active"],
                    }
                    for lane in mine
                ],
            }
        )
    return result


def _node(code: str) -> Node:
    node = db.session.scalar(select(Node).where(Node.code == code.upper()))
    if node is None:
        raise NotFound(f"No node {code}.")
    return node


def get_node(code: str) -> dict[str, Any]:
    """A node with its full lanes (legs included)."""
    node = _node(code)
    return {**node_json(node), "lanes": list_lanes(node.code)}


@dataclass(frozen=True)
class NodeChange:
    """What an operator may change on a node; None leaves a field as it is."""

    priority: int | None = None
    is_active: bool | None = None
    city: str | None = None
    name_en: str | None = None
    name_ru: str | None = None
    name_zh: str | None = None


def change_node(operator: StaffPrincipal, code: str, change: NodeChange) -> dict[str, Any]:
    """Change a node's priority (routing's last tie-break), names, city, or take it out
    of routing (inactive: no new orders are routed to it; its open work continues)."""
    errors: dict[str, list[str]] = {}
    if change.priority is not None and not 0 <= change.priority <= 10_000:
        errors["priority"] = ["A whole number from 0 to 10000 (lower is preferred)."]
    for name in ("city", "name_en", "name_ru", "name_zh"):
        value = getattr(change, name)
        if value is not None and not 1 <= len(value.strip()) <= (80 if name == "city" else 120):
            errors[name] = ["Must not be empty or too long."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> dict[str, Any]:
        node = db.session.scalar(select(Node).where(Node.code == code.upper()).with_for_update())
        if node is None:
            raise NotFound(f"No node {code}.")
        before = node_json(node)
        for name in ("priority", "is_active", "city", "name_en", "name_ru", "name_zh"):
            value = getattr(change, name)
            if value is not None:
                setattr(node, name, value.strip() if isinstance(value, str) else value)
        after = node_json(node)
        if after != before:
            audit.record(operator, "node.update", "node", node.code, before=before, after=after)
        return after

    result = _in_transaction(work)
    _forget_routing_world()
    return result


def list_bins(code: str) -> dict[str, Any]:
    """The node's bins with the units of each SKU in them, and the units on hand that
    are in no bin yet (picked from "no bin" until put away)."""
    from warehouse.models import StockLevel

    node = _node(code)
    rows = db.session.execute(
        select(StockBin.bin, Sku.code, StockBin.on_hand)
        .join(Sku, Sku.id == StockBin.sku_id)
        .where(StockBin.node_id == node.id)
        .order_by(StockBin.bin, Sku.code)
    ).all()
    binned: dict[str, int] = {}
    bins: dict[str, list[dict[str, Any]]] = {}
    for bin_code, sku_code, units in rows:
        bins.setdefault(bin_code, []).append({"sku": sku_code, "units": units})
        binned[sku_code] = binned.get(sku_code, 0) + units
    on_hand = db.session.execute(
        select(Sku.code, StockLevel.on_hand)
        .join(Sku, Sku.id == StockLevel.sku_id)
        .where(StockLevel.node_id == node.id, StockLevel.on_hand > 0)
        .order_by(Sku.code)
    ).all()
    unbinned = [
        {"sku": sku_code, "units": units - binned.get(sku_code, 0)}
        for sku_code, units in on_hand
        if units > binned.get(sku_code, 0)
    ]
    return {
        "node": node.code,
        "bins": [{"bin": b, "skus": skus} for b, skus in bins.items()],
        "unbinned": unbinned,
    }


def move_bin_units(
    operator: StaffPrincipal,
    code: str,
    *,
    sku: str,
    to_bin: str,
    quantity: int,
    from_bin: str | None = None,
) -> dict[str, Any]:
    """Put units of a SKU in a bin: from another bin, or (``from_bin`` empty) from the
    units on hand that are in no bin. On-hand stock does not change, so the stock
    ledger does not either; the audit records the move. Units a pick list that is
    still open expects in ``from_bin`` are not moved from under it."""
    from warehouse.models import StockLevel

    to_bin = (to_bin or "").strip().upper()
    from_bin = (from_bin or "").strip().upper() or None
    errors: dict[str, list[str]] = {}
    if not BIN_SHAPE.match(to_bin):
        errors["to_bin"] = ["A bin is 1 to 20 letters, digits and dashes, e.g. A-02-05."]
    if from_bin is not None and not BIN_SHAPE.match(from_bin):
        errors["from_bin"] = ["A bin is 1 to 20 letters, digits and dashes, e.g. A-02-05."]
    if from_bin is not None and from_bin == to_bin:
        errors["to_bin"] = ["The units are already in that bin."]
    if quantity is None or quantity <= 0:
        errors["quantity"] = ["At least 1."]
    if errors:
        raise ValidationFailed(errors=errors)

    def work() -> dict[str, Any]:
        node = _node(code)
        sku_row = db.session.scalar(select(Sku).where(Sku.code == sku.strip().upper()))
        if sku_row is None:
            raise ValidationFailed(errors={"sku": [f"No SKU {sku!r}."]})
        # The stock level row is the lock every change of this SKU at this node takes.
        level = db.session.scalar(
            select(StockLevel)
            .where(StockLevel.sku_id == sku_row.id, StockLevel.node_id == node.id)
            .with_for_update()
        )
        bins = {
            row.bin: row
            for row in db.session.scalars(
                select(StockBin).where(StockBin.sku_id == sku_row.id, StockBin.node_id == node.id)
            )
        }
        if from_bin is None:
            available = (level.on_hand if level else 0) - sum(b.on_hand for b in bins.values())
        else:
            available = bins[from_bin].on_hand if from_bin in bins else 0
            if _open_pick_list_uses(node.id, sku_row.id, from_bin):
                raise Conflict(
                    f"An open pick list expects {sku_row.code} in {from_bin}; "
                    "finish or cancel it first."
                )
        if quantity > available:
            where = f"bin {from_bin}" if from_bin else "no bin"
            raise ValidationFailed(
                errors={"quantity": [f"Only {max(available, 0)} units are in {where}."]}
            )
        before = {
            "sku": sku_row.code,
            "from": {"bin": from_bin, "units": available},
            "to": {"bin": to_bin, "units": bins[to_bin].on_hand if to_bin in bins else 0},
        }
        if from_bin is not None:
            bins[from_bin].on_hand -= quantity
        target = bins.get(to_bin)
        if target is None:
            target = StockBin(sku_id=sku_row.id, node_id=node.id, bin=to_bin, on_hand=0)
            db.session.add(target)
        target.on_hand += quantity
        after = {
            "sku": sku_row.code,
            "quantity": quantity,
            "from": {"bin": from_bin, "units": available - quantity},
            "to": {"bin": to_bin, "units": target.on_hand},
        }
        audit.record(operator, "node.bin.move", "node", node.code, before=before, after=after)
        return after

    return _in_transaction(work)


def _open_pick_list_uses(node_id: int, sku_id: int, bin_code: str) -> bool:
    return (
        db.session.scalar(
            select(PickListLine.id)
            .join(PickList, PickList.id == PickListLine.pick_list_id)
            .where(
                PickList.node_id == node_id,
                PickList.status == "open",
                PickListLine.sku_id == sku_id,
                PickListLine.bin == bin_code,
            )
            .limit(1)
        )
        is not None
    )


# ------------------------------------------------------------------ lanes


@dataclass(frozen=True)
class LegInput:
    """One leg of a lane as an operator gives it."""

    carrier: str
    service: str
    transit_days_min: int
    transit_days_max: int
    cost_base: Decimal
    cost_per_kg: Decimal
    cost_currency: str
    crossing: str | None = None
    customs_mode: str | None = None


CUSTOMS_MODES = ("9610", "1210")


def _leg_problems(legs: list[LegInput]) -> dict[str, list[str]]:
    problems: list[str] = []
    if not legs:
        problems.append("A lane has at least one leg.")
    for n, leg in enumerate(legs, 1):
        if not leg.carrier.strip() or not leg.service.strip():
            problems.append(f"Leg {n}: carrier and service are required.")
        if leg.transit_days_min < 0 or leg.transit_days_max < leg.transit_days_min:
            problems.append(f"Leg {n}: transit days must be 0 or more, min ≤ max.")
        if leg.cost_base < 0 or leg.cost_per_kg < 0:
            problems.append(f"Leg {n}: costs must not be negative.")
        if not is_currency_code(leg.cost_currency.upper()):
            problems.append(f"Leg {n}: {leg.cost_currency!r} is not an ISO 4217 currency code.")
        if leg.customs_mode and leg.customs_mode not in CUSTOMS_MODES:
            problems.append(f"Leg {n}: customs mode is 9610, 1210 or none.")
    return {"legs": problems} if problems else {}


def change_lane(
    operator: StaffPrincipal,
    code: str,
    change: LaneChange,
    legs: list[LegInput] | None = None,
) -> dict[str, Any]:
    """Change a lane with the same service as ``flask lanes set`` (cut-off, time zone,
    countries, regions, what the corridor refuses, limits, active), and replace its
    legs (carrier, service, transit days, costs) when ``legs`` is given. Routing
    reads the new values on the next order."""
    if legs is not None and (problems := _leg_problems(legs)):
        raise ValidationFailed(errors=problems)
    lane = db.session.scalar(select(Lane).where(Lane.code == code.upper()))
    if lane is None:
        raise NotFound(f"No lane {code}.")
    try:
        before = lane_document(lane)
        if legs is not None:
            # Old legs go first: a new leg 1 must not meet the old leg 1 in one flush.
            lane.legs.clear()
            db.session.flush()
            lane.legs = [
                LaneLeg(
                    position=n,
                    carrier=leg.carrier.strip(),
                    service=leg.service.strip(),
                    transit_days_min=leg.transit_days_min,
                    transit_days_max=leg.transit_days_max,
                    cost_base=leg.cost_base,
                    cost_per_kg=leg.cost_per_kg,
                    cost_currency=leg.cost_currency.upper(),
                    crossing=(leg.crossing or "").strip() or None,
                    customs_mode=leg.customs_mode or None,
                )
                for n, leg in enumerate(legs, 1)
            ]
        # update_lane commits: the entry goes in with the change, its ``after`` taken
        # just before that commit.
        audit.record(
            operator, "lane.update", "lane", lane.code, before=before,
            after=lambda: lane_document(lane),
        )  # fmt: skip
        result = update_lane(code, change, actor=operator.actor)
    except Exception:
        db.session.rollback()
        raise
    _forget_routing_world()
    return result


# ------------------------------------------------------------------ customs policy rows


def _status(policy: Policy, today: date) -> str:
    if policy.effective_from > today:
        return "scheduled"
    if policy.effective_to is not None and policy.effective_to < today:
        return "past"
    return "in_force"


def _periods(version: str, merged: tuple[Policy, ...], today: date) -> list[dict[str, Any]]:
    return [
        {
            "countries": sorted(p.countries),
            "effective_from": p.effective_from.isoformat(),
            "effective_to": p.effective_to.isoformat() if p.effective_to else None,
            "status": _status(p, today),
        }
        for p in merged
        if p.version == version
    ]


def _overall_status(periods: list[dict[str, Any]]) -> str:
    statuses = {period["status"] for period in periods}
    if not statuses:
        return "superseded"  # a later row of the same date took over before it started
    return next((s for s in ("in_force", "scheduled") if s in statuses), "past")


def _policy_json(policy: Policy, kind: str, origin: dict[str, Any], periods) -> dict[str, Any]:
    return {
        **policy.header_json(),
        "kind": kind,
        **origin,
        "countries": sorted(policy.countries),
        "requires_customs_identity": policy.requires_customs_identity,
        "applies": periods,
        "status": _overall_status(periods),
        "figures": policy.figures_json(),
    }


def list_policies(*, country: str | None = None) -> dict[str, Any]:
    """Every customs rule set, shipped (files) and added (rows), with when each applies
    to which countries once later ones are laid over it."""
    today = datetime.now(UTC).date()
    shipped = shipped_rule_sets()
    added = [
        (row, policy_rows.parse_row(row.kind, row.document)) for row in policy_rows.stored_rows()
    ]
    merged = merge_rule_sets(tuple(s.policy for s in shipped), tuple(p for _, p in added))
    listed: list[tuple[Policy, str, dict[str, Any]]] = [
        (s.policy, s.kind, {"origin": "file", "file": s.file, "row_id": None}) for s in shipped
    ]
    for row, policy in added:
        origin = {
            "origin": "database",
            "row_id": row.id,
            "created_at": iso_utc(row.created_at),
            "created_by": row.created_by,
        }
        listed.append((policy, row.kind, origin))
    items = [
        _policy_json(policy, kind, origin, _periods(policy.version, merged, today))
        for policy, kind, origin in listed
        if not country or country.upper() in policy.countries
    ]
    return {"items": items, "today": today.isoformat()}


def policy_template(version: str) -> dict[str, Any]:
    """An existing rule set as a starting point for a new row: its kind and document,
    without dates (the operator sets the new ``effective_from``)."""
    for shipped in shipped_rule_sets():
        if shipped.policy.version == version:
            kind, document = shipped.kind, dict(shipped.document)
            break
    else:
        row = next(
            (
                r
                for r in policy_rows.stored_rows()
                if f"{r.rule_set_id}@{r.effective_from.isoformat()}" == version
            ),
            None,
        )
        if row is None:
            raise NotFound(f"No customs rule set {version}.")
        kind, document = row.kind, dict(row.document)
    document.pop("effective_to", None)
    document["effective_from"] = ""
    return {"kind": kind, "rule_set": document}


def add_policy(operator: StaffPrincipal, kind: str, document: Any) -> dict[str, Any]:
    """Add a customs rule set for some countries from a new date: a new row, checked by
    the parsers of the shipped files. It starts after today and not before the latest
    rule set of any of its countries; the one before it ends the day before (computed).
    """
    from shop.core.i18n import country_codes

    today = datetime.now(UTC).date()

    def work() -> dict[str, Any]:
        # Two operators adding rows at once cannot break the rules in force: rows merge
        # in any order, and the unique (id, effective_from) keeps versions apart.
        stored = policy_rows.stored_rows()
        existing = (
            *(s.policy for s in shipped_rule_sets()),
            *(policy_rows.parse_row(r.kind, r.document) for r in stored),
        )
        problems, policy = policy_rows.new_rule_set_problems(
            kind,
            document,
            today=today,
            existing=existing,
            known_countries=frozenset(country_codes()),
        )
        if problems or policy is None:
            raise ValidationFailed(errors=problems)
        row = policy_rows.add_row(kind, document, policy, operator.actor)
        db.session.flush()
        summary = {
            "row_id": row.id,
            "kind": kind,
            "id": policy.id,
            "version": policy.version,
            "countries": sorted(policy.countries),
            "effective_from": policy.effective_from.isoformat(),
            "figures": policy.figures_json(),
        }
        audit.record(
            operator, "customs_policy.add", "customs_policy", policy.version, after=summary
        )
        return summary

    result = _in_transaction(work)
    policy_rows.forget_added_rule_sets()
    return result


def policy_kinds() -> list[str]:
    return sorted(set(KIND_OF_POLICY.values()))
