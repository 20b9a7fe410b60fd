"""Booking by hand as a new tradie finds it: a deadline to pay by without typing one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking
from tests.booking_helpers import ZONE, at, local_day, service_id
from tests.fixtures.clients import Auth, DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

NEW = "/dashboard/bookings/new"


@pytest.mark.parametrize("days", [2, 6])
def test_a_requested_deposit_has_a_pay_by_deadline_without_one_typed(
    app: Flask, client: Any, stripe_live: Any, days: int
) -> None:
    tradie = payments_tradie(app, stripe_live)
    assert Auth(client).login().status_code == 303
    start = at(local_day(days), 10)
    page = DashboardClient(client).get(NEW).get_data(as_text=True)
    assert "24 hours before the job or 3 days from now" in page  # the hint says the default
    response = DashboardClient(client).post(
        NEW,
        {
            "service": str(service_id(app, tradie)),
            "start": start.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M"),
            "name": "Aroha Smith",
            "email": "aroha@example.com",
            "phone": "021 123 4567",
            "address": "1 Queen Street, Auckland",
            "deposit": "request",
            "deadline": "",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking is not None and booking.hold_expires_at is not None
        # 24 hours before the job, or 3 days from now, whichever comes first.
        expected = min(start - timedelta(hours=24), utcnow() + timedelta(days=3))
        assert abs(booking.hold_expires_at - expected) < timedelta(minutes=2)
