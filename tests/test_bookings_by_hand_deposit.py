"""A hand-made booking whose deposit is requested: held until the tradie's deadline, a link by
email and SMS to the widget's payment step, paid through the Stripe emulator, or released."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.bookings import services as bookings
from peepopay.bookings.models import Status
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, OutboxMessage, Payment
from tests.booking_helpers import ZONE, at, local_day, service_id
from tests.fixtures.clients import Auth, DashboardClient
from tests.notify_support import deliver_outbox
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    Held,
    app_config,
    pay,
    payments_tradie,
)

# Overlap refusals, holds and concurrent moves are where the two databases can differ.
pytestmark = pytest.mark.both_databases

NEW = "/dashboard/bookings/new"


def local(instant: Any) -> str:
    return instant.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def request_deposit(app: Flask, client: Any, tradie: int, deadline: Any) -> Any:
    assert Auth(client).login().status_code == 303
    dash = DashboardClient(client)
    data = {
        "service": str(service_id(app, tradie)),
        "start": local(at(local_day(3), 10)),
        "name": "Aroha Smith",
        "email": "aroha@example.com",
        "phone": "021 123 4567",
        "address": "1 Queen Street, Auckland",
        "deposit": "request",
        "deadline": local(deadline),
    }
    return dash.post(NEW, data)


def the_booking(app: Flask) -> Booking:
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking is not None
        db.session.expunge(booking)
        return booking


def test_requested_deposit_is_held_linked_paid_and_confirmed(
    app: Flask, client: Any, stripe_live: Any, smtp: Any
) -> None:
    tradie = payments_tradie(app, stripe_live)
    deadline = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = request_deposit(app, client, tradie, deadline)
    assert response.status_code == 303, response.get_data(as_text=True)
    booking = the_booking(app)
    assert booking.status == Status.PENDING_PAYMENT
    assert booking.hold_expires_at == deadline and booking.deposit_minor == 5000

    with app.app_context():
        sent = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "deposit_requested")
        ).all()
        assert {m.channel for m in sent} == {"email", "sms"}
        assert not db.session.scalars(  # nothing is confirmed before the deposit
            sa.select(OutboxMessage).where(OutboxMessage.kind == "confirmed")
        ).all()
    deliver_outbox(app)
    (email,) = [m for m in smtp.messages if m["To"] == "aroha@example.com"]
    text = email.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://peepopay\.test(/book/kiwi/pay/\S+)", text)
    assert link, text
    assert "Pay your" in email["Subject"]

    # The customer follows the link: the widget's payment step, on the emulator's card form.
    page = client.get(link.group(1))
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    pi = re.search(r'data-payment-intent="([^"]+)"', body)
    secret = re.search(r'data-client-secret="([^"]+)"', body)
    account = re.search(r'data-account="([^"]+)"', body)
    assert pi and secret and account
    # A deadline a day away: the countdown in hours and minutes, ending on a day with its zone.
    assert re.search(r'role="timer" data-seconds-left="\d+">(23 h 5\d|24 h 0) min<', body), body
    assert re.search(r"\(until \w{3} \d{1,2} \w{3}, \d{1,2}:\d\d [ap]m NZ[DS]T\)", body)
    pay(
        stripe_live, Held(booking.id, pi.group(1), html.unescape(secret.group(1)), account.group(1))
    )
    done_url = urlsplit(link.group(1)).path.replace("/pay/", "/done/")
    done = client.get(done_url)
    assert "booked" in html.unescape(done.get_data(as_text=True))
    assert the_booking(app).status == Status.CONFIRMED
    with app.app_context():
        (deposit,) = db.session.scalars(sa.select(Payment)).all()
        assert deposit.status == "succeeded" and deposit.method is None
        assert deposit.application_fee_minor == 125  # a card deposit pays the platform fee


def test_an_unpaid_request_releases_the_time_at_the_deadline(
    app: Flask, client: Any, stripe_live: Any
) -> None:

    tradie = payments_tradie(app, stripe_live)
    deadline = (utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)
    assert request_deposit(app, client, tradie, deadline).status_code == 303
    booking = the_booking(app)
    with app.app_context():
        # Until the deadline the time is held...
        assert bookings.expire_holds(db.session, deadline - timedelta(minutes=1)) == 0
        # ...then released, and free for someone else.
        assert bookings.expire_holds(db.session, deadline) == 1
        db.session.commit()
    assert the_booking(app).status == Status.EXPIRED
    # The payment link now says the time has gone.
    from peepopay.bookings.tokens import booking_token

    with app.app_context():
        token = booking_token(booking.id)
    page = client.get(f"/book/kiwi/pay/{token}")
    assert page.status_code == 200
    assert "Waiting for your deposit" not in page.get_data(as_text=True)


def test_the_deadline_must_come_before_the_job(app: Flask, client: Any, stripe_live: Any) -> None:
    tradie = payments_tradie(app, stripe_live)
    response = request_deposit(app, client, tradie, at(local_day(3), 11))
    assert response.status_code == 422
    assert "Pay by must be before the job starts." in response.get_data(as_text=True)
