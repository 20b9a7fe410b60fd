"""The calendar page: the signed-in tradie's jobs, live holds, blocked days and working hours,
a week or a day at a time, in local time, on ordinary days and on daylight-saving days."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from peepopay.dashboard import calendar
from peepopay.extensions import db
from peepopay.models import BlockedPeriod
from tests.fixtures.factories import make_tradie

pytestmark = pytest.mark.usefixtures("fast_passwords")

AUCKLAND = ZoneInfo("Pacific/Auckland")
# Thursday 3 December 2026, 09:10 in Auckland (NZDT, UTC+13): ISO week 2026-W49.
NOW = datetime(2026, 12, 2, 20, 10, tzinfo=UTC)


def local(*args: int) -> datetime:
    """An Auckland wall-clock time as UTC; `fold=1` is not needed: tests pass UTC for those."""
    return datetime(*args, tzinfo=AUCKLAND).astimezone(UTC)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def day_html(html: str, day: str) -> str:
    """The markup of one day's section."""
    match = re.search(
        rf'<section class="cal-day[^"]*" aria-labelledby="day-{day}">(.*?)</section>', html, re.S
    )
    assert match, f"no section for {day}"
    return match.group(1)


def day_text(html: str, day: str) -> str:
    return text_of(day_html(html, day))


@pytest.fixture
def clock(frozen_clock):
    """The app's clock, frozen at NOW; call it with another instant to move it."""
    frozen_clock.set(NOW)
    return frozen_clock.set


@pytest.fixture
def block(app, tradie_id):
    def make(first: date, last: date, reason: str = "", tradie: int | None = None) -> None:
        with app.app_context():
            db.session.add(
                BlockedPeriod(
                    tradie_id=tradie or tradie_id, start_date=first, end_date=last, reason=reason
                )
            )
            db.session.commit()

    return make


@pytest.mark.parametrize("htmx", [False, True])
def test_week_page_and_fragment(dash, clock, add_booking, htmx):
    job = add_booking(customer_name="Aroha Smith", starts_at=local(2026, 12, 4, 10))
    response = dash.get("/dashboard/calendar?week=2026-W49", htmx=htmx)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    # htmx moves a top-level <title> to the document; the full page has its own in <head>.
    assert "<title>Week 49: 30 Nov – 6 Dec 2026 · Calendar · PeepoPay</title>" in html
    assert html.count('<section class="cal-day') == 7
    assert "Times are in Pacific/Auckland (NZDT)." in html
    friday = day_text(html, "2026-12-04")
    assert "10:00–11:00 am · Leak repair · Aroha Smith · Confirmed" in friday
    assert f'href="/dashboard/bookings/{job}"' in day_html(html, "2026-12-04")
    assert "Working 8:00 am – 5:00 pm" in friday
    # Navigation is real links that htmx enhances and pushes into the history.
    for label, target in (("cal-prev", "week=2026-W48"), ("cal-next", "week=2026-W50")):
        link = re.search(rf'<a id="{label}"[^>]*>', html).group(0)
        assert f'href="/dashboard/calendar?{target}"' in link
        assert f'hx-get="/dashboard/calendar?{target}"' in link
        assert 'hx-push-url="true"' in link and 'hx-target="#calendar"' in link


def test_no_parameters_means_this_week_with_today_marked(dash, clock):
    html = dash.get("/dashboard/calendar").get_data(as_text=True)
    assert "Week 49: 30 Nov – 6 Dec 2026" in html
    section = re.search(r'<section class="cal-day([^"]*)" aria-labelledby="day-2026-12-03"', html)
    assert section and "today" in section.group(1) and "off-focus" not in section.group(1)
    # On a phone only the focus day (today) of the week is shown.
    assert html.count("off-focus") == 6
    assert "Today" in day_text(html, "2026-12-03")
    # The nav names the page; the overview links to it.
    assert re.search(r'<a href="/dashboard/calendar" aria-current="page">Calendar</a>', html)
    overview = dash.get("/dashboard").get_data(as_text=True)
    assert '<a href="/dashboard/calendar">Open the calendar</a>' in overview


@pytest.mark.parametrize("htmx", [False, True])
def test_day_view(dash, clock, add_booking, htmx):
    add_booking(customer_name="Aroha Smith", starts_at=local(2026, 12, 3, 13, 30))
    add_booking(customer_name="Next Day", starts_at=local(2026, 12, 4, 13, 30))
    response = dash.get("/dashboard/calendar?day=2026-12-03", htmx=htmx)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ("<html" in html) is not htmx
    assert html.count('<section class="cal-day') == 1
    assert "Thursday 3 December 2026" in html
    text = day_text(html, "2026-12-03")
    assert "1:30–2:30 pm · Leak repair · Aroha Smith · Confirmed" in text
    assert "Next Day" not in html
    # Free working time from now (09:10, rounded up to the 30-minute slot interval) on.
    assert re.search(r"9:30 am – 1:30 pm\s*Add booking here", text)
    assert re.search(r"2:30–5:00 pm\s*Add booking here", text)
    for label, target in (
        ("cal-prev", "day=2026-12-02"),
        ("cal-next", "day=2026-12-04"),
        ("cal-today", "day=2026-12-03"),
        ("cal-week", "week=2026-W49"),
    ):
        link = re.search(rf'<a id="{label}"[^>]*>', html).group(0)
        assert f'href="/dashboard/calendar?{target}"' in link
    # The strip of the week's days marks the one shown.
    strip = re.search(r'<a id="cal-strip-4"[^>]*>', html).group(0)
    assert 'aria-current="page"' in strip


def test_only_the_signed_in_tradies_bookings(app, dash, clock, add_booking):
    other = make_tradie(app, email="other@example.com", business_name="Other Sparkies")
    add_booking(customer_name="Mine", starts_at=local(2026, 12, 4, 10))
    add_booking(customer_name="Not Yours", starts_at=local(2026, 12, 4, 12), tradie_id=other)
    html = dash.get("/dashboard/calendar?week=2026-W49").get_data(as_text=True)
    assert "Mine" in html
    assert "Not Yours" not in html
    # The other tradie's job leaves that time free for this one.
    assert re.search(r"11:00 am – 5:00 pm\s*Add booking here", day_text(html, "2026-12-04"))


def test_live_holds_show_and_lapsed_or_closed_ones_do_not(dash, clock, add_booking):
    def hold(name: str, hour: int, minutes_left: int) -> int:
        return add_booking(
            customer_name=name,
            starts_at=local(2026, 12, 4, hour),
            status="pending_payment",
            hold_expires_at=NOW + timedelta(minutes=minutes_left),
        )

    hold("Paying Now", 10, 10)
    hold("Lapsed Hold", 12, -1)
    add_booking(customer_name="Called Off", starts_at=local(2026, 12, 4, 13), status="cancelled")
    add_booking(customer_name="Gone", starts_at=local(2026, 12, 4, 14), status="expired")
    add_booking(customer_name="Done", starts_at=local(2026, 12, 1, 9), status="completed")
    html = dash.get("/dashboard/calendar?week=2026-W49").get_data(as_text=True)
    friday = day_text(html, "2026-12-04")
    assert "10:00–11:00 am · Leak repair · Paying Now · Awaiting deposit · held until 9:20 am" in (
        friday
    )
    assert 'class="cal-item hold pending_payment"' in day_html(html, "2026-12-04")
    for name in ("Lapsed Hold", "Called Off", "Gone"):
        assert name not in html
    assert "9:00–10:00 am · Leak repair · Done · Completed" in day_text(html, "2026-12-01")


def test_a_blocked_day_shows_and_offers_no_time(dash, clock, block, add_booking):
    block(date(2026, 12, 4), date(2026, 12, 5), "Family wedding")
    html = dash.get("/dashboard/calendar?week=2026-W49").get_data(as_text=True)
    for day in ("2026-12-04", "2026-12-05"):
        text = day_text(html, day)
        assert "Blocked all day · Family wedding" in text
        assert "Add booking here" not in text
    assert "Blocked" not in day_text(html, "2026-12-03")
    assert "Add booking here" in day_text(html, "2026-12-03")


def test_another_tradies_blocked_days_do_not_show(app, dash, clock, block):
    other = make_tradie(app, email="other@example.com", business_name="Other Sparkies")
    block(date(2026, 12, 4), date(2026, 12, 4), "Their holiday", tradie=other)
    html = dash.get("/dashboard/calendar?week=2026-W49").get_data(as_text=True)
    assert "Their holiday" not in html and "Blocked" not in html


def test_the_25_hour_day_when_daylight_saving_ends(dash, clock, add_booking):
    """Sunday 5 April 2026: at 3:00 am NZDT the clocks go back to 2:00 am NZST."""
    clock(datetime(2026, 3, 30, 0, tzinfo=UTC))  # Monday 30 March, 1:00 pm NZDT
    add_booking(
        customer_name="First Half Past Two", starts_at=datetime(2026, 4, 4, 13, 30, tzinfo=UTC)
    )
    add_booking(
        customer_name="Second Half Past Two", starts_at=datetime(2026, 4, 4, 14, 30, tzinfo=UTC)
    )
    add_booking(customer_name="Morning", starts_at=datetime(2026, 4, 4, 22, tzinfo=UTC))
    add_booking(customer_name="Late", starts_at=datetime(2026, 4, 5, 11, 30, tzinfo=UTC))
    add_booking(customer_name="Saturday Night", starts_at=datetime(2026, 4, 4, 10, 30, tzinfo=UTC))
    html = dash.get("/dashboard/calendar?week=2026-W14").get_data(as_text=True)
    assert "Week 14: 30 Mar – 5 Apr 2026" in html
    assert "Times are in Pacific/Auckland (NZDT, then NZST from Sun 5 Apr)." in html
    sunday = day_text(html, "2026-04-05")
    assert "Clocks go back an hour at 3:00 am (to 2:00 am, NZST): a 25-hour day." in sunday
    assert "Working 8:00 am – 5:00 pm NZST" in sunday
    expected = [
        "2:30 am NZDT – 2:30 am NZST · Leak repair · First Half Past Two",
        "2:30–3:30 am NZST · Leak repair · Second Half Past Two",
        "8:00–10:00 am NZST Add booking here",
        "10:00–11:00 am NZST · Leak repair · Morning",
        "11:00 am – 5:00 pm NZST Add booking here",
        "11:30 pm – 12:30 am Mon NZST · Leak repair · Late",
    ]
    positions = [sunday.find(line) for line in expected]
    assert -1 not in positions, sunday
    assert positions == sorted(positions)
    saturday = day_text(html, "2026-04-04")
    assert "11:30 pm – 12:30 am Sun · Leak repair · Saturday Night" in saturday
    assert "Clocks" not in saturday and "Morning" not in saturday
    assert "Saturday Night" in sunday  # it runs past midnight into Sunday
    assert "Late" not in saturday


def test_the_23_hour_day_when_daylight_saving_starts(dash, clock, add_booking):
    """Sunday 27 September 2026: at 2:00 am NZST the clocks go forward to 3:00 am NZDT."""
    clock(datetime(2026, 9, 20, 0, tzinfo=UTC))
    add_booking(customer_name="Saturday Late", starts_at=local(2026, 9, 26, 23))
    add_booking(customer_name="Morning", starts_at=local(2026, 9, 27, 10))
    add_booking(customer_name="Late", starts_at=local(2026, 9, 27, 22, 30))
    add_booking(customer_name="Next Week", starts_at=local(2026, 9, 28, 0, 30))
    html = dash.get("/dashboard/calendar?week=2026-W39").get_data(as_text=True)
    sunday = day_text(html, "2026-09-27")
    assert "Clocks go forward an hour at 2:00 am (to 3:00 am, NZDT): a 23-hour day." in sunday
    assert "10:00–11:00 am NZDT · Leak repair · Morning" in sunday
    assert "10:30–11:30 pm NZDT · Leak repair · Late" in sunday
    assert "8:00–10:00 am NZDT Add booking here" in sunday
    assert "Saturday Late" not in sunday
    assert "11:00 pm – 12:00 am Sun · Leak repair · Saturday Late" in day_text(html, "2026-09-26")
    assert "Next Week" not in html  # 28 September is in the next ISO week


def test_overnight_hours_run_into_the_next_day(app, tradie_id, dash, clock):
    from datetime import time

    from peepopay.models import AvailabilityRule

    with app.app_context():
        db.session.add(
            AvailabilityRule(
                tradie_id=tradie_id, weekday=4, start_local=time(22), end_local=time(6)
            )
        )
        db.session.commit()
    html = dash.get("/dashboard/calendar?week=2026-W49").get_data(as_text=True)
    friday, saturday = day_text(html, "2026-12-04"), day_text(html, "2026-12-05")
    assert "Working 8:00 am – 5:00 pm, 10:00 pm – 6:00 am Sat" in friday
    assert re.search(r"10:00 pm – 12:00 am Sat\s*Add booking here", friday)
    assert "Working until 6:00 am (from Fri), 8:00 am – 5:00 pm" in saturday
    assert re.search(r"12:00–6:00 am\s*Add booking here", saturday)


@pytest.mark.parametrize(
    "query",
    [
        "week=2026-W54",
        "week=2026-W00",
        "week=garbage",
        "week=0001-W01",
        "week=9999-W52",
        "day=2026-02-30",
        "day=2026-1-3",
        "day=9999-12-31",
        "day=",
        "week=2026-W49x",
    ],
)
def test_bad_parameters_fall_back_to_this_week(dash, clock, query):
    response = dash.get(f"/dashboard/calendar?{query}")
    assert response.status_code == 200
    assert "Week 49: 30 Nov – 6 Dec 2026" in response.get_data(as_text=True)


def test_nul_in_a_parameter_is_400_naming_it(dash, clock):
    # Refused for the whole app before any route reads it (peepopay.routing).
    response = dash.get("/dashboard/calendar?day=%00")
    assert response.status_code == 400
    assert "day must not contain NUL characters." in response.get_data(as_text=True)


def test_iso_weeks_cross_the_new_year(dash, clock):
    html = dash.get("/dashboard/calendar?week=2026-W53").get_data(as_text=True)
    assert "Week 53: 28 Dec 2026 – 3 Jan 2027" in html
    assert 'href="/dashboard/calendar?week=2027-W01"' in html
    html = dash.get("/dashboard/calendar?day=2027-01-01").get_data(as_text=True)
    assert 'id="cal-week" class="btn" href="/dashboard/calendar?week=2026-W53"' in html


def test_add_booking_here_links_to_the_new_booking_page_when_there_is_one(
    app, tradie_id, auth, client, clock
):
    if "dashboard.new_booking" not in app.view_functions:
        app.add_url_rule(
            "/dashboard/bookings/new", endpoint="dashboard.new_booking", view_func=lambda: "new"
        )
    assert auth.login().status_code == 303
    html = client.get("/dashboard/calendar?day=2026-12-03").get_data(as_text=True)
    assert 'href="/dashboard/bookings/new?start=2026-12-03T09:30%2B13:00"' in html


def test_add_booking_here_falls_back_to_the_bookings_list(app, dash, clock, monkeypatch):
    monkeypatch.delitem(app.view_functions, "dashboard.new_booking", raising=False)
    html = dash.get("/dashboard/calendar?day=2026-12-03").get_data(as_text=True)
    assert re.search(r'<a href="/dashboard/bookings">[^<]*<span class="sr-only">Thu 3 Dec', html)


def test_page_needs_sign_in_and_is_never_framed(client, dash, clock):
    response = dash.get("/dashboard/calendar")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    anonymous = client.application.test_client()
    response = anonymous.get("/dashboard/calendar?week=2026-W49")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


# --- the pure parts ----------------------------------------------------------------------------


def test_parse_and_iso_weeks():
    today = date(2026, 12, 3)
    assert calendar.parse({}, today) == calendar.Wanted("week", date(2026, 11, 30))
    assert calendar.parse({"week": "2026-W14"}, today) == calendar.Wanted("week", date(2026, 3, 30))
    assert calendar.parse({"day": "2026-04-05", "week": "2026-W01"}, today) == calendar.Wanted(
        "day", date(2026, 4, 5)
    )
    assert calendar.iso_week(date(2027, 1, 1)) == "2026-W53"
    assert calendar.iso_week(date(2024, 12, 30)) == "2025-W01"


def test_day_bounds_are_23_24_and_25_hours():
    hours = {
        day: (lambda b: (b[1] - b[0]) / timedelta(hours=1))(calendar.day_bounds(day, AUCKLAND))
        for day in (date(2026, 4, 5), date(2026, 4, 6), date(2026, 9, 27))
    }
    assert hours == {date(2026, 4, 5): 25, date(2026, 4, 6): 24, date(2026, 9, 27): 23}


def test_round_up_never_goes_back_in_a_repeated_hour():
    # 2:40 am NZST, the second 2:40 of 5 April 2026: rounds to 3:00 am NZST, not 2:30 NZDT.
    moment = datetime(2026, 4, 4, 14, 40, tzinfo=UTC)
    rounded = calendar.round_up(moment, AUCKLAND, 30)
    assert rounded >= moment
    assert rounded.astimezone(AUCKLAND).strftime("%H:%M %Z") == "03:00 NZST"
