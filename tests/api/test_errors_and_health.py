"""Every error is problem+json; health checks the database; headers are set."""

import logging

import pytest
from flask import Blueprint

PROBLEM = "application/problem+json"


def assert_problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["title"]
    return body


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_reports_503_when_the_database_is_gone():
    from tests.conftest import make_test_app

    broken = make_test_app("postgresql+psycopg://127.0.0.1:1/nothing")
    body = assert_problem(broken.test_client().get("/healthz"), 503, "database_unavailable")
    assert "Retry-After" in broken.test_client().get("/healthz").headers
    assert "traceback" not in str(body).lower()


def test_unknown_path_is_a_problem_404(client):
    body = assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert body["instance"] == "/api/v1/nothing-here"


def test_wrong_method_is_a_problem_405_with_allow(client):
    response = client.delete("/api/v1/categories")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_the_limit_is_a_problem_413(app):
    from flask import request

    app.config["MAX_CONTENT_LENGTH"] = 1024
    app.add_url_rule("/_echo", "echo", lambda: {"n": len(request.get_data())}, methods=["POST"])
    assert_problem(app.test_client().post("/_echo", data=b"x" * 4096), 413, "payload_too_large")


def test_unhandled_error_is_a_500_without_a_traceback_but_logged_with_the_request_id(app, caplog):
    boom = Blueprint("boom", __name__)

    @boom.get("/_boom")
    def explode():
        raise RuntimeError("secret internals")

    app.register_blueprint(boom)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/_boom", headers={"X-Request-ID": "req-123"})
    body = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert body["request_id"] == "req-123"
    assert response.headers["X-Request-ID"] == "req-123"
    record = next(r for r in caplog.records if "req-123" in r.getMessage())
    assert record.exc_info is not None


def test_odd_request_ids_are_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert response.headers["X-Request-ID"] != "<script>"
    assert len(response.headers["X-Request-ID"]) == 32


def test_security_headers_on_every_response(client):
    for response in (client.get("/healthz"), client.get("/nothing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"]


def test_problem_types_resolve_to_a_description(client):
    assert client.get("/problems/validation_error").get_json()["code"] == "validation_error"
    assert_problem(client.get("/problems/no_such_thing"), 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/api/docs/", "/api/docs/assets/swagger-ui-bundle.js", "/static/api-docs.js"]
)
def test_api_docs_are_served_from_our_own_files(client, path):
    response = client.get(path)
    assert response.status_code == 200
    if path == "/api/docs/":
        html = response.get_data(as_text=True)
        assert "http://" not in html  # no CDN
        assert "https://" not in html
        assert "/api/v1/openapi.json" in html


def test_api_docs_refuse_files_outside_the_bundle(client):
    assert_problem(client.get("/api/docs/assets/index.html"), 404, "not_found")
    assert client.get("/api/docs/assets/..%2F__init__.py").status_code == 404


def _app_with_a_json_endpoint(app):
    import marshmallow as ma

    from shop.core.api_base import Blueprint
    from shop.core.extensions import api

    class LineSchema(ma.Schema):
        sku = ma.fields.String(required=True)
        quantity = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))

    blp = Blueprint("echo_lines", __name__, url_prefix="/_lines")

    @blp.route("", methods=["POST"])
    @blp.arguments(LineSchema)
    @blp.response(201, LineSchema)
    def add_line(line):
        return line

    api.register_blueprint(blp)
    return app.test_client()


def test_malformed_json_is_a_400_problem(app):
    client = _app_with_a_json_endpoint(app)
    response = client.post("/_lines", data=b'{"sku": ', content_type="application/json")
    body = assert_problem(response, 400, "malformed_json")
    assert body["detail"] == "The body is not valid JSON."


def test_wrong_types_are_a_422_naming_each_field(app):
    client = _app_with_a_json_endpoint(app)
    response = client.post("/_lines", json={"sku": 5, "quantity": "many", "extra": 1})
    body = assert_problem(response, 422, "validation_error")
    assert set(body["errors"]) == {"sku", "quantity", "extra"}
    assert {p["name"] for p in body["invalid_params"]} == {"sku", "quantity", "extra"}
    assert all(p["location"] == "json" for p in body["invalid_params"])
    assert client.post("/_lines", json={"sku": "RU-1", "quantity": 2}).status_code == 201


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_problem_code_the_services_raise_is_described(client):
    """Each error class's code resolves at /problems/<code>: clients can look it up."""
    from shop.core.errors import DomainError

    codes = {cls.code for cls in _subclasses(DomainError)}
    codes |= {"already_paid", "below_reserved", "shipment_not_reroutable", "concurrent_change"}
    for code in sorted(codes):
        response = client.get(f"/problems/{code}")
        assert response.status_code == 200, code


def test_a_nul_character_in_a_json_body_is_a_400_problem_not_a_database_error(app):
    """PostgreSQL text cannot hold U+0000: refused at the edge, before any service."""
    client = _app_with_a_json_endpoint(app)
    response = client.post("/_lines", json={"sku": "RU-\u0000", "quantity": 1})
    assert_problem(response, 400, "malformed_json")
    nested = client.post("/_lines", json={"sku": "RU-1", "quantity": 1, "x": [{"\u0000": 1}]})
    assert_problem(nested, 400, "malformed_json")


@pytest.mark.parametrize("path", ["/api/v1/products?q=%00", "/api/v1/products?q=a&q=%00b"])
def test_a_nul_character_in_the_query_is_a_422_naming_the_parameter(client, path):
    body = assert_problem(client.get(path), 422, "validation_error")
    assert list(body["errors"]) == ["q"]
    assert body["request_id"]


def test_a_nul_character_in_a_form_is_refused_before_any_service(client):
    with client.session_transaction() as session:
        session["_csrf"] = "token"
    response = client.post(
        "/cart/add", data={"csrf_token": "token", "sku": "RU-\u0000", "quantity": "1"}
    )
    assert response.status_code == 422
    assert response.mimetype == "text/html"


def test_a_nul_character_in_a_merchant_sku_body_is_a_400_problem(client):
    """The merchant SKU API reads its body with json_body(), not webargs: same rule."""
    from shop.core.api_base import json_body
    from shop.core.errors import MalformedJson

    context = client.application.test_request_context("/x", method="POST", json={"sku": "\u0000"})
    with context, pytest.raises(MalformedJson, match="NUL"):
        json_body()
