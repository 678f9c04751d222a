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
