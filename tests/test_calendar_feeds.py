"""The tradie's own calendars over real HTTP: what an ICS feed blocks (recurrences across a
daylight-saving change, all-day events, EXDATE, moved and cancelled instances, Outlook's
Windows zone names, free events), conditional requests, and failures that keep the last good
busy times: a timeout, a web page, a 20 MB file. The widget and the API never offer a slot
that meets a busy time, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from peepopay.calendars import services as feeds
from peepopay.extensions import db
from peepopay.models import BusyTime, CalendarFeed, OutboxMessage, Tradie
from peepopay.scheduling import services as scheduling
from tests.booking_helpers import CUSTOMER, SLUG, ZONE, at, iso_z, service_id, widget_tradie
from tests.calendar_support import ics
from tests.fixtures.clock import DASH_NOW

pytestmark = pytest.mark.usefixtures("frozen_clock")

WINDOWS_ZONE = """
BEGIN:VTIMEZONE
TZID:New Zealand Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+1300
TZOFFSETTO:+1200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=4
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+1200
TZOFFSETTO:+1300
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=9
END:DAYLIGHT
END:VTIMEZONE
"""


@pytest.fixture
def kiwi(app):
    """A tradie (08–17 every day, 60-minute jobs) whose horizon reaches past April's change."""
    tradie_id = widget_tradie(app, horizon_days=120)
    return tradie_id, service_id(app, tradie_id)


def connect(app, tradie_id: int, url: str) -> int:
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        feed = feeds.add_feed(db.session, tradie, url, DASH_NOW)
        db.session.commit()
        return int(feed.id)


def busy(app, feed_id: int) -> list[tuple[datetime, datetime]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(BusyTime.starts_at, BusyTime.ends_at)
            .where(BusyTime.feed_id == feed_id)
            .order_by(BusyTime.starts_at)
        ).all()
        return [(s, e) for s, e in rows]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return at(day, hour, minute)


def feed_row(app, feed_id: int) -> CalendarFeed:
    with app.app_context():
        feed = db.session.get(CalendarFeed, feed_id)
        db.session.expunge(feed)
        return feed


def sync(app, feed_id: int, now: datetime) -> str:
    app.config["CLOCK"].set(now)
    with app.app_context():
        result = feeds.sync_feed(db.session, feed_id, now)
        db.session.remove()
        return result


# --------------------------------------------------------------------------- what blocks


def test_weekly_event_keeps_its_local_time_across_daylight_saving(app, feed_server, kiwi):
    url = feed_server.serve(
        "/weekly.ics",
        ics(
            """
            DTSTART;TZID=Pacific/Auckland:20300327T100000
            DTEND;TZID=Pacific/Auckland:20300327T110000
            RRULE:FREQ=WEEKLY;COUNT=4
            SUMMARY:Physio
            """
        ),
    )
    feed_id = connect(app, kiwi[0], url)
    # New Zealand leaves daylight saving on 7 April 2030: 10:00 is 21:00 UTC, then 22:00.
    assert busy(app, feed_id) == [
        (datetime(2030, 3, 26, 21, tzinfo=UTC), datetime(2030, 3, 26, 22, tzinfo=UTC)),
        (datetime(2030, 4, 2, 21, tzinfo=UTC), datetime(2030, 4, 2, 22, tzinfo=UTC)),
        (datetime(2030, 4, 9, 22, tzinfo=UTC), datetime(2030, 4, 9, 23, tzinfo=UTC)),
        (datetime(2030, 4, 16, 22, tzinfo=UTC), datetime(2030, 4, 16, 23, tzinfo=UTC)),
    ]


def test_all_day_event_blocks_the_whole_local_day(app, client, feed_server, kiwi):
    url = feed_server.serve(
        "/allday.ics", ics("DTSTART;VALUE=DATE:20300115\nDTEND;VALUE=DATE:20300116")
    )
    feed_id = connect(app, kiwi[0], url)
    day = date(2030, 1, 15)
    assert busy(app, feed_id) == [(local(day, 0), local(day + timedelta(days=1), 0))]
    assert api_times(client, kiwi[1], day) == []
    assert api_times(client, kiwi[1], day + timedelta(days=1))[0] == "08:00"


def test_exdate_moved_and_cancelled_instances(app, feed_server, kiwi):
    url = feed_server.serve(
        "/series.ics",
        ics(
            # Daily at noon for five days, the third day excepted.
            """
            UID:daily@example.com
            DTSTART;TZID=Pacific/Auckland:20300114T120000
            DTEND;TZID=Pacific/Auckland:20300114T130000
            RRULE:FREQ=DAILY;COUNT=5
            EXDATE;TZID=Pacific/Auckland:20300116T120000
            """,
            # Thursdays at 14:00, three times; the second moved to 16:00.
            """
            UID:weekly@example.com
            DTSTART;TZID=Pacific/Auckland:20300110T140000
            DTEND;TZID=Pacific/Auckland:20300110T150000
            RRULE:FREQ=WEEKLY;COUNT=3
            """,
            """
            UID:weekly@example.com
            RECURRENCE-ID;TZID=Pacific/Auckland:20300117T140000
            DTSTART;TZID=Pacific/Auckland:20300117T160000
            DTEND;TZID=Pacific/Auckland:20300117T170000
            """,
            # The fourth noon of the daily series cancelled on its own.
            """
            UID:daily@example.com
            RECURRENCE-ID;TZID=Pacific/Auckland:20300117T120000
            DTSTART;TZID=Pacific/Auckland:20300117T120000
            DTEND;TZID=Pacific/Auckland:20300117T130000
            STATUS:CANCELLED
            """,
            # A cancelled one-off and a free (transparent) one: neither blocks anything.
            """
            DTSTART;TZID=Pacific/Auckland:20300120T090000
            DTEND;TZID=Pacific/Auckland:20300120T100000
            STATUS:CANCELLED
            """,
            """
            DTSTART;TZID=Pacific/Auckland:20300121T090000
            DTEND;TZID=Pacific/Auckland:20300121T100000
            TRANSP:TRANSPARENT
            """,
        ),
    )
    feed_id = connect(app, kiwi[0], url)
    d = date
    assert busy(app, feed_id) == [
        (local(d(2030, 1, 10), 14), local(d(2030, 1, 10), 15)),
        (local(d(2030, 1, 14), 12), local(d(2030, 1, 14), 13)),
        (local(d(2030, 1, 15), 12), local(d(2030, 1, 15), 13)),
        # 16 January excepted; 17 January's noon cancelled, its 14:00 moved to 16:00.
        (local(d(2030, 1, 17), 16), local(d(2030, 1, 17), 17)),
        (local(d(2030, 1, 18), 12), local(d(2030, 1, 18), 13)),
        (local(d(2030, 1, 24), 14), local(d(2030, 1, 24), 15)),
    ]


def test_outlook_windows_zone_names(app, feed_server, kiwi):
    url = feed_server.serve(
        "/outlook.ics",
        ics(
            """
            DTSTART;TZID=New Zealand Standard Time:20300121T090000
            DTEND;TZID=New Zealand Standard Time:20300121T093000
            """,
            # No VTIMEZONE for this one: the Windows name alone.
            """
            DTSTART;TZID=Eastern Standard Time:20300122T090000
            DTEND;TZID=Eastern Standard Time:20300122T100000
            """,
            extra=WINDOWS_ZONE + "X-WR-CALNAME:Calendar",
        ),
    )
    feed_id = connect(app, kiwi[0], url)
    assert busy(app, feed_id) == [
        (datetime(2030, 1, 20, 20, tzinfo=UTC), datetime(2030, 1, 20, 20, 30, tzinfo=UTC)),
        (datetime(2030, 1, 22, 14, tzinfo=UTC), datetime(2030, 1, 22, 15, tzinfo=UTC)),
    ]


def test_long_events_are_stored_in_day_pieces_and_titles_never(app, feed_server, kiwi):
    url = feed_server.serve(
        "/holiday.ics",
        ics(
            """
            DTSTART:20300201T000000Z
            DTEND:20300204T060000Z
            SUMMARY:Secret surgery
            LOCATION:Hospital
            """
        ),
    )
    feed_id = connect(app, kiwi[0], url)
    pieces = busy(app, feed_id)
    assert len(pieces) == 4
    assert pieces[0][0] == datetime(2030, 2, 1, tzinfo=UTC)
    assert pieces[-1][1] == datetime(2030, 2, 4, 6, tzinfo=UTC)
    assert all(e - s <= timedelta(hours=24) for s, e in pieces)
    with app.app_context():
        columns = {c.name for c in BusyTime.__table__.columns}
    assert columns == {"id", "tradie_id", "feed_id", "starts_at", "ends_at"}


# --------------------------------------------------------------------------- never offered


def api_times(client, service: int, day: date) -> list[str]:
    response = client.get(f"/api/widget/{SLUG}/availability?date={day}&serviceId={service}")
    assert response.status_code == 200
    return [s["time"] for s in response.get_json()["slots"]]


@pytest.mark.both_databases
def test_widget_and_api_never_offer_a_slot_meeting_a_busy_time(app, client, feed_server, kiwi):
    tradie_id, service = kiwi
    day = date(2030, 1, 10)
    url = feed_server.serve(
        "/busy.ics",
        ics(
            """
            DTSTART;TZID=Pacific/Auckland:20300110T100000
            DTEND;TZID=Pacific/Auckland:20300110T113000
            """,
            "DTSTART:20300110T024500Z\nDTEND:20300110T031500Z",  # 15:45–16:15 local
        ),
    )
    connect(app, tradie_id, url)
    times = api_times(client, service, day)
    # A 60-minute job: 09:30 runs into 10:00, 11:30 starts as the busy time ends; no buffer
    # around the tradie's own appointments. 15:00 and 15:30 meet the second one, 16:00 too.
    assert "09:00" in times and "11:30" in times and "14:30" in times
    for gone in ("09:30", "10:00", "10:30", "11:00", "15:00", "15:30", "16:00"):
        assert gone not in times
    busy_ranges = [
        (local(day, 10), local(day, 11, 30)),
        (datetime(2030, 1, 10, 2, 45, tzinfo=UTC), datetime(2030, 1, 10, 3, 15, tzinfo=UTC)),
    ]
    body = client.get(f"/api/widget/{SLUG}/availability?date={day}&serviceId={service}")
    for slot in body.get_json()["slots"]:
        start = datetime.fromisoformat(slot["start"])
        end = start + timedelta(hours=1)
        assert not any(s < end and start < e for s, e in busy_ranges), slot
    # The widget's time step offers the same.
    html = client.get(f"/book/{SLUG}/time?service={service}&date={day}").get_data(as_text=True)
    starts = re.findall(r'name="start" value="([^"]+)"', html)
    assert iso_z(local(day, 9)) in starts and iso_z(local(day, 11, 30)) in starts
    assert iso_z(local(day, 10)) not in starts and iso_z(local(day, 9, 30)) not in starts
    # Booking a busy time anyway is refused before any payment starts.
    refused = client.post(
        f"/api/widget/{SLUG}/book",
        json={
            "serviceId": service,
            "start": local(day, 10).astimezone(ZONE).isoformat(),
            "customer": CUSTOMER,
        },
    )
    assert refused.status_code == 422
    assert "start" in refused.get_json()["errors"]
    # The hot path answers exactly as the session path.
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        from peepopay.models import Service

        slow = scheduling.day_slots(
            db.session, tradie, db.session.get(Service, service), day, DASH_NOW
        )
        assert [s.starts_at_utc.astimezone(ZONE).strftime("%H:%M") for s in slow] == times


# --------------------------------------------------------------------------- refreshing


def test_not_modified_keeps_the_busy_times_and_sends_conditional_headers(app, feed_server, kiwi):
    url = feed_server.serve(
        "/etag.ics",
        ics("DTSTART:20300110T010000Z\nDTEND:20300110T020000Z"),
        headers={"Content-Type": "text/calendar", "ETag": '"v1"'},
    )
    feed_id = connect(app, kiwi[0], url)
    before = busy(app, feed_id)
    assert len(before) == 1
    assert sync(app, feed_id, DASH_NOW + timedelta(minutes=1)) == "not_due"
    later = DASH_NOW + timedelta(minutes=5)
    assert sync(app, feed_id, later) == "synced"
    path, headers = feed_server.requests[-1]
    assert path == "/etag.ics" and headers["If-None-Match"] == '"v1"'
    assert busy(app, feed_id) == before
    feed = feed_row(app, feed_id)
    assert feed.last_success_at == later and feed.next_sync_at == later + timedelta(minutes=5)


def test_a_refresh_replaces_busy_times(app, feed_server, kiwi):
    url = feed_server.serve("/change.ics", ics("DTSTART:20300110T010000Z\nDTEND:20300110T020000Z"))
    feed_id = connect(app, kiwi[0], url)
    feed_server.serve("/change.ics", ics("DTSTART:20300111T010000Z\nDTEND:20300111T020000Z"))
    assert sync(app, feed_id, DASH_NOW + timedelta(minutes=5)) == "synced"
    assert busy(app, feed_id) == [
        (datetime(2030, 1, 11, 1, tzinfo=UTC), datetime(2030, 1, 11, 2, tzinfo=UTC))
    ]


def test_a_timeout_keeps_the_last_good_busy_times_and_backs_off(app, feed_server, kiwi):
    app.config["CALENDAR_FETCH_TIMEOUT_SECONDS"] = 0.5
    url = feed_server.serve("/slow.ics", ics("DTSTART:20300110T010000Z\nDTEND:20300110T020000Z"))
    feed_id = connect(app, kiwi[0], url)
    good = busy(app, feed_id)
    feed_server.serve("/slow.ics", ics(), delay=2)
    first = DASH_NOW + timedelta(minutes=5)
    assert sync(app, feed_id, first) == "failed"
    feed = feed_row(app, feed_id)
    assert "took too long" in feed.last_error
    assert feed.last_success_at == DASH_NOW and busy(app, feed_id) == good
    assert feed.next_sync_at == first + timedelta(minutes=5)
    second = feed.next_sync_at
    assert sync(app, feed_id, second) == "failed"
    assert feed_row(app, feed_id).next_sync_at == second + timedelta(minutes=10)
    assert busy(app, feed_id) == good


def test_a_day_of_failures_emails_the_tradie_once(app, feed_server, kiwi, smtp):
    from tests.notify_support import deliver_outbox

    url = feed_server.serve("/gone.ics", ics("DTSTART:20300110T010000Z\nDTEND:20300110T020000Z"))
    feed_id = connect(app, kiwi[0], url)
    feed_server.answers.pop("/gone.ics")  # now a 404
    moment = DASH_NOW + timedelta(minutes=5)
    while moment < DASH_NOW + timedelta(hours=30):
        sync(app, feed_id, moment)
        moment = feed_row(app, feed_id).next_sync_at
    with app.app_context():
        kinds = db.session.scalars(sa.select(OutboxMessage.kind)).all()
    assert kinds == ["calendar_failing"]
    deliver_outbox(app)
    [mail] = smtp.to("tradie@example.com")  # the login address, not the public one
    assert "has not synced for a day" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "404" in text and "/dashboard/calendars" in text
    assert busy(app, feed_id)  # the last good busy times still block


# --------------------------------------------------------------------------- refused feeds


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"body": "<!doctype html><html><body>Sign in</body></html>", "headers": {}},
            "web page, not a calendar",
        ),
        ({"body": "hello, not a calendar"}, "did not answer with an iCalendar"),
        ({"body": "", "status": 500}, "answered 500"),
        (
            {"body": b"BEGIN:VCALENDAR\r\n" + b"X" * (20 * 1024 * 1024)},
            "larger than 5 MB",
        ),
        (
            {"body": b"BEGIN:VCALENDAR\r\n" + b"X" * (20 * 1024 * 1024), "declare_length": False},
            "larger than 5 MB",
        ),
    ],
    ids=["html-page", "not-ics", "server-error", "20mb", "20mb-unannounced"],
)
def test_a_feed_that_cannot_be_read_is_refused_with_the_reason(
    app, feed_server, kiwi, answer, message
):
    url = feed_server.serve("/bad.ics", **answer)
    with app.app_context():
        tradie = db.session.get(Tradie, kiwi[0])
        with pytest.raises(feeds.FormError) as refused:
            feeds.add_feed(db.session, tradie, url, DASH_NOW)
        db.session.rollback()
        assert message in refused.value.message
        assert refused.value.field == "url"
        assert db.session.scalar(sa.select(sa.func.count(CalendarFeed.id))) == 0


def test_unreachable_host_and_bad_scheme(app, kiwi):
    with app.app_context():
        tradie = db.session.get(Tradie, kiwi[0])
        with pytest.raises(feeds.FormError, match="could not be reached"):
            feeds.add_feed(db.session, tradie, "http://127.0.0.1:9/cal.ics", DASH_NOW)
        with pytest.raises(feeds.FormError, match="start with https://"):
            feeds.add_feed(db.session, tradie, "file:///etc/passwd", DASH_NOW)
        with pytest.raises(feeds.FormError, match="could not be found"):
            feeds.add_feed(db.session, tradie, "https://no-such-host.invalid/c.ics", DASH_NOW)


def test_webcal_addresses_are_fetched_over_https(app, kiwi):
    from peepopay.safefetch import normalise_url

    assert normalise_url(" webcal://p01-calendars.icloud.com/published/2/abc ") == (
        "https://p01-calendars.icloud.com/published/2/abc"
    )


# --------------------------------------------------------------------------- the worker


def test_the_worker_syncs_each_due_feed_once(app, feed_server, kiwi):
    """The sweep gives a due feed one RQ job (never two while it waits) in the calendar queue,
    never the messages'; the calendar worker runs it in a thread of its own."""
    import threading
    import time

    from rq import Queue

    from peepopay import worker
    from peepopay.calendars import tasks
    from peepopay.queue import queue_name
    from peepopay.tasks import periodic_duties

    url = feed_server.serve("/w.ics", ics("DTSTART:20300110T010000Z\nDTEND:20300110T020000Z"))
    feed_id = connect(app, kiwi[0], url)
    later = DASH_NOW + timedelta(minutes=5)
    with app.app_context():
        conn = app.extensions["redis"]
        queue = Queue(queue_name(app, calendars=True), connection=conn)
        messages = Queue(queue_name(app), connection=conn)
        assert tasks.enqueue_due(db.session, DASH_NOW + timedelta(minutes=4)) == 0
        periodic_duties(db.session, later)  # the sweep loop's duties
        assert queue.job_ids == [f"calendar-{feed_id}"]
        assert messages.job_ids == []
        assert tasks.enqueue_due(db.session, later) == 0
        assert queue.job_ids == [f"calendar-{feed_id}"]
        feed_server.serve("/w.ics", ics("DTSTART:20300111T010000Z\nDTEND:20300111T020000Z"))
        app.config["CLOCK"].set(later)
    # Off the main thread, as in the worker: no signal handlers, a timer for the job timeout.
    # (Its teardown waits up to a minute on RQ's command channel: it is left to end alone.)
    beside = threading.Thread(
        target=worker.work_calendars, args=(app, threading.Event(), True), daemon=True
    )
    beside.start()
    synced = [(datetime(2030, 1, 11, 1, tzinfo=UTC), datetime(2030, 1, 11, 2, tzinfo=UTC))]
    for _ in range(300):
        if busy(app, feed_id) == synced:
            break
        time.sleep(0.1)
    assert busy(app, feed_id) == synced
    assert feed_row(app, feed_id).next_sync_at == later + timedelta(minutes=5)


def test_the_refresh_interval_is_configurable(app, feed_server, kiwi):
    app.config["CALENDAR_REFRESH_MINUTES"] = 15
    url = feed_server.serve("/i.ics", ics())
    feed_id = connect(app, kiwi[0], url)
    assert feed_row(app, feed_id).next_sync_at == DASH_NOW + timedelta(minutes=15)


@pytest.mark.both_databases
def test_busy_times_at_the_edges_of_the_working_day(app, client, feed_server, kiwi):
    """The hot path reads only busy times meeting the day's working span; one starting before
    the day's first slot or running past its last still takes those slots."""
    tradie_id, service = kiwi
    day = date(2030, 1, 10)
    url = feed_server.serve(
        "/edges.ics",
        ics(
            # 07:30–08:30, 16:45–18:00, and the evening before (touching nothing).
            "DTSTART:20300109T183000Z\nDTEND:20300109T193000Z",
            "DTSTART:20300110T034500Z\nDTEND:20300110T050000Z",
            "DTSTART:20300109T060000Z\nDTEND:20300109T090000Z",
        ),
    )
    connect(app, tradie_id, url)
    times = api_times(client, service, day)
    assert times[0] == "08:30" and times[-1] == "15:30"
    with app.app_context():
        from peepopay.models import Service

        tradie = db.session.get(Tradie, tradie_id)
        slow = scheduling.day_slots(
            db.session, tradie, db.session.get(Service, service), day, DASH_NOW
        )
        assert [s.starts_at_utc.astimezone(ZONE).strftime("%H:%M") for s in slow] == times


def test_an_unexpected_parser_error_is_a_failed_sync_not_a_lost_one(
    app, feed_server, kiwi, monkeypatch
):
    from peepopay.calendars import parse

    url = feed_server.serve("/p.ics", ics("DTSTART:20300110T010000Z\nDTEND:20300110T020000Z"))
    feed_id = connect(app, kiwi[0], url)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(parse, "busy_intervals", broken)
    assert sync(app, feed_id, DASH_NOW + timedelta(minutes=5)) == "failed"
    assert "unexpected error" in feed_row(app, feed_id).last_error
    assert len(busy(app, feed_id)) == 1
