"""The availability endpoint's per-day cache (peepopay/widget/availability.py, DayCache) never
offers a time that a commit has taken since: every change that moves a day's answer bumps the
tradie's slot versions in Redis (peepopay/slot_versions.py), and a hold that runs out frees its
time with no write at all. Each test first shows the answer is served without the database."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from peepopay import slot_versions
from peepopay.bookings import lifecycle
from peepopay.calendars import services as feeds
from peepopay.extensions import db
from peepopay.models import AvailabilityRule, Booking, Status, Tradie
from peepopay.scheduling import availability as hours
from tests.booking_helpers import SLUG, at, booking_body, service_id, widget_tradie
from tests.calendar_support import ics
from tests.fixtures.app import sql_statements
from tests.fixtures.clock import DASH_NOW
from tests.fixtures.factories import make_booking
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

pytestmark = [pytest.mark.both_databases, pytest.mark.usefixtures("frozen_clock")]

DAY = date(2030, 1, 10)  # a Thursday, two days after DASH_NOW in Auckland
ALL_DAY = [f"{h:02d}:{m:02d}" for h in range(8, 17) for m in (0, 30)][:-1]  # 08:00–16:00


@pytest.fixture
def kiwi(app) -> tuple[int, int]:
    tradie_id = widget_tradie(app, buffer_minutes=0)
    return tradie_id, service_id(app, tradie_id)


def free(client, service: int, day: date = DAY) -> list[str]:
    response = client.get(f"/api/widget/{SLUG}/availability?date={day}&serviceId={service}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return [slot["time"] for slot in response.get_json()["slots"] if slot["available"]]


def cached(app, client, service: int, day: date = DAY) -> list[str]:
    """The day's free times, asked until the answer comes from the cache (proved: no SQL)."""
    free(client, service, day)  # learns the tradie behind the slug
    free(client, service, day)  # sets its slot versions, first seen
    first = free(client, service, day)  # read, and kept
    for _ in range(5):  # a late webhook about the tradie's account may bump them once more
        with sql_statements(app) as seen:
            again = free(client, service, day)
        if not seen:
            break
    assert seen == [], "a repeated question should be answered from the cache"
    assert again == first
    return again


def test_a_repeated_question_is_answered_without_the_database(app, client, kiwi):
    assert cached(app, client, kiwi[1]) == ALL_DAY


def test_without_redis_every_answer_is_read(app, client, kiwi):
    app.extensions["redis"] = None
    free(client, kiwi[1])
    free(client, kiwi[1])
    with sql_statements(app) as seen:
        assert free(client, kiwi[1]) == ALL_DAY
    assert seen, "without slot versions nothing may be served from the cache"


def test_a_booking_through_the_widget_takes_its_time_at_once(app, client, stripe_live):
    tradie_id = payments_tradie(app, stripe_live, buffer_minutes=0)
    service = service_id(app, tradie_id)
    assert "10:00" in cached(app, client, service)
    booked = client.post(f"/api/widget/{SLUG}/book", json=booking_body(service, at(DAY, 10)))
    assert booked.status_code == 201, booked.get_json()
    assert {"09:30", "10:00", "10:30"}.isdisjoint(free(client, service))


def test_a_booking_made_by_hand_takes_its_time_at_once(app, client, kiwi):
    assert "12:00" in cached(app, client, kiwi[1])
    make_booking(app, kiwi[0], starts_at=at(DAY, 12))
    assert {"11:30", "12:00", "12:30"}.isdisjoint(free(client, kiwi[1]))


def test_a_cancelled_booking_frees_its_time_at_once(app, client, kiwi):
    booking_id = make_booking(app, kiwi[0], starts_at=at(DAY, 10))
    assert "10:00" not in cached(app, client, kiwi[1])
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        lifecycle.cancel(db.session, booking, DASH_NOW, by="tradie", actor="tradie")
        db.session.commit()
    assert free(client, kiwi[1]) == ALL_DAY


def test_a_hold_that_runs_out_frees_its_time_without_any_write(app, client, kiwi, frozen_clock):
    make_booking(
        app,
        kiwi[0],
        starts_at=at(DAY, 10),
        status=Status.PENDING_PAYMENT,
        hold_expires_at=DASH_NOW + timedelta(minutes=15),
    )
    assert "10:00" not in cached(app, client, kiwi[1])
    frozen_clock.set(DASH_NOW + timedelta(minutes=14))
    assert "10:00" not in free(client, kiwi[1])
    frozen_clock.set(DASH_NOW + timedelta(minutes=15))
    assert free(client, kiwi[1]) == ALL_DAY
    # The sweep marking it expired changes nothing more.
    with app.app_context():
        assert lifecycle.expire_stale(db.session, frozen_clock.now) == 1
        db.session.commit()
    assert free(client, kiwi[1]) == ALL_DAY


def test_a_blocked_day_is_offered_no_more(app, client, kiwi):
    assert cached(app, client, kiwi[1]) == ALL_DAY
    with app.app_context():
        tradie = db.session.get(Tradie, kiwi[0])
        period = hours.add_blocked(db.session, tradie, DAY, None, "Holiday", DASH_NOW)
        db.session.commit()
        period_id = period.id
    assert free(client, kiwi[1]) == []
    assert cached(app, client, kiwi[1]) == []
    with app.app_context():
        tradie = db.session.get(Tradie, kiwi[0])
        hours.remove_blocked(db.session, tradie, period_id)
        db.session.commit()
    assert free(client, kiwi[1]) == ALL_DAY


def test_a_calendar_refresh_is_seen_at_once(app, client, kiwi, feed_server):
    url = feed_server.serve("/jobs.ics", ics("DTSTART:20300109T210000Z\nDTEND:20300109T220000Z"))
    with app.app_context():  # 10:00–11:00 in Auckland on DAY
        tradie = db.session.get(Tradie, kiwi[0])
        feed_id = feeds.add_feed(db.session, tradie, url, DASH_NOW).id
        db.session.commit()
    before = cached(app, client, kiwi[1])
    assert "10:00" not in before and "13:00" in before
    # The feed now has 13:00–14:00 instead.
    feed_server.serve("/jobs.ics", ics("DTSTART:20300110T000000Z\nDTEND:20300110T010000Z"))
    later = DASH_NOW + timedelta(minutes=5)
    app.config["CLOCK"].set(later)
    with app.app_context():
        assert feeds.sync_feed(db.session, feed_id, later) == "synced"
        db.session.remove()
    after = free(client, kiwi[1])
    assert "10:00" in after and "13:00" not in after and "12:30" not in after


def test_changed_working_hours_are_seen_at_once(app, client, kiwi):
    assert cached(app, client, kiwi[1]) == ALL_DAY
    with app.app_context():
        tradie = db.session.get(Tradie, kiwi[0])
        rule = db.session.scalar(
            sa.select(AvailabilityRule).where(
                AvailabilityRule.tradie_id == tradie.id,
                AvailabilityRule.weekday == DAY.weekday(),
            )
        )
        hours.remove_range(db.session, tradie, rule.id)
        db.session.commit()
    assert free(client, kiwi[1]) == []
    with app.app_context():
        tradie = db.session.get(Tradie, kiwi[0])
        hours.add_range(db.session, tradie, DAY.weekday(), time(13), time(15))
        db.session.commit()
    assert free(client, kiwi[1]) == ["13:00", "13:30", "14:00"]


def test_changed_booking_rules_are_seen_at_once(app, client, kiwi):
    assert cached(app, client, kiwi[1]) == ALL_DAY
    with app.app_context():
        tradie = db.session.get(Tradie, kiwi[0])
        hours.update_rules(db.session, tradie, {"slot_interval_minutes": 60})
        db.session.commit()
    assert free(client, kiwi[1]) == [f"{h:02d}:00" for h in range(8, 17)]


def test_a_lost_version_is_never_reused(app, kiwi):
    """A version Redis forgot starts again from a random number, not from one it gave before."""
    with app.app_context():
        assert slot_versions.read(kiwi[0]) is None  # first read: set for the next
        first = slot_versions.read(kiwi[0])
        assert first is not None
        app.extensions["redis"].delete(slot_versions.key(kiwi[0]))
        slot_versions.bump([kiwi[0]])
        second = slot_versions.read(kiwi[0])
        assert second is not None and second[1] != first[1]
        assert int(second[1]) > 1_000


# --------------------------------------------------------------------------- the limit


def test_one_redis_round_trip_counts_the_request_and_reads_the_versions(
    app, client, kiwi, monkeypatch
):
    cached(app, client, kiwi[1])
    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def send(self: Any, command: Any, *args: Any, **kwargs: Any) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send)
    with sql_statements(app) as seen:
        for _ in range(3):
            assert free(client, kiwi[1]) == ALL_DAY
    assert seen == []
    assert len(sent) == 3 and all(b"EVALSHA" in command for command in sent), sent


def test_the_api_and_the_widget_steps_share_one_availability_limit(app, client, kiwi):
    app.config["WIDGET_AVAILABILITY_LIMIT"] = "4 per minute"  # read on every request
    url = f"/api/widget/{SLUG}/availability?date={DAY}&serviceId={kiwi[1]}"
    step = f"/book/{SLUG}/date?service={kiwi[1]}"
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    assert [client.get(step).status_code for _ in range(2)] == [200, 200]
    refused = client.get(url)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"]["code"] == 429
    assert client.get(step).status_code == 429
    # Another client address has its own count.
    assert client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200
