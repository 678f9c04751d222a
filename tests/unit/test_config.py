import pytest

from shop.config import ConfigError, load_config, normalize_database_url


def test_production_needs_a_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(environ={"PAVILION_ENV": "production", "DATABASE_URL": "sqlite://"})


def test_development_keeps_a_generated_key_for_all_workers(tmp_path):
    env = {"PAVILION_VAR_DIR": str(tmp_path)}
    first, second = load_config(environ=env), load_config(environ=env)
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_default_database_is_a_sqlite_file_under_var(tmp_path):
    config = load_config(environ={"PAVILION_VAR_DIR": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'pavilion.db'}"


def test_hosting_style_postgres_urls_mean_psycopg3():
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="PAVILION_ENV"):
        load_config(environ={"PAVILION_ENV": "staging"})


def test_client_addresses_come_from_trusted_proxies_only():
    """Login throttling counts by client address: X-Forwarded-For is believed only when
    PAVILION_TRUSTED_PROXY_HOPS says a proxy sets it."""
    from flask import request

    from shop.app import create_app

    seen = []
    for hops in (0, 1):
        app = create_app({"PAVILION_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                          "TRUSTED_PROXY_HOPS": hops})  # fmt: skip
        app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr or "")
        response = app.test_client().get(
            "/whoami", headers={"X-Forwarded-For": "203.0.113.7"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )  # fmt: skip
        seen.append(response.get_data(as_text=True))
    assert seen == ["10.0.0.2", "203.0.113.7"]


def test_payment_adapters_default_to_manual_and_stripe_with_a_key():
    assert load_config({"PAVILION_ENV": "test"}, environ={})["PAYMENT_ADAPTERS"] == ("manual",)
    with_key = load_config({"PAVILION_ENV": "test"}, environ={"STRIPE_API_KEY": "sk_x"})
    assert with_key["PAYMENT_ADAPTERS"] == ("manual", "stripe")
    listed = load_config({"PAVILION_ENV": "test"},
                         environ={"PAVILION_PAYMENT_ADAPTERS": "stripe, dummy"})  # fmt: skip
    assert listed["PAYMENT_ADAPTERS"] == ("stripe", "dummy")


def test_access_logs_leave_out_query_strings():
    """An order page's ?token= is the shopper's secret: gunicorn logs the path alone."""
    from shop import gunicorn_conf

    assert "%(U)s" in gunicorn_conf.access_log_format
    assert "%(r)s" not in gunicorn_conf.access_log_format
    assert "%(q)s" not in gunicorn_conf.access_log_format


def test_production_needs_a_key_for_buyers_id_numbers():
    """Orders to China keep the buyer's full PRC ID number encrypted: production must not
    fall back to a key derived from SECRET_KEY."""
    env = {"PAVILION_ENV": "production", "DATABASE_URL": "sqlite://", "SECRET_KEY": "s" * 40}
    with pytest.raises(ConfigError, match="PAVILION_ID_ENCRYPTION_KEY"):
        load_config(environ=env)
    key = "k" * 43 + "="
    assert (
        load_config(environ={**env, "PAVILION_ID_ENCRYPTION_KEY": key})["ID_ENCRYPTION_KEY"] == key
    )


def test_the_celery_queue_and_the_sweep_interval_come_from_the_environment():
    from shop import create_app
    from shop.core.celery_app import SWEEP, make_celery

    default = make_celery(
        create_app({"PAVILION_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    )
    assert default.conf.task_default_queue == "celery"
    assert default.conf.beat_schedule[SWEEP]["schedule"] == 60.0
    config = load_config(
        environ={"DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "PAVILION_CELERY_QUEUE": "shop-b",
                 "PAVILION_JOB_SWEEP_SECONDS": "1.5"}
    )  # fmt: skip
    assert (config["CELERY_QUEUE"], config["JOB_SWEEP_SECONDS"]) == ("shop-b", 1.5)
    app = create_app({**config, "PAVILION_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    celery = make_celery(app)
    assert celery.conf.task_default_queue == "shop-b"
    assert celery.conf.beat_schedule[SWEEP]["schedule"] == 1.5
