"""The calendars page (/dashboard/calendars): adding a feed syncs it before answering, failures
show with the last good sync, another tradie's calendars are out of reach; busy times show as
"Busy (calendar name)" in the dashboard calendar and the availability preview, never titles."""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from peepopay.calendars import services as feeds
from peepopay.extensions import db
from peepopay.models import BusyTime, CalendarFeed
from tests.calendar_support import ics

pytestmark = pytest.mark.usefixtures("fast_passwords", "dash_now")

URL = "/dashboard/calendars"
# Thursday 10 January 2030 in Auckland: 10:00–11:30 (a title that must never show) and all
# of Friday 11 January.
BUSY = ics(
    """
    DTSTART;TZID=Pacific/Auckland:20300110T100000
    DTEND;TZID=Pacific/Auckland:20300110T113000
    SUMMARY:Dentist appointment
    """,
    "DTSTART;VALUE=DATE:20300111\nDTEND;VALUE=DATE:20300112\nSUMMARY:Family day",
)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def feed_count(app) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count(CalendarFeed.id))))


@pytest.mark.parametrize("htmx", [False, True])
def test_page_and_fragment(dash, htmx):
    response = dash.get(URL, htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    assert "No calendar connected yet." in html
    assert 'name="url"' in html and "Secret address in iCal format" in html


def test_adding_a_feed_syncs_it_before_answering(app, dash, feed_server):
    url = feed_server.serve("/mine.ics", BUSY)
    response = dash.post(URL, {"url": url, "name": "Personal"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(URL)
    assert [path for path, _ in feed_server.requests] == ["/mine.ics"]
    with app.app_context():
        feed = db.session.scalars(sa.select(CalendarFeed)).one()
        assert (feed.name, feed.busy_count, feed.kind) == ("Personal", 2, "ics")
    page = text_of(dash.get(URL).get_data(as_text=True))
    assert "Connected Personal: 2 busy times in the next 60 days." in page
    assert "Dentist" not in page


def test_adding_answers_htmx_with_the_fragment(app, dash, feed_server):
    url = feed_server.serve("/mine.ics", BUSY)
    response = dash.post(URL, {"url": url}, htmx=True)
    assert response.status_code == 200
    html = text_of(response.get_data(as_text=True))
    assert "Connected 127.0.0.1: 2 busy times in the next 60 days." in html
    assert "Sync now" in html


def test_a_web_page_is_refused_on_the_address_field(app, dash, feed_server):
    url = feed_server.serve("/login", "<!doctype html><title>Sign in</title>", headers={})
    for htmx in (False, True):
        response = dash.post(URL, {"url": url}, htmx=htmx)
        assert response.status_code == 422
        html = htmllib.unescape(response.get_data(as_text=True))
        assert 'id="err-feed-url"' in html and "a web page, not a calendar" in html
    assert feed_count(app) == 0


def test_a_failing_feed_shows_why_and_its_last_good_sync(app, dash, feed_server, dash_now):
    url = feed_server.serve("/mine.ics", BUSY)
    dash.post(URL, {"url": url, "name": "Personal"})
    feed_server.answers.pop("/mine.ics")
    with app.app_context():
        feed_id = db.session.scalar(sa.select(CalendarFeed.id))
    app.config["CLOCK"].set(dash_now + timedelta(minutes=5))
    response = dash.post(f"{URL}/{feed_id}/sync")
    assert response.status_code == 303
    page = text_of(dash.get(URL).get_data(as_text=True))
    assert "Not syncing: The calendar's server has no calendar at that address (404)." in page
    assert "Last good sync Tue 8 Jan 2030, 9:00 am; its 2 busy times still block bookings." in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(BusyTime.id))) == 2


def test_disconnecting_removes_the_busy_times(app, dash, feed_server):
    dash.post(URL, {"url": feed_server.serve("/mine.ics", BUSY)})
    with app.app_context():
        feed_id = db.session.scalar(sa.select(CalendarFeed.id))
    response = dash.post(f"{URL}/{feed_id}/delete", htmx=True)
    assert response.status_code == 200
    assert "No calendar connected yet." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(BusyTime.id))) == 0


def test_another_tradies_calendar_is_out_of_reach(app, dash, other_dash, feed_server):
    dash.post(URL, {"url": feed_server.serve("/mine.ics", BUSY), "name": "Personal phone"})
    with app.app_context():
        feed_id = db.session.scalar(sa.select(CalendarFeed.id))
    assert "Personal phone" not in other_dash.get(URL).get_data(as_text=True)
    assert other_dash.post(f"{URL}/{feed_id}/sync").status_code == 404
    assert other_dash.post(f"{URL}/{feed_id}/delete").status_code == 404
    assert feed_count(app) == 1


def test_the_form_needs_its_csrf_token(app, signed_in, feed_server):
    url = feed_server.serve("/mine.ics", BUSY)
    assert signed_in.post(URL, data={"url": url}).status_code in (400, 422)
    assert feed_count(app) == 0


def test_busy_times_show_in_the_calendar_and_the_preview(app, dash, feed_server):
    dash.post(URL, {"url": feed_server.serve("/mine.ics", BUSY), "name": "Personal"})
    week = dash.get("/dashboard/calendar?week=2030-W02").get_data(as_text=True)
    thursday = re.search(r'aria-labelledby="day-2030-01-10">(.*?)</section>', week, re.S)
    assert thursday
    text = text_of(thursday.group(1))
    assert "10:00–11:30 am · Busy (Personal)" in text
    # The free time around it is split by it.
    assert "8:00–10:00 am Add booking here" in text
    assert "11:30 am – 5:00 pm Add booking here" in text
    friday = re.search(r'aria-labelledby="day-2030-01-11">(.*?)</section>', week, re.S)
    assert friday and "Busy (Personal)" in text_of(friday.group(1))
    assert "Dentist" not in week and "Family day" not in week
    preview = text_of(dash.get("/dashboard/availability").get_data(as_text=True))
    assert "Thursday 10 January Busy (Personal): 10:00 am – 11:30 am" in preview
    assert "Friday 11 January Busy (Personal): all day No times offered." in preview
    assert "Dentist" not in preview


def test_the_calendars_notice_counts_busy_times(app, tradie_id, dash_now):
    with app.app_context():
        from peepopay.models import Tradie

        tradie = db.session.get(Tradie, tradie_id)
        feed = CalendarFeed(name="Work", busy_count=1)
        assert feeds.connected_notice(feed, tradie) == (
            "Connected Work: 1 busy time in the next 60 days."
        )


def test_the_export_has_the_calendars_but_not_the_app_password(app, dash, tradie_id):
    from peepopay import secretbox

    with app.app_context():
        feed = CalendarFeed(
            tradie_id=tradie_id,
            kind="caldav",
            name="Work",
            url="https://caldav.example.com/",
            username="me@example.com",
            password_encrypted=secretbox.encrypt("hunter2-app-password"),
            failures=0,
            busy_count=0,
        )
        db.session.add(feed)
        db.session.commit()
    response = dash.get("/dashboard/settings/export.json")
    data = response.get_json()
    assert [c["name"] for c in data["calendars"]] == ["Work"]
    assert "password_encrypted" not in data["calendars"][0]
    assert "hunter2" not in response.get_data(as_text=True)
    assert data["busy_times"] == []


def test_each_form_labels_its_own_fields(dash):
    """Both forms are on one page: every id is used once, and each label points at the field of
    its own form (the CalDAV form's labels once pointed at the ICS form's `url` and `name`)."""
    html = dash.get(URL).get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) in ([], ["csrf_token"])
    forms = re.findall(r"<form\b.*?</form>", html, re.S)
    for form in forms:
        for target in re.findall(r'<label for="([^"]+)"', form):
            assert f'id="{target}"' in form, f"label for {target} points outside its form"
    caldav = next(form for form in forms if "Connect a CalDAV calendar" in form)
    assert 'name="url"' in caldav and 'id="caldav-url"' in caldav
