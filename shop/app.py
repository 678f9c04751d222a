"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from shop.config import load_config
from shop.core.extensions import api, db, migrate
from shop.core.web_hardening import (
    install_request_ids_and_security_headers,
    install_request_limits,
)
from shop.rate_limits import install_rate_limits


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build a shop. ``config`` overrides what the environment says."""
    app = Flask(__name__)
    app.config.from_mapping(load_config(config))
    # Keys in the order the services build them (sorting costs time and reads worse).
    app.json.sort_keys = False  # type: ignore[attr-defined]
    _configure_logging(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    api.init_app(app)

    from shop import sqlite_tuning

    sqlite_tuning.install(app)

    from shop.errors import register_error_handlers

    register_error_handlers(app)
    install_request_ids_and_security_headers(app)
    from shop.core.logs import install_request_log
    from shop.core.metrics import install_request_metrics

    install_request_metrics(app)
    install_request_log(app)
    install_request_limits(app)  # after the request id, which its refusal quotes
    if app.config["TRUSTED_PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    _register_models()
    _connect_packages()
    _register_blueprints(app)
    install_rate_limits(app)  # wraps registered views: after the blueprints

    from shop.cli import register_cli

    register_cli(app)
    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).parent / "migrations"


def _register_models() -> None:
    # Importing the model modules puts every table in db.metadata, which
    # Alembic autogenerate and the test fixtures read.
    import catalog.models
    import catalog.rates.models  # noqa: F401
    import orders.customs.policy_rows
    import orders.models  # noqa: F401
    import shop.core.audit
    import shop.core.auth
    import shop.core.background
    import shop.core.idempotency  # noqa: F401
    import warehouse.models  # noqa: F401


def _connect_packages() -> None:
    """Wire the lower packages' events and ports to the higher packages that serve
    them (README, "Architecture"): a lower package never imports a higher one."""
    from catalog import ports as catalog_ports
    from orders.merchant_orders import UnshippedOrderLines
    from warehouse.catalog_ports import RoutedDelivery, WarehouseStock

    catalog_ports.connect(catalog_ports.StockPort, WarehouseStock())
    catalog_ports.connect(catalog_ports.DeliveryPort, RoutedDelivery())
    catalog_ports.connect(catalog_ports.OpenOrdersPort, UnshippedOrderLines())

    from orders import shipment_events

    shipment_events.connect()


def _register_blueprints(app: Flask) -> None:
    from catalog.api import categories_blp, merchant_blp, products_blp
    from shop.docs import docs_bp
    from shop.health import health_blp, ops_bp

    api.register_blueprint(health_blp)
    app.register_blueprint(ops_bp)
    api.register_blueprint(categories_blp)
    api.register_blueprint(products_blp)
    # Adds the orders' view (GET /merchant/orders) to the merchant blueprint: before it
    # is registered, where the catalog's own merchant views used to end.
    import orders.merchant_api  # noqa: F401

    api.register_blueprint(merchant_blp)

    from orders.api import carts_blp, delivery_points_blp, orders_blp, payments_blp
    from warehouse.api import carriers_blp, warehouse_blp
    from warehouse.web import web_bp

    api.register_blueprint(carts_blp)
    api.register_blueprint(orders_blp)
    api.register_blueprint(payments_blp)
    api.register_blueprint(delivery_points_blp)

    api.register_blueprint(warehouse_blp)
    api.register_blueprint(carriers_blp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(web_bp)

    from shop.admin import register_admin
    from shop.storefront import register_storefront

    register_admin(app)
    register_storefront(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "merchant or staff token"}
    )


def _configure_logging(app: Flask) -> None:
    from shop.core.logs import formatter_for
    from shop.core.web_hardening import RequestIdLogFilter

    root = logging.getLogger()
    # create_app may run many times in one process (tests): one handler is enough.
    handler = next((h for h in root.handlers if getattr(h, "_pavilion", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdLogFilter())
        handler._pavilion = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Text or one JSON object a line (PAVILION_LOG_FORMAT), secrets redacted either way.
    handler.setFormatter(formatter_for(app.config["LOG_FORMAT"]))
    root.setLevel(app.config["LOG_LEVEL"])
