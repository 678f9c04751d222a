"""Operator commands: ``flask --app wsgi <command>`` (see README, "Operator CLI")."""

from __future__ import annotations

import os
import shutil
import sys

import click
from flask import Flask, current_app
from flask_migrate import upgrade as migrate_upgrade

from shop.errors import DomainError


def _fail(error: DomainError) -> None:
    """One clear line and a non-zero exit, never a traceback."""
    parts = [error.detail] if error.detail else []
    for field, messages in (error.errors or {}).items():
        parts.append(f"{field}: {' '.join(messages)}")
    raise click.ClickException("; ".join(parts) or error.title)


def _print_credentials(credentials: list[dict[str, str]]) -> None:
    for entry in credentials:
        line = f"  {entry['who']}: token {entry['token']}"
        if "password" in entry:
            line += f"  password {entry['password']}"
        click.echo(line)


def register_cli(app: Flask) -> None:
    @app.cli.command("seed")
    def seed_command():
        """Load the demo pavilion (idempotent)."""
        from shop.seed import seed_demo_pavilion

        report = seed_demo_pavilion()
        if not report.changed:
            click.echo("Demo data already present: nothing to change.")
            return
        click.echo("Seeded: " + ", ".join(f"{n} {kind}" for kind, n in report.created.items()))
        if report.credentials:
            click.echo("Demo accounts (shown once, stored hashed):")
            _print_credentials(report.credentials)

    merchants = click.Group("merchants", help="Manage merchants.")
    app.cli.add_command(merchants)

    @merchants.command("create")
    @click.argument("name")
    @click.option("--country", required=True, help="ISO 3166-1 alpha-2, e.g. RU")
    @click.option("--currency", help="ISO 4217 price currency (default: the country's)")
    def create_merchant_command(name, country, currency):
        """Register a merchant; prints its id and a new API token (shown once)."""
        from catalog.services import create_merchant

        try:
            merchant = create_merchant(name, country, currency)
        except DomainError as error:
            _fail(error)
        click.echo(f"merchant id: {merchant.id}")
        click.echo(f"name: {merchant.name} ({merchant.country}, prices in {merchant.currency})")
        click.echo(f"API token (shown once): {merchant.token}")

    staff = click.Group("staff", help="Manage warehouse staff and operators.")
    app.cli.add_command(staff)

    @staff.command("create")
    @click.argument("email")
    @click.option("--node", help="node code, e.g. CN-SFH (operators may omit it)")
    @click.option(
        "--role", type=click.Choice(["picker", "operator"]), default="picker", show_default=True
    )
    def create_staff_command(email, node, role):
        """Add a staff member; prints a password and an API token (shown once)."""
        from warehouse.services import create_staff

        try:
            member = create_staff(email, node, role)
        except DomainError as error:
            _fail(error)
        click.echo(
            f"staff id: {member.id}  {member.email}  role {member.role}"
            f"  node {member.node or 'all'}"
        )
        click.echo(f"password (shown once): {member.password}")
        click.echo(f"API token (shown once): {member.token}")

    @app.cli.command("serve")
    @click.option(
        "--workers", type=int, default=None, help="gunicorn workers (default: WEB_CONCURRENCY or 2)"
    )
    def serve_command(workers):
        """Migrate, seed the demo pavilion and serve it with gunicorn on PORT.

        The embedded default: one command from a fresh clone to a running shop.
        """
        from shop.seed import reissue_demo_credentials, seed_demo_pavilion

        config = current_app.config
        migrate_upgrade()
        report = seed_demo_pavilion()
        if report.changed:
            click.echo("Seeded: " + ", ".join(f"{n} {kind}" for kind, n in report.created.items()))
        url = f"http://{config['HOST']}:{config['PORT']}"
        click.echo(f"\nSCO Pavilion on {url}  (API docs {url}/api/docs, health {url}/healthz)")
        if config["PAVILION_ENV"] == "development":
            click.echo("Demo accounts (new credentials on every development start):")
            _print_credentials(report.credentials or reissue_demo_credentials())
        sys.stdout.flush()
        gunicorn = shutil.which("gunicorn") or os.path.join(
            os.path.dirname(sys.executable), "gunicorn"
        )
        argv = [
            gunicorn,
            "--bind",
            f"{config['HOST']}:{config['PORT']}",
            "--workers",
            str(workers or int(os.environ.get("WEB_CONCURRENCY", "2"))),
            "--access-logfile",
            "-",
            "wsgi:app",
        ]
        os.execv(gunicorn, argv)  # noqa: S606 - replace this process by gunicorn, no shell
