"""Sales and duties reports net of refunds, reconciled with the payments (#23 item 6).

One currency (CNY) and orders placed from 2026-11-02 to 2026-11-04, each paid in full by
one payment, written as rows with exact amounts and timestamps; the refunds are rows too,
except the one made in Stripe's dashboard, which arrives only as a signed webhook. Every
figure is worked out by hand in the comments (goods / shipping / duties = grand total).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from catalog.models import Sku
from orders.models import Order, OrderLine, Payment, Refund
from orders.reports.definitions import report_range
from orders.reports.queries import in_range
from shop.admin.reports_api import DutiesReportSchema, SalesReportSchema
from shop.core.extensions import db
from tests import factories as f
from warehouse.services import create_staff

RANGE = {"from": "2026-11-02", "to": "2026-11-04"}
WEBHOOK_SECRET = "whsec_reports_test"


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


@pytest.fixture
def shop(app):
    app.config.update(PAYMENT_ADAPTERS=("manual", "stripe"), STRIPE_API_KEY="sk_test_reports",
                      STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)  # fmt: skip
    with app.app_context():
        f.node("RU-WH", ships_to=())
        sweets = f.category()
        honey = f.category("honey", en="Honey", ru="Мёд", zh="蜂蜜")
        owner = f.merchant()
        f.product(owner, sweets, "ALENKA", en="Alenka",
                  skus=[("ALENKA-100", "10.00", "CNY", {})])  # fmt: skip
        f.product(owner, honey, "HONEY", en="Honey", country="KZ",
                  skus=[("HONEY-500", "20.00", "CNY", {})])  # fmt: skip
        sku = {s.code: s.id for s in db.session.query(Sku)}

        def order(number, day, status, lines, *, shipping="0", duties="0", adapter="manual"):
            goods = sum(Decimal(price) * quantity for _, quantity, price in lines)
            grand = goods + Decimal(shipping) + Decimal(duties)
            row = Order(
                number=number, status=status, currency="CNY", destination_country="CN",
                goods_total=goods, shipping_total=Decimal(shipping),
                duties_total=Decimal(duties), duties_status="estimated",
                duties={"policy": "CN-CBEC"}, grand_total=grand, paid_amount=grand,
                payment_adapter=adapter, payment_status="succeeded",
                placed_on=at(day).date(), created_at=at(day, 9), updated_at=at(day, 9),
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            db.session.add_all(
                OrderLine(order_id=row.id, sku_id=sku[code], merchant_id=owner.id,
                          sku_code=code, product_name=code, quantity=quantity,
                          unit_price_amount=Decimal(price), unit_price_currency="CNY",
                          origin_country="KZ" if code.startswith("HONEY") else "RU")
                for code, quantity, price in lines
            )  # fmt: skip
            payment = Payment(order_id=row.id, adapter=adapter, reference=f"pi_{number}",
                              amount=grand, currency="CNY", status="succeeded",
                              created_at=at(day, 9))  # fmt: skip
            db.session.add(payment)
            db.session.flush()
            return row, payment

        def refund(placed, amount, day, status="succeeded", hour=15):
            row, payment = placed
            db.session.add(Refund(order_id=row.id, payment_id=payment.id, amount=Decimal(amount),
                                  currency="CNY", status=status, reason="test",
                                  created_at=at(day, hour)))  # fmt: skip

        # P: 80 / 10 / 10 = 100; 25 back on 11-02 = 20 / 2.50 / 2.50.
        p = order("P", 2, "partially_refunded", [("ALENKA-100", 8, "10.00")],
                  shipping="10", duties="10")  # fmt: skip
        refund(p, "25.00", 2)
        # W: 70 / 10 / 0 = 80, paid with Stripe; refunded in the dashboard (the webhook).
        order("W", 2, "shipped", [("HONEY-500", 2, "20.00"), ("ALENKA-100", 3, "10.00")],
              shipping="10", adapter="stripe")  # fmt: skip
        # T: 60 / 30 / 10 = 100 (20 sweets, 40 honey), refunded in two pieces:
        # 10.01 on 11-03 = 6.01 / 3.00 / 1.00 (1001 x 0.6 / 0.3 / 0.1 = 600.6 / 300.3 /
        # 100.1: the spare unit goes to the largest remainder, goods), and the rest, 89.99
        # on 11-04 = 53.99 / 27.00 / 9.00: in all exactly 60 / 30 / 10.
        t = order("T", 3, "refunded", [("ALENKA-100", 2, "10.00"), ("HONEY-500", 2, "20.00")],
                  shipping="30", duties="10")  # fmt: skip
        refund(t, "10.01", 3)
        refund(t, "89.99", 4, status="pending")  # on its way: counted
        # F: 40 sold and refunded in full the same day: a sale, then a refund.
        refund(order("F", 3, "refunded", [("ALENKA-100", 4, "10.00")]), "40.00", 3)
        # X: 30, whose refund failed: the money stayed, nothing is taken off.
        refund(order("X", 3, "delivered", [("HONEY-500", 1, "20.00"), ("ALENKA-100", 1, "10.00")]),
               "30.00", 3, status="failed")  # fmt: skip
        # L: 50 on 11-04, refunded later (the test does it), after the range.
        order("L", 4, "delivered", [("ALENKA-100", 5, "10.00")])
        # C: 50, paid then cancelled and refunded: no sale, and no refund of one.
        refund(order("C", 3, "cancelled", [("ALENKA-100", 5, "10.00")]), "50.00", 3)
        # E: 30 placed before the range, refunded in full on its first day: a refund with
        # no sale in the range.
        refund(order("E", 1, "refunded", [("HONEY-500", 1, "20.00"), ("ALENKA-100", 1, "10.00")]),
               "30.00", 2, hour=1)  # fmt: skip
        db.session.commit()
        app.config["TOKEN"] = create_staff("ops@example.com", None, "operator").token
        db.session.commit()
    return app


def report(app, name, **params):
    response = app.test_client().get(
        f"/api/v1/admin/reports/{name}", query_string={**RANGE, **params},
        headers={"Authorization": f"Bearer {app.config['TOKEN']}"},
    )  # fmt: skip
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    (SalesReportSchema if name == "sales" else DutiesReportSchema)().load(body)
    return body


def stripe_webhook(app, event_id: str, payment_intent: str, amount_refunded: int, day: int):
    """Stripe's ``charge.refunded``, signed: ``amount_refunded`` is the charge's running
    total in fen, not this refund's."""
    event = {
        "id": event_id, "object": "event", "type": "charge.refunded",
        "created": int(at(day, 10).timestamp()),
        "data": {"object": {"id": f"ch_{payment_intent}", "object": "charge",
                            "payment_intent": payment_intent, "currency": "cny",
                            "amount_refunded": amount_refunded, "metadata": {}}},
    }  # fmt: skip
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body,
                         hashlib.sha256).hexdigest()  # fmt: skip
    response = app.test_client().post(
        "/api/v1/payments/stripe/webhook", data=body,
        headers={"Stripe-Signature": f"t={timestamp},v1={signature}",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 200, response.get_json()
    return response.get_json()["outcome"]


def refund_in_the_dashboard(app):
    """16.00 of W refunded at Stripe on 11-04 = 14.00 goods / 2.00 shipping (70 / 10)."""
    stripe_webhook(app, "evt_w_1", "pi_W", 1600, day=4)


def day_rows(body):
    return [(r["key"], r["orders"], r["units"], r["goods_gross"]["amount"],
             r["goods_refunded"]["amount"], r["goods"]["amount"])
            for r in body["rows"]]  # fmt: skip


def test_sales_by_day_are_net_of_refunds_on_the_day_each_was_made(shop):
    refund_in_the_dashboard(shop)
    body = report(shop, "sales", by="day")
    assert day_rows(body) == [
        # P 80 + W 70 sold; P 20 and E 30 (placed 11-01) refunded.
        ("2026-11-02", 2, 13, "150.00", "50.00", "100.00"),
        # T 60 + F 40 + X 30 sold (C cancelled); T 6.01 + F 40 refunded (X's failed).
        ("2026-11-03", 3, 10, "130.00", "46.01", "83.99"),
        # L 50 sold; T 53.99 + W 14.00 refunded: more refunded than sold that day.
        ("2026-11-04", 1, 5, "50.00", "67.99", "-17.99"),
    ]
    assert body["totals"] == {
        "orders": 6, "units": 28,  # refunds of money take no units back
        "goods_gross": money("330.00"), "goods_refunded": money("164.00"),
        "goods": money("166.00"),
        # P 100 + W 80 + T 100 + F 40 + X 30 + L 50; P 25 + E 30 + T 100 + F 40 + W 16.
        "grand_total_gross": money("400.00"), "grand_total_refunded": money("211.00"),
        "grand_total": money("189.00"),
    }  # fmt: skip
    assert body["columns"] == ["key", "label", "orders", "units", "goods_gross",
                               "goods_refunded", "goods"]  # fmt: skip


def test_the_grand_total_is_what_was_paid_less_what_was_refunded(shop):
    refund_in_the_dashboard(shop)
    body = report(shop, "sales", by="day")
    with shop.app_context():
        period = report_range(datetime(2026, 11, 2).date(), datetime(2026, 11, 4).date(),
                              datetime(2026, 12, 1).date())  # fmt: skip
        paid = db.session.scalar(
            select(func.sum(Payment.amount)).join(Order, Order.id == Payment.order_id)
            .where(Payment.status == "succeeded", in_range(Order.created_at, period))
        )  # fmt: skip
        refunded = db.session.scalar(
            select(func.sum(Refund.amount))
            .where(Refund.status != "failed", in_range(Refund.created_at, period))
        )  # fmt: skip
    # 450 paid (C's 50 too) less 261 refunded (C's 50 too, X's failed one not).
    assert (paid, refunded) == (Decimal("450.0000"), Decimal("261.0000"))
    assert Decimal(body["totals"]["grand_total"]["amount"]) == paid - refunded


def test_a_later_refund_leaves_a_closed_period_as_it_was(shop):
    before = report(shop, "sales", by="day")
    with shop.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "L"))
        payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
        db.session.add(Refund(order_id=order.id, payment_id=payment.id, amount=Decimal("20"),
                              currency="CNY", status="succeeded", created_at=at(6)))  # fmt: skip
        order.status = "partially_refunded"
        db.session.commit()
    assert report(shop, "sales", by="day") == before
    later = report(shop, "sales", by="day", **{"from": "2026-11-05", "to": "2026-11-06"})
    assert day_rows(later)[1] == ("2026-11-06", 0, 0, "0.00", "20.00", "-20.00")
    assert later["totals"]["grand_total"] == money("-20.00")


def test_a_refund_in_the_providers_dashboard_is_written_once(shop):
    refund_in_the_dashboard(shop)
    stripe_webhook(shop, "evt_w_1", "pi_W", 1600, day=4)  # the same event again
    stripe_webhook(shop, "evt_w_2", "pi_W", 1600, day=4)  # another event, same total
    with shop.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "W"))
        refunds = db.session.execute(
            select(Refund.amount, Refund.status, Refund.created_at)
            .where(Refund.order_id == order.id)
        ).all()  # fmt: skip
        assert [(r.amount, r.status) for r in refunds] == [(Decimal("16.0000"), "succeeded")]
        made = refunds[0].created_at
        assert (made if made.tzinfo else made.replace(tzinfo=UTC)) == at(4, 10)
        assert order.status == "partially_refunded"
    # A second dashboard refund: the running total grows by 24.00, one row more.
    stripe_webhook(shop, "evt_w_3", "pi_W", 4000, day=4)
    totals = report(shop, "sales", by="day")["totals"]
    assert totals["grand_total_refunded"] == money("235.00")  # 211 + 24
    with shop.app_context():
        assert db.session.scalar(select(func.count(Refund.id)).where(
            Refund.payment_id == select(Payment.id).where(Payment.reference == "pi_W")
            .scalar_subquery())) == 2  # fmt: skip


def test_a_shop_refund_confirmed_by_webhook_is_not_written_twice(shop):
    with shop.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "W"))
        payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
        db.session.add(Refund(order_id=order.id, payment_id=payment.id, amount=Decimal("16"),
                              currency="CNY", status="requested", created_at=at(4, 9)))  # fmt: skip
        db.session.commit()
    stripe_webhook(shop, "evt_w_shop", "pi_W", 1600, day=4)
    with shop.app_context():
        rows = db.session.execute(select(Refund.amount, Refund.status)).all()
        assert (Decimal("16.0000"), "succeeded") in rows
        assert db.session.scalar(select(func.count(Refund.id)).where(
            Refund.order_id == select(Order.id).where(Order.number == "W")
            .scalar_subquery())) == 1  # fmt: skip


def test_duties_are_net_of_their_share_of_the_refunds(shop):
    refund_in_the_dashboard(shop)
    body = report(shop, "duties")
    assert [(r["regime"], r["orders"], r["duties_gross"]["amount"],
             r["duties_refunded"]["amount"], r["duties"]["amount"], r["goods"]["amount"])
            for r in body["rows"]] == [
        # P 10 + T 10 collected; P 2.50 + T 1.00 + 9.00 given back. Goods as the sales'.
        ("CN-CBEC", 6, "20.00", "12.50", "7.50", "166.00"),
    ]  # fmt: skip
    assert body["totals"]["duties"] == money("7.50")
    assert body["totals"]["duties_refunded"] == money("12.50")


def test_an_order_refunded_in_pieces_gives_back_each_part_exactly(shop):
    """T's two refunds over a range holding both: 60 goods (20 sweets, 40 honey) and 10
    duties exactly, however the pieces were rounded."""
    whole = {"from": "2026-11-03", "to": "2026-11-04"}
    by_category = report(shop, "sales", by="category", **whole)
    refunded = {r["key"]: r["goods_refunded"]["amount"] for r in by_category["rows"]}
    # T: 20 sweets + 40 honey; F: 40 sweets.
    assert refunded == {"confectionery": "60.00", "honey": "40.00"}
    assert by_category["totals"]["goods_refunded"] == money("100.00")
    duties = report(shop, "duties", **whole)
    assert duties["totals"]["duties_refunded"] == money("10.00")


@pytest.mark.parametrize("by", ["category", "origin", "destination", "node"])
def test_every_grouping_adds_up_to_the_same_refunds(shop, by):
    refund_in_the_dashboard(shop)
    body = report(shop, "sales", by=by)
    rows = sum(Decimal(r["goods_refunded"]["amount"]) for r in body["rows"])
    if by == "node":  # no parcels in this pavilion: no node holds the goods
        assert rows == 0
        return
    assert rows == Decimal(body["totals"]["goods_refunded"]["amount"]) == Decimal("164.00")
