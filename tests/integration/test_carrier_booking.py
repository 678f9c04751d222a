"""Shipping through CDEK, end to end against the fake CDEK server over loopback: staff get
an answer at once, the job books each parcel exactly once whatever fails in between,
labels print, and tracking reaches the shopper only as CDEK itself tells it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from shop.core import background
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests import fake_cdek as fake_cdek_module
from tests.checkout_world import build_world, order_body
from tests.conftest import make_test_app
from tests.invariants import assert_invariants, fake_cdek_bookings
from warehouse.models import Shipment
from warehouse.services import ledger_mismatches

fake_cdek = fake_cdek_module.fake_cdek


@pytest.fixture
def cdek_shop(backend, postgres_scratch_url, fake_cdek):
    url = "sqlite://" if backend == "sqlite" else postgres_scratch_url
    app = make_test_app(url, CARRIERS=("manual", "cdek"), **fake_cdek.settings())
    with app.app_context():
        if backend == "sqlite":
            db.create_all()
        else:
            from tests.conftest import _truncate_all

            _truncate_all(app)
        world = build_world()
    app.config["WORLD"] = world
    yield app, fake_cdek
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def packed_shipments(app, count=1):
    """``count`` paid one-unit orders at RU-WH, picked and packed; their shipment ids."""
    world = app.config["WORLD"]
    client = app.test_client()
    orders = []
    for _ in range(count):
        order = client.post("/api/v1/orders", json=order_body("LAST-UNITS", 1)).get_json()
        client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                    headers=bearer(world["operator"]))  # fmt: skip
        orders.append(order)
    pick_list = client.post("/api/v1/warehouse/nodes/RU-WH/pick-lists", json={},
                            headers=bearer(world["picker_ru"])).get_json()  # fmt: skip
    ids = [s["id"] for s in pick_list["shipments"]]
    for shipment_id in ids:
        packed = client.post(
            f"/api/v1/warehouse/shipments/{shipment_id}/pack",
            json={"weight_g": 700}, headers=bearer(world["picker_ru"]),
        )  # fmt: skip
        assert packed.status_code == 200, packed.get_json()
    return ids, orders


def ship(app, shipment_id):
    return app.test_client().post(
        f"/api/v1/warehouse/shipments/{shipment_id}/ship", json={"carrier": "cdek"},
        headers=bearer(app.config["WORLD"]["picker_ru"]),
    )  # fmt: skip


def shipment(app, shipment_id):
    with app.app_context():
        row = db.session.get(Shipment, shipment_id)
        db.session.expunge(row)
        return row


def sweep_until_settled(app, rounds=8):
    """What the periodic sweeper does, minute after minute, without waiting for real."""
    now = utcnow()
    with app.app_context():
        for minute in range(1, rounds + 1):
            background.sweep_jobs(now + timedelta(minutes=minute * 20))


def test_staff_get_an_answer_at_once_and_the_job_books_labels_and_ships(cdek_shop):
    app, cdek = cdek_shop
    cdek.polls_until_registered = 1  # registration is asynchronous: one poll later
    [shipment_id], [order] = packed_shipments(app)
    response = ship(app, shipment_id)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "booking_requested"
    sweep_until_settled(app)
    booked = shipment(app, shipment_id)
    assert booked.status == "shipped"
    assert booked.booking_state == "registered"
    assert booked.tracking_number
    number = f"{order['number']}-{shipment_id}"
    assert len(cdek.orders_by_number[number]) == 1
    label = app.test_client().get(f"/api/v1/warehouse/shipments/{shipment_id}/label",
                                  headers=bearer(app.config["WORLD"]["picker_ru"]))  # fmt: skip
    assert label.status_code == 200
    assert label.data.startswith(b"%PDF")
    seen = app.test_client().get(f"/api/v1/orders/{order['number']}",
                                 headers={"X-Order-Token": order["token"]}).get_json()  # fmt: skip
    assert seen["status"] == "shipped"
    assert seen["shipments"][0]["tracking"]["number"] == booked.tracking_number
    with app.app_context():
        assert ledger_mismatches() == []


def test_a_502_then_a_hung_call_still_register_the_parcel_exactly_once(cdek_shop):
    app, cdek = cdek_shop
    [shipment_id], [order] = packed_shipments(app)
    cdek.fail_next("/v2/orders", method="POST", status=502)
    cdek.hang_next("/v2/orders", method="POST")  # registers, then answers too late
    assert ship(app, shipment_id).status_code == 202
    assert shipment(app, shipment_id).status == "booking_requested"
    sweep_until_settled(app)
    number = f"{order['number']}-{shipment_id}"
    assert len(cdek.orders_by_number[number]) == 1
    assert len(cdek.calls("POST", "/v2/orders")) == 2  # the 502 and the hung one; no third
    assert shipment(app, shipment_id).status == "shipped"


def test_parcels_shipped_during_an_outage_are_all_booked_after_it(cdek_shop):
    app, cdek = cdek_shop
    ids, orders = packed_shipments(app, count=3)
    cdek.outage()
    for shipment_id in ids:
        assert ship(app, shipment_id).status_code == 202
    with app.app_context():
        background.sweep_jobs(utcnow() + timedelta(minutes=5))
    assert {shipment(app, i).status for i in ids} == {"booking_requested"}
    cdek.end_outage()
    sweep_until_settled(app)
    assert {shipment(app, i).status for i in ids} == {"shipped"}
    for shipment_id, order in zip(ids, orders, strict=True):
        assert len(cdek.orders_by_number[f"{order['number']}-{shipment_id}"]) == 1
    assert_invariants(app, live_bookings=fake_cdek_bookings(cdek))


def test_an_expired_token_is_renewed(cdek_shop):
    app, cdek = cdek_shop
    [shipment_id], _ = packed_shipments(app)
    cdek.expire_tokens()
    assert ship(app, shipment_id).status_code == 202
    sweep_until_settled(app)
    assert shipment(app, shipment_id).status == "shipped"


def test_a_refused_booking_goes_back_to_packed_with_cdeks_reasons(cdek_shop):
    app, cdek = cdek_shop
    cdek.refuse_city("Moscow", "v2_entity_not_found", "Unknown city")
    [shipment_id], _ = packed_shipments(app)
    assert ship(app, shipment_id).status_code == 202
    sweep_until_settled(app)
    refused = shipment(app, shipment_id)
    assert refused.status == "packed"
    assert refused.booking_state == "failed"
    assert "v2_entity_not_found" in refused.last_error
    # The answer is on the shipment, where pickers act on it: not a dead letter.
    jobs = app.test_client().get("/api/v1/warehouse/jobs?state=dead",
                                 headers=bearer(app.config["WORLD"]["operator"]))  # fmt: skip
    assert jobs.status_code == 200
    assert jobs.get_json()["counts"]["dead"] == 0
    picker = bearer(app.config["WORLD"]["picker_ru"])
    picker_view = app.test_client().get("/api/v1/warehouse/jobs", headers=picker)
    assert picker_view.status_code == 403


def test_webhooks_are_hints_the_shop_re_reads_cdek(cdek_shop):
    app, cdek = cdek_shop
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    sweep_until_settled(app)
    booked = shipment(app, shipment_id)
    [fake_order] = cdek.orders_by_number[f"{order['number']}-{shipment_id}"]
    client = app.test_client()
    url = "/api/v1/carriers/cdek/webhook"
    # A forged "delivered" that CDEK itself does not confirm changes nothing.
    forged = client.post(url, data=cdek.webhook_body(fake_order, code="DELIVERED"),
                         content_type="application/json")  # fmt: skip
    assert forged.status_code == 200
    assert shipment(app, shipment_id).status == "shipped"
    assert client.post(url, data=b"not json").get_json()["outcome"] == "received"
    # When CDEK says it, the shop follows at once, and so does the order: the forged
    # notice seconds before does not hold back the genuine one.
    cdek.add_status(fake_order, "DELIVERED", city="Moscow")
    confirmed = client.post(url, data=cdek.webhook_body(fake_order),
                            content_type="application/json")  # fmt: skip
    assert confirmed.get_json()["outcome"] == "received"
    assert shipment(app, shipment_id).status == "delivered"
    seen = client.get(f"/api/v1/orders/{order['number']}",
                      headers={"X-Order-Token": order["token"]}).get_json()  # fmt: skip
    assert seen["status"] == "delivered"
    assert [e["status"] for e in seen["shipments"][0]["events"]][-1] == "delivered"
    assert booked.tracking_number == seen["shipments"][0]["tracking"]["number"]


def refresh_jobs(app, shipment_id):
    with app.app_context():
        jobs = db.session.scalars(
            select(background.Job).where(background.Job.name == "carriers.refresh_tracking")
        ).all()
        found = [(job.id, job.state) for job in jobs if job.kwargs == {"shipment_id": shipment_id}]
        db.session.rollback()
    return found


def test_a_forged_notice_never_delays_the_genuine_one_cdek_confirms(cdek_shop):
    """CDEK sends several statuses a minute; any of them may follow a notice CDEK does
    not confirm (a forgery, or one early). Each is re-read as it comes."""
    app, cdek = cdek_shop
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    sweep_until_settled(app)
    [fake_order] = cdek.orders_by_number[f"{order['number']}-{shipment_id}"]
    client = app.test_client()
    url = "/api/v1/carriers/cdek/webhook"
    for code in ("DELIVERED", "ACCEPTED_AT_PICK_UP_POINT", "DELIVERED"):
        forged = cdek.webhook_body(fake_order, code=code)
        assert client.post(url, data=forged, content_type="application/json").status_code == 200
    assert shipment(app, shipment_id).status == "shipped"
    cdek.add_status(fake_order, "SENT_TO_RECIPIENT_CITY", city="Moscow")
    client.post(url, data=cdek.webhook_body(fake_order), content_type="application/json")
    assert shipment(app, shipment_id).status == "in_transit"
    cdek.add_status(fake_order, "DELIVERED", city="Moscow")
    client.post(url, data=cdek.webhook_body(fake_order), content_type="application/json")
    assert shipment(app, shipment_id).status == "delivered"


def test_a_repeat_of_a_confirmed_notice_costs_no_read_of_cdek(cdek_shop):
    app, cdek = cdek_shop
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    sweep_until_settled(app)
    [fake_order] = cdek.orders_by_number[f"{order['number']}-{shipment_id}"]
    client = app.test_client()
    url = "/api/v1/carriers/cdek/webhook"
    cdek.add_status(fake_order, "DELIVERED", city="Moscow")
    genuine = cdek.webhook_body(fake_order)
    client.post(url, data=genuine, content_type="application/json")
    assert shipment(app, shipment_id).status == "delivered"
    reads = len(refresh_jobs(app, shipment_id))
    # CDEK repeats a notice it thinks we missed: the event is stored, nothing to read.
    assert client.post(url, data=genuine, content_type="application/json").status_code == 200
    assert len(refresh_jobs(app, shipment_id)) == reads


def test_a_notice_joins_a_re_read_waiting_to_start_never_one_that_ran(cdek_shop):
    app, cdek = cdek_shop
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    sweep_until_settled(app)
    [fake_order] = cdek.orders_by_number[f"{order['number']}-{shipment_id}"]
    before = {job_id for job_id, _ in refresh_jobs(app, shipment_id)}
    with app.app_context():
        # A re-read queued and not yet started (a busy worker): held back an hour.
        waiting = background.enqueue(
            "carriers.refresh_tracking", delay=3600, shipment_id=shipment_id
        ).id
        db.session.commit()
    client = app.test_client()
    url = "/api/v1/carriers/cdek/webhook"
    cdek.add_status(fake_order, "SENT_TO_RECIPIENT_CITY", city="Moscow")
    for _ in range(3):
        client.post(url, data=cdek.webhook_body(fake_order), content_type="application/json")
    # Every notice joined the waiting read, which will read CDEK after all of them.
    assert {j for j, _ in refresh_jobs(app, shipment_id)} - before == {waiting}
    with app.app_context():
        db.session.execute(
            update(background.Job).where(background.Job.id == waiting)
            .values(next_attempt_at=utcnow())
        )  # fmt: skip
        db.session.commit()
        assert background.run_job(waiting) == "done"
    assert shipment(app, shipment_id).status == "in_transit"
    # Once it ran, the next notice gets a read of its own.
    cdek.add_status(fake_order, "DELIVERED", city="Moscow")
    client.post(url, data=cdek.webhook_body(fake_order), content_type="application/json")
    assert len({j for j, _ in refresh_jobs(app, shipment_id)} - before) == 2
    assert shipment(app, shipment_id).status == "delivered"


def test_manual_shipping_needs_no_carrier(cdek_shop):
    app, _ = cdek_shop
    [shipment_id], _ = packed_shipments(app)
    response = app.test_client().post(
        f"/api/v1/warehouse/shipments/{shipment_id}/ship",
        json={"carrier": "manual", "tracking_number": "RR1", "carrier_name": "Russian Post"},
        headers=bearer(app.config["WORLD"]["picker_ru"]),
    )  # fmt: skip
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Shipment.status).where(Shipment.id == shipment_id)) == (
            "shipped"
        )


def test_checkout_prices_cdek_lanes_with_cdeks_tariff_or_says_it_could_not(cdek_shop):
    app, cdek = cdek_shop
    client = app.test_client()
    quoted = client.post("/api/v1/orders", json=order_body("LAST-UNITS", 1)).get_json()
    [parcel] = quoted["shipments"]
    assert len(cdek.calls("POST", "/v2/calculator/tarifflist")) == 1
    cart = client.post("/api/v1/carts", json={"lines": [{"sku": "LAST-UNITS", "quantity": 1}],
                       "currency": "RUB"}).get_json()  # fmt: skip
    view = client.get(f"/api/v1/carts/{cart['id']}?destination=RU&postal_code=101000",
                      headers={"X-Cart-Token": cart["token"]}).get_json()  # fmt: skip
    [shipment] = view["quote"]["shipments"]
    assert shipment["shipping_source"].startswith("cdek tariff")
    # CDEK down: the lane's own table prices the parcel, and the quote says so.
    cdek.outage()
    app.extensions.pop("pavilion.carrier_quotes", None)
    fallback = client.get(f"/api/v1/carts/{cart['id']}?destination=RU&postal_code=101000",
                          headers={"X-Cart-Token": cart["token"]}).get_json()  # fmt: skip
    [shipment] = fallback["quote"]["shipments"]
    assert shipment["shipping_source"] == "lane table (cdek unreachable)"
    assert Decimal(shipment["shipping"]["amount"]) > 0
    assert parcel["node"] == "RU-WH"


def test_cancelling_while_the_parcel_is_being_booked_withdraws_the_booking(cdek_shop):
    app, cdek = cdek_shop
    cdek.polls_until_registered = 1000  # CDEK keeps processing
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    with app.app_context():
        background.sweep_jobs(utcnow() + timedelta(minutes=5))
    assert shipment(app, shipment_id).carrier_reference
    cancelled = app.test_client().post(
        f"/api/v1/orders/{order['number']}/cancel", json={"reason": "customer called"},
        headers=bearer(app.config["WORLD"]["operator"]),
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.get_json()
    sweep_until_settled(app)
    withdrawn = shipment(app, shipment_id)
    assert withdrawn.status == "cancelled"
    assert withdrawn.booking_state == "cancelled"
    assert len(cdek.calls("DELETE")) == 1
    with app.app_context():
        assert ledger_mismatches() == []
