"""What the API fuzzer found, pinned as plain tests so that they fail fast and say why."""

from __future__ import annotations

import pytest

from shop.core.extensions import db

OPENAPI_PATH = "/api/v1/openapi.json"
ERROR_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/carts/%00"),
        ("GET", "/api/v1/orders/SCO-%00"),
        ("PUT", "/api/v1/merchant/skus/A%00B"),
        ("POST", "/api/v1/warehouse/nodes/%01/receipts"),
        ("GET", "/api/v1/merchant/skus/%7F"),
    ],
)
def test_a_control_character_in_a_path_segment_names_nothing(client, method, path):
    # PostgreSQL refuses NUL in a text comparison: this was a 500 there.
    response = client.open(path, method=method, json={})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "not_found"


def test_path_parameters_are_documented_without_control_characters(client):
    document = client.get(OPENAPI_PATH).get_json()
    code = next(
        p for p in document["paths"]["/api/v1/merchant/skus/{code}"]["parameters"]
        if p["name"] == "code"
    )  # fmt: skip
    assert code["schema"]["maxLength"] == 64
    assert code["schema"]["pattern"] == r"^[^/\x00-\x1f\x7f]+$"


def test_an_unknown_language_on_the_staff_api_is_a_422(app, client):
    from shop.seed import seed_reference_data
    from warehouse.services import create_staff

    with app.app_context():
        seed_reference_data()
        token = create_staff("ops@example.com", None, "operator").token
        db.session.remove()
    response = client.get(
        "/api/v1/warehouse/nodes?lang=NIL", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422
    assert "lang" in response.get_json()["errors"]


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield f"{method.upper()} {path}", operation


def test_every_declared_error_response_is_a_problem_document(client):
    document = client.get(OPENAPI_PATH).get_json()
    named = document["components"]["responses"]
    for label, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status == "default" or int(status) < 400:
                continue
            if "$ref" in response:
                response = named[response["$ref"].rsplit("/", 1)[1]]
            assert response.get("content") == ERROR_CONTENT, f"{label} {status}"


def test_problem_documents_may_carry_extension_members(client):
    # RFC 9457 section 3.2: `lines` of insufficient_stock, `status_now` of an illegal
    # transition, the `line` of a CSV problem are part of the documented answer.
    problem = client.get(OPENAPI_PATH).get_json()["components"]["schemas"]["Problem"]
    assert problem.get("additionalProperties") is True
    assert {"type", "code", "title", "status"} <= set(problem["required"])


def test_every_operation_that_reads_a_json_body_declares_malformed_json(client):
    document = client.get(OPENAPI_PATH).get_json()
    for label, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if any(media.endswith("json") for media in content):
            assert "400" in operation["responses"], label


def test_decimals_sent_as_strings_are_documented_as_strings():
    # The stock-cover report sent "daily_units": "0.00" where the document said number.
    import marshmallow as ma
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    from shop.core.api_base import decimal_strings_are_strings

    class Row(ma.Schema):
        exact = ma.fields.Decimal(as_string=True, allow_none=True)
        number = ma.fields.Decimal()

    plugin = MarshmallowPlugin()
    spec = APISpec("t", "1", "3.0.3", plugins=[plugin])
    plugin.converter.add_attribute_function(decimal_strings_are_strings)
    spec.components.schema("Row", schema=Row)
    properties = spec.to_dict()["components"]["schemas"]["Row"]["properties"]
    assert properties["exact"] == {"type": "string", "format": "decimal", "nullable": True}
    assert properties["number"]["type"] == "number"
