from openapi_spec_validator import validate


def test_openapi_document_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")


def test_openapi_documents_the_catalog_contract(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    for path in (
        "/api/v1/categories",
        "/api/v1/products",
        "/api/v1/products/{product_id}",
        "/healthz",
    ):
        assert "get" in paths[path], path
    params = {p["name"] for p in paths["/api/v1/products"]["get"]["parameters"]}
    assert {
        "category",
        "country",
        "q",
        "min_price",
        "max_price",
        "in_stock",
        "lang",
        "currency",
        "page",
        "per_page",
        "sort",
    } <= params


def test_errors_are_documented_as_problem_json(client):
    document = client.get("/api/v1/openapi.json").get_json()
    unprocessable = document["components"]["responses"]["UNPROCESSABLE_ENTITY"]
    assert "application/problem+json" in unprocessable["content"]
    products = document["paths"]["/api/v1/products"]["get"]["responses"]
    assert "422" in products
    assert "304" in products


def test_every_operation_declares_the_414_the_app_answers_before_routing(client):
    document = client.get("/api/v1/openapi.json").get_json()
    too_long = document["components"]["responses"]["REQUEST_URI_TOO_LONG"]
    assert "application/problem+json" in too_long["content"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert "414" in operation["responses"], (path, method)


def test_protected_operations_declare_their_bearer_token_and_refusals(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, method in [
        ("/api/v1/merchant/skus", "get"),
        ("/api/v1/merchant/skus", "post"),
        ("/api/v1/merchant/skus/{code}", "patch"),
        ("/api/v1/merchant/skus/bulk", "post"),
        ("/api/v1/merchant/orders", "get"),
        ("/api/v1/warehouse/lanes", "get"),
    ]:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": []}], (path, method)
        assert {"401", "403"} <= set(operation["responses"]), (path, method)
    assert "security" not in document["paths"]["/api/v1/products"]["get"]


def test_openapi_document_matches_the_committed_snapshot(client):
    """The published API changes only on purpose: a change to a schema, a path or a
    response shows here. After a deliberate change, write the new snapshot with
    ``python -m tests.api.openapi_snapshot`` and commit it with the change."""
    from tests.api.openapi_snapshot import SNAPSHOT, render

    document = client.get("/api/v1/openapi.json").get_json()
    assert render(document) == SNAPSHOT.read_text(encoding="utf-8")
