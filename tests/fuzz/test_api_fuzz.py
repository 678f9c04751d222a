"""Schemathesis over every operation of the published OpenAPI document (issue #10).

Each operation is called with the identity it is meant for (a merchant; an operator for
the warehouse and admin); a second pass aims the operations with a path parameter at
objects that exist (the fixtures' cart, orders, shipment, node and SKU, as their shopper,
merchant or the node's picker), so that the fuzzer reaches past the 404s. ``ignored_auth``
checks that a request that succeeded with credentials is refused without them or with
wrong ones. Bounded and derandomized: the same examples on every run, a few minutes for
both databases.
"""

from __future__ import annotations

import os
import re

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation

from tests.conftest import make_test_app
from tests.fuzz.conftest import OPENAPI_PATH, Identities


def client_errors_are_declared(ctx, response, case) -> bool | None:
    """Every operation has a ``default`` problem response, which would let
    ``status_code_conformance`` accept any status at all. ``default`` stands for
    failures on our side (500, 503); each refusal of the client's request (4xx) is one
    its operation declares, so that clients know what to handle."""
    status = response.status_code
    if not 400 <= status < 500 or case.method.upper() != case.operation.method.upper():
        return None  # a probe with a method the operation lacks answers 405 by design
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        return None  # a path parameter outside its schema misses the route: a plain 404
    declared = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    if str(status) not in declared:
        raise AssertionError(
            f"{case.operation.label} answered {status}, which it does not declare "
            f"(declared: {', '.join(sorted(declared))})"
        )
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, ignored_auth, client_errors_are_declared]  # fmt: skip
# 20 keeps CI to a few minutes for both databases; a nightly run can ask for more.
EXAMPLES_PER_OPERATION = int(os.environ.get("PAVILION_FUZZ_EXAMPLES", "20"))


class AppUnderTest:
    """The WSGI app schemathesis calls: it forwards to the pavilion of the running backend,
    so that one schema, loaded once from the shop's own endpoint, serves both databases."""

    def __init__(self, target):
        self.target = target

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


APP_UNDER_TEST = AppUnderTest(make_test_app("sqlite://"))
schema = schemathesis.openapi.from_wsgi(OPENAPI_PATH, APP_UNDER_TEST)


REAL_PATH_PARAMETERS = {"cart_id", "line_id", "number", "product_id", "shipment_id", "code"}


def bearer_for(path: str, ids: Identities, *, staff: str = "operator") -> dict[str, str]:
    """The token an operation is meant for, by its path; public operations get none."""
    if path.startswith("/api/v1/merchant"):
        token = ids.merchant_token
    elif path.startswith("/api/v1/admin") or path.endswith("/mark-paid"):
        token = ids.operator_token
    elif path.startswith("/api/v1/warehouse"):
        token = ids.operator_token if staff == "operator" else ids.picker_token
    else:
        return {}
    return {"Authorization": f"Bearer {token}"}


def _takes_real_objects(ctx) -> bool:
    """Operations whose path names an object the fixtures made. Operators' admin paths
    keep generated ids: aimed at the fixtures' merchant, staff or nodes, they would
    suspend or revoke the very identities the other operations use."""
    path = ctx.operation.path
    names = set(re.findall(r"{(\w+)}", path))
    return not path.startswith("/api/v1/admin") and bool(names & REAL_PATH_PARAMETERS)


def aim_at_real_objects(case, ids: Identities) -> None:
    """Point the case's path parameters at objects that exist, with the shopper's tokens.
    Cancelling gets an order of its own, so that the other order can still be paid,
    picked, packed and shipped."""
    path = case.operation.path
    cancelling = path.endswith("/cancel")
    real = {
        "cart_id": ids.cart_id,
        "line_id": ids.cart_line_id,
        "number": ids.order_to_cancel if cancelling else ids.order_number,
        "product_id": ids.product_id,
        "shipment_id": ids.shipment_id,
        "code": ids.merchant_sku if path.startswith("/api/v1/merchant") else ids.picker_node,
    }
    for name in case.path_parameters or {}:
        if name in real:
            case.path_parameters[name] = real[name]
    tokens = {
        "cart_id": ("X-Cart-Token", ids.cart_token),
        "number": ("X-Order-Token", ids.order_to_cancel_token if cancelling else ids.order_token),
    }
    for name, (header, token) in tokens.items():
        if name in case.path_parameters:
            case.headers = {**(case.headers or {}), header: token}


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # the same examples every run: a CI finding reproduces locally
    deadline=None,  # timings on a shared CI machine are not findings
    suppress_health_check=list(HealthCheck),
    database=None,
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_keeps_its_documented_contract(case, fuzz_app, identities):
    APP_UNDER_TEST.target = fuzz_app
    case.call_and_validate(headers=bearer_for(case.operation.path, identities), checks=CHECKS)


@schema.include(_takes_real_objects).parametrize()
@FUZZ_SETTINGS
def test_operations_on_real_objects_keep_their_contract(case, fuzz_app, identities):
    """The same, aimed at the fixtures' cart, order, shipment, node and SKU, as their
    shopper, merchant or the node's picker."""
    APP_UNDER_TEST.target = fuzz_app
    aim_at_real_objects(case, identities)
    headers = bearer_for(case.operation.path, identities, staff="picker")
    case.call_and_validate(headers=headers, checks=CHECKS)
