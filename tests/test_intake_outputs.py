"""What intake gives the tradie and the customer once booked: answers and postcode on the
booking page, in the tradie's email, the calendar file, the CSV and the export; a booking by
arrival window said as "arriving between 8:00 and 10:00 am" everywhere, its calendar event
spanning the window."""

from __future__ import annotations

import csv
import io

import icalendar
import pytest

from peepopay.bookings import lifecycle
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking
from tests.booking_helpers import at, booking_body, local_day
from tests.fixtures.clients import Auth, DashboardClient
from tests.notify_support import outbox_rows
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)
from tests.test_arrival_windows import BASE, by_window
from tests.test_intake_api import add_questions, good_answers, set_area

ARRIVING = "arriving between 8:00 and 10:00 am"


@pytest.fixture
def booked(app, client, stripe_live):
    """A confirmed booking by arrival window (08–10) with answers and a postcode."""
    tradie_id = payments_tradie(app, stripe_live)
    service = by_window(app, tradie_id)
    ids = add_questions(app, service)
    set_area(app, tradie_id, "1010-1072")
    day = local_day()
    body = booking_body(service, at(day, 8))
    body["answers"] = good_answers(ids)
    body["postcode"] = "1024"
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 201, response.get_json()
    booking_id = response.get_json()["bookingId"]
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert lifecycle.confirm(db.session, booking, utcnow(), actor="stripe") == "confirmed"
        db.session.commit()
        token = booking.public_token
    return booking_id, token, day


def signed_in(app) -> DashboardClient:
    client = app.test_client()
    assert Auth(client).login().status_code == 303
    return DashboardClient(client)


def test_emails_and_calendar_say_the_window_and_the_answers(app, booked):
    _, _, day = booked
    [tradie_email] = outbox_rows(app, kind="new_booking", channel="email")
    text = tradie_email.payload["text"]
    assert ARRIVING in text and ARRIVING in tradie_email.payload["subject"]
    assert "Where is the leak?: Under the kitchen sink" in text
    assert "Postcode:  1024" in text
    assert "Which floor?</td>" in tradie_email.payload["html"]
    [customer_email] = outbox_rows(app, kind="confirmed", channel="email")
    assert ARRIVING in customer_email.payload["text"]
    # The customer is not sent the questions back, only the tradie is.
    assert "Which floor?" not in customer_email.payload["text"]
    [ics] = [a for a in customer_email.payload["attachments"] if a["filename"].endswith(".ics")]
    event = icalendar.Calendar.from_ical(ics["content"]).walk("VEVENT")[0]
    assert event.decoded("dtstart") == at(day, 8)
    assert event.decoded("dtend") == at(day, 10)
    assert "Arriving between 8:00 and 10:00 am" in str(event.get("description"))
    [sms] = outbox_rows(app, kind="confirmed", channel="sms") or [None]
    if sms is not None:
        assert ARRIVING in sms.payload["body"]


def test_customer_page_says_the_window(client, booked):
    _, token, _ = booked
    html = client.get(f"/b/{token}").get_data(as_text=True)
    assert ARRIVING in html
    ics = client.get(f"/b/{token}/booking.ics").get_data()
    event = icalendar.Calendar.from_ical(ics).walk("VEVENT")[0]
    assert "Arriving between 8:00 and 10:00 am" in str(event.get("description"))


def test_booking_page_csv_and_export_show_answers(app, booked, fast_passwords):
    booking_id, _, _ = booked
    dash = signed_in(app)
    html = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert ARRIVING in html
    assert '<dt>Which floor?</dt><dd class="notes">Upstairs</dd>' in html
    assert "<dt>Postcode</dt><dd>1024</dd>" in html
    response = dash.get("/dashboard/bookings.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0]["Postcode"] == "1024"
    assert "Is the water off?: Yes" in rows[0]["Answers"]
    export = dash.get("/dashboard/settings/export.json").get_json()
    assert [a["answer"] for a in export["booking_answers"]] == [
        "Under the kitchen sink",
        "Yes",
        "Upstairs",
        "3",
    ]
    assert len(export["service_questions"]) == 5 and len(export["arrival_windows"]) == 21
