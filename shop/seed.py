"""The demo pavilion: categories, nodes, rates, merchants, 110+ products, staff.

Idempotent: every row is found by its natural key first, so a second run
adds nothing. Demo credentials are only printed when the account is made
(they are stored hashed); ``reissue_demo_credentials`` makes new ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from sqlalchemy import select

from catalog.models import Category, ExchangeRate, Merchant, Product, Sku
from catalog.search import build_search_text
from shop.core.auth import hash_password, issue_token, new_password, revoke_tokens
from shop.core.extensions import db
from warehouse.models import Lane, LaneLeg, Node, NodeHandover, Staff, StockBin
from warehouse.services import OnHandChange, set_on_hand

DEMO_TOKEN_LABEL = "demo"  # noqa: S105 - a label, not a secret


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    credentials: list[dict[str, str]] = field(default_factory=list)

    def count(self, kind: str, n: int = 1) -> None:
        self.created[kind] = self.created.get(kind, 0) + n

    @property
    def changed(self) -> bool:
        return any(self.created.values())


def _load(package: str, name: str) -> dict[str, Any]:
    return json.loads(resources.files(package).joinpath("seed", name).read_text(encoding="utf-8"))


def seed_demo_pavilion() -> SeedReport:
    """Load the demo data in one transaction; returns what was created."""
    report = SeedReport()
    try:
        categories = _seed_categories(report)
        nodes = _seed_nodes(report)
        _seed_rates(report)
        _seed_lanes(report, nodes)
        _seed_catalog(report, categories, nodes)
        _seed_staff(report, nodes)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


def seed_reference_data() -> SeedReport:
    """Categories, nodes and exchange rates only: what a shop needs before any merchant."""
    report = SeedReport()
    try:
        _seed_categories(report)
        nodes = _seed_nodes(report)
        _seed_rates(report)
        _seed_lanes(report, nodes)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


def _seed_categories(report: SeedReport) -> dict[str, Category]:
    existing = {c.slug: c for c in db.session.scalars(select(Category))}
    for position, row in enumerate(_load("catalog", "categories.json")["categories"], start=1):
        if row["slug"] in existing:
            continue
        category = Category(
            slug=row["slug"],
            position=position,
            name_en=row["name"]["en"],
            name_ru=row["name"]["ru"],
            name_zh=row["name"]["zh"],
            hs_chapters=row["hs_chapters"],
        )
        db.session.add(category)
        existing[row["slug"]] = category
        report.count("categories")
    return existing


def _seed_nodes(report: SeedReport) -> dict[str, Node]:
    existing = {n.code: n for n in db.session.scalars(select(Node))}
    for row in _load("warehouse", "nodes.json")["nodes"]:
        if row["code"] in existing:
            # A node seeded before packaging was data gets the demo boxes once; an
            # operator's own list is never overwritten.
            if existing[row["code"]].packaging is None and row.get("packaging"):
                existing[row["code"]].packaging = row["packaging"]
            continue
        node = Node(
            code=row["code"],
            kind=row["kind"],
            country=row["country"],
            city=row["city"],
            name_en=row["name"]["en"],
            name_ru=row["name"]["ru"],
            name_zh=row["name"]["zh"],
            priority=row["priority"],
            packaging=row.get("packaging"),
        )
        db.session.add(node)
        existing[row["code"]] = node
        report.count("nodes")
    db.session.flush()
    _seed_handovers(existing)
    return existing


def _seed_handovers(nodes: dict[str, Node]) -> None:
    """How the demo nodes hand parcels to carriers; one an operator set is kept."""
    rows = db.session.execute(select(NodeHandover.node_id, NodeHandover.carrier))
    known = {(node_id, carrier) for node_id, carrier in rows}
    for row in _load("warehouse", "nodes.json")["nodes"]:
        node = nodes[row["code"]]
        for carrier, handover in (row.get("handovers") or {}).items():
            if (node.id, carrier) not in known:
                db.session.add(NodeHandover(node_id=node.id, carrier=carrier, **handover))
    db.session.flush()


def _seed_lanes(report: SeedReport, nodes: dict[str, Node]) -> None:
    existing = set(db.session.scalars(select(Lane.code)))
    for row in _load("warehouse", "lanes.json")["lanes"]:
        if row["code"] in existing:
            continue
        amount = row.get("max_parcel_value_amount")
        lane = Lane(
            code=row["code"],
            node_id=nodes[row["node"]].id,
            countries=row["countries"],
            regions=row.get("regions", []),
            cutoff_time=row["cutoff_time"],
            timezone=row["timezone"],
            refuses_categories=row.get("refuses_categories", []),
            refuses_hs_prefixes=row.get("refuses_hs_prefixes", []),
            requires_cbec_positive_list=row["requires_cbec_positive_list"],
            max_parcel_value_amount=Decimal(amount) if amount else None,
            max_parcel_value_currency=row.get("max_parcel_value_currency"),
            max_parcel_weight_g=row.get("max_parcel_weight_g"),
            legs=[
                LaneLeg(
                    position=position,
                    carrier=leg["carrier"],
                    service=leg["service"],
                    transit_days_min=leg["transit_days_min"],
                    transit_days_max=leg["transit_days_max"],
                    cost_base=Decimal(leg["cost_base"]),
                    cost_per_kg=Decimal(leg["cost_per_kg"]),
                    cost_currency=leg["cost_currency"],
                    crossing=leg.get("crossing"),
                    customs_mode=leg.get("customs_mode"),
                )
                for position, leg in enumerate(row["legs"], start=1)
            ],
        )
        db.session.add(lane)
        report.count("lanes")


def _seed_rates(report: SeedReport) -> None:
    data = _load("catalog", "rates.json")
    effective_on = date.fromisoformat(data["effective_on"])
    have = set(
        db.session.execute(
            select(ExchangeRate.base_currency, ExchangeRate.quote_currency).where(
                ExchangeRate.source == data["source"], ExchangeRate.effective_on == effective_on
            )
        ).all()
    )
    for base, rate in data["rates"].items():
        if (base, data["quote"]) in have:
            continue
        db.session.add(
            ExchangeRate(
                base_currency=base,
                quote_currency=data["quote"],
                rate=Decimal(rate),
                effective_on=effective_on,
                source=data["source"],
            )
        )
        report.count("exchange rates")


def _seed_catalog(
    report: SeedReport, categories: dict[str, Category], nodes: dict[str, Node]
) -> None:
    data = _load("catalog", "pavilion.json")
    merchants = {
        m.seed_key: m
        for m in db.session.scalars(select(Merchant).where(Merchant.seed_key.is_not(None)))
    }
    for row in data["merchants"]:
        if row["key"] in merchants:
            continue
        merchant = Merchant(
            name=row["name"],
            country=row["country"],
            currency=row["currency"],
            is_demo=True,
            seed_key=row["key"],
        )
        db.session.add(merchant)
        db.session.flush()
        merchants[row["key"]] = merchant
        report.count("merchants")
        token = issue_token(merchant_id=merchant.id, label=DEMO_TOKEN_LABEL)
        report.credentials.append(
            {"who": f"merchant {merchant.name} (id {merchant.id})", "token": token}
        )

    existing_products = {
        (p.merchant_id, p.code)
        for p in db.session.execute(select(Product.merchant_id, Product.code)).all()
    }
    existing_skus = set(db.session.scalars(select(Sku.code)))
    for row in data["products"]:
        merchant = merchants[row["merchant"]]
        if (merchant.id, row["code"]) in existing_products:
            continue
        product = Product(
            merchant_id=merchant.id,
            category_id=categories[row["category"]].id,
            code=row["code"],
            origin_country=row["origin_country"],
            hs_code=row["hs_code"],
            name_en=row["name"]["en"],
            name_ru=row["name"].get("ru"),
            name_zh=row["name"].get("zh"),
            description_en=row["description"]["en"],
            description_ru=row["description"].get("ru"),
            description_zh=row["description"].get("zh"),
        )
        product.search_text = product_search_text(product, [s["sku"] for s in row["skus"]])
        db.session.add(product)
        db.session.flush()
        report.count("products")
        for sku_row in row["skus"]:
            if sku_row["sku"] in existing_skus:
                continue
            label = sku_row.get("label") or {}
            sku = Sku(
                product_id=product.id,
                code=sku_row["sku"],
                label_en=label.get("en"),
                label_ru=label.get("ru"),
                label_zh=label.get("zh"),
                price_amount=Decimal(sku_row["price"]["amount"]),
                price_currency=sku_row["price"]["currency"],
                weight_g=sku_row["weight_g"],
                shelf_life_days=sku_row["shelf_life_days"],
                length_mm=sku_row.get("length_mm"),
                width_mm=sku_row.get("width_mm"),
                height_mm=sku_row.get("height_mm"),
            )
            db.session.add(sku)
            db.session.flush()
            report.count("SKUs")
            stock = {code: n for code, n in (sku_row.get("stock") or {}).items() if n}
            set_on_hand(
                [OnHandChange(sku.id, nodes[code].id, n) for code, n in stock.items()],
                reason="receipt",
                actor="seed",
            )
            # Each demo SKU sits in one bin per node: the zone is its category's shelf
            # letter, aisle and shelf follow the seed order, so pick lists walk a plausible floor.
            slot = report.created.get("SKUs", 0)
            zone = "ABCDEFGHJKL"[(categories[row["category"]].position - 1) % 11]
            db.session.add_all(
                StockBin(sku_id=sku.id, node_id=nodes[code].id, on_hand=n,
                         bin=f"{zone}-{slot % 12 + 1:02d}-{slot // 12 % 6 + 1:02d}")
                for code, n in stock.items()
            )  # fmt: skip


def product_search_text(product: Product, sku_codes: list[str]) -> str:
    return build_search_text(
        [
            product.code,
            product.name_en,
            product.name_ru,
            product.name_zh,
            product.description_en,
            product.description_ru,
            product.description_zh,
            *sku_codes,
        ]
    )


def _demo_staff_rows(nodes: dict[str, Node]) -> list[tuple[str, Node | None, str]]:
    rows: list[tuple[str, Node | None, str]] = [
        (f"{code.lower()}@staff.pavilion.example", node, "picker")
        for code, node in sorted(nodes.items())
    ]
    rows.append(("operator@staff.pavilion.example", None, "operator"))
    return rows


def _seed_staff(report: SeedReport, nodes: dict[str, Node]) -> None:
    existing = set(db.session.scalars(select(Staff.email)))
    for email, node, role in _demo_staff_rows(nodes):
        if email in existing:
            continue
        password = new_password()
        staff = Staff(
            email=email,
            node_id=node.id if node else None,
            role=role,
            password_hash=hash_password(password),
            is_demo=True,
        )
        db.session.add(staff)
        db.session.flush()
        report.count("staff")
        token = issue_token(staff_id=staff.id, label=DEMO_TOKEN_LABEL)
        where = node.code if node else "all nodes"
        report.credentials.append(
            {"who": f"staff {email} ({role}, {where})", "password": password, "token": token}
        )


def reissue_demo_credentials() -> list[dict[str, str]]:
    """New tokens and passwords for the demo accounts, old demo tokens revoked.

    For the embedded default only: its start-up prints working credentials
    every time without keeping any in clear on disk.
    """
    credentials: list[dict[str, str]] = []
    try:
        for merchant in db.session.scalars(
            select(Merchant).where(Merchant.is_demo.is_(True)).order_by(Merchant.id)
        ):
            revoke_tokens(merchant_id=merchant.id, label=DEMO_TOKEN_LABEL)
            token = issue_token(merchant_id=merchant.id, label=DEMO_TOKEN_LABEL)
            credentials.append(
                {"who": f"merchant {merchant.name} (id {merchant.id})", "token": token}
            )
        for staff in db.session.scalars(
            select(Staff).where(Staff.is_demo.is_(True)).order_by(Staff.id)
        ):
            revoke_tokens(staff_id=staff.id, label=DEMO_TOKEN_LABEL)
            password = new_password()
            staff.password_hash = hash_password(password)
            token = issue_token(staff_id=staff.id, label=DEMO_TOKEN_LABEL)
            where = staff.node.code if staff.node else "all nodes"
            credentials.append(
                {
                    "who": f"staff {staff.email} ({staff.role}, {where})",
                    "password": password,
                    "token": token,
                }
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return credentials
