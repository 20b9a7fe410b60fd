"""Helpers for the payments tests: a connected tradie, a held booking with its deposit
PaymentIntent, and the customer's side of the emulator's hosted pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from peepopay.clock import utcnow
from peepopay.extensions import db
from tests.booking_helpers import CUSTOMER, at, local_day, service_id
from tests.fixtures.factories import make_tradie
from tests.fixtures.stripe import emulator_config

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_NO_FUNDS = "4000 0000 0000 9995"
CARD_3DS = "4000 0025 0000 3155"  # 3-D Secure on session; off session once set up
CARD_3DS_ALWAYS = "4000 0027 6000 3184"  # 3-D Secure every time, off session too


@pytest.fixture
def app_config(app_config: dict[str, Any], stripe_emulator: Any) -> dict[str, Any]:
    """Every app in a payments test module talks to the session's emulator."""
    app_config.update(emulator_config(stripe_emulator))
    return app_config


def connect(app: Flask, tradie_id: int, emulator: Any) -> str:
    """Connect the tradie's Stripe account through the product and finish onboarding."""
    from peepopay.models import Tradie
    from peepopay.payments import onboarding

    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None
        onboarding.onboarding_link(db.session, tradie, utcnow())
        account = tradie.stripe_account_id
        assert account
        emulator.control(f"accounts/{account}/onboard")
        onboarding.refresh_account(db.session, tradie, utcnow())
        assert tradie.charges_enabled
        db.session.commit()
        db.session.remove()
        return account


def payments_tradie(app: Flask, emulator: Any, **fields: Any) -> int:
    values: dict[str, Any] = {
        "slug": "kiwi",
        "buffer_minutes": 30,
        "phone": "+6495550000",
        "contact_email": "jobs@kiwi.example",
    }
    values.update(fields)
    tradie_id = int(make_tradie(app, **values))
    connect(app, tradie_id, emulator)
    return tradie_id


@dataclass
class Held:
    booking_id: int
    pi: str
    client_secret: str
    account: str


def hold(
    app: Flask, tradie_id: int, *, hour: int = 10, days: int = 3, now: datetime | None = None
) -> Held:
    """A held booking (as the widget makes it) and its deposit PaymentIntent."""
    from peepopay.bookings import services as bookings
    from peepopay.models import Tradie
    from peepopay.payments import deposits

    now = now or utcnow()
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None
        booking = bookings.create_held_booking(
            db.session,
            tradie=tradie,
            service_id=service_id(app, tradie_id),
            start_utc=at(local_day(days), hour),
            customer=bookings.Customer(**CUSTOMER),
            now=now,
        )
        start = deposits.start_deposit(db.session, booking, tradie, now)
        db.session.commit()
        held = Held(booking.id, start.payment_intent_id, start.client_secret, start.account_id)
        db.session.remove()
        return held


def elements_url(emulator: Any, held: Held) -> str:
    return f"{emulator.url}/hosted/elements/{held.pi}?client_secret={held.client_secret}"


def pay(emulator: Any, held: Held, card: str = CARD_OK) -> requests.Response:
    """The customer types a card into the demo card form (redirects followed, as a browser)."""
    with requests.Session() as browser:
        return browser.post(
            elements_url(emulator, held),
            data={
                "number": card,
                "exp": "12 / 34",
                "cvc": "123",
                "client_secret": held.client_secret,
            },
            timeout=30,
        )


def authenticate(emulator: Any, held: Held, action: str = "complete") -> requests.Response:
    """The customer answers the 3-D Secure challenge page."""
    with requests.Session() as browser:
        return browser.post(
            f"{emulator.url}/hosted/3ds/{held.pi}",
            data={"client_secret": held.client_secret, "action": action},
            timeout=30,
        )


def settle(emulator: Any) -> None:
    """Wait until the emulator has delivered every queued webhook."""
    emulator.control("flush", {"timeout": 20})


def job_started(app: Flask, booking_id: int) -> None:
    """Put the booking's job two hours in the past, as when the balance is charged after it."""
    from datetime import timedelta

    import sqlalchemy as sa

    from peepopay.clock import utcnow
    from peepopay.models import Booking

    with app.app_context():
        row = db.session.get(Booking, booking_id)
        assert row is not None
        length = row.ends_at - row.starts_at
        start = utcnow() - timedelta(hours=2)
        db.session.execute(
            sa.update(Booking)
            .where(Booking.id == booking_id)
            .values(starts_at=start, ends_at=start + length)
        )
        db.session.commit()
        db.session.remove()


def booking(app: Flask, booking_id: int) -> Any:
    from peepopay.models import Booking

    with app.app_context():
        row = db.session.get(Booking, booking_id)
        assert row is not None
        db.session.expunge(row)
        db.session.remove()
        return row


def payments(app: Flask, booking_id: int) -> list[Any]:
    from peepopay.models import Payment

    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(Payment).where(Payment.booking_id == booking_id).order_by(Payment.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows


def outbox(app: Flask, booking_id: int | None = None) -> list[tuple[str, str]]:
    """(kind, channel) of every outbox message, oldest first."""
    from peepopay.models import OutboxMessage

    with app.app_context():
        query = sa.select(OutboxMessage.kind, OutboxMessage.channel).order_by(OutboxMessage.id)
        if booking_id is not None:
            query = query.where(OutboxMessage.booking_id == booking_id)
        rows = [(kind, channel) for kind, channel in db.session.execute(query)]
        db.session.remove()
        return rows


def stripe_object(emulator: Any, obj_id: str) -> dict[str, Any]:
    found: dict[str, Any] = emulator.control(f"objects/{obj_id}", method="GET")
    return found


def signed(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header as Stripe makes it."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def event_payload(event_type: str, obj: dict[str, Any], account: str | None = None) -> str:
    event: dict[str, Any] = {
        "id": f"evt_test_{hashlib.sha256(json.dumps(obj).encode()).hexdigest()[:16]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
    }
    if account:
        event["account"] = account
    return json.dumps(event)


def later(minutes: int) -> datetime:
    return utcnow() + timedelta(minutes=minutes)
