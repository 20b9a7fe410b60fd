"""Two-way CalDAV against a real server (Radicale): a confirmed job is written with its stable
UID, moved with the booking and removed when it is cancelled, all through the outbox; busy
times are read from the same calendar (the jobs PeepoPay wrote are not counted again); an
outage during a move delays the update, which is then applied once. Credentials are stored
encrypted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import sqlalchemy as sa

from peepopay import secretbox
from peepopay.bookings import lifecycle
from peepopay.calendars import services as feeds
from peepopay.extensions import db
from peepopay.models import Booking, BusyTime, CalendarFeed, OutboxMessage, Tradie
from peepopay.notifications import caldav as writes
from tests.fixtures.clock import DASH_NOW
from tests.notify_support import deliver_outbox

pytestmark = pytest.mark.usefixtures("frozen_clock")

START = datetime(2030, 1, 9, 20, tzinfo=UTC)  # Thursday 10 January, 09:00 in Auckland
DENTIST = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Phone//EN
BEGIN:VEVENT
UID:dentist-1@phone
DTSTAMP:20300101T000000Z
DTSTART:20300111T010000Z
DTEND:20300111T020000Z
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def jobs_calendar(radicale):
    """The tradie's calendar on the server, with one appointment of their own in it."""
    calendar = radicale.client().principal().make_calendar(name="Jobs", cal_id="jobs")
    calendar.save_event(DENTIST)
    return calendar


@pytest.fixture
def connected(app, tradie_id, radicale, jobs_calendar):
    """The CalDAV calendar connected from the server's own address (discovery finds it)."""
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        feed = feeds.add_feed(
            db.session,
            tradie,
            radicale.url + "/",
            DASH_NOW,
            name="Work",
            username=radicale.USER,
            password=radicale.PASSWORD,
        )
        db.session.commit()
        return int(feed.id)


def pending_booking(app, tradie_id: int) -> int:
    with app.app_context():
        booking = Booking(
            tradie_id=tradie_id,
            service_name="Leak repair",
            duration_minutes=60,
            price_minor=20000,
            deposit_minor=5000,
            currency="NZD",
            customer_name="Aroha Smith",
            customer_email="aroha@example.com",
            customer_phone="+64211234567",
            job_address="1 Queen Street, Auckland",
            starts_at=START,
            ends_at=START + timedelta(hours=1),
            status="pending_payment",
            hold_expires_at=DASH_NOW + timedelta(minutes=15),
        )
        db.session.add(booking)
        db.session.commit()
        return int(booking.id)


def step(app, booking_id: int, action, *args, **kwargs) -> None:
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        action(db.session, booking, *args, **kwargs)
        db.session.commit()


def job_on_server(radicale, booking_id: int) -> icalendar.Event | None:
    """The job's event as the server holds it, or None; fails if the UID is there twice."""
    calendar = radicale.client().calendar(url=f"{radicale.url}/{radicale.USER}/jobs/")
    found = [
        component
        for resource in calendar.events()
        for component in icalendar.Calendar.from_ical(resource.data).walk("VEVENT")
        if str(component["UID"]) == writes.uid(booking_id)
    ]
    assert len(found) <= 1, f"{len(found)} events with the job's UID"
    return found[0] if found else None


def caldav_messages(app) -> list[tuple[str, int]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.status, OutboxMessage.attempts)
            .where(OutboxMessage.channel == "caldav")
            .order_by(OutboxMessage.id)
        )
        return [(status, attempts) for status, attempts in rows]


def test_connecting_reads_busy_times_and_stores_the_password_encrypted(app, connected, radicale):
    with app.app_context():
        feed = db.session.get(CalendarFeed, connected)
        assert feed.kind == "caldav"
        assert feed.url == f"{radicale.url}/{radicale.USER}/jobs/"
        assert feed.busy_count == 1
        assert radicale.PASSWORD not in (feed.password_encrypted or "")
        assert secretbox.decrypt(feed.password_encrypted) == radicale.PASSWORD
        busy = db.session.execute(sa.select(BusyTime.starts_at, BusyTime.ends_at)).all()
    assert busy == [(datetime(2030, 1, 11, 1, tzinfo=UTC), datetime(2030, 1, 11, 2, tzinfo=UTC))]


def test_a_wrong_app_password_is_refused_with_the_reason(app, tradie_id, radicale, jobs_calendar):
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        with pytest.raises(feeds.FormError, match="refused the user name or app password"):
            feeds.add_feed(
                db.session, tradie, radicale.url + "/", DASH_NOW, username="tradie", password="no"
            )


def test_confirm_move_and_cancel_a_job(app, connected, radicale, tradie_id):
    booking_id = pending_booking(app, tradie_id)
    step(app, booking_id, lifecycle.confirm, DASH_NOW, actor="stripe")
    assert job_on_server(radicale, booking_id) is None  # only after the commit, by the outbox
    deliver_outbox(app)
    event = job_on_server(radicale, booking_id)
    assert event is not None
    assert event.decoded("DTSTART").astimezone(UTC) == START
    assert str(event["SUMMARY"]) == "Leak repair: Aroha Smith"

    moved = START + timedelta(days=1, hours=2)
    step(app, booking_id, lifecycle.move, moved, moved + timedelta(hours=1), DASH_NOW, actor="t")
    deliver_outbox(app)
    event = job_on_server(radicale, booking_id)
    assert event is not None and event.decoded("DTSTART").astimezone(UTC) == moved

    # The job written there is the booking's already: a sync does not count it as busy.
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert feeds.sync_now(db.session, tradie, connected, DASH_NOW).busy_count == 1
        db.session.commit()

    step(app, booking_id, lifecycle.cancel, DASH_NOW, by="tradie", actor="tradie:1")
    deliver_outbox(app)
    assert job_on_server(radicale, booking_id) is None
    assert caldav_messages(app) == [("sent", 1), ("sent", 1), ("sent", 1)]


def test_an_outage_during_a_move_delays_the_update_then_applies_it_once(
    app, connected, radicale, tradie_id, frozen_clock
):
    booking_id = pending_booking(app, tradie_id)
    step(app, booking_id, lifecycle.confirm, DASH_NOW, actor="stripe")
    deliver_outbox(app)
    radicale.stop()
    moved = START + timedelta(hours=3)
    step(app, booking_id, lifecycle.move, moved, moved + timedelta(hours=1), DASH_NOW, actor="t")
    deliver_outbox(app)
    assert caldav_messages(app) == [("sent", 1), ("pending", 1)]
    with app.app_context():
        failed = db.session.scalars(
            sa.select(OutboxMessage).where(
                OutboxMessage.status == "pending", OutboxMessage.channel == "caldav"
            )
        ).one()
        assert "Connection refused" in (failed.last_error or "")
        retry_at = failed.next_attempt_at
    assert retry_at > DASH_NOW  # backed off, not lost
    with app.app_context():
        problems = feeds.write_problems(db.session, tradie_id)
    assert problems[connected].startswith("1 job update(s) waiting to be retried.")
    assert "Connection refused" in problems[connected]
    radicale.start()
    frozen_clock.set(retry_at)
    deliver_outbox(app)
    deliver_outbox(app)  # a second run sends nothing again
    assert caldav_messages(app) == [("sent", 1), ("sent", 2)]
    with app.app_context():
        assert feeds.write_problems(db.session, tradie_id) == {}
    event = job_on_server(radicale, booking_id)
    assert event is not None and event.decoded("DTSTART").astimezone(UTC) == moved


def test_without_an_encryption_key_caldav_is_refused_and_nothing_stored(app, tradie_id):
    app.config["CALENDAR_SECRET_KEYS"] = None  # as production without the setting
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        with pytest.raises(feeds.FormError, match="CALENDAR_SECRET_KEYS"):
            feeds.add_feed(
                db.session,
                tradie,
                "https://caldav.example.com/",
                DASH_NOW,
                username="a",
                password="b",
            )
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(CalendarFeed.id))) == 0


def test_passwords_encrypted_with_an_old_key_still_read_after_rotation(app):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with app.app_context():
        app.config["CALENDAR_SECRET_KEYS"] = old
        token = secretbox.encrypt("app-password")
        app.config["CALENDAR_SECRET_KEYS"] = f"{new},{old}"
        assert secretbox.decrypt(token) == "app-password"
        app.config["CALENDAR_SECRET_KEYS"] = new
        with pytest.raises(secretbox.NoKey):
            secretbox.decrypt(token)
