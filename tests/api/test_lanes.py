"""Lanes: seeded data, the staff API, and the operator's changes."""

from __future__ import annotations

import pytest

from catalog.money import Money
from shop.core.errors import NotFound, ValidationFailed
from shop.core.extensions import db
from shop.seed import seed_reference_data
from warehouse.services import LaneChange, create_staff, get_lane, list_lanes, update_lane


@pytest.fixture
def lanes_app(app):
    with app.app_context():
        seed_reference_data()
        app.config["TOKENS"] = {
            "picker": create_staff("picker@example.com", "RU-USS").token,
            "operator": create_staff("ops@example.com", None, "operator").token,
        }
    return app


def get(app, path, who):
    headers = {"Authorization": f"Bearer {app.config['TOKENS'][who]}"} if who else {}
    return app.test_client().get(path, headers=headers)


def test_the_seeded_lanes_follow_the_corridors(lanes_app):
    with lanes_app.app_context():
        lanes = {lane["code"]: lane for lane in list_lanes()}
    assert set(lanes) == {
        "RU-WH-RU", "RU-WH-EAEU", "RU-USS-RUFE", "RU-USS-CN", "CN-SFH-CN", "CN-URC-CN", "CN-URC-CA",
    }  # fmt: skip
    crossing = lanes["RU-USS-CN"]
    assert [leg["service"] for leg in crossing["legs"]][1] == "border crossing and CBEC clearance"
    assert crossing["legs"][1]["crossing"] == "Pogranichny–Suifenhe"
    assert crossing["legs"][1]["customs_mode"] == "9610"
    assert crossing["transit_days"] == {"min": 4, "max": 9}
    assert crossing["refuses"]["outside_cbec_positive_list"] is True
    assert lanes["CN-URC-CA"]["countries"] == ["KZ", "KG", "UZ", "TJ"]
    assert "RU-PRI" in lanes["RU-USS-RUFE"]["regions"]


def test_pickers_read_their_nodes_lanes_and_operators_all(lanes_app):
    picker = get(lanes_app, "/api/v1/warehouse/lanes", "picker").get_json()
    assert {lane["node"] for lane in picker["items"]} == {"RU-USS"}
    operator = get(lanes_app, "/api/v1/warehouse/lanes", "operator").get_json()
    assert operator["total"] == 7
    one_node = get(lanes_app, "/api/v1/warehouse/lanes?node=cn-urc", "operator").get_json()
    assert {lane["code"] for lane in one_node["items"]} == {"CN-URC-CN", "CN-URC-CA"}


def test_lanes_need_a_staff_token(lanes_app):
    assert get(lanes_app, "/api/v1/warehouse/lanes", None).status_code == 401
    with lanes_app.app_context():
        from catalog.merchants import create_merchant

        merchant_token = create_merchant("M", "RU").token
    response = lanes_app.test_client().get(
        "/api/v1/warehouse/lanes", headers={"Authorization": f"Bearer {merchant_token}"}
    )
    assert response.status_code == 403


def test_an_operator_changes_a_lane_and_bad_values_are_refused(lanes_app):
    with lanes_app.app_context():
        changed = update_lane(
            "cn-sfh-cn",
            LaneChange(
                cutoff_time="17:30", max_parcel_value=Money.parse("4000", "CNY"), active=False
            ),
            actor="test",
        )
        assert changed["cutoff_time"] == "17:30"
        assert changed["refuses"]["max_parcel_value"] == {"amount": "4000.00", "currency": "CNY"}
        assert get_lane("CN-SFH-CN")["active"] is False
        with pytest.raises(ValidationFailed) as refused:
            update_lane(
                "CN-SFH-CN",
                LaneChange(cutoff_time="25:00", timezone="Mars/Base", countries=["ZZ"],
                           refuses_categories=["toys"], refuses_hs_prefixes=["1"]),
                actor="test",
            )  # fmt: skip
        assert set(refused.value.errors) == {
            "cutoff_time", "timezone", "countries", "refuses_categories", "refuses_hs_prefixes",
        }  # fmt: skip
        assert get_lane("CN-SFH-CN")["cutoff_time"] == "17:30"
        with pytest.raises(NotFound):
            update_lane("NOPE", LaneChange(active=True), actor="test")
        db.session.rollback()
