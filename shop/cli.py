"""Operator commands: ``flask --app wsgi <command>`` (see README, "Operator CLI").

Every command that changes what operators look after is audited as the admin API
audits it, by the same service in the same transaction, under ``cli_actor()``;
listings, the periodic sweeps, ``seed`` and ``serve`` are not.
"""

from __future__ import annotations

import getpass
import os
import shutil
import sys

import click
from flask import Flask, current_app
from flask_migrate import upgrade as migrate_upgrade

from shop.core.errors import DomainError


def cli_actor() -> str:
    """Who the audit log, the SKU history and the stock ledger say acted from the shell:
    ``cli:<login name>``, the name getpass finds (LOGNAME, USER, then the password
    database), or ``cli:uid:<n>`` where the uid has no name (a container run as an
    arbitrary uid, where getpass raises)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = f"uid:{os.getuid()}"
    # The SKU history and the stock ledger keep 80 characters of it.
    return f"cli:{name}"[:80]


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


def _progress(stage: str, done: int, total: int) -> None:
    """Report import progress on stderr: a bar for the long stages."""
    width = 30
    filled = width * done // max(total, 1)
    click.echo(
        f"\r{stage:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
        err=True,
        nl=done >= total,
    )


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
        from catalog.merchants import create_merchant

        try:
            merchant = create_merchant(name, country, currency, actor=cli_actor())
        except DomainError as error:
            _fail(error)
        click.echo(f"merchant id: {merchant.id}")
        click.echo(f"name: {merchant.name} ({merchant.country}, prices in {merchant.currency})")
        click.echo(f"API token (shown once): {merchant.token}")

    @merchants.command("create-token")
    @click.argument("merchant_id", type=int)
    @click.option("--label", default="", help="what the token is for, e.g. 'ERP sync'")
    def create_token_command(merchant_id, label):
        """Give a merchant another API token (shown once)."""
        from catalog.merchants import issue_merchant_token

        try:
            token = issue_merchant_token(merchant_id, label, actor=cli_actor())
        except DomainError as error:
            _fail(error)
        click.echo(f"API token (shown once): {token}")

    @merchants.command("tokens")
    @click.argument("merchant_id", type=int)
    def list_tokens_command(merchant_id):
        """List a merchant's tokens (prefixes only: tokens are stored hashed)."""
        from shop.core.auth import token_summaries

        for token in token_summaries(merchant_id):
            state = f"revoked {token['revoked_at']:%Y-%m-%d}" if token["revoked_at"] else "active"
            used = f"{token['last_used_at']:%Y-%m-%d %H:%M}" if token["last_used_at"] else "never"
            label = token["label"]
            click.echo(
                f"{token['id']:>6}  {token['prefix']}…  {state:<18} last used {used}  {label}"
            )

    @merchants.command("revoke-token")
    @click.argument("merchant_id", type=int)
    @click.option("--token-id", type=int, help="the token's id (from `merchants tokens`)")
    @click.option("--all", "revoke_all", is_flag=True, help="revoke every active token")
    def revoke_token_command(merchant_id, token_id, revoke_all):
        """Revoke one token of a merchant, or all of them."""
        from catalog.merchants import revoke_merchant_tokens

        if bool(token_id) == revoke_all:
            raise click.UsageError("give either --token-id ID or --all")
        try:
            count = revoke_merchant_tokens(merchant_id, token_id=token_id, actor=cli_actor())
        except DomainError as error:
            _fail(error)
        click.echo(f"revoked {count} token(s)")

    skus = click.Group("skus", help="Import merchants' SKUs.")
    app.cli.add_command(skus)

    @skus.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--merchant", "merchant_id", type=int, required=True)
    @click.option("--dry-run", is_flag=True, help="validate and report, write nothing")
    @click.option(
        "--on-error", type=click.Choice(["reject_all", "skip_failed"]), default="reject_all",
        show_default=True,
    )  # fmt: skip
    def import_skus_command(file, merchant_id, dry_run, on_error):
        """Upsert SKUs from a CSV or JSON file, as the bulk API does."""
        from catalog.sku_file_import import import_file_for_merchant

        try:
            report = import_file_for_merchant(
                file, merchant_id, dry_run=dry_run, on_error=on_error, progress=_progress,
                actor=cli_actor(),
            )  # fmt: skip
        except DomainError as error:
            _fail(error)
        counts = report["counts"]
        click.echo(
            f"{report['status']}: {counts['rows']} rows, {counts['created']} created, "
            f"{counts['updated']} updated, {counts['unchanged']} unchanged, "
            f"{counts['failed']} failed, {counts['with_warnings']} with warnings"
        )
        for problem in report["errors"][:50]:
            fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in problem["errors"].items())
            click.echo(f"  row {problem['row']} ({problem['sku'] or '?'}): {fields}", err=True)
        if counts["failed"] and not report["status"] == "written":
            raise SystemExit(1)

    lanes = click.Group("lanes", help="Shipping lanes: which node ships where, how.")
    app.cli.add_command(lanes)

    @lanes.command("list")
    @click.option("--node", help="only this node's lanes")
    def list_lanes_command(node):
        """One line per lane: node, destinations, transit days, cut-off, state."""
        from warehouse.services import list_lanes

        for lane in list_lanes(node.upper() if node else None):
            where = ",".join(lane["countries"]) + (
                f" ({len(lane['regions'])} regions)" if lane["regions"] else ""
            )
            days = "{min}-{max} days".format(**lane["transit_days"])
            state = "active" if lane["active"] else "inactive"
            click.echo(
                f"{lane['code']:<12} {lane['node']:<7} -> {where:<22} {days:<10}"
                f"  cut-off {lane['cutoff_time']} {lane['timezone']:<17} {state}"
            )

    @lanes.command("show")
    @click.argument("code")
    def show_lane_command(code):
        """A lane in full, legs and limits included (JSON)."""
        import json

        from warehouse.services import get_lane

        try:
            click.echo(json.dumps(get_lane(code), ensure_ascii=False, indent=2))
        except DomainError as error:
            _fail(error)

    @lanes.command("set")
    @click.argument("code")
    @click.option("--cutoff", "cutoff_time", help="HH:MM in the lane's time zone")
    @click.option("--timezone", help="IANA time zone, e.g. Asia/Vladivostok")
    @click.option("--active/--inactive", default=None)
    @click.option("--countries", help="comma-separated ISO codes, e.g. RU,BY")
    @click.option("--regions", help="comma-separated ISO 3166-2 codes; empty for whole countries")
    @click.option("--refuse-categories", help="comma-separated category slugs; empty for none")
    @click.option("--refuse-hs", help="comma-separated HS prefixes; empty for none")
    @click.option(
        "--requires-cbec/--no-requires-cbec",
        default=None,
        help="refuse goods outside China's CBEC positive list",
    )
    @click.option("--max-weight-g", type=int)
    @click.option("--max-value", help="AMOUNT:CURRENCY, e.g. 5000:CNY")
    def set_lane_command(
        code,
        cutoff_time,
        timezone,
        active,
        countries,
        regions,
        refuse_categories,
        refuse_hs,
        requires_cbec,
        max_weight_g,
        max_value,
    ):
        """Change a lane; the next order is routed with the new values."""
        import json

        from catalog.money import Money
        from warehouse.services import LaneChange, update_lane

        def split(value):
            return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

        money = None
        if max_value:
            amount, _, currency = max_value.partition(":")
            try:
                money = Money.parse(amount, currency or "CNY")
            except ValueError as exc:
                raise click.ClickException(f"--max-value: {exc}") from None
        change = LaneChange(
            cutoff_time=cutoff_time,
            timezone=timezone,
            active=active,
            countries=split(countries),
            regions=split(regions),
            refuses_categories=split(refuse_categories),
            refuses_hs_prefixes=split(refuse_hs),
            requires_cbec_positive_list=requires_cbec,
            max_parcel_weight_g=max_weight_g,
            max_parcel_value=money,
        )
        try:
            lane = update_lane(code, change, actor=cli_actor())
        except DomainError as error:
            _fail(error)
        click.echo(json.dumps(lane, ensure_ascii=False, indent=2))

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
            member = create_staff(email, node, role, actor=cli_actor())
        except DomainError as error:
            _fail(error)
        click.echo(
            f"staff id: {member.id}  {member.email}  role {member.role}"
            f"  node {member.node or 'all'}"
        )
        click.echo(f"password (shown once): {member.password}")
        click.echo(f"API token (shown once): {member.token}")

    stock = click.Group("stock", help="Stock holds.")
    app.cli.add_command(stock)

    @stock.command("expire-reservations")
    def expire_reservations_command():
        """Release the stock of unpaid orders whose hold ran out (safe to run twice at once)."""
        from orders.expiry import expire_reservations

        click.echo(f"expired {expire_reservations()} order(s)")

    orders = click.Group("orders", help="Orders after checkout.")
    app.cli.add_command(orders)

    @orders.command("sweep")
    def sweep_command():
        """Expire unpaid holds, resend refunds and jobs whose task was lost, forget day-old
        Idempotency-Keys. Run it every minute (cron) when no Celery beat runs."""
        from orders.services import sweep
        from shop.core.background import sweep_jobs

        done = dict(sweep())
        done.update(sweep_jobs())
        click.echo(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in done.items()))

    jobs = click.Group("jobs", help="Background jobs: lost work, dead letters.")
    app.cli.add_command(jobs)

    @jobs.command("sweep")
    def sweep_jobs_command():
        """Send again jobs whose task was lost (a dropped message, a killed worker);
        without a broker, run them here. Celery beat does this every minute."""
        from shop.core.background import sweep_jobs

        done = sweep_jobs()
        click.echo(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in done.items()))

    @jobs.command("list")
    @click.option("--state", type=click.Choice(["pending", "running", "done", "dead"]),
                  help="only jobs in this state (dead: the dead letters)")  # fmt: skip
    @click.option("--limit", type=int, default=50, show_default=True)
    def list_jobs_command(state, limit):
        """Jobs, newest change first, with their last error; counts per state first."""
        from shop.core.background import list_jobs

        listed = list_jobs(state, page=1, per_page=limit)
        click.echo("  ".join(f"{name}: {n}" for name, n in listed["counts"].items()))
        for job in listed["items"]:
            key = f" key {job['key']}" if job["key"] else ""
            click.echo(
                f"{job['id']:>7}  {job['state']:<8} {job['name']}{key}  "
                f"attempts {job['attempts']}/{job['max_attempts']}  "
                f"next {job['next_attempt_at']}  args {job['kwargs']}"
            )
            if job["last_error"]:
                click.echo(f"         last error: {job['last_error']}")

    @jobs.command("retry")
    @click.argument("job_id", type=int)
    def retry_job_command(job_id):
        """Move a dead job back to pending, with a fresh set of attempts, and send it."""
        from shop.core.background import retry_job

        try:
            job = retry_job(job_id, actor=cli_actor())
        except DomainError as error:
            _fail(error)
        click.echo(f"job {job['id']} {job['name']}: {job['state']}")

    carriers_group = click.Group("carriers", help="Parcels with carriers.")
    app.cli.add_command(carriers_group)

    @carriers_group.command("poll-tracking")
    def poll_tracking_command():
        """Queue a tracking refresh for every parcel on its way (Celery beat does it every
        10 minutes; without a broker, run it from cron)."""
        from warehouse.shipping import poll_tracking

        click.echo(f"tracking refresh queued for {poll_tracking()} parcel(s)")

    cdek_group = click.Group("cdek", help="CDEK's webhook subscriptions.")
    carriers_group.add_command(cdek_group)

    def _carrier_call(work):
        """A carrier call from the shell: its refusals and outages as one clear line."""
        from shop.core.background import PermanentError, TransientError
        from warehouse.carriers import CarrierError

        try:
            return work()
        except DomainError as error:
            _fail(error)
        except (CarrierError, TransientError, PermanentError) as error:
            raise click.ClickException(f"CDEK: {error}") from None

    @cdek_group.command("subscribe")
    @click.option("--url", help="the shop's public webhook URL (default: CDEK_WEBHOOK_URL)")
    def cdek_subscribe_command(url):
        """Subscribe the shop to CDEK's ORDER_STATUS webhooks, once: lists CDEK's
        subscriptions first and creates one only when none points at the URL."""
        from warehouse.shipping.subscriptions import subscribe

        url = url or current_app.config.get("CDEK_WEBHOOK_URL")
        if not url:
            raise click.ClickException("--url or CDEK_WEBHOOK_URL is required")
        outcome = _carrier_call(lambda: subscribe(url, actor=cli_actor()))
        row = outcome["subscription"]
        if not outcome["created"]:
            click.echo(f"already subscribed: {row['uuid']} {row['type']} -> {row['url']}")
            return
        if outcome["replaced"]:
            click.echo(f"replaced: {outcome['replaced']['uuid']} -> {outcome['replaced']['url']}")
        click.echo(f"subscribed: {row['uuid']} {row['type']} -> {row['url']}")

    @cdek_group.command("subscriptions")
    def cdek_subscriptions_command():
        """One line per webhook subscription CDEK holds for the account."""
        from warehouse.shipping.subscriptions import list_subscriptions

        rows = _carrier_call(list_subscriptions)
        for row in rows:
            click.echo(f"{row['uuid']}  {row['type']:<14} {row['url']}")
        if not rows:
            click.echo("no subscriptions")

    @cdek_group.command("unsubscribe")
    @click.argument("uuid")
    def cdek_unsubscribe_command(uuid):
        """Remove the webhook subscription UUID."""
        from warehouse.shipping.subscriptions import remove_subscription

        if _carrier_call(lambda: remove_subscription(uuid, actor=cli_actor())):
            click.echo(f"removed: {uuid}")
        else:
            raise click.ClickException(f"CDEK has no subscription {uuid}")

    nodes = click.Group("nodes", help="Fulfilment nodes: how each hands parcels to carriers.")
    app.cli.add_command(nodes)

    @nodes.command("handovers")
    @click.option("--node", help="only this node's")
    def list_handovers_command(node):
        """One line per node and carrier: office drop-off or courier intake."""
        from warehouse.services import list_handovers

        for row in list_handovers(node):
            if row["kind"] == "drop_off":
                how = f"drop-off at office {row['office_code']}"
            else:
                window = row["window"]
                how = (f"courier intake {window['from']}-{window['to']} {row['timezone']}"
                       f" at {row['address']}")  # fmt: skip
            click.echo(f"{row['node']:<7} {row['carrier']:<8} {how}")

    @nodes.command("handover")
    @click.argument("node")
    @click.option("--carrier", default="cdek", show_default=True)
    @click.option("--office", "office_code", help="drop-off: the carrier office's code")
    @click.option("--intake", "window", help="courier intake: its window, HH:MM-HH:MM local")
    @click.option("--timezone", help="courier intake: IANA time zone, e.g. Asia/Vladivostok")
    @click.option("--address", help="courier intake: where the courier comes")
    @click.option("--contact-name")
    @click.option("--contact-phone")
    def set_handover_command(node, carrier, office_code, window, timezone, address,
                             contact_name, contact_phone):  # fmt: skip
        """Set how NODE hands parcels to a carrier: --office CODE (dropped off at the
        carrier's office) or --intake HH:MM-HH:MM with --timezone and --address (the
        carrier's courier collects). Audited; the next booking picks its tariff by it."""
        import json

        from warehouse.services import HandoverChange, set_handover

        if bool(office_code) == bool(window):
            raise click.ClickException("give either --office or --intake")
        window_from, _, window_to = (window or "").partition("-")
        change = HandoverChange(
            carrier=carrier,
            kind="drop_off" if office_code else "intake",
            office_code=office_code,
            window_from=window_from.strip() or None,
            window_to=window_to.strip() or None,
            timezone=timezone,
            address=address,
            contact_name=contact_name,
            contact_phone=contact_phone,
        )
        try:
            row = set_handover(cli_actor(), node, change)
        except DomainError as error:
            _fail(error)
        click.echo(json.dumps(row, ensure_ascii=False, indent=2))

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
            "--config",
            "python:shop.gunicorn_conf",
            "wsgi:app",
        ]
        os.execv(gunicorn, argv)  # noqa: S606 - replace this process by gunicorn, no shell

    register_rates_cli(app)


# ------------------------------------------------------------------ exchange rates


def register_rates_cli(app: Flask) -> None:
    """``flask --app wsgi rates set|fetch|list``."""
    from catalog.rate_feeds import (
        feed_status,
        fetch_rates,
        fetchable_feeds,
        rate_ages,
        set_rate,
    )

    rates = click.Group("rates", help="Exchange rates: set by hand, fetch feeds, list ages.")
    app.cli.add_command(rates)

    @rates.command("set")
    @click.argument("base")
    @click.argument("quote")
    @click.argument("rate")
    @click.option("--on", "effective_on", type=click.DateTime(["%Y-%m-%d"]),
                  help="the day it applies from, YYYY-MM-DD (default today, UTC)")  # fmt: skip
    def set_command(base, quote, rate, effective_on):
        """Set 1 BASE = RATE QUOTE from today or --on, as in: rates set CNY RUB 11.42"""
        try:
            on = effective_on.date() if effective_on else None
            row = set_rate(cli_actor(), base, quote, rate, on)
        except DomainError as error:
            _fail(error)
        already = "" if row["created"] else ", already set"
        click.echo(
            f"1 {row['base']} = {row['rate']} {row['quote']} from {row['effective_on']} "
            f"(source {row['source']}{already})"
        )
        if not row["in_force_today"]:
            click.echo("Not in force today: a newer rate of this pair wins, or its day is ahead.")

    @rates.command("fetch")
    @click.option("--feed", "feed_name", help="one feed (default: every enabled feed that fetches)")
    def fetch_command(feed_name):
        """Fetch rate feeds now (Celery beat does it daily). Exits 1 if one failed."""
        try:
            names = [feed_name] if feed_name else fetchable_feeds(current_app.config)
            runs = [fetch_rates(name, cli_actor()) for name in names]
        except DomainError as error:
            _fail(error)
        if not runs:
            click.echo("No enabled feed fetches (PAVILION_RATE_FEEDS).")
        for run in runs:
            if run["outcome"] == "ok":
                click.echo(f"{run['feed']}: ok, {run['rates_seen']} rates dated "
                           f"{run['published_on']}, {run['rows_added']} new")  # fmt: skip
            else:
                click.echo(f"{run['feed']}: FAILED: {run['error']} (old rates kept)", err=True)
        if any(run["outcome"] != "ok" for run in runs):
            raise SystemExit(1)

    @rates.command("list")
    def list_command():
        """The rate each pair converts at today, its source and age; stale ones marked."""
        ages = rate_ages()
        for item in ages["items"]:
            mark = "  STALE" if item["stale"] else ""
            click.echo(f"{item['pair']:<8} {item['rate']:>18}  {item['effective_on']}  "
                       f"{item['source']:<12} {item['age_hours']:>7.1f} h{mark}")  # fmt: skip
        if ages["any_stale"]:
            click.echo(f"{len(ages['stale_pairs'])} pair(s) older than "
                       f"{ages['max_age_hours']:g} h", err=True)  # fmt: skip
        for feed in feed_status()["items"]:
            success = feed["last_success"]
            failure = feed["last_failure"]
            succeeded = success["finished_at"] if success else "never"
            failed = f"{failure['finished_at']} {failure['error']}" if failure else "none"
            click.echo(f"feed {feed['name']}: last success {succeeded}; last failure {failed}")
