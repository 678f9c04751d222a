"""Who may use what: every route of the app × every kind of caller, against one table
of rules. A route added without a rule fails here until someone decides who may use it.

Each route's path parameters are filled with objects that belong to the *subject*:
merchant A's SKU, node X's shipment and pick list, the owner's order and cart. Then
every identity asks for it. The matrix checks the authorization outcome only, so a
request is sent without a meaningful body: a 400/409/422 from a view still proves the
caller got past authorization. Statuses are sorted into

- ``admit``: anything that is not a refusal (2xx, 3xx elsewhere than the login page,
  400, 409, 422, ...);
- ``hide``: 404, what the shop answers for another merchant's, node's or shopper's
  objects (and for the admin tree to pickers), so their existence does not leak;
- ``refuse``: 401, 403, 404 or a redirect to the staff login page.

``hide`` is stricter than ``refuse``: an expected ``hide`` must be a 404 exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from catalog.merchants import create_merchant
from catalog.models import Category, Merchant
from shop.core.extensions import db
from shop.storefront.order_pages import ORDER_COOKIE
from tests import factories as f
from tests.checkout_world import build_world, order_body
from warehouse.models import ShipmentLabel
from warehouse.services import create_staff

IDENTITIES = (
    # The others first and the owners last, so that whatever an owner's request
    # changes (a cancelled order) cannot turn an outsider's refusal into a pass.
    "anonymous",
    "shopper",  # of another order, with another cart
    "merchant_b",
    "picker_y",
    "merchant_a",
    "picker_x",
    "owner",  # the shopper whose order and cart the paths name
    "operator",
)

ADMIT, HIDE, REFUSE, CONFLICT = "admit", "hide", "refuse", "conflict"


def everyone(outcome: str) -> dict[str, str]:
    return dict.fromkeys(IDENTITIES, outcome)


def only(*admitted: str, others: str = REFUSE, **specific: str) -> dict[str, str]:
    expected = everyone(others)
    expected.update(dict.fromkeys(admitted, ADMIT))
    expected.update(specific)
    return expected


PUBLIC = everyone(ADMIT)
# The merchant API: a staff token there is 403, none 401; another merchant's SKU 404.
MERCHANT_LISTS = only("merchant_a", "merchant_b")
MERCHANT_OWNED = only("merchant_a", merchant_b=HIDE)
# The staff API and pages: any staff member; node objects: that node's pickers and
# operators, the other node's pickers get 404.
STAFF = only("picker_x", "picker_y", "operator")
NODE_OWNED = only("picker_x", "operator", picker_y=HIDE)
OPERATOR = only("operator")
# The admin API and pages answer a picker as if nothing were there.
ADMIN = only("operator", picker_y=HIDE, picker_x=HIDE)
# Orders by token (the API also admits staff: a picker of another node sees no order
# without shipments at their node).
ORDER_API = only("owner", "operator", "picker_x", shopper=HIDE, picker_y=HIDE, anonymous=HIDE)
CART = only("owner", others=HIDE)
# The storefront order pages read the order token cookie only: staff use their pages.
ORDER_PAGE = only("owner", others=HIDE)

# Endpoint (or blueprint prefix ending in ".") -> expected outcome per identity.
RULES: dict[str, dict[str, str]] = {
    # Public: the catalog, storefront browsing, docs, health, problem types.
    "categories.": PUBLIC,
    "products.": PUBLIC,
    "health.": PUBLIC,
    # Readiness is for load balancers and orchestrators: no login, never rate-limited.
    "ops.readyz": PUBLIC,
    # Prometheus's bearer token only (PAVILION_METRICS_TOKEN), which no identity here
    # holds: a 404 without the setting, a 401 with it.
    "ops.metrics": everyone(REFUSE),
    "api-docs.": PUBLIC,
    "docs.": PUBLIC,
    "describe_problem": PUBLIC,
    "static": PUBLIC,
    "storefront.home": PUBLIC,
    "storefront.category": PUBLIC,
    "storefront.search": PUBLIC,
    "storefront.product": PUBLIC,
    "storefront.product_picture": PUBLIC,
    "storefront.choose": PUBLIC,
    # The storefront cart is the browser's own (a cookie): a line id of another cart
    # changes nothing in it, and the pages answer everyone.
    "storefront.cart": PUBLIC,
    "storefront.add_to_cart": PUBLIC,
    "storefront.update_cart_line": PUBLIC,
    "storefront.remove_cart_line": PUBLIC,
    "storefront.checkout_page": PUBLIC,
    "storefront.checkout_summary": PUBLIC,
    "storefront.place_order_from_form": PUBLIC,
    "storefront.order": ORDER_PAGE,
    "storefront.cancel_order": ORDER_PAGE,
    "storefront.pay_order": ORDER_PAGE,
    "storefront.order_state": ORDER_PAGE,
    # Shoppers by token; a new cart and checkout are open to all.
    "carts.Carts": PUBLIC,
    "carts.OneCart": CART,
    "carts.add_cart_line": CART,
    "carts.change_cart_line": CART,
    "orders.place_order": PUBLIC,
    # A city's pickup points are what any shopper may see before checking out.
    "delivery_points.DeliveryPoints": PUBLIC,
    "orders.get_order": ORDER_API,
    "orders.cancel_order": ORDER_API,
    "orders.pay_order": ORDER_API,
    "orders.mark_paid": only("operator", picker_x=REFUSE),
    # Signed by the provider or carrier: the signature is the credential (400 without).
    "payments.payment_webhook": PUBLIC,
    "carriers.carrier_webhook": PUBLIC,
    # Merchants.
    "merchant.MerchantSkus": MERCHANT_LISTS,
    "merchant.bulk_upsert": MERCHANT_LISTS,
    "merchant.MerchantOrders": MERCHANT_LISTS,
    "merchant.MerchantSku": MERCHANT_OWNED,
    # PUT creates or replaces by code; SKU codes are public in the catalog, and another
    # merchant's code is a 409, not a takeover.
    "merchant.MerchantSku PUT": only("merchant_a", merchant_b=CONFLICT),
    # Warehouse staff API.
    "warehouse.nodes": STAFF,
    "warehouse.shipments": STAFF,
    "warehouse.Lanes": STAFF,
    "warehouse.jobs": OPERATOR,
    "warehouse.retry_job": OPERATOR,
    "warehouse.adjust": NODE_OWNED,
    "warehouse.create_pick_list": NODE_OWNED,
    "warehouse.receive": NODE_OWNED,
    "warehouse.pick_list": NODE_OWNED,
    "warehouse.pick_list_pdf": NODE_OWNED,
    "warehouse.label": NODE_OWNED,
    "warehouse.pack": NODE_OWNED,
    "warehouse.packing_slip": NODE_OWNED,
    "warehouse.reroute": NODE_OWNED,
    "warehouse.ship": NODE_OWNED,
    # Warehouse staff pages (session login).
    "warehouse_pages.login": PUBLIC,
    "warehouse_pages.dashboard": STAFF,
    # Logging out with no session ends nothing and shows nothing: open to all.
    "warehouse_pages.logout": PUBLIC,
    "warehouse_pages.logout_everywhere": STAFF,
    "warehouse_pages.create_pick_list": NODE_OWNED,
    "warehouse_pages.pick_list": NODE_OWNED,
    "warehouse_pages.pick_list_pdf": NODE_OWNED,
    # Operators: the admin API and pages.
    "admin.": ADMIN,
    "admin_customs.": ADMIN,
    "admin_rates.": ADMIN,
    "admin_reports.": ADMIN,
    "admin_pages.": ADMIN,
    "admin_customs_pages.": ADMIN,
    "admin_rates_pages.": ADMIN,
    "admin_reports_pages.": ADMIN,
}

# Bodies for the writes whose views read the body before they look up the object (and
# so the caller's right to it): without a valid body they answer 422 to anyone.
SKU_DOCUMENT = {
    "sku": "ALENKA-100", "product_code": "ALENKA-100", "category": "confectionery",
    "name": {"en": "Alenka 100 g", "ru": "Алёнка 100 г"}, "origin_country": "RU",
    "hs_code": "180632",
    "weight_g": 100, "shelf_life_days": 365, "price": {"amount": "125.00", "currency": "RUB"},
}  # fmt: skip
BODIES = {
    ("carts.add_cart_line", "POST"): {"sku": "ALENKA-100", "quantity": 1},
    ("carts.change_cart_line", "PATCH"): {"quantity": 1},
    ("merchant.MerchantSku", "PUT"): SKU_DOCUMENT,
    ("warehouse.receive", "POST"): {"lines": [{"sku": "ALENKA-100", "quantity": 1, "bin": "A-1"}]},
    ("warehouse.adjust", "POST"): {"lines": [{"sku": "ALENKA-100", "bin": "A-1", "counted": 1}]},
    ("warehouse.pack", "POST"): {"weight_g": 120, "scanned": ["ALENKA-100"]},
    ("warehouse.ship", "POST"): {"carrier": "manual", "tracking_number": "MATRIX-2"},
    ("warehouse.reroute", "POST"): {"reason": "authorization matrix"},
}

# Requests that end the caller's session run after all others.
RUN_LAST = ("warehouse_pages.logout", "warehouse_pages.logout_everywhere")
PAGE_PREFIXES = ("/warehouse", "/admin")
CSRF = "matrix-csrf-token"


def rule_for(endpoint: str, method: str = "") -> dict[str, str] | None:
    for key in (f"{endpoint} {method}", endpoint):
        if key in RULES:
            return RULES[key]
    prefixes = [p for p in RULES if p.endswith(".") and endpoint.startswith(p)]
    return RULES[max(prefixes, key=len)] if prefixes else None


@dataclass
class World:
    """The objects the paths name, and how each identity presents itself."""

    values: dict[str, str] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    passwords: dict[str, tuple[str, str]] = field(default_factory=dict)
    order_number: str = ""
    order_tokens: dict[str, str] = field(default_factory=dict)


def build_matrix_world(app) -> World:
    world = World()
    with app.app_context():
        shop = build_world()  # merchant A (its SKUs), nodes, lanes, rates
        categories = {c.slug: c for c in db.session.scalars(select(Category))}
        merchant_b = create_merchant("Baikal Honey", "RU")
        owner_b = db.session.get(Merchant, merchant_b.id)
        f.product(owner_b, categories["honey"], "B-HONEY", en="Baikal honey",
                  skus=[("B-HONEY", "10.00", "CNY", {})])  # fmt: skip
        db.session.commit()
        # Objects only operators touch: changing them must not change an identity.
        spare_merchant = create_merchant("Spare Trading", "KZ")
        spare_staff = create_staff("spare@example.com", "CN-URC")
        staff = {
            "picker_x": create_staff("x@example.com", "RU-WH"),
            "picker_y": create_staff("y@example.com", "CN-SFH"),
            "operator": create_staff("op@example.com", None, "operator"),
        }
        db.session.commit()
    bearer = {who: {"Authorization": f"Bearer {s.token}"} for who, s in staff.items()}
    bearer["merchant_a"] = {"Authorization": f"Bearer {shop['merchant_token']}"}
    bearer["merchant_b"] = {"Authorization": f"Bearer {merchant_b.token}"}
    world.passwords = {who: (s.email, s.password) for who, s in staff.items()}

    client = app.test_client()
    owner_cart = client.post(
        "/api/v1/carts", json={"lines": [{"sku": "ALENKA-100", "quantity": 1}]}
    )
    assert owner_cart.status_code == 201, owner_cart.get_json()
    other_cart = client.post("/api/v1/carts", json={})
    owner_order = client.post("/api/v1/orders", json=order_body("ALENKA-100", 1))
    assert owner_order.status_code == 201, owner_order.get_json()
    other_order = client.post("/api/v1/orders", json=order_body("LAST-UNITS", 1))
    assert other_order.status_code == 201, other_order.get_json()
    order = owner_order.get_json()
    shipment = order["shipments"][0]
    assert shipment["node"] == "RU-WH"  # node X
    paid = client.post(f"/api/v1/orders/{order['number']}/mark-paid", json={},
                       headers=bearer["operator"])  # fmt: skip
    assert paid.status_code == 200, paid.get_json()
    pick_list = client.post("/api/v1/warehouse/nodes/RU-WH/pick-lists", json={},
                            headers=bearer["picker_x"])  # fmt: skip
    assert pick_list.status_code in (200, 201), pick_list.get_json()
    shipment_url = f"/api/v1/warehouse/shipments/{shipment['id']}"
    # Packed and shipped with the manual carrier, so that its label exists.
    for step, body in (("pack", {"weight_g": 120, "scanned": ["ALENKA-100"]}),
                       ("ship", {"carrier": "manual", "tracking_number": "MATRIX-1"})):  # fmt: skip
        done = client.post(f"{shipment_url}/{step}", json=body, headers=bearer["picker_x"])
        assert done.status_code == 200, done.get_json()
    with app.app_context():
        # The manual carrier prints no label: one as a carrier's API would have sent it.
        db.session.add(ShipmentLabel(shipment_id=shipment["id"], carrier="manual", pdf=b"%PDF-"))
        db.session.commit()
    jobs = client.get("/api/v1/warehouse/jobs", headers=bearer["operator"]).get_json()
    job_ids = [job["id"] for job in (jobs.get("jobs") or jobs.get("items") or [])]
    with app.app_context():
        from shop.core.auth import ApiToken

        spare_token = db.session.scalar(
            select(ApiToken.id).where(ApiToken.merchant_id == spare_merchant.id)
        )

    cart = owner_cart.get_json()
    world.order_number = order["number"]
    world.order_tokens = {"owner": order["token"], "shopper": other_order.get_json()["token"]}
    world.headers = {
        **bearer,
        "owner": {"X-Order-Token": order["token"], "X-Cart-Token": cart["token"]},
        "shopper": {
            "X-Order-Token": other_order.get_json()["token"],
            "X-Cart-Token": other_cart.get_json()["token"],
        },
        "anonymous": {},
    }
    world.values = {
        # Per endpoint prefix first, then per parameter name.
        "merchant.:code": "ALENKA-100",
        "warehouse.:code": "RU-WH",
        "warehouse_pages.:code": "RU-WH",
        "admin.:code": "CN-URC",
        "admin_pages.:code": "CN-URC",
        "admin.LaneResource:code": _a_lane_code(app),
        "admin_pages.lane:code": _a_lane_code(app),
        "admin_pages.change_lane:code": _a_lane_code(app),
        "describe_problem:code": "not_found",
        "admin_reports_pages.:name": "orders-by-state",
        "admin_rates.:name": "manual",
        "admin_rates_pages.:name": "manual",
        "docs.:name": "swagger-ui.css",
        "number": order["number"],
        "cart_id": cart["id"],
        "line_id": str(cart["lines"][0]["id"]),
        "shipment_id": str(shipment["id"]),
        "pick_list_id": str(pick_list.get_json()["id"]),
        "job_id": str(job_ids[0]) if job_ids else "1",
        "merchant_id": str(spare_merchant.id),
        "token_id": str(spare_token),
        "staff_id": str(spare_staff.id),
        "product_id": "1",
        "slug": "honey",
        "origin": "RU",
        "carrier": "manual",
        "adapter": "manual",
        "output": "json",
        "filename": "warehouse.css",
    }
    return world


def _a_lane_code(app) -> str:
    from warehouse.models import Lane

    with app.app_context():
        return db.session.scalar(select(Lane.code).order_by(Lane.code))


def value_for(world: World, endpoint: str, name: str) -> str:
    blueprint = endpoint.split(".")[0] + "." if "." in endpoint else endpoint
    for key in (f"{endpoint}:{name}", f"{blueprint}:{name}", name):
        if key in world.values:
            return world.values[key]
    raise AssertionError(f"add a value for the path parameter <{name}> of {endpoint}")


def client_for(app, world: World, identity: str):
    client = app.test_client()
    if identity in world.passwords:
        email, password = world.passwords[identity]
        login_page = client.get("/warehouse/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        form = {"csrf_token": token, "email": email, "password": password}
        done = client.post("/warehouse/login", data=form)
        assert done.status_code == 303, f"{identity} could not log in"
    if identity in world.order_tokens:
        client.set_cookie(ORDER_COOKIE, world.order_tokens[identity],
                          path=f"/orders/{world.order_number}")  # fmt: skip
    return client


def _session_csrf(client) -> str:
    with client.session_transaction() as session:
        return session.setdefault("_csrf", CSRF)


def classify(response) -> str:
    if response.status_code in (301, 302, 303, 307, 308):
        # A refused page sends to the login with where to come back (`next`); a logout
        # sends there without.
        location = urlsplit(response.headers.get("Location", ""))
        to_login = location.path == "/warehouse/login" and "next=" in location.query
        return REFUSE if to_login else ADMIT
    if response.status_code == 404:
        return HIDE
    if response.status_code == 409:
        return CONFLICT
    if response.status_code in (401, 403):
        return REFUSE
    return ADMIT


def _asks_for_a_bearer_token(response) -> bool:
    challenge = response.headers.get("WWW-Authenticate", "")
    return response.status_code == 401 and challenge.lower().startswith("bearer")


def matches(expected: str, outcome: str) -> bool:
    if expected == REFUSE:
        return outcome in (REFUSE, HIDE)
    if expected == ADMIT:  # a conflict with the object's state is past authorization
        return outcome in (ADMIT, CONFLICT)
    return expected == outcome


def routes(app):
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule, method))
    # Deletions (the deepest paths first: a cart's line before the cart) and session ends
    # last: they must not take away what later requests need.
    return sorted(
        found,
        key=lambda rm: (
            rm[0].endpoint in RUN_LAST,
            rm[1] == "DELETE",
            -rm[0].rule.count("/") if rm[1] == "DELETE" else 0,
            rm[0].rule,
            rm[1],
        ),
    )


def test_every_route_has_an_authorization_rule(app):
    missing = sorted({rule.endpoint for rule, _ in routes(app) if rule_for(rule.endpoint) is None})
    assert not missing, "\n".join(f"add an authorization rule for {e}" for e in missing)


@pytest.mark.filterwarnings("ignore")
def test_authorization_matrix(app):
    world = build_matrix_world(app)
    clients = {who: client_for(app, world, who) for who in IDENTITIES}
    wrong, missing_rules = [], []
    for rule, method in routes(app):
        expected = rule_for(rule.endpoint, method)
        if expected is None:
            missing_rules.append(f"add an authorization rule for {rule.endpoint}")
            continue
        path = rule.build(
            {name: value_for(world, rule.endpoint, name) for name in rule.arguments},
            append_unknown=False,
        )[1]
        if rule.endpoint in RUN_LAST:  # each starts from a live session
            clients = {who: client_for(app, world, who) for who in IDENTITIES}
        for identity in IDENTITIES:
            client = clients[identity]
            body = BODIES.get((rule.endpoint, method), {})
            response = _send(client, method, path, world.headers[identity], body)
            outcome = classify(response)
            anonymous_on_api = identity == "anonymous" and path.startswith("/api/")
            if expected[identity] == REFUSE and anonymous_on_api:
                # No credentials at all on the API: 401 with the scheme to use (RFC 6750).
                outcome = REFUSE if _asks_for_a_bearer_token(response) else "no 401 challenge"
            if not matches(expected[identity], outcome):
                wrong.append(
                    f"{method} {path} ({rule.endpoint}) as {identity}: expected "
                    f"{expected[identity]}, got {response.status_code} ({outcome})"
                )
    assert not missing_rules, "\n".join(missing_rules)
    assert not wrong, "\n".join(wrong)


def _send(client, method: str, path: str, headers: dict[str, str], body: dict):
    if method == "GET":
        return client.get(path, headers=headers)
    if path.startswith(PAGE_PREFIXES) or not path.startswith("/api/"):
        # Pages: a form with the session's CSRF token (a logout replaces the session, so
        # it is read each time) and nothing else.
        form = {"csrf_token": _session_csrf(client)}
        return client.open(path, method=method, headers=headers, data=form)
    return client.open(path, method=method, headers=headers, json=body)


def test_a_route_without_a_rule_is_named_and_prefix_rules_cover_whole_blueprints():
    assert rule_for("brand_new.endpoint") is None
    assert rule_for("admin.SomethingNew") is ADMIN
    assert rule_for("merchant.MerchantSku", "PUT") is not rule_for("merchant.MerchantSku", "GET")
