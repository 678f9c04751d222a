"""Bulk uploads on PostgreSQL: concurrent merchants do not corrupt each other,
and a rejected upload leaves every table exactly as it was."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from catalog.models import Product, Sku
from shop.core.extensions import db
from tests.api.test_merchant_bulk import csv_rows
from tests.api.test_merchant_skus import Shop


@pytest.fixture
def pg_shop(request, postgres):
    from tests.conftest import make_test_app

    app = make_test_app(postgres.create("bulk"))
    with app.app_context():
        db.create_all()
    yield Shop(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def prefixed(body: bytes, prefix: str) -> bytes:
    return body.replace(b"RU-B-", f"{prefix}-".encode()).replace(b",P", f",{prefix}P".encode())


def run_together(*calls):
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def worker(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_two_merchants_uploading_at_once_each_get_exactly_their_rows(pg_shop):
    a_body = prefixed(csv_rows(1500, price="100.00"), "RU-A")
    b_body = prefixed(csv_rows(1500, price="200.00"), "RU-Z")

    def upload(who, body):
        client = pg_shop.app.test_client()
        return client.post(
            "/api/v1/merchant/skus/bulk",
            data=body,
            content_type="text/csv",
            headers=pg_shop.headers(who),
        )

    first, second = run_together(lambda: upload("a", a_body), lambda: upload("b", b_body))
    assert first.status_code == 200, first.get_json()
    assert second.status_code == 200, second.get_json()
    with pg_shop.app.app_context():
        rows = db.session.execute(
            select(Product.merchant_id, Sku.code, Sku.price_amount).join(
                Product, Product.id == Sku.product_id
            )
        ).all()
    by_merchant = {}
    for merchant_id, code, price in rows:
        by_merchant.setdefault(merchant_id, []).append((code, price))
    assert len(by_merchant[pg_shop.a.id]) == 1500
    assert len(by_merchant[pg_shop.b.id]) == 1500
    assert all(
        code.startswith("RU-A-") and price == 100 for code, price in by_merchant[pg_shop.a.id]
    )
    assert all(
        code.startswith("RU-Z-") and price == 200 for code, price in by_merchant[pg_shop.b.id]
    )


def test_one_merchants_concurrent_uploads_are_serialized(pg_shop):
    body_1 = csv_rows(500, price="100.00")
    body_2 = csv_rows(500, price="111.00")

    def upload(body):
        return pg_shop.app.test_client().post(
            "/api/v1/merchant/skus/bulk",
            data=body,
            content_type="text/csv",
            headers=pg_shop.headers("a"),
        )

    results = run_together(lambda: upload(body_1), lambda: upload(body_2))
    statuses = sorted(r.status_code for r in results)
    # Both are applied one after the other (or one is told to retry): never a mix.
    assert statuses in ([200, 200], [200, 409])
    with pg_shop.app.app_context():
        prices = set(db.session.scalars(select(Sku.price_amount)))
        products = db.session.scalar(select(text("count(*) FROM products")))
    assert len(prices) == 1
    assert products == 250


def _snapshot():
    tables = [t.name for t in db.metadata.sorted_tables]
    return {
        name: sorted(
            map(tuple, db.session.execute(text(f'SELECT * FROM "{name}"')).all()), key=repr
        )
        for name in tables
    }


def test_a_rejected_upload_leaves_the_database_exactly_as_before(pg_shop):
    client = pg_shop.app.test_client()
    headers = pg_shop.headers("a")
    client.post(
        "/api/v1/merchant/skus/bulk", data=csv_rows(300), content_type="text/csv", headers=headers
    )
    with pg_shop.app.app_context():
        before = _snapshot()
    changed = csv_rows(300, price="155.00") + b"RU-BAD,PX,honey,,,,,,,RU,1,1,1,1,RUB,\n"
    response = client.post(
        "/api/v1/merchant/skus/bulk", data=changed, content_type="text/csv", headers=headers
    )
    assert response.status_code == 422
    with pg_shop.app.app_context():
        after = _snapshot()
    # Token "last used" times may move; nothing else may.
    before.pop("api_tokens")
    after.pop("api_tokens")
    assert after == before
