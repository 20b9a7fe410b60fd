"""Shared set-up for the widget, API, booking and concurrency tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from peepopay.clock import utcnow
from peepopay.extensions import db
from tests.fixtures.factories import make_service, make_tradie

ZONE = ZoneInfo("Pacific/Auckland")
SLUG = "kiwi"
CUSTOMER = {
    "name": "Aroha Smith",
    "email": "aroha@example.com",
    "phone": "021 123 4567",
    "address": "1 Queen Street, Auckland",
}

# The booking tests' name for the service factory.
add_service = make_service


def local_day(days_ahead: int = 3) -> date:
    """A local date safely inside notice and horizon, from the real clock the routes use."""
    return utcnow().astimezone(ZONE).date() + timedelta(days=days_ahead)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """Local wall-clock time on `day` as an aware UTC instant."""
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)


def iso_z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def widget_tradie(app: Flask, **fields: Any) -> int:
    """A tradie ready for deposits, with 08–17 every day and a 60-minute service."""
    values: dict[str, Any] = {
        "slug": SLUG,
        "charges_enabled": True,
        "buffer_minutes": 30,
        "phone": "+6495550000",
        "contact_email": "jobs@kiwi.example",
    }
    values.update(fields)
    values.setdefault("stripe_account_id", f"acct_{values['slug']}")
    return int(make_tradie(app, **values))


def service_id(app: Flask, tradie_id: int) -> int:
    from peepopay.models import Service

    with app.app_context():
        return int(
            db.session.scalar(
                db.select(Service.id).where(Service.tradie_id == tradie_id).order_by(Service.id)
            )
        )


def booking_body(service: int, start: datetime, **customer: str) -> dict[str, Any]:
    return {
        "serviceId": service,
        "start": start.astimezone(ZONE).isoformat(),
        "customer": {**CUSTOMER, **customer},
    }
