"""Calendar files: valid iCalendar, the tradie's zone with its VTIMEZONE, a stable UID, and the
tradie's private, revocable subscription feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.extensions import db
from peepopay.models import AuditLog, Booking
from peepopay.notifications import calendar
from tests.fixtures.clients import csrf_token
from tests.fixtures.factories import make_tradie
from tests.notify_support import make_booking


def feed_url(app, tradie_id: int) -> str:
    with app.app_context():
        return f"/calendar/{db.session.get(Tradie, tradie_id).calendar_token}.ics"


def test_booking_calendar_across_a_dst_change_keeps_wall_clock_times(app, tradie_id):
    """A job on the first day of NZ daylight time: 10:00 NZDT is 21:00 UTC the day before."""
    starts_at = datetime(2030, 9, 29, 10, tzinfo=ZoneInfo("Pacific/Auckland")).astimezone(UTC)
    booking_id = make_booking(app, tradie_id, starts_at=starts_at)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        tradie = db.session.get(Tradie, tradie_id)
        ics = calendar.booking_calendar(tradie, booking, sequence=3)
    text = ics.decode()
    assert "DTSTART;TZID=Pacific/Auckland:20300929T100000" in text
    assert "DTEND;TZID=Pacific/Auckland:20300929T110000" in text
    cal = icalendar.Calendar.from_ical(ics)
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Pacific/Auckland"
    assert {c["TZOFFSETTO"].to_ical() for c in tz.walk("DAYLIGHT")} == {"+1300"}
    [event] = cal.walk("VEVENT")
    assert event.decoded("DTSTART") == starts_at and starts_at.hour == 21
    assert str(event["UID"]) == f"booking-{booking_id}@peepopay"
    assert int(event["SEQUENCE"]) == 3
    assert str(event["LOCATION"]) == "12 Queen Street, Auckland 1010"
    assert str(cal["METHOD"]) == "PUBLISH"


def test_other_time_zones_are_honoured(app):
    tradie_id = make_tradie(app, email="ldn@example.com", timezone="Europe/London")
    starts_at = datetime(2030, 7, 1, 9, tzinfo=UTC)  # 10:00 BST
    booking_id = make_booking(app, tradie_id, starts_at=starts_at)
    with app.app_context():
        ics = calendar.booking_calendar(
            db.session.get(Tradie, tradie_id), db.session.get(Booking, booking_id), sequence=0
        )
    assert "DTSTART;TZID=Europe/London:20300701T100000" in ics.decode()
    [tz] = icalendar.Calendar.from_ical(ics).walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/London"


def test_feed_lists_the_tradies_bookings_and_nobody_elses(app, client, tradie_id):
    soon = datetime.now(UTC) + timedelta(days=3)
    mine = make_booking(app, tradie_id, starts_at=soon)
    cancelled = make_booking(app, tradie_id, starts_at=soon + timedelta(days=1), status="cancelled")
    make_booking(app, tradie_id, starts_at=soon + timedelta(days=2), status="pending_payment")
    other_tradie = make_tradie(app, email="other@example.com", business_name="Other Sparky")
    make_booking(app, other_tradie, starts_at=soon, email="theirs@example.com")
    with app.app_context():  # a reschedule raises the event's SEQUENCE
        booking = db.session.get(Booking, mine)
        db.session.add(
            AuditLog(
                tradie_id=tradie_id,
                actor="customer",
                action=calendar.RESCHEDULED,
                entity_type="booking",
                entity_id=str(booking.id),
            )
        )
        db.session.commit()

    response = client.get(feed_url(app, tradie_id))
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert "Set-Cookie" not in response.headers
    cal = icalendar.Calendar.from_ical(response.data)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {f"booking-{mine}@peepopay", f"booking-{cancelled}@peepopay"}
    assert str(events[f"booking-{cancelled}@peepopay"]["STATUS"]) == "CANCELLED"
    event = events[f"booking-{mine}@peepopay"]
    assert int(event["SEQUENCE"]) == 1
    assert "Cara Customer" in str(event["SUMMARY"])
    assert "021 555 0101" in str(event["DESCRIPTION"])  # the tradie's feed carries contacts
    assert "theirs@example.com" not in response.get_data(as_text=True)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Pacific/Auckland"]


def test_an_empty_feed_is_still_a_valid_calendar(app, client, tradie_id):
    response = client.get(feed_url(app, tradie_id))
    cal = icalendar.Calendar.from_ical(response.data)
    assert cal.walk("VEVENT") == [] and str(cal["PRODID"]) == calendar.PRODID


def test_unknown_feed_tokens_are_404(client, tradie_id):
    assert client.get("/calendar/not-the-token-at-all-123.ics").status_code == 404
    assert client.get("/calendar/x.ics").status_code == 404


def test_regenerating_revokes_the_old_feed_address(app, signed_in, tradie_id):
    old = feed_url(app, tradie_id)
    assert signed_in.get(old).status_code == 200
    token = csrf_token(signed_in, "/dashboard")

    # Without the CSRF token nothing changes.
    assert signed_in.post("/dashboard/calendar/regenerate").status_code == 400
    assert feed_url(app, tradie_id) == old

    settings = signed_in.get("/dashboard/settings").get_data(as_text=True)
    assert f"http://peepopay.test{old}" in settings  # shown to the tradie, with the button
    assert 'action="/dashboard/calendar/regenerate"' in settings

    response = signed_in.post("/dashboard/calendar/regenerate", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/settings#calendar-feed"
    new = feed_url(app, tradie_id)
    assert new != old
    assert signed_in.get(old).status_code == 404
    assert signed_in.get(new).status_code == 200

    fragment = signed_in.post(
        "/dashboard/calendar/regenerate",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    newest = feed_url(app, tradie_id)
    assert f"http://peepopay.test{newest}" in html and "old address no longer works" in html
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditLog.action).where(AuditLog.action == "calendar.regenerated")
        ).all()
    assert len(actions) == 2


def test_regenerating_needs_a_signed_in_tradie(app, client, tradie_id):
    before = feed_url(app, tradie_id)
    token = csrf_token(client, "/auth/login")
    response = client.post("/dashboard/calendar/regenerate", data={"csrf_token": token})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert feed_url(app, tradie_id) == before


def test_a_no_show_is_not_a_confirmed_job_in_the_feed(app, client, tradie_id):
    past = datetime.now(UTC) - timedelta(days=2)
    no_show = make_booking(app, tradie_id, starts_at=past, status="no_show")
    done = make_booking(
        app, tradie_id, starts_at=past - timedelta(days=1), status="completed", email="d@x.nz"
    )
    cal = icalendar.Calendar.from_ical(client.get(feed_url(app, tradie_id)).data)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    missed = events[f"booking-{no_show}@peepopay"]
    assert str(missed["STATUS"]) == "CANCELLED"
    assert str(missed["SUMMARY"]).startswith("No-show – ")
    assert str(events[f"booking-{done}@peepopay"]["STATUS"]) == "CONFIRMED"
