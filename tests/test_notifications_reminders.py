"""Reminders: written to the database when the booking is confirmed, where they wait (Redis holds
nothing for them) until the sweep gives them a job when due; moved by a reschedule and dropped by
a cancellation. The clock is moved, never slept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from peepopay.bookings import customer_changes as customer
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, OutboxMessage, Tradie
from peepopay.notifications import messages, outbox
from tests.notify_support import (
    TwilioRecorder,
    deliver_outbox,
    make_booking,
    outbox_rows,
    twilio_config,
)
from tests.test_notifications import CUSTOMER_NUMBER, job_start


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[TwilioRecorder]:
    recorder = TwilioRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def twilio(twilio_server: TwilioRecorder) -> TwilioRecorder:
    twilio_server.clear()
    return twilio_server


@pytest.fixture
def app_config(app_config, twilio):
    app_config.update(twilio_config(twilio))
    return app_config


@pytest.fixture
def confirmed(app, tradie_id, smtp, twilio):
    """A booking five days ahead, confirmed now, its confirmations delivered and forgotten;
    returns (booking id, now, job start)."""
    starts_at = job_start(days=5)
    booking_id = make_booking(app, tradie_id, starts_at=starts_at)
    now = utcnow()
    with app.test_request_context():
        messages.booking_confirmed(db.session, db.session.get(Booking, booking_id), now)
        db.session.commit()
    assert deliver_outbox(app) == ["sent"] * 3  # customer email and SMS, tradie email
    smtp.clear()
    twilio.clear()
    return booking_id, now, starts_at


def reminders(app, booking_id):
    return outbox_rows(app, booking_id=booking_id, kind="reminder")


def deliver_due(app, now):
    """What the worker's sweep does at `now`: every due message, delivered."""
    with app.app_context():
        ids = outbox.due_message_ids(db.session, now)
        return {i: outbox.deliver(db.session, i, now=now) for i in ids}


def redis_jobs(app):
    """Every job id Redis holds for the queue: waiting, scheduled or started."""
    with app.app_context():
        queue = Queue(app.config["RQ_QUEUE"], connection=app.extensions["redis"])
        return (
            queue.get_job_ids()
            + ScheduledJobRegistry(queue=queue).get_job_ids(cleanup=False)
            + StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
        )


def test_reminder_waits_in_the_database_until_due_and_holds_nothing_in_redis(
    app, smtp, twilio, confirmed
):
    booking_id, _, starts_at = confirmed
    due = starts_at - timedelta(hours=24)
    rows = reminders(app, booking_id)
    assert sorted(r.channel for r in rows) == ["email", "sms"]
    assert all(r.status == "pending" and r.next_attempt_at == due for r in rows)
    assert not {outbox.job_id(r.id) for r in rows} & set(redis_jobs(app))

    # Early: neither the sweep nor a stray job sends it.
    with app.app_context():
        assert outbox.deliver(db.session, rows[0].id, now=due - timedelta(hours=1)) == "not_due"
    assert deliver_due(app, due - timedelta(minutes=1)) == {}
    assert smtp.to("cara@example.com") == []  # nothing delivered yet at all

    # On time: the sweep (or the scheduled job) delivers each once.
    assert sorted(deliver_due(app, due).values()) == ["sent", "sent"]
    assert deliver_due(app, due + timedelta(minutes=5)) == {}
    [mail] = smtp.to("cara@example.com")
    assert mail["Subject"].startswith("Reminder: Leak repair with Kiwi Plumbing")
    assert "12 Queen Street" in mail.get_body(("plain",)).get_content()
    assert "12 Queen Street" in mail.get_body(("html",)).get_content()
    [text] = twilio.to(CUSTOMER_NUMBER)
    assert text["form"]["Body"].startswith("Reminder: Kiwi Plumbing is booked for")


def test_a_reschedule_moves_the_reminder(app, smtp, confirmed, tradie_id):
    booking_id, now, starts_at = confirmed
    old_due = starts_at - timedelta(hours=24)
    new_start = starts_at + timedelta(days=1, hours=1)
    later = now + timedelta(hours=1)
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        customer.reschedule(db.session, booking, new_start, later)
        db.session.commit()
    assert deliver_outbox(app) == ["sent"] * 3  # the news of the move: email, SMS, tradie
    [moved] = smtp.to("cara@example.com")
    assert moved["Subject"].startswith("Booking moved to")
    [ics] = [part.get_content() for part in moved.iter_attachments()]
    assert f"UID:booking-{booking_id}@peepopay" in ics and "SEQUENCE:1" in ics
    smtp.clear()

    rows = reminders(app, booking_id)
    old = [r for r in rows if r.status == "cancelled"]
    new = [r for r in rows if r.status == "pending"]
    assert len(old) == 2 and len(new) == 2
    new_due = new_start - timedelta(hours=24)
    assert all(r.next_attempt_at == new_due for r in new)
    assert all(r.idempotency_key.endswith(":1") for r in new)
    assert not {outbox.job_id(r.id) for r in rows} & set(redis_jobs(app))

    # A job for the old time (from before this design, or a sweep racing the move) finds its
    # row cancelled and does nothing.
    with app.app_context():
        assert [outbox.deliver(db.session, r.id, now=old_due) for r in old] == ["skipped"] * 2
    assert deliver_due(app, old_due) == {}
    assert sorted(deliver_due(app, new_due).values()) == ["sent", "sent"]
    [reminder] = [m for m in smtp.to("cara@example.com") if "Reminder" in m["Subject"]]
    assert f"{new_start.astimezone(customer_tz(app, tradie_id)):%-I:%M}" in reminder["Subject"]


def customer_tz(app, tradie_id):
    from zoneinfo import ZoneInfo

    with app.app_context():
        return ZoneInfo(db.session.get(Tradie, tradie_id).timezone)


def test_a_cancellation_drops_the_reminder(app, smtp, confirmed):
    booking_id, now, starts_at = confirmed
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        booking.status = "cancelled"
        messages.booking_cancelled(db.session, booking, "tradie", 5000, now)
        db.session.commit()
    assert deliver_outbox(app) == ["sent"]  # the cancellation itself
    [cancelled] = smtp.to("cara@example.com")
    assert cancelled["Subject"].startswith("Booking cancelled")
    assert {r.status for r in reminders(app, booking_id)} == {"cancelled"}
    due = starts_at - timedelta(hours=24)
    assert deliver_due(app, due) == {}
    with app.app_context():
        for row in reminders(app, booking_id):
            assert outbox.deliver(db.session, row.id, now=due) == "skipped"
    assert not [m for m in smtp.to("cara@example.com") if "Reminder" in m["Subject"]]


def test_a_reminder_for_a_booking_no_longer_confirmed_is_not_sent(app, smtp, confirmed):
    """Belt and braces: a booking cancelled by a path that forgot the reminder."""
    booking_id, _, starts_at = confirmed
    with app.app_context():
        db.session.execute(
            sa.update(Booking).where(Booking.id == booking_id).values(status="cancelled")
        )
        db.session.commit()
    due = starts_at - timedelta(hours=24)
    assert sorted(deliver_due(app, due).values()) == ["cancelled", "cancelled"]
    assert {r.status for r in reminders(app, booking_id)} == {"cancelled"}
    assert smtp.to("cara@example.com") == []


def test_reminder_hours_come_from_the_tradie(app, tradie_id):
    with app.app_context():
        db.session.get(Tradie, tradie_id).reminder_hours = 2
        db.session.commit()
    starts_at = job_start(days=3)
    booking_id = make_booking(app, tradie_id, starts_at=starts_at)
    with app.test_request_context():
        messages.booking_confirmed(db.session, db.session.get(Booking, booking_id), utcnow())
        db.session.commit()
    assert {r.next_attempt_at for r in reminders(app, booking_id)} == {
        starts_at - timedelta(hours=2)
    }


def test_no_reminder_when_the_job_is_sooner_than_the_reminder(app, tradie_id):
    starts_at = job_start(days=3)
    booking_id = make_booking(app, tradie_id, starts_at=starts_at)
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        messages.booking_confirmed(db.session, booking, starts_at - timedelta(hours=20))
        db.session.commit()
    assert reminders(app, booking_id) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 3
