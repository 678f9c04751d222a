"""Configuration from environment variables.

Every variable read here is listed in README.md ("Configuration"). The
factory takes an optional mapping that wins over the environment, which is
how tests configure an app without touching ``os.environ``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("development", "production", "test")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable shop."""


def _var_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("PAVILION_VAR_DIR", "var")).resolve()


def normalize_database_url(url: str) -> str:
    """Accept the URL forms that hosting platforms hand out.

    ``postgres://`` and ``postgresql://`` both mean psycopg 3 here: the
    project installs only that driver.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _development_secret_key(var_dir: Path) -> str:
    # Several gunicorn workers must sign sessions with the same key, so the
    # development key is kept in var/ rather than made per process.
    var_dir.mkdir(parents=True, exist_ok=True)
    key_file = var_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Build the Flask config from ``environ`` (default: ``os.environ``) and overrides."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    pavilion_env = overrides.get("PAVILION_ENV") or env.get("PAVILION_ENV", "development")
    if pavilion_env not in ENVIRONMENTS:
        raise ConfigError(
            f"PAVILION_ENV must be one of {', '.join(ENVIRONMENTS)}, not {pavilion_env!r}"
        )
    var_dir = _var_dir(env)

    database_url = overrides.get("SQLALCHEMY_DATABASE_URI") or env.get("DATABASE_URL")
    if not database_url:
        var_dir.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{var_dir / 'pavilion.db'}"
    database_url = normalize_database_url(database_url)

    secret_key = overrides.get("SECRET_KEY") or env.get("SECRET_KEY")
    if not secret_key:
        if pavilion_env == "production":
            raise ConfigError("SECRET_KEY must be set when PAVILION_ENV=production")
        secret_key = (
            secrets.token_urlsafe(32)
            if pavilion_env == "test"
            else _development_secret_key(var_dir)
        )

    if pavilion_env == "production" and not (
        overrides.get("ID_ENCRYPTION_KEY") or env.get("PAVILION_ID_ENCRYPTION_KEY")
    ):
        raise ConfigError(
            "PAVILION_ID_ENCRYPTION_KEY must be set when PAVILION_ENV=production: buyers' PRC "
            "ID numbers on orders to China are encrypted with it (make one with `python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
        )

    config: dict[str, Any] = {
        "PAVILION_ENV": pavilion_env,
        "TESTING": pavilion_env == "test",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(database_url, env),
        "PORT": int(env.get("PORT", "8000")),
        "HOST": env.get("HOST", "127.0.0.1"),
        # Bulk uploads of 10,000 SKU rows fit well inside 10 MiB of CSV.
        "MAX_CONTENT_LENGTH": int(env.get("PAVILION_MAX_BODY_BYTES", str(10 * 1024 * 1024))),
        "CATALOG_CACHE_SECONDS": int(env.get("PAVILION_CATALOG_CACHE_SECONDS", "60")),
        "ROUTING_STRATEGY": env.get("PAVILION_ROUTING_STRATEGY", "default"),
        "RATES_CACHE_SECONDS": int(env.get("PAVILION_RATES_CACHE_SECONDS", "30")),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        # text (the default) or json: one object a line with the request id (shop/core/logs).
        "LOG_FORMAT": _log_format(overrides.get("LOG_FORMAT") or env.get("PAVILION_LOG_FORMAT")),
        # The bearer token a Prometheus scrape of /metrics sends; unset: /metrics is a 404.
        "METRICS_TOKEN": env.get("PAVILION_METRICS_TOKEN") or None,
        # Proxies in front that set X-Forwarded-For/-Proto/-Host (0: trust none). Login
        # throttling counts by client address, so behind a proxy this must be set.
        "TRUSTED_PROXY_HOPS": int(env.get("PAVILION_TRUSTED_PROXY_HOPS", "0")),
        # Unpaid orders hold their stock this long; then the sweeper gives it back.
        "RESERVATION_TTL_MINUTES": int(env.get("PAVILION_RESERVATION_TTL_MINUTES", "30")),
        # A bank transfer or cash on delivery takes days, not minutes (manual adapter).
        "MANUAL_RESERVATION_TTL_MINUTES": int(
            env.get("PAVILION_MANUAL_RESERVATION_TTL_MINUTES", str(3 * 24 * 60))
        ),
        "PAYMENT_ADAPTERS": _payment_adapters(env),
        # A JSON file of payment-method rows laid over orders/rules/payment_methods.json.
        "PAYMENT_METHOD_RULES": env.get("PAVILION_PAYMENT_METHOD_RULES") or None,
        "STRIPE_API_KEY": env.get("STRIPE_API_KEY"),
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET"),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE"),
        "STRIPE_PUBLISHABLE_KEY": env.get("STRIPE_PUBLISHABLE_KEY"),
        # A shopper waits on the PaymentIntent at checkout: fail fast, the order survives.
        "STRIPE_TIMEOUT_SECONDS": int(env.get("STRIPE_TIMEOUT_SECONDS", "10")),
        "STRIPE_MAX_NETWORK_RETRIES": int(env.get("STRIPE_MAX_NETWORK_RETRIES", "1")),
        # YooKassa (Russia: bank cards incl. Mir, SBP), orders/payments/yookassa_adapter.py.
        "YOOKASSA_SHOP_ID": env.get("YOOKASSA_SHOP_ID"),
        "YOOKASSA_SECRET_KEY": env.get("YOOKASSA_SECRET_KEY"),
        "YOOKASSA_API_BASE": env.get("YOOKASSA_API_BASE"),
        # JSON list of CIDR networks notifications may come from (YooKassa publishes them);
        # unset: the documented list in the adapter.
        "YOOKASSA_NOTIFICATION_NETWORKS": _json_setting(env, "YOOKASSA_NOTIFICATION_NETWORKS"),
        # The shop's VAT regime for 54-FZ receipts: tax_system_code 1-6 (YooKassa's table).
        "YOOKASSA_TAX_SYSTEM_CODE": env.get("YOOKASSA_TAX_SYSTEM_CODE"),
        "YOOKASSA_TIMEOUT_SECONDS": env.get("YOOKASSA_TIMEOUT_SECONDS"),
        # Alipay (China), orders/payments/alipay_adapter.py.
        "ALIPAY_APP_ID": env.get("ALIPAY_APP_ID"),
        "ALIPAY_APP_PRIVATE_KEY": _pem_setting(env, "ALIPAY_APP_PRIVATE_KEY"),
        "ALIPAY_PUBLIC_KEY": _pem_setting(env, "ALIPAY_PUBLIC_KEY"),
        "ALIPAY_GATEWAY": env.get("ALIPAY_GATEWAY"),
        "ALIPAY_TIMEOUT_SECONDS": env.get("ALIPAY_TIMEOUT_SECONDS"),
        # WeChat Pay APIv3 (China), orders/payments/wechatpay_adapter.py.
        "WECHATPAY_MCHID": env.get("WECHATPAY_MCHID"),
        "WECHATPAY_APPID": env.get("WECHATPAY_APPID"),
        "WECHATPAY_PRIVATE_KEY": _pem_setting(env, "WECHATPAY_PRIVATE_KEY"),
        "WECHATPAY_CERT_SERIAL_NO": env.get("WECHATPAY_CERT_SERIAL_NO"),
        "WECHATPAY_APIV3_KEY": env.get("WECHATPAY_APIV3_KEY"),
        "WECHATPAY_CERT_DIR": env.get("WECHATPAY_CERT_DIR"),
        "WECHATPAY_PUBLIC_KEY": _pem_setting(env, "WECHATPAY_PUBLIC_KEY"),
        "WECHATPAY_PUBLIC_KEY_ID": env.get("WECHATPAY_PUBLIC_KEY_ID"),
        "WECHATPAY_API_BASE": env.get("WECHATPAY_API_BASE"),
        "WECHATPAY_TIMEOUT_SECONDS": env.get("WECHATPAY_TIMEOUT_SECONDS"),
        # The shop's public https base URL: providers send shoppers back to its order
        # pages and post notifications to its webhooks. Unset: the request's own host.
        "PUBLIC_URL": (env.get("PAVILION_PUBLIC_URL") or "").rstrip("/") or None,
        "CARRIERS": _carriers(env),
        "CDEK_API_BASE": env.get("CDEK_API_BASE", "https://api.edu.cdek.ru"),
        "CDEK_CLIENT_ID": env.get("CDEK_CLIENT_ID"),
        "CDEK_CLIENT_SECRET": env.get("CDEK_CLIENT_SECRET"),
        "CDEK_TARIFF_CODE": env.get("CDEK_TARIFF_CODE"),
        "CDEK_SENDER_LOCATIONS": _json_setting(env, "CDEK_SENDER_LOCATIONS"),
        "CDEK_TIMEOUT_SECONDS": env.get("CDEK_TIMEOUT_SECONDS"),
        # Carriers' pickup-point lists change over weeks: each worker keeps a city's list
        # this long rather than asking at every checkout form.
        "DELIVERY_POINTS_CACHE_SECONDS": int(
            env.get("PAVILION_DELIVERY_POINTS_CACHE_SECONDS", "3600")
        ),
        # Where CDEK posts ORDER_STATUS webhooks (`flask carriers cdek subscribe`): the
        # shop's public https URL of /api/v1/carriers/cdek/webhook.
        "CDEK_WEBHOOK_URL": env.get("CDEK_WEBHOOK_URL"),
        # The seller on every customs invoice: the shop's legal entity (JSON: name,
        # tax_id = INN or the foreign tax number, address, phone).
        "SELLER_OF_RECORD": _json_setting(env, "PAVILION_SELLER_OF_RECORD"),
        "MANUAL_PAYMENT_INSTRUCTIONS": env.get("PAVILION_MANUAL_PAYMENT_INSTRUCTIONS"),
        "SHOP_NAME": env.get("PAVILION_SHOP_NAME", "SCO Pavilion"),
        "PAVILION_SMTP_URL": env.get("PAVILION_SMTP_URL"),
        # How long a request waits for another one holding its Idempotency-Key.
        "IDEMPOTENCY_WAIT_SECONDS": float(env.get("PAVILION_IDEMPOTENCY_WAIT_SECONDS", "10")),
        # After this, a request that claimed a key and never finished is taken as dead.
        "IDEMPOTENCY_LEASE_SECONDS": float(env.get("PAVILION_IDEMPOTENCY_LEASE_SECONDS", "120")),
        # Background work (shop/core/background/): Celery with a broker, else in-process.
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL") or None,
        "JOB_MAX_ATTEMPTS": int(env.get("PAVILION_JOB_MAX_ATTEMPTS", "8")),
        "JOB_BACKOFF_SECONDS": float(env.get("PAVILION_JOB_BACKOFF_SECONDS", "5")),
        "JOB_BACKOFF_CAP_SECONDS": float(env.get("PAVILION_JOB_BACKOFF_CAP_SECONDS", "900")),
        # A job running longer than its lease may be taken over by the sweeper.
        "JOB_LEASE_SECONDS": float(env.get("PAVILION_JOB_LEASE_SECONDS", "300")),
        "JOB_REDISPATCH_SECONDS": float(env.get("PAVILION_JOB_REDISPATCH_SECONDS", "300")),
        # How often beat runs the sweeper (lost and abandoned jobs, expired holds, ...).
        "JOB_SWEEP_SECONDS": float(env.get("PAVILION_JOB_SWEEP_SECONDS", "60")),
        # The Celery queue jobs go to: several shops (or test runs) may share one Redis.
        "CELERY_QUEUE": env.get("PAVILION_CELERY_QUEUE") or None,
        # Exchange-rate feeds (catalog/rates): which are enabled, where the Central Bank
        # of Russia's daily XML is, and when the newest rate of a pair counts as stale.
        "RATE_FEEDS": _names(env, "PAVILION_RATE_FEEDS", ("manual", "cbr")),
        "CBR_RATES_URL": env.get("CBR_RATES_URL", "https://www.cbr.ru/scripts/XML_daily.asp"),
        "CBR_TIMEOUT_SECONDS": float(env.get("CBR_TIMEOUT_SECONDS", "10")),
        # Operators add customs policy rows; each worker reloads them at most this often.
        "CUSTOMS_POLICY_CACHE_SECONDS": int(env.get("PAVILION_CUSTOMS_POLICY_CACHE_SECONDS", "60")),
        "RATES_MAX_AGE_HOURS": float(env.get("PAVILION_RATES_MAX_AGE_HOURS", "48")),
        # China's cross-border order record (CEB311): who the platform and the seller are.
        "CUSTOMS_PLATFORM_CODE": env.get("PAVILION_CUSTOMS_PLATFORM_CODE", ""),
        "CUSTOMS_PLATFORM_NAME": env.get("PAVILION_CUSTOMS_PLATFORM_NAME", "SCO Pavilion"),
        "CUSTOMS_ENTERPRISE_CODE": env.get("PAVILION_CUSTOMS_ENTERPRISE_CODE", ""),
        "CUSTOMS_ENTERPRISE_NAME": env.get("PAVILION_CUSTOMS_ENTERPRISE_NAME", ""),
        # Key for the full PRC ID numbers the customs record needs (Fernet, urlsafe
        # base64 of 32 bytes); unset outside production: derived from SECRET_KEY.
        "ID_ENCRYPTION_KEY": env.get("PAVILION_ID_ENCRYPTION_KEY"),
        # Stripe.js for the Payment Element on the checkout page (tests point it at
        # localstripe's copy).
        "STRIPE_JS_URL": env.get("STRIPE_JS_URL", "https://js.stripe.com/v3/"),
        # Rate limits (shop/rate_limits.py): on|off, where counts live, and each budget.
        "RATE_LIMITS": env.get("PAVILION_RATE_LIMITS", "on"),
        "RATE_LIMIT_STORAGE_URL": env.get("PAVILION_RATE_LIMIT_STORAGE_URL", "memory://"),
        "RATE_LIMIT_LOGIN": env.get("PAVILION_RATE_LIMIT_LOGIN", "10/minute;100/hour"),
        "RATE_LIMIT_CHECKOUT": env.get("PAVILION_RATE_LIMIT_CHECKOUT", "20/minute"),
        "RATE_LIMIT_TOKENS": env.get("PAVILION_RATE_LIMIT_TOKENS", "30/minute"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": pavilion_env == "production",
        # flask-smorest: the document lives with the API it describes.
        "API_TITLE": "SCO Pavilion API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    config.update(overrides)
    return config


def _log_format(value: str | None) -> str:
    log_format = (value or "text").strip().lower()
    if log_format not in ("text", "json"):
        raise ConfigError(f"PAVILION_LOG_FORMAT must be text or json, not {value!r}")
    return log_format


def _names(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    listed = env.get(name)
    if listed is None:
        return default
    return tuple(item.strip() for item in listed.split(",") if item.strip())


# An adapter is offered by default when the setting that makes it work is there.
_PROVIDER_KEYS = (
    ("stripe", "STRIPE_API_KEY"),
    ("yookassa", "YOOKASSA_SECRET_KEY"),
    ("alipay", "ALIPAY_APP_ID"),
    ("wechatpay", "WECHATPAY_MCHID"),
)


def _payment_adapters(env: Mapping[str, str]) -> tuple[str, ...]:
    """The payment adapters shoppers may choose: PAVILION_PAYMENT_ADAPTERS, else manual,
    plus each provider whose credentials are set."""
    listed = env.get("PAVILION_PAYMENT_ADAPTERS")
    if listed is not None:
        return tuple(name.strip() for name in listed.split(",") if name.strip())
    return ("manual", *(name for name, key in _PROVIDER_KEYS if env.get(key)))


def _pem_setting(env: Mapping[str, str], name: str) -> str | None:
    """A key given inline (PEM text, or bare base64 as Alipay's console shows it) or
    as ``NAME_FILE``: a path to read it from (a mounted secret)."""
    inline = env.get(name)
    if inline:
        return inline.replace("\\n", "\n")
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as pem:
            return pem.read()
    except OSError as problem:
        raise ConfigError(f"{name}_FILE: cannot read {path}: {problem}") from None


def _carriers(env: Mapping[str, str]) -> tuple[str, ...]:
    """Carriers staff may ship with: PAVILION_CARRIERS, else manual, plus cdek when it has
    credentials."""
    listed = env.get("PAVILION_CARRIERS")
    if listed is not None:
        return tuple(name.strip() for name in listed.split(",") if name.strip())
    return ("manual", "cdek") if env.get("CDEK_CLIENT_ID") else ("manual",)


def _json_setting(env: Mapping[str, str], name: str) -> Any:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as problem:
        raise ConfigError(f'{name} must be JSON, e.g. {{"RU-WH": 44}}: {problem}') from None


def _engine_options(database_url: str, env: Mapping[str, str]) -> dict[str, Any]:
    # SQLAlchemy keeps a compiled form of every statement shape it has run (500 by
    # default, pruned at 750); catalog pages have many shapes and large compiled forms,
    # so a smaller cache keeps a worker's memory flat at little cost.
    compiled_cache = int(env.get("PAVILION_SQL_COMPILED_CACHE_SIZE", "120"))
    if database_url.startswith("postgresql"):
        return {
            "query_cache_size": compiled_cache,
            "pool_pre_ping": True,
            "pool_size": int(env.get("DATABASE_POOL_SIZE", "5")),
            "max_overflow": int(env.get("DATABASE_MAX_OVERFLOW", "5")),
            "pool_recycle": 1800,
        }
    return {"query_cache_size": compiled_cache}
