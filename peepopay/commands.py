"""Command-line tools: `flask --app peepopay tradie create`, `seed-demo`, `worker`."""

from __future__ import annotations

from datetime import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from peepopay.accounts import services as accounts
from peepopay.clock import utcnow
from peepopay.extensions import db

tradie_cli = AppGroup("tradie", help="Manage tradie accounts.")

DEMO_EMAIL = "demo@peepopay.local"
DEMO_PASSWORD = "tap-and-tank-2026"  # noqa: S105  (printed by make run)


@tradie_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--business-name", required=True)
@click.option("--slug", default=None)
@click.option("--timezone", default="Pacific/Auckland", show_default=True)
def create_tradie(
    email: str, password: str, business_name: str, slug: str | None, timezone: str
) -> None:
    """Create a verified tradie."""
    try:
        tradie = accounts.create_tradie(
            db.session,
            email=email,
            password=password,
            business_name=business_name,
            slug=slug,
            timezone=timezone,
            verified_at=utcnow(),
        )
    except accounts.AccountError as error:
        raise click.BadParameter(
            error.message, param_hint=f"--{error.field.replace('_', '-')}"
        ) from None
    db.session.commit()
    click.echo(f"Created tradie {tradie.id}: {tradie.email} /book/{tradie.slug}")


def seed_demo() -> bool:
    """Create the demo tradie with services and hours when the database has no tradie."""
    from peepopay.models import AvailabilityRule, DepositType, Service, Tradie

    if db.session.scalar(db.select(Tradie.id).limit(1)) is not None:
        return False
    tradie = accounts.create_tradie(
        db.session,
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        business_name="Demo Plumbing",
        slug=accounts.DEMO_SLUG,
        timezone="Pacific/Auckland",
        verified_at=utcnow(),
    )
    tradie.phone = "+64211234567"
    tradie.phone_verified_at = tradie.profile_confirmed_at = tradie.snippet_copied_at = utcnow()
    tradie.contact_email = "jobs@demo-plumbing.example"
    services = [
        Service(
            name="Leaking tap or toilet",
            description="Diagnose and fix a leak.",
            duration_minutes=60,
            price_minor=15000,
            deposit_type=DepositType.FIXED,
            deposit_value=5000,
            sort_order=1,
        ),
        Service(
            name="Hot water cylinder check",
            description="Inspect, flush and test.",
            duration_minutes=90,
            price_minor=24000,
            deposit_type=DepositType.PERCENTAGE,
            deposit_value=2500,
            sort_order=2,
        ),
        Service(
            name="Blocked drain",
            description="Clear a blocked drain; priced on the day.",
            duration_minutes=120,
            price_minor=None,
            deposit_type=DepositType.FIXED,
            deposit_value=8000,
            sort_order=3,
        ),
    ]
    for service in services:
        service.tradie_id = tradie.id
        db.session.add(service)
    for weekday in range(5):
        db.session.add(
            AvailabilityRule(
                tradie_id=tradie.id, weekday=weekday, start_local=time(8), end_local=time(17)
            )
        )
    db.session.add(
        AvailabilityRule(tradie_id=tradie.id, weekday=5, start_local=time(9), end_local=time(13))
    )
    db.session.commit()
    return True


def init_app(app: Flask) -> None:
    app.cli.add_command(tradie_cli)

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Seed the demo tradie `demo-plumbing` when the database is empty."""
        if seed_demo():
            click.echo(f"Seeded demo tradie: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        else:
            click.echo("Database already has tradies; nothing seeded.")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    @click.option("--sweep-interval", default=10.0, show_default=True)
    def worker_command(burst: bool, sweep_interval: float) -> None:
        """Run the RQ worker and the outbox sweep (which also starts reminders when due)."""
        from peepopay import worker
        from peepopay.ops import metrics

        if port := current_app.config.get("WORKER_METRICS_PORT"):
            metrics.serve_worker_metrics(int(port))  # its heartbeat for Prometheus
        worker.run(current_app._get_current_object(), sweep_interval=sweep_interval, burst=burst)  # type: ignore[attr-defined]
