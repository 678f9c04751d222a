"""The mix of traffic and its steps: the catalog API, storefront pages, checkouts to
Russia and China, carts, merchant uploads, and staff and restock rounds on their own
clock."""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

from bulk.price_lists import HEADER, csv_bytes, price_list

from mixed_traffic.recording import Client
from mixed_traffic.world import World, order_body

KINDS = ("api", "storefront", "checkout", "cart", "upload", "staff", "restock")
# Share of the shoppers' and the merchant's steps; staff and restock run on their own clock.
STEP_WEIGHTS = {"api": 30, "storefront": 30, "checkout": 20, "cart": 12, "upload": 8}
STAFF_EVERY_S = 15.0
RESTOCK_EVERY_S = 20.0
RESTOCK_BELOW = 150
RESTOCK_TO = 1500  # available after a restock
UPLOAD_ROWS = 20
UPLOAD_POOL = 200

SEARCH_WORDS = ("мёд", "honey", "茶", "chocolate", "шоколад", "сыр", "tea", "орех", "蜂蜜", "oil")
LANGUAGES = ("ru", "zh", "en")
CURRENCIES = ("RUB", "CNY", "KZT", "USD")
SORTS = ("name", "-name", "price", "-price", "newest")


def step_api(client: Client, world: World, rng: random.Random) -> None:
    lang, currency = rng.choice(LANGUAGES), rng.choice(CURRENCIES)
    roll = rng.random()
    if roll < 0.1:
        client.request("api", "GET", f"/api/v1/categories?lang={lang}")
    elif roll < 0.6:
        query = [f"lang={lang}", f"currency={currency}", f"sort={rng.choice(SORTS)}"]
        if rng.random() < 0.7:
            query.append(f"category={rng.choice(world.categories)}")
        if rng.random() < 0.3:
            query.append(f"country={rng.choice(world.countries)}")
        if rng.random() < 0.2:
            query.append(f"q={_quote(rng.choice(SEARCH_WORDS))}")
        if rng.random() < 0.2:
            query.append(f"min_price={rng.choice((1, 10, 100))}&max_price=100000")
        if rng.random() < 0.3:
            query.append("in_stock=true")
        query.append(f"page={rng.choice((1, 1, 1, 2))}&per_page={rng.choice((12, 24, 48))}")
        client.request("api", "GET", "/api/v1/products?" + "&".join(query))
    else:
        product = rng.choice(world.product_ids)
        destination = rng.choice(("", "&destination=CN", "&destination=RU", "&destination=KZ"))
        client.request(
            "api", "GET", f"/api/v1/products/{product}?lang={lang}&currency={currency}{destination}"
        )


def step_storefront(client: Client, world: World, rng: random.Random) -> None:
    headers = {"Accept-Language": rng.choice(LANGUAGES)}
    roll = rng.random()
    if roll < 0.2:
        path = "/"
    elif roll < 0.5:
        sort = f"&sort={rng.choice(SORTS)}" if rng.random() < 0.3 else ""
        path = f"/c/{rng.choice(world.categories)}?page={rng.choice((1, 1, 2))}{sort}"
    elif roll < 0.7:
        path = f"/search?q={_quote(rng.choice(SEARCH_WORDS))}"
    else:
        path = f"/p/{rng.choice(world.product_ids)}"
    client.request("storefront", "GET", path, headers=headers)


def _placed(world: World, status: int, raw: bytes) -> None:
    if status == 201:
        with contextlib.suppress(ValueError, KeyError):
            world.new_orders.append(json.loads(raw)["number"])


def step_checkout(client: Client, world: World, rng: random.Random) -> None:
    destination = "CN" if world.cn_skus and rng.random() < 0.4 else "RU"
    pool = world.cn_skus if destination == "CN" else world.ru_skus
    if not pool:
        return
    skus = rng.sample(pool, min(len(pool), rng.choice((1, 1, 2))))
    status, raw = client.request(
        "checkout", "POST", "/api/v1/orders", order_body(rng, skus, destination)
    )
    _placed(world, status, raw)


def step_cart(client: Client, world: World, rng: random.Random) -> None:
    if not world.ru_skus:
        return
    first, second = rng.choice(world.ru_skus), rng.choice(world.ru_skus)
    made = {"currency": "RUB", "lines": [{"sku": first, "quantity": 1}]}
    status, raw = client.request("cart", "POST", "/api/v1/carts", made)
    if status != 201:
        return
    cart = json.loads(raw)
    headers = {"X-Cart-Token": cart["token"]}
    base = f"/api/v1/carts/{cart['id']}"
    client.request("cart", "POST", f"{base}/lines", {"sku": second, "quantity": 1}, headers)
    client.request(
        "cart", "GET", f"{base}?destination=RU&region=Moscow&postal_code=101000", headers=headers
    )
    if rng.random() < 2 / 3:
        body = order_body(rng, [], "RU")
        del body["lines"]
        body["cart_id"] = cart["id"]
        status, raw = client.request("cart", "POST", "/api/v1/orders", body, headers)
        _placed(world, status, raw)


def upload_pool() -> list[list[str]]:
    """bench/bulk_upload.py's price list rows, the shape merchants upload."""
    return price_list("SOAK-", UPLOAD_POOL)


def step_upload(client: Client, world: World, rng: random.Random) -> None:
    start = rng.randrange(0, len(world.upload_rows) - UPLOAD_ROWS)
    rows = [list(row) for row in world.upload_rows[start : start + UPLOAD_ROWS]]
    price = HEADER.index("price")
    for row in rows:
        if rng.random() < 0.3:  # a new price; the rest arrive unchanged (or new)
            row[price] = f"{rng.randrange(90, 9000)}.00"
    headers = {"Authorization": f"Bearer {world.uploader_token}"}
    path = "/api/v1/merchant/skus/bulk"
    if rng.random() < 0.5:
        client.request("upload", "POST", path, csv_bytes(rows), headers, "text/csv")
    else:
        client.request("upload", "POST", path, [_json_row(HEADER, row) for row in rows], headers)


def _json_row(header: tuple[str, ...], row: list[str]) -> dict[str, Any]:
    value = dict(zip(header, row, strict=True))
    return {
        "sku": value["sku"],
        "product_code": value["product_code"],
        "category": value["category"],
        "name": {lang: value[f"name_{lang}"] for lang in LANGUAGES},
        "description": {lang: value[f"description_{lang}"] for lang in LANGUAGES},
        "origin_country": value["origin_country"],
        "hs_code": value["hs_code"],
        "weight_g": int(value["weight_g"]),
        "shelf_life_days": int(value["shelf_life_days"]),
        "price": {"amount": value["price"], "currency": value["currency"]},
        "stock": {
            node: int(count)
            for node, count in (item.split(":") for item in value["stock"].split(";") if item)
        },
    }


def staff_round(client: Client, world: World) -> None:
    """Mark up to 10 new orders paid, then a pick list (JSON and PDF) per node with
    ready shipments."""
    headers = {"Authorization": f"Bearer {world.operator_token}"}
    nodes: set[str] = set()
    for _ in range(10):
        try:
            number = world.new_orders.popleft()
        except IndexError:
            break
        status, raw = client.request(
            "staff", "POST", f"/api/v1/orders/{number}/mark-paid", {}, headers
        )
        if status == 200:
            with contextlib.suppress(ValueError, KeyError):
                nodes.update(s["node"] for s in json.loads(raw)["shipments"])
    for node in sorted(nodes):
        status, raw = client.request(
            "staff", "POST", f"/api/v1/warehouse/nodes/{node}/pick-lists",
            {"max_shipments": 20}, headers,
        )  # fmt: skip
        if status == 201:
            pick_list = json.loads(raw)["id"]
            base = f"/api/v1/warehouse/pick-lists/{pick_list}"
            client.request("staff", "GET", f"{base}?lang=ru", headers=headers)
            client.request("staff", "GET", f"{base}.pdf?lang=zh", headers=headers)


def restock_round(client: Client, world: World, kind: str = "restock") -> int:
    """Through the merchant API: every bought SKU's stocked nodes back to RESTOCK_TO
    available when they fell under RESTOCK_BELOW. Returns the levels raised."""
    raised = 0
    for code in sorted(set(world.ru_skus) | set(world.cn_skus)):
        token = world.merchant_tokens[world.sku_merchant[code]]
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/merchant/skus/{_quote(code)}"
        status, raw = client.request(kind, "GET", path, headers=headers)
        if status != 200:
            continue
        sku = json.loads(raw)
        reserved = sku.get("reserved") or {}
        low = {
            node: reserved.get(node, 0) + RESTOCK_TO
            for node, on_hand in (sku.get("stock") or {}).items()
            if on_hand > 0 and on_hand - reserved.get(node, 0) < RESTOCK_BELOW
        }
        if low:
            status, _ = client.request(
                kind, "PATCH", path, {"stock": low}, headers, "application/merge-patch+json"
            )
            raised += len(low) if status == 200 else 0
    return raised


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
