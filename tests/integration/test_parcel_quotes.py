"""Quotes per planned parcel, on PostgreSQL, against the fake CDEK over real HTTP: an
order split into two CDEK parcels pays each parcel's own quote (its weight and box), not
the whole order's price twice; a parcel over CDEK's parcel limit is refused, not priced
by the lane's table."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, update

from catalog.models import Category, Merchant, Sku
from shop.core.extensions import db
from tests import factories as f
from tests import fake_cdek as fake_cdek_module
from tests.checkout_world import build_world, order_body
from tests.conftest import make_test_app
from warehouse.models import Lane, LaneLeg, Node
from warehouse.services import OnHandChange, set_on_hand

fake_cdek = fake_cdek_module.fake_cdek

# One Посылка tariff in this test's CDEK, so each price is known: 400 RUB + 100 per
# started billed kg (weight or volume / 5000, whichever is greater).
TARIFF = (137, "Посылка склад-дверь", 3, 400, 100, 3, 6)
PUER = ("PUER-357", (200, 200, 40), 400)  # code, size (mm), weight (g): a tea cake
KETTLE = ("KETTLE-1", (250, 200, 200), 900)  # light and bulky


def cdek_lane(code, node, **limits):
    return Lane(
        code=code, node_id=node.id, countries=["RU"], regions=[], cutoff_time="16:00",
        timezone="Asia/Shanghai", refuses_categories=[], refuses_hs_prefixes=[],
        requires_cbec_positive_list=False, **limits,
        legs=[LaneLeg(position=1, carrier="cdek", service="warehouse-door (tariff 137)",
                      transit_days_min=5, transit_days_max=12, cost_base=Decimal("900"),
                      cost_per_kg=Decimal("150"), cost_currency="RUB")],
    )  # fmt: skip


@pytest.fixture
def shop(postgres_scratch_url, fake_cdek):
    fake_cdek.tariffs = [TARIFF]
    app = make_test_app(
        postgres_scratch_url, CARRIERS=("manual", "cdek"),
        **fake_cdek.settings(CDEK_SENDER_LOCATIONS={"CN-SFH": 12345, "CN-URC": 12346}),
    )  # fmt: skip
    with app.app_context():
        from tests.conftest import _truncate_all

        _truncate_all(app)
        world = build_world()
        nodes = {n.code: n for n in db.session.scalars(select(Node))}
        db.session.add_all([cdek_lane("CN-SFH-RU", nodes["CN-SFH"]),
                            cdek_lane("CN-URC-RU", nodes["CN-URC"])])  # fmt: skip
        owner = db.session.scalar(select(Merchant))
        tea = db.session.scalar(select(Category).where(Category.slug == "tea-coffee"))
        changes = []
        for (code, (length, width, height), weight), node in ((PUER, "CN-SFH"),
                                                              (KETTLE, "CN-URC")):  # fmt: skip
            f.product(owner, tea, code, en=code, country="CN",
                      skus=[(code, "300.00", "RUB", {})])  # fmt: skip
            db.session.execute(
                update(Sku).where(Sku.code == code)
                .values(weight_g=weight, length_mm=length, width_mm=width, height_mm=height)
            )  # fmt: skip
            sku_id = db.session.scalar(select(Sku.id).where(Sku.code == code))
            changes.append(OnHandChange(sku_id, nodes[node].id, 100))
        db.session.commit()
        set_on_hand(changes, reason="receipt", actor="test")
        db.session.commit()
    app.config["WORLD"] = world
    yield app, fake_cdek
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def two_lines(puer, kettles):
    body = order_body(PUER[0], puer)
    body["lines"].append({"sku": KETTLE[0], "quantity": kettles})
    return body


def cdek_price(package):
    return Decimal(400 + 100 * max(1, -(-fake_cdek_module.billed_kg(package) // 1)))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session")
def test_an_order_split_into_two_cdek_parcels_pays_each_parcels_own_quote(shop, backend):
    app, cdek = shop
    client = app.test_client()

    order = client.post("/api/v1/orders", json=two_lines(3, 2))
    assert order.status_code == 201, order.get_json()
    order = order.get_json()

    calls = cdek.calls("POST", "/v2/calculator/tarifflist")
    asked = {call.json["from_location"]["code"]: call.json["packages"] for call in calls}
    # One quote per parcel, each with that parcel's band: its weight and its box.
    assert asked == {
        # 3 cakes (4.8 l) in box "3", 350 × 230 × 190 mm; 1.2 kg: the 2 kg band.
        12345: [{"weight": 2000, "length": 35, "width": 25, "height": 20}],
        # 2 kettles (20 l) in box "1", 530 × 370 × 290 mm; 1.8 kg: the 2 kg band.
        12346: [{"weight": 2000, "length": 55, "width": 40, "height": 30}],
    }
    quotes = {code: cdek_price(packages[0]) for code, packages in asked.items()}
    # Billed by volume: 17.5 l / 5 = 3.5 → 4 kg; 66 l / 5 = 13.2 → 14 kg.
    assert quotes == {12345: Decimal(800), 12346: Decimal(1800)}
    assert Decimal(order["totals"]["shipping"]["amount"]) == sum(quotes.values())
    # Not the whole order's price twice (one 3.6 kg parcel quoted for both).
    whole_order = cdek_price({"weight": 3 * 400 + 2 * 900})
    assert sum(quotes.values()) != 2 * whole_order

    lines = two_lines(3, 2)["lines"]
    cart = client.post("/api/v1/carts", json={"lines": lines, "currency": "RUB"}).get_json()
    view = client.get(f"/api/v1/carts/{cart['id']}?destination=RU&postal_code=101000",
                      headers={"X-Cart-Token": cart["token"]}).get_json()  # fmt: skip
    parcels = {p["node"]: p for p in view["quote"]["shipments"]}
    assert {n: Decimal(p["shipping"]["amount"]) for n, p in parcels.items()} == {
        "CN-SFH": Decimal(800), "CN-URC": Decimal(1800),
    }  # fmt: skip
    assert {p["shipping_source"] for p in parcels.values()} == {"cdek tariff 137"}
    assert {p["tariff_code"] for p in parcels.values()} == {"137"}
    assert parcels["CN-URC"]["size_mm"] == [530, 370, 290]
    # Asked again for the same destination and bands, CDEK is not (the quotes are kept).
    asked_so_far = len(cdek.calls("POST", "/v2/calculator/tarifflist"))
    again = client.get(f"/api/v1/carts/{cart['id']}?destination=RU&postal_code=101000",
                       headers={"X-Cart-Token": cart["token"]}).get_json()  # fmt: skip
    assert again["quote"]["totals"] == view["quote"]["totals"]
    assert len(cdek.calls("POST", "/v2/calculator/tarifflist")) == asked_so_far


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session")
def test_a_parcel_over_cdeks_parcel_limit_is_refused_not_priced_by_the_lane_table(shop, backend):
    app, cdek = shop
    # 34 kettles: 30.6 kg in one parcel; the lane itself sets no weight limit.
    refused = app.test_client().post("/api/v1/orders", json=order_body(KETTLE[0], 34))

    assert refused.status_code == 422, refused.get_json()
    problem = refused.get_json()
    assert problem["code"] == "corridor_refuses"
    assert "cdek refuses it (no tariff offered for a parcel of 31 kg" in str(problem)
    [call] = cdek.calls("POST", "/v2/calculator/tarifflist")
    assert call.json["packages"][0]["weight"] == 31_000


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True, scope="session")
def test_a_node_split_into_two_cdek_parcels_asks_and_pays_each_parcels_own_band(shop, backend):
    app, cdek = shop
    with app.app_context():  # CDEK's Посылка limit on the lane: 32 kg of tea splits
        db.session.execute(
            update(Lane).where(Lane.code == "CN-SFH-RU").values(max_parcel_weight_g=30_000)
        )
        db.session.commit()

    order = app.test_client().post("/api/v1/orders", json=order_body(PUER[0], 80))
    assert order.status_code == 201, order.get_json()
    order = order.get_json()

    asked = sorted(
        (call.json["packages"] for call in cdek.calls("POST", "/v2/calculator/tarifflist")),
        key=lambda packages: -packages[0]["weight"],
    )
    # One quote per parcel of the split, each for its own band, never the node's 32 kg:
    # 75 cakes (120 l at 75 %: a 543 mm carton), 30 kg; 5 cakes (10.7 l: box "3"), 2 kg.
    assert asked == [
        [{"weight": 30_000, "length": 55, "width": 55, "height": 55}],
        [{"weight": 2_000, "length": 35, "width": 25, "height": 20}],
    ]
    # Billed by volume: 166.4 l / 5 = 33.3 → 34 kg; 17.5 l / 5 = 3.5 → 4 kg.
    quotes = [cdek_price(packages[0]) for packages in asked]
    assert quotes == [Decimal(3800), Decimal(800)]
    parcels = sorted(order["shipments"], key=lambda p: p["parcel"]["number"])
    assert [(p["parcel"], Decimal(p["shipping"]["amount"])) for p in parcels] == [
        ({"number": 1, "of": 2}, Decimal(3800)),
        ({"number": 2, "of": 2}, Decimal(800)),
    ]
    assert Decimal(order["totals"]["shipping"]["amount"]) == sum(quotes)
