"""compose.yaml and the Dockerfile, checked without a container engine.

No Docker runs here, so the deployment files are checked statically: compose.yaml
against the Compose Specification's JSON schema (``compose-spec.json`` beside this
file), and against the shop itself: every command names an entry point that exists,
every setting passed is one the shop reads (and the ones production needs are
passed, secrets from the environment, never written here), health checks ask routes
the app serves, migrate runs before the rest, beat runs once, and stopping leaves
time for a graceful shutdown.

``compose-spec.json`` is a verbatim copy of ``schema/compose-spec.json`` from
github.com/compose-spec/compose-spec at commit
170098ba07d9f53c383a41bfd4c5166b0a4529a6 (the file last changed in a08f8d51), itself
a copy of compose-go's schema; © The Compose Specification Authors, Apache License
2.0 (``compose-spec.LICENSE`` beside it). Replace it with a newer copy to follow the
specification.
"""

from __future__ import annotations

import ast
import configparser
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

import shop.gunicorn_conf
from shop.config import load_config
from tests.conftest import make_test_app

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("web", "worker", "beat", "migrate")
AFTER_MIGRATE = ("web", "worker", "beat")

# Values for the variables compose.yaml requires, as an operator would set them.
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "db-password-from-the-operator",
    "SECRET_KEY": "session-key-from-the-operator",
    "PAVILION_ID_ENCRYPTION_KEY": "q1wLUC1Pf2Rjk8kq6Mz0rZ2ksG6vuDJqBq3Tz8pQnX4=",
}

# Variables read by the process inside the image but not by shop/config.py.
IMAGE_SETTINGS = {
    "WEB_CONCURRENCY": "gunicorn workers (the Dockerfile's CMD)",
    "FORWARDED_ALLOW_IPS": "proxies gunicorn trusts (the Dockerfile's CMD)",
    "HOST": "gunicorn's bind address (the Dockerfile's CMD)",
    "PORT": "gunicorn's port (the Dockerfile's CMD)",
}

# Settings shop/config.py reads that compose.yaml deliberately does not pass, and why.
NOT_PASSED = {
    "HOST": "the image's 0.0.0.0 is the only address that works in a container",
    "PORT": "the image's 8000, which the health check and the published ports assume",
    "PAVILION_VAR_DIR": "the image's /app/var (the beat schedule lives there)",
    "STRIPE_API_BASE": "another Stripe API base is for localstripe in tests",
    "STRIPE_JS_URL": "another Stripe.js is for localstripe in tests",
    "PAVILION_RATE_LIMITS": "off is for benchmarks and tests; production keeps limits on",
}


# ------------------------------------------------------------------ reading the files


def raw_compose() -> dict:
    # PyYAML's safe loader resolves the << merge keys compose.yaml's x- fragments use.
    return yaml.safe_load(COMPOSE.read_text())


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(LookupError):
    pass


def interpolate(value, env: dict[str, str]):
    """Compose's interpolation (Compose Specification, "Interpolation"): ``$$``,
    ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"]
        # Unset, or (with the colon forms) empty: the default, or the error.
        unset = name not in env or (op is not None and op.startswith(":") and env[name] == "")
        if unset and op in (":-", "-"):
            return arg
        if unset and op in (":?", "?"):
            raise MissingVariable(f"{name}: {arg}")
        return env.get(name, "")

    return _VARIABLE.sub(replace, value)


def variables_in(value) -> set[tuple[str, str | None]]:
    """Each ``(name, operator)`` interpolated anywhere in ``value``."""
    found: set[tuple[str, str | None]] = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= variables_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= variables_in(item)
    elif isinstance(value, str):
        for match in _VARIABLE.finditer(value):
            if not match["escaped"]:
                found.add((match["name"] or match["bare"], match["op"]))
    return found


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(raw_compose(), OPERATOR_ENV)


def config_settings() -> set[str]:
    """Every environment variable shop/config.py reads: ``env.get("X")`` and the
    helpers that take ``(env, "X")``."""
    tree = ast.parse((ROOT / "shop" / "config.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        args = node.args
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and args
            and isinstance(args[0], ast.Constant)
        ):
            names.add(args[0].value)
        elif (
            len(args) >= 2
            and isinstance(args[0], ast.Name)
            and args[0].id == "env"
            and isinstance(args[1], ast.Constant)
            and isinstance(args[1].value, str)
        ):
            names.add(args[1].value)
    return names


def parse_duration(text: str) -> float:
    """A Compose duration (``1m30s``, ``40s``, ``500ms``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts, f"not a duration: {text!r}"
    assert "".join(number + unit for number, unit in parts) == text, text
    return sum(float(number) * units[unit] for number, unit in parts)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def dockerfile(instruction: str) -> list[str]:
    return [rest for name, rest in dockerfile_instructions() if name == instruction]


def urls_in(command) -> list[str]:
    text = " ".join(command) if isinstance(command, list) else command
    return re.findall(r"http://[^'\"\s)]+", text)


@pytest.fixture(scope="module")
def app():
    return make_test_app("sqlite://")


def assert_is_route(app, url: str) -> None:
    path = re.sub(r"^http://[^/]+", "", url)
    adapter = app.url_map.bind("localhost")
    endpoint, _ = adapter.match(path, method="GET")
    assert endpoint, url


def test_interpolation_reads_variables_as_compose_does():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("$$HOME ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}", env) == (
        "$HOME x x d d "
    )
    assert interpolate(["${SET:?m}", {"k": "${EMPTY?m}"}], env) == ["x", {"k": ""}]
    with pytest.raises(MissingVariable, match="EMPTY: say why"):
        interpolate("${EMPTY:?say why}", env)


# ------------------------------------------------------------------ the schema


def test_compose_yaml_is_valid_against_the_compose_specification_schema():
    schema = json.loads((HERE / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for document in (raw_compose(), interpolate(raw_compose(), OPERATOR_ENV)):
        errors = [
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(document)
        ]
        assert errors == []


def test_the_schema_would_catch_a_mistake():
    """The vendored schema is strict about services (guards against a schema that
    accepts anything)."""
    schema = json.loads((HERE / "compose-spec.json").read_text())
    document = json.loads(json.dumps(raw_compose()))  # YAML anchors shared nodes: unshare
    document["services"]["web"]["stop_grace_periods"] = "40s"
    document["services"]["worker"]["depends_on"]["migrate"]["condition"] = "service_done"
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(document))
    where = sorted("/".join(map(str, error.absolute_path)) for error in errors)
    assert where == ["services/web", "services/worker/depends_on"], where


def test_the_services_are_the_deployment_shape(compose):
    assert set(compose["services"]) == {*APP_SERVICES, "postgres", "redis"}
    assert compose["name"] == "sco-pavilion"


# ------------------------------------------------------------------ settings and secrets


def test_production_refuses_to_start_without_its_secrets():
    """``docker compose up`` stops before starting anything when a required setting is
    missing: the secrets come from the environment as ``${VAR:?message}``."""
    for missing in OPERATOR_ENV:
        env = {name: value for name, value in OPERATOR_ENV.items() if name != missing}
        with pytest.raises(MissingVariable, match=missing):
            interpolate(raw_compose(), env)
        with pytest.raises(MissingVariable, match=missing):
            interpolate(raw_compose(), {**env, missing: ""})
    required = {
        name for name, op in variables_in(raw_compose()) if op in (":?", "?")
    }  # fmt: skip
    assert required == set(OPERATOR_ENV)


def test_no_secret_is_written_in_compose_yaml():
    raw = raw_compose()
    secretive = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$|PRIVATE")
    for name, service in raw["services"].items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: use the map form"
        for key, value in environment.items():
            if not secretive.search(key):
                continue
            # Unset (passed from the environment) or a required ${VAR:?…}; no default.
            assert value is None or re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), (name, key)
    # The database URL takes its password from the environment too.
    database_url = raw["services"]["web"]["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in database_url


def test_every_setting_passed_is_one_the_shop_reads(compose):
    known = config_settings() | set(IMAGE_SETTINGS)
    for name in APP_SERVICES:
        unknown = set(compose["services"][name]["environment"]) - known
        assert unknown == set(), f"{name} passes settings nothing reads: {sorted(unknown)}"


def test_every_setting_the_shop_reads_is_passed_or_left_out_on_purpose(compose):
    """A new setting in shop/config.py must be passed here too (or said why not)."""
    settings = config_settings()
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"} <= settings, "parser broken?"
    assert set(NOT_PASSED) <= settings, "NOT_PASSED names a setting config.py no longer reads"
    for name in APP_SERVICES:
        passed = set(compose["services"][name]["environment"])
        missing = settings - passed - set(NOT_PASSED)
        assert missing == set(), f"{name} does not pass {sorted(missing)}"
        assert not (passed & set(NOT_PASSED)), name


def test_the_app_services_get_a_production_configuration(compose, tmp_path):
    """Every app process sees the same settings, and they make a valid production config:
    PostgreSQL, the Redis broker, limits counted in Redis for all web containers."""
    environments = [compose["services"][name]["environment"] for name in APP_SERVICES]
    shared = {key: value for key, value in environments[0].items() if key in environments[1]}
    for environment in environments:
        assert {key: environment[key] for key in shared} == shared
    for environment in environments:
        env = {key: str(value) for key, value in environment.items() if value is not None}
        env["PAVILION_VAR_DIR"] = str(tmp_path)
        config = load_config(environ=env)
        assert config["PAVILION_ENV"] == "production"
        assert config["SECRET_KEY"] == OPERATOR_ENV["SECRET_KEY"]
        assert config["ID_ENCRYPTION_KEY"] == OPERATOR_ENV["PAVILION_ID_ENCRYPTION_KEY"]
        assert config["SQLALCHEMY_DATABASE_URI"] == (
            "postgresql+psycopg://pavilion:db-password-from-the-operator@postgres:5432/pavilion"
        )
        assert config["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert config["RATE_LIMIT_STORAGE_URL"].startswith("redis://redis:6379/")
    postgres = compose["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]


def test_pass_through_settings_are_unset_unless_given(compose):
    """A key without a value is taken from the operator's environment or left unset, so
    the shop's own defaults apply (an empty PAVILION_CARRIERS would mean no carrier)."""
    environment = raw_compose()["services"]["worker"]["environment"]
    for name in ("PAVILION_CARRIERS", "STRIPE_API_KEY", "PAVILION_JOB_LEASE_SECONDS"):
        assert environment[name] is None


# ------------------------------------------------------------------ commands


ENTRY_POINT_PROBE = r"""
import json, sys
from click.testing import CliRunner
from celery import Celery
from celery.bin.celery import celery as celery_cli
from flask import Flask
import wsgi

assert isinstance(wsgi.app, Flask), wsgi.app
assert isinstance(wsgi.celery_app, Celery), wsgi.celery_app
results = {}
for argv in json.loads(sys.argv[1]):
    assert argv[0] == "celery", argv
    # --help last: click parses every option before it and refuses unknown ones.
    result = CliRunner().invoke(celery_cli, argv[1:] + ["--help"])
    results[" ".join(argv)] = [result.exit_code, result.output[-300:]]
print(json.dumps(results))
"""


def celery_commands(compose) -> list[list[str]]:
    commands = []
    for service in compose["services"].values():
        command = service.get("command")
        if command and command[0] == "celery":
            commands.append(command)
        test = (service.get("healthcheck") or {}).get("test")
        if test and test[0] == "CMD-SHELL" and test[1].startswith("celery "):
            commands.append(shlex.split(test[1].replace("$HOSTNAME", "celery-host")))
    return commands


def test_celery_commands_name_the_app_and_options_that_exist(compose, tmp_path):
    commands = celery_commands(compose)
    assert {command[3] for command in commands} == {"worker", "beat", "inspect"}
    for command in commands:
        assert command[1:3] == ["--app", "wsgi:celery_app"], command
    env = {**os.environ, "PAVILION_ENV": "test", "PAVILION_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    probe = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_PROBE, json.dumps(commands)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    results = json.loads(probe.stdout.strip().splitlines()[-1])
    for command, (exit_code, output) in results.items():
        assert exit_code == 0, f"{command}: {output}"


def test_the_worker_runs_the_production_pool():
    """The warm-shutdown test (test_graceful_shutdown.py) runs the same pool."""
    command = raw_compose()["services"]["worker"]["command"]
    assert "--pool" not in command, "prefork, Celery's default"


def test_migrate_runs_an_existing_flask_command(compose, app):
    command = compose["services"]["migrate"]["command"]
    assert command[:3] == ["flask", "--app", "wsgi"]
    assert command[3:] == ["db", "upgrade"]
    result = app.test_cli_runner().invoke(args=[*command[3:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Upgrade to a later version" in result.output


def test_web_runs_the_dockerfiles_cmd(compose):
    """web has no command of its own: the image's gunicorn CMD, checked below."""
    assert "command" not in compose["services"]["web"]
    assert "entrypoint" not in compose["services"]["web"]


def test_the_app_services_run_the_image_built_from_the_dockerfile(compose):
    images = {compose["services"][name]["image"] for name in APP_SERVICES}
    assert images == {"sco-pavilion:latest"}
    for name in APP_SERVICES:
        build = compose["services"][name]["build"]
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).is_file()


# ------------------------------------------------------------------ order and health


def test_migrate_runs_once_before_web_worker_and_beat(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in AFTER_MIGRATE:
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
    for name in ("postgres", "redis"):
        assert "depends_on" not in services[name]


def test_every_service_waited_for_as_healthy_has_a_health_check(compose):
    services = compose["services"]
    for name, service in services.items():
        for needed, how in (service.get("depends_on") or {}).items():
            if how["condition"] == "service_healthy":
                check = services[needed].get("healthcheck") or {}
                assert check.get("test"), (name, needed)
                assert not check.get("disable"), (name, needed)


def test_app_services_without_a_web_server_do_not_inherit_the_images_check(compose):
    """The image's HEALTHCHECK asks gunicorn: worker, beat and migrate would be
    "unhealthy" forever with it, so each says what it does instead."""
    for name in ("worker", "beat", "migrate"):
        check = compose["services"][name]["healthcheck"]
        assert check.get("disable") is True or "8000" not in " ".join(check["test"]), name


def test_the_web_health_check_asks_a_route_of_the_app(compose, app):
    check = compose["services"]["web"]["healthcheck"]
    assert check["test"][0] == "CMD"
    [url] = urls_in(check["test"])
    assert url.startswith("http://127.0.0.1:8000/")
    assert_is_route(app, url)
    # Readiness, which tests/api/test_readiness.py checks on migrated and unready databases.
    path = re.sub(r"^http://[^/]+", "", url)
    assert app.url_map.bind("localhost").match(path, method="GET")[0] == "ops.readyz"


def test_postgres_and_redis_keep_their_data_in_volumes(compose):
    services = compose["services"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


# ------------------------------------------------------------------ replicas and stopping


def test_web_has_replicas_from_the_environment_and_beat_exactly_one():
    raw = raw_compose()["services"]
    assert raw["web"]["deploy"]["replicas"] == "${WEB_REPLICAS:-2}"
    assert interpolate(raw["web"]["deploy"]["replicas"], {"WEB_REPLICAS": "5"}) == "5"
    # Written as the number 1, not from a variable: a second beat sends everything twice.
    assert raw["beat"]["deploy"]["replicas"] == 1
    # Replicas share host ports only through a range (one port each).
    [ports] = interpolate(raw["web"]["ports"], {})
    assert re.fullmatch(r"127\.0\.0\.1:8000-80\d\d:8000", ports), ports


def test_web_waits_for_gunicorns_graceful_timeout_before_killing(compose):
    graceful = shop.gunicorn_conf.graceful_timeout
    assert graceful >= 30
    grace = parse_duration(compose["services"]["web"]["stop_grace_period"])
    assert grace > graceful + 5, "gunicorn must finish (and exit) before SIGKILL"


def test_a_worker_gets_time_to_finish_its_longest_job(compose):
    """The longest job (a carrier booking: a few calls of at most 20 s each) fits the
    worker's grace period, and the grace period ends well inside the job lease, after
    which the sweeper gives a job cut off at SIGKILL to another worker."""
    grace = parse_duration(compose["services"]["worker"]["stop_grace_period"])
    assert grace >= 60
    assert grace < load_config(environ={"PAVILION_ENV": "test"})["JOB_LEASE_SECONDS"]
    assert compose["services"]["worker"]["init"] is True
    assert compose["services"]["beat"]["init"] is True


def test_the_gunicorn_config_holds_only_gunicorn_settings():
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    ours = {
        name
        for name, value in vars(shop.gunicorn_conf).items()
        if not name.startswith("_") and not inspect.ismodule(value) and not inspect.isclass(value)
    }  # what the module imports (os, Path) is not a setting
    assert ours - known == set(), "a misspelt setting is silently ignored by gunicorn"
    assert "graceful_timeout" in ours


# ------------------------------------------------------------------ the Dockerfile


def test_the_dockerfile_cmd_runs_gunicorn_on_the_app_with_the_shops_config(app):
    [cmd] = dockerfile("CMD")
    argv = json.loads(cmd)
    assert argv[:2] == ["sh", "-c"]
    shell = shlex.split(argv[2])
    # exec: gunicorn replaces the shell as PID 1 and gets the container's SIGTERM.
    assert shell[:2] == ["exec", "gunicorn"]
    assert shell[shell.index("--config") + 1] == "python:shop.gunicorn_conf"
    assert shell[-1] == "wsgi:app"
    module = shell[shell.index("--config") + 1].removeprefix("python:")
    assert module == shop.gunicorn_conf.__name__
    assert (ROOT / "wsgi.py").is_file()
    tree = ast.parse((ROOT / "wsgi.py").read_text())
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert {"app", "celery_app"} <= assigned


def test_the_dockerfile_health_check_asks_a_route_on_the_images_port(app):
    [check] = dockerfile("HEALTHCHECK")
    assert "CMD python -c" in check
    [url] = urls_in(check)
    assert url == "http://127.0.0.1:%s/healthz"
    assert "os.environ.get('PORT', '8000')" in check
    assert_is_route(app, url.replace("%s", "8000"))
    env = " ".join(dockerfile("ENV"))
    assert "PORT=8000" in env
    assert dockerfile("EXPOSE") == ["8000"]


def test_the_dockerfile_copies_every_package_and_runs_as_a_user():
    copied = " ".join(dockerfile("COPY"))
    for name in ("pyproject.toml", "setup.cfg", "README.md", "wsgi.py"):
        assert name in copied.split(), name
        assert (ROOT / name).is_file()
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    included = setup["options.packages.find"]["include"].split()
    assert "shop" in included
    for package in {name.split(".")[0] for name in included}:
        assert f"COPY {package} ./{package}" in DOCKERFILE.read_text(), package
    [user] = dockerfile("USER")
    assert user not in ("root", "0")
