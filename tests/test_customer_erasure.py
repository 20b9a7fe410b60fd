"""Erasing a customer leaves no copy of them: not in any table (intake answers, Stripe's
event payloads, messages, the trail), not in the photo store, not in the development mailbox,
not in any export or page the tradie can open."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from peepopay.clock import utcnow
from peepopay.extensions import db
from tests.booking_helpers import at, booking_body, local_day, service_id
from tests.fixtures.clients import Auth, DashboardClient
from tests.fixtures.stripe import emulator_config
from tests.notify_support import deliver_outbox
from tests.payments_support import Held, elements_url, payments, payments_tradie, settle
from tests.test_intake_api import add_questions
from tests.test_photos import jpeg

NAME = "Wiremu Quillfeather"
EMAIL = "wiremu.quillfeather@example.com"
PHONE = "021 987 6543"
ADDRESS = "7 Unlikely Lane, Ponsonby"
NOTES = "Ring the brass bell twice"
ANSWERS = ("Behind the zebra-striped cabinet", "Leaks only on Tuesdays near the aquarium")
# Everything that says who they are, in every form it is kept in.
PERSONAL = (
    NAME,
    "Quillfeather",
    EMAIL,
    "quillfeather@",
    "+64219876543",
    PHONE,
    "219876543",
    ADDRESS,
    "Unlikely Lane",
    NOTES,
    *ANSWERS,
)


@pytest.fixture
def app_config(app_config: dict[str, Any], stripe_emulator: Any) -> dict[str, Any]:
    """The emulator for Stripe, and no SMTP server: messages go to the development mailbox,
    as with `make run`."""
    app_config.update(emulator_config(stripe_emulator))
    app_config["SMTP_URL"] = ""
    return app_config


def found_in_database(app: Flask) -> list[str]:
    """`table.column: value` for each personal value in any column of any table."""
    hits = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    hits += [f"{table.name}.{column}: {p}" for p in PERSONAL if p in text]
        db.session.remove()
    return hits


def found_in_text(where: str, text: str) -> list[str]:
    return [f"{where}: {p}" for p in PERSONAL if p in text]


def found_in_mailbox(app: Flask) -> list[str]:
    """Each message file, read raw and decoded (a body may be base64 or quoted-printable)."""
    hits = []
    for path in sorted(Path(app.config["MAILBOX_DIR"]).glob("*")):
        raw = path.read_bytes()
        text = raw.decode(errors="replace")
        if path.suffix == ".eml":
            message = email.message_from_bytes(raw, policy=email.policy.default)
            text += "".join(str(v) for v in message.values())
            for part in message.walk():
                if not part.is_multipart():
                    text += str(part.get_content())
        hits += found_in_text(path.name, text)
    return hits


def photo_files(app: Flask) -> list[Path]:
    return sorted(p for p in Path(app.config["PHOTO_DIR"]).rglob("*") if p.is_file())


def pay_as(emulator: Any, held: Held) -> None:
    """The customer types their card and their name into the card form."""
    with requests.Session() as browser:
        answer = browser.post(
            elements_url(emulator, held),
            data={
                "number": "4242 4242 4242 4242",
                "exp": "12 / 34",
                "cvc": "123",
                "name": NAME,
                "email": EMAIL,
                "client_secret": held.client_secret,
            },
            timeout=30,
        )
    assert "Payment complete" in answer.text


@pytest.fixture
def paid_customer(app: Flask, client: Any, stripe_live: Any) -> tuple[int, int]:
    """A customer who booked with intake answers and a photo and paid the deposit, with
    Stripe's events stored and every message delivered: (tradie id, booking id)."""
    from peepopay.bookings import photos
    from peepopay.models import Booking

    tradie_id = payments_tradie(app, stripe_live)
    service = service_id(app, tradie_id)
    ids = add_questions(app, service)
    body = booking_body(
        service, at(local_day(), 10), name=NAME, email=EMAIL, phone=PHONE, address=ADDRESS
    )
    body["notes"] = NOTES
    body["answers"] = {
        str(ids["short_text"]): ANSWERS[0],
        str(ids["long_text"]): ANSWERS[1],
        str(ids["yes_no"]): True,
        str(ids["choice"]): "Upstairs",
    }
    booked = client.post("/api/widget/kiwi/book", json=body)
    assert booked.status_code == 201, booked.get_json()
    answer = booked.get_json()
    secret = answer["stripeClientSecret"]
    held = Held(answer["bookingId"], secret.split("_secret_")[0], secret, answer["stripeAccountId"])
    with app.app_context():
        booking = db.session.get(Booking, held.booking_id)
        assert booking is not None
        photos.add_photos(db.session, photos.configured_store(), booking, [jpeg()], utcnow())
        db.session.commit()
        db.session.remove()
    pay_as(stripe_live, held)
    settle(stripe_live)
    deliver_outbox(app)
    # The job is done and in the past: nothing stands in the way of erasing them.
    with app.app_context():
        booking = db.session.get(Booking, held.booking_id)
        assert booking is not None and booking.status == "confirmed"
        earlier = timedelta(days=30)
        booking.starts_at, booking.ends_at = booking.starts_at - earlier, booking.ends_at - earlier
        booking.status = "completed"
        db.session.commit()
        db.session.remove()
    return tradie_id, held.booking_id


def exports(dash: DashboardClient, booking_id: int) -> list[str]:
    """What the tradie can read about the booking: its page, the CSVs, the JSON export."""
    hits = []
    for url in (
        f"/dashboard/bookings/{booking_id}",
        "/dashboard/bookings.csv",
        "/dashboard/customers.csv",
        "/dashboard/settings/export.json",
    ):
        response = dash.get(url)
        assert response.status_code == 200, url
        hits += found_in_text(url, response.get_data(as_text=True))
    return hits


def test_erasing_a_customer_leaves_no_copy_of_them_anywhere(
    app: Flask, paid_customer: tuple[int, int], fast_passwords: Any
) -> None:
    from peepopay.models import BookingAnswer, BookingPhoto, Customer, StripeEvent

    _tradie_id, booking_id = paid_customer
    dash = DashboardClient(app.test_client())
    assert Auth(dash.client).login().status_code == 303

    # Before: every kind of copy is there, so the checks below can see one.
    stored = found_in_database(app)
    for place in ("booking_answers.answer", "stripe_events.payload", "outbox_messages.payload"):
        assert any(hit.startswith(place) for hit in stored), place
    with app.app_context():
        types = set(db.session.scalars(sa.select(StripeEvent.type)))
        assert {"customer.created", "charge.succeeded", "payment_intent.succeeded"} <= types
        assert db.session.scalar(sa.select(sa.func.count(BookingPhoto.id))) == 1
        customer_id = db.session.scalar(sa.select(Customer.id).where(Customer.name == NAME))
        db.session.remove()
    assert len(photo_files(app)) == 2  # the display size and the thumbnail
    assert found_in_mailbox(app)
    assert exports(dash, booking_id)

    erased = dash.post(f"/dashboard/customers/{customer_id}/erase", {"confirm": "y"})
    assert erased.status_code == 303

    assert found_in_database(app) == []
    assert photo_files(app) == []
    assert found_in_mailbox(app) == []
    assert exports(dash, booking_id) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(BookingAnswer.id))) == 0
        assert db.session.scalar(sa.select(sa.func.count(BookingPhoto.id))) == 0
        # The events are still known by id (a repeat stays a duplicate), without the person.
        assert {"customer.created", "charge.succeeded"} <= set(
            db.session.scalars(sa.select(StripeEvent.type))
        )
        db.session.remove()
    # The money stays on the books.
    (deposit,) = payments(app, booking_id)
    assert deposit.status == "succeeded" and deposit.amount_minor > 0
