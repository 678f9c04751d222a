"""Booking, labels and tracking when runs overlap: a second run of one job, a new
request while the first is still sending, a cancellation mid-booking, jobs that die,
webhooks from strangers, a carrier that stops answering quotes, concurrent refreshes.

Jobs are run by hand here (dispatch is switched off), so each test decides what
happens while which call is in flight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from shop.core import background
from shop.core.background import after_commit
from shop.core.clock import utcnow
from shop.core.extensions import db
from tests import fake_cdek as fake_cdek_module
from tests.integration import test_carrier_booking as booking_tests
from warehouse import shipping
from warehouse.carriers import base as carriers
from warehouse.models import Shipment, ShipmentLabel, TrackingEvent
from warehouse.services import ledger_mismatches

fake_cdek = fake_cdek_module.fake_cdek
cdek_shop = booking_tests.cdek_shop
bearer, packed_shipments, ship, shipment = (
    booking_tests.bearer,
    booking_tests.packed_shipments,
    booking_tests.ship,
    booking_tests.shipment,
)


@pytest.fixture
def by_hand(cdek_shop, monkeypatch):
    """The shop with jobs left in their rows until a test runs them."""
    monkeypatch.setattr(after_commit, "_dispatch", lambda app, jobs: None)
    return cdek_shop


def job_ids(app, name="carriers.book_shipment"):
    with app.app_context():
        ids = db.session.scalars(
            select(background.Job.id).where(background.Job.name == name).order_by(background.Job.id)
        ).all()
        db.session.remove()
        return ids


def job(app, job_id):
    with app.app_context():
        row = db.session.get(background.Job, job_id)
        db.session.expunge(row)
        db.session.remove()
        return row


def run(app, job_id):
    """Run one job now (as if its backoff were over)."""
    with app.app_context():
        try:
            db.session.execute(
                update(background.Job)
                .where(background.Job.id == job_id)
                .values(next_attempt_at=utcnow())
            )
            db.session.commit()
            return background.run_job(job_id)
        finally:
            db.session.remove()


def run_all(app, name, rounds=10):
    for _ in range(rounds):
        pending = [j for j in job_ids(app, name) if job(app, j).state in ("pending", "running")]
        if not pending:
            return
        for job_id in pending:
            run(app, job_id)


def adapter(app):
    with app.app_context():
        return shipping.carrier("cdek")


def while_booking(app, monkeypatch, during):
    """Call ``during()`` while the first ``book`` is in flight, before CDEK gets it."""
    cdek = adapter(app)
    real = cdek.book
    fired = []

    def book(request):
        if not fired:
            fired.append(True)
            during()
        return real(request)

    monkeypatch.setattr(cdek, "book", book)


def live_orders(cdek, number):
    return [o for o in cdek.orders_by_number.get(number, []) if not o.deleted]


# ------------------------------------------------------------------ booking once


def test_a_second_run_of_the_job_while_the_first_is_sending_books_nothing(by_hand, monkeypatch):
    app, cdek = by_hand
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    [book_job] = job_ids(app)
    second_run = []

    def lease_runs_out_and_the_sweeper_runs_it_again():
        with app.app_context():
            db.session.execute(
                update(background.Job).values(locked_until=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
            db.session.remove()
        second_run.append(run(app, book_job))

    while_booking(app, monkeypatch, lease_runs_out_and_the_sweeper_runs_it_again)
    run(app, book_job)
    assert second_run == ["retrying"]  # another run is sending: it looks again later
    run_all(app, "carriers.book_shipment")
    number = f"{order['number']}-{shipment_id}"
    assert len(cdek.orders_by_number[number]) == 1
    assert shipment(app, shipment_id).status == "shipped"


def test_asking_again_while_the_first_request_is_sending_leaves_one_live_booking(
    by_hand, monkeypatch
):
    app, cdek = by_hand
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    [first, *_] = job_ids(app)

    def given_back_and_asked_again():
        # The first request is given up on (a refusal, a dead job) and staff ship again.
        with app.app_context():
            db.session.execute(
                update(Shipment).where(Shipment.id == shipment_id).values(status="packed")
            )
            db.session.commit()
            db.session.remove()
        assert ship(app, shipment_id).status_code == 202
        [_, second] = job_ids(app)
        run(app, second)

    while_booking(app, monkeypatch, given_back_and_asked_again)
    run(app, first)
    run_all(app, "carriers.book_shipment")
    run_all(app, "carriers.cancel_booking")
    number = f"{order['number']}-{shipment_id}"
    [live] = live_orders(cdek, number)
    booked = shipment(app, shipment_id)
    assert booked.status == "shipped"
    assert booked.carrier_reference == live.uuid


def test_asking_again_after_a_lost_answer_adopts_the_booking_cdek_made(by_hand):
    app, cdek = by_hand
    cdek.polls_until_registered = 5
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    [first] = job_ids(app)
    assert run(app, first) == "retrying"  # booked, CDEK still registering
    [cdek_order] = cdek.orders.values()
    cdek.fail_next(f"/v2/orders/{cdek_order.uuid}", status=403, method="GET")
    assert run(app, first) == "dead"
    given_back = shipment(app, shipment_id)
    assert (given_back.status, given_back.booking_state) == ("packed", "failed")
    assert "403" in given_back.last_error
    cdek.polls_until_registered = 0
    assert ship(app, shipment_id).status_code == 202
    run_all(app, "carriers.book_shipment")
    assert len(cdek.calls("POST", "/v2/orders")) == 1  # looked up, never sent again
    assert len(cdek.orders_by_number[f"{order['number']}-{shipment_id}"]) == 1
    assert shipment(app, shipment_id).status == "shipped"


def test_a_booking_given_up_in_an_outage_goes_back_to_the_pickers_with_the_reason(by_hand):
    app, cdek = by_hand
    app.config["JOB_MAX_ATTEMPTS"] = 2
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    [book_job] = job_ids(app)
    cdek.outage()
    assert [run(app, book_job), run(app, book_job)] == ["retrying", "dead"]
    cdek.end_outage()
    picker = bearer(app.config["WORLD"]["picker_ru"])
    listed = app.test_client().get("/api/v1/warehouse/shipments?status=packed", headers=picker)
    [seen] = [s for s in listed.get_json()["items"] if s["id"] == shipment_id]
    assert (seen["status"], seen["booking_state"]) == ("packed", "failed")
    assert "carrier unavailable" in seen["last_error"]
    # Shipping again asks CDEK under our number before sending anything.
    assert ship(app, shipment_id).status_code == 202
    run_all(app, "carriers.book_shipment")
    lookups = cdek.calls("GET", "/v2/orders")
    assert lookups
    assert lookups[0].query["im_number"] == [f"{order['number']}-{shipment_id}"]
    assert len(cdek.orders_by_number[f"{order['number']}-{shipment_id}"]) == 1
    assert shipment(app, shipment_id).status == "shipped"


def test_a_carrier_that_is_not_configured_gives_the_parcel_back(by_hand):
    app, cdek = by_hand
    [shipment_id], _ = packed_shipments(app)
    ship(app, shipment_id)
    [book_job] = job_ids(app)
    cdek.client_secret = "changed-at-cdek"  # our credentials no longer work
    cdek.expire_tokens()
    assert run(app, book_job) == "dead"
    given_back = shipment(app, shipment_id)
    assert (given_back.status, given_back.booking_state) == ("packed", "failed")
    assert "not configured" in given_back.last_error


# ------------------------------------------------------------------ cancelling


def test_cancelling_while_the_booking_is_sent_withdraws_it(by_hand, monkeypatch):
    app, cdek = by_hand
    [shipment_id], [order] = packed_shipments(app)
    ship(app, shipment_id)
    [book_job] = job_ids(app)

    def cancel_the_order():
        cancelled = app.test_client().post(
            f"/api/v1/orders/{order['number']}/cancel", json={"reason": "changed mind"},
            headers=bearer(app.config["WORLD"]["operator"]),
        )  # fmt: skip
        assert cancelled.status_code == 200, cancelled.get_json()
        run_all(app, "carriers.cancel_booking", rounds=1)  # nothing at CDEK yet

    while_booking(app, monkeypatch, cancel_the_order)
    run(app, book_job)
    run_all(app, "carriers.cancel_booking")
    run_all(app, "carriers.fetch_label")
    assert live_orders(cdek, f"{order['number']}-{shipment_id}") == []
    withdrawn = shipment(app, shipment_id)
    assert (withdrawn.status, withdrawn.booking_state) == ("cancelled", "cancelled")
    with app.app_context():
        assert db.session.scalar(select(ShipmentLabel.id)) is None
        assert ledger_mismatches() == []


def test_cancelling_after_a_lost_answer_finds_the_booking_by_our_number(by_hand):
    app, cdek = by_hand
    [shipment_id], [order] = packed_shipments(app)
    cdek.hang_next("/v2/orders", method="POST")  # CDEK registers; the answer is lost
    ship(app, shipment_id)
    [book_job] = job_ids(app)
    assert run(app, book_job) == "retrying"
    assert shipment(app, shipment_id).carrier_reference is None
    cancelled = app.test_client().post(
        f"/api/v1/orders/{order['number']}/cancel", json={"reason": "changed mind"},
        headers=bearer(app.config["WORLD"]["operator"]),
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.get_json()
    run_all(app, "carriers.cancel_booking")
    run_all(app, "carriers.book_shipment")
    assert live_orders(cdek, f"{order['number']}-{shipment_id}") == []
    assert shipment(app, shipment_id).booking_state == "cancelled"


def test_a_label_is_not_fetched_for_a_cancelled_parcel(by_hand):
    app, _ = by_hand
    [shipment_id], _ = packed_shipments(app)
    with app.app_context():
        db.session.execute(
            update(Shipment).where(Shipment.id == shipment_id)
            .values(status="cancelled", carrier="cdek", carrier_reference="gone",
                    tracking_number="1")
        )  # fmt: skip
        db.session.commit()
        assert shipping.fetch_label(shipment_id) == "nothing to do"


# ------------------------------------------------------------------ webhooks


def test_the_webhook_tells_strangers_nothing_and_re_reads_a_parcel_once_a_minute(by_hand):
    app, _ = by_hand
    ids, orders = packed_shipments(app, count=2)
    ship(app, ids[0])
    run_all(app, "carriers.book_shipment")
    ship(app, ids[1])  # still booking_requested, no CDEK reference yet
    client = app.test_client()
    url = "/api/v1/carriers/cdek/webhook"

    def notice(number):
        body = {"type": "ORDER_STATUS", "uuid": "nope",
                "attributes": {"number": number, "status_code": "DELIVERED"}}  # fmt: skip
        return client.post(url, json=body).get_json()["outcome"]

    outcomes = {
        notice(f"anything-{ids[0]}"),
        notice("anything-999"),
        notice(f"{orders[1]['number']}-{ids[1]}"),
        notice("not json at all"),
    }
    assert outcomes == {"received"}
    assert job_ids(app, "carriers.refresh_tracking") == []
    for _ in range(20):
        assert notice(f"{orders[0]['number']}-{ids[0]}") == "received"
    assert len(job_ids(app, "carriers.refresh_tracking")) == 1


# ------------------------------------------------------------------ quotes at checkout


def test_an_unreachable_carrier_is_not_asked_again_for_a_minute(by_hand):
    app, cdek = by_hand
    client = app.test_client()
    cart = client.post("/api/v1/carts", json={"lines": [{"sku": "LAST-UNITS", "quantity": 1}],
                       "currency": "RUB"}).get_json()  # fmt: skip
    cdek.outage(mode="503")
    asked = None
    for _ in range(3):
        view = client.get(f"/api/v1/carts/{cart['id']}?destination=RU&postal_code=101000",
                          headers={"X-Cart-Token": cart["token"]}).get_json()  # fmt: skip
        [parcel] = view["quote"]["shipments"]
        assert parcel["shipping_source"] == "lane table (cdek unreachable)"
        asked = asked or len(cdek.calls())
    assert asked >= 1
    assert len(cdek.calls()) == asked  # not asked again while it was down


def test_the_quote_cache_forgets_old_quotes_once_it_grows(by_hand):
    app, _ = by_hand
    with app.app_context():
        cache = app.extensions.setdefault("pavilion.carrier_quotes", {})
        for n in range(shipping.QUOTE_CACHE_MAX_ENTRIES + 5):
            cache[("old lane", n)] = (-1e9, None)
        lanes = tuple(shipping.routing_world().lanes)
        destination = shipping.routing.Destination(country="RU", postal_code="101000")
        band = shipping.routing.ParcelBand.of(700, (310, 220, 150))
        quoted = shipping.parcel_quotes(
            lanes, destination, city="Moscow", parcels=[("RU-WH-RU", band)]
        )
        assert quoted.find("RU-WH-RU", band).cost
        assert not any(key[0] == "old lane" for key in cache if isinstance(key, tuple))
        assert len(cache) < 10


# ------------------------------------------------------------------ labels and tracking


def booked_parcel(app):
    [shipment_id], _ = packed_shipments(app)
    ship(app, shipment_id)
    run_all(app, "carriers.book_shipment")
    assert shipment(app, shipment_id).status == "shipped"
    return shipment_id


def test_a_carrier_repeating_an_event_in_one_answer_is_stored_once(by_hand, monkeypatch):
    app, _ = by_hand
    shipment_id = booked_parcel(app)
    at = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    twice = [carriers.TrackingEvent("RECEIVED_AT_SHIPMENT_WAREHOUSE", "accepted", at)] * 2
    monkeypatch.setattr(adapter(app), "track", lambda booking: list(twice))
    with app.app_context():
        background.enqueue("carriers.refresh_tracking", key="t", shipment_id=shipment_id)
    [refresh] = job_ids(app, "carriers.refresh_tracking")
    assert run(app, refresh) == "done"
    with app.app_context():
        assert len(db.session.scalars(select(TrackingEvent.id)).all()) == 1


# PostgreSQL only: the SQLite test database is one shared connection, so there is no
# second transaction to race with.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session")
def test_two_refreshes_at_once_store_each_event_once_and_neither_dies(by_hand, backend):
    app, _ = by_hand
    shipment_id = booked_parcel(app)
    other_run = []

    def the_other_run_stores_them_first(session, flush_context, instances):
        with app.app_context():
            other_run.append(shipping.refresh_tracking(shipment_id))
            db.session.remove()

    event.listen(Session, "before_flush", the_other_run_stores_them_first, once=True)
    with app.app_context():
        background.enqueue("carriers.refresh_tracking", key="t", shipment_id=shipment_id)
    [refresh] = job_ids(app, "carriers.refresh_tracking")
    assert run(app, refresh) == "retrying"  # read again: the other run's view may be older
    assert other_run
    assert other_run[0] >= 1
    assert run(app, refresh) == "done"


def test_two_label_fetches_at_once_store_one_label_and_neither_dies(by_hand, monkeypatch):
    app, _ = by_hand
    shipment_id = booked_parcel(app)
    cdek = adapter(app)
    real = cdek.label
    fired = []

    def label(booking, print_reference=None):
        pdf = real(booking, print_reference=print_reference)
        if not fired:
            fired.append(True)
            with app.app_context():  # the other run stores it first
                db.session.add(ShipmentLabel(shipment_id=shipment_id, carrier="cdek", pdf=pdf))
                db.session.commit()
                db.session.remove()
        return pdf

    monkeypatch.setattr(cdek, "label", label)
    run_all(app, "carriers.fetch_label")
    [fetch] = job_ids(app, "carriers.fetch_label")
    assert job(app, fetch).state == "done"
    with app.app_context():
        assert len(db.session.scalars(select(ShipmentLabel.id)).all()) == 1
