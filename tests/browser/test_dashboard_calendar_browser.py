"""The calendar in a real Chromium: a week side by side at 1280 px, one day at 375 px, no sideways
scrolling, a job reachable from the keyboard, and htmx navigation that keeps the URL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from peepopay.extensions import db
from peepopay.models import BlockedPeriod
from tests.browser.conftest import SCREENSHOTS

pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("fast_passwords"),
]
TIMEOUT = 10_000
AUCKLAND = ZoneInfo("Pacific/Auckland")
# Thursday 3 December 2026, 09:10 in Auckland.
NOW = datetime(2026, 12, 2, 20, 10, tzinfo=UTC)
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
# A finger moving sideways across the calendar, as Chromium reports it to the page.
SWIPE = """(dx) => {
  const el = document.querySelector('#calendar .cal-day');
  const at = (x) => [new Touch({identifier: 1, target: el, clientX: x, clientY: 300})];
  el.dispatchEvent(new TouchEvent('touchstart', {bubbles: true, touches: at(200),
                                                 changedTouches: at(200)}));
  el.dispatchEvent(new TouchEvent('touchend', {bubbles: true, touches: [],
                                               changedTouches: at(200 + dx)}));
}"""


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AUCKLAND).astimezone(UTC)


@pytest.fixture
def week(app, tradie_id, add_booking, frozen_clock) -> dict[str, int]:
    """A plausible week: jobs, a hold being paid for, a finished job and a blocked Saturday."""
    frozen_clock.set(NOW)
    jobs = {
        "leak": add_booking(
            customer_name="Aroha Smith",
            service_name="Leak repair",
            starts_at=local(2026, 12, 3, 10),
        ),
        "hold": add_booking(
            customer_name="Ben Carter",
            service_name="Hot water cylinder",
            starts_at=local(2026, 12, 3, 13),
            duration_minutes=120,
            status="pending_payment",
            hold_expires_at=NOW + timedelta(minutes=12),
        ),
        "done": add_booking(
            customer_name="Mere Walker", starts_at=local(2026, 12, 1, 8), status="completed"
        ),
        "tap": add_booking(
            customer_name="Sione Tupou",
            service_name="Tap replacement",
            starts_at=local(2026, 12, 2, 14, 30),
        ),
        "friday": add_booking(
            customer_name="Priya Natarajan",
            service_name="Blocked drain",
            starts_at=local(2026, 12, 4, 8),
            duration_minutes=90,
        ),
    }
    with app.app_context():
        db.session.add(
            BlockedPeriod(
                tradie_id=tradie_id,
                start_date=date(2026, 12, 5),
                end_date=date(2026, 12, 5),
                reason="Family wedding",
            )
        )
        db.session.commit()
    return jobs


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)


def test_week_at_1280_side_by_side_keyboard_and_htmx(app_server, browser, week):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_server.url)
    page.get_by_role("link", name="Open the calendar").click()
    page.wait_for_url(re.compile(r".*/dashboard/calendar$"), timeout=TIMEOUT)
    expect(page.locator("h1")).to_have_text("Week 49: 30 Nov – 6 Dec 2026")
    assert page.evaluate(OVERFLOW) <= 0
    # Seven columns in one row.
    boxes = [page.locator(".cal-day").nth(n).bounding_box() for n in range(7)]
    assert all(box and box["width"] > 100 for box in boxes)
    assert len({round(box["y"]) for box in boxes}) == 1
    assert [box["x"] for box in boxes] == sorted(box["x"] for box in boxes)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-calendar-1280.png"), full_page=True)

    # Keyboard: Tab reaches the first job's link and Enter opens the booking.
    job_href = f"/dashboard/bookings/{week['done']}"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == job_href:
            break
    else:
        pytest.fail("Tab never reached the first job")
    name = page.evaluate("document.activeElement.textContent")
    assert "Mere Walker" in name and "Tue 1 Dec" in name
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*{job_href}$"), timeout=TIMEOUT)
    page.go_back()
    expect(page.locator("h1")).to_have_text("Week 49: 30 Nov – 6 Dec 2026", timeout=TIMEOUT)

    # htmx swaps the calendar, pushes the URL and keeps focus on the button; Back restores it.
    page.evaluate("window.notReloaded = true")
    page.locator("#cal-next").focus()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Week 50: 7 Dec – 13 Dec 2026", timeout=TIMEOUT)
    assert page.url.endswith("/dashboard/calendar?week=2026-W50")
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#cal-next")).to_be_focused()
    assert page.title().startswith("Week 50")
    page.go_back()
    expect(page.locator("h1")).to_have_text("Week 49: 30 Nov – 6 Dec 2026", timeout=TIMEOUT)
    context.close()


def test_one_day_at_375_with_day_buttons_and_swipes(app_server, browser, week):
    context = browser.new_context(viewport={"width": 375, "height": 812}, has_touch=True)
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/calendar")
    # The week view on a phone shows today only, with the week's days to pick from.
    visible = page.locator(".cal-day:visible")
    expect(visible).to_have_count(1)
    expect(visible.locator("h2")).to_contain_text("Thursday 3 December")
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-calendar-375.png"), full_page=True)

    page.get_by_role("link", name="Fri 4").click()
    expect(page.locator("h1")).to_have_text("Friday 4 December 2026", timeout=TIMEOUT)
    assert page.url.endswith("?day=2026-12-04")
    expect(page.locator(".cal-day")).to_contain_text("Priya Natarajan")
    page.get_by_role("link", name="Next day").click()
    expect(page.locator("h1")).to_have_text("Saturday 5 December 2026", timeout=TIMEOUT)
    expect(page.locator(".cal-day")).to_contain_text("Blocked all day · Family wedding")
    assert page.evaluate(OVERFLOW) <= 0
    # A swipe to the left shows the next day, to the right the previous one.
    page.evaluate(SWIPE, -120)
    expect(page.locator("h1")).to_have_text("Sunday 6 December 2026", timeout=TIMEOUT)
    assert page.url.endswith("?day=2026-12-06")
    page.evaluate(SWIPE, 120)
    expect(page.locator("h1")).to_have_text("Saturday 5 December 2026", timeout=TIMEOUT)
    page.get_by_role("link", name="Week", exact=True).click()
    expect(page.locator("h1")).to_have_text("Week 49: 30 Nov – 6 Dec 2026", timeout=TIMEOUT)
    context.close()


@pytest.fixture
def dst_weeks(app, tradie_id, add_booking, frozen_clock) -> None:
    """Jobs on both of Auckland's clock-change Sundays of 2026: 5 April (a 25-hour day, 2:30 am
    happens twice) and 27 September (a 23-hour day, 2:00–3:00 am never happens)."""
    frozen_clock.set(datetime(2026, 3, 30, 0, tzinfo=UTC))  # Monday 30 March, 1:00 pm NZDT
    add_booking(
        customer_name="First Half Past Two", starts_at=datetime(2026, 4, 4, 13, 30, tzinfo=UTC)
    )
    add_booking(
        customer_name="Second Half Past Two", starts_at=datetime(2026, 4, 4, 14, 30, tzinfo=UTC)
    )
    add_booking(customer_name="Morning After", starts_at=datetime(2026, 4, 4, 22, tzinfo=UTC))
    add_booking(customer_name="Spring Morning", starts_at=local(2026, 9, 27, 10))


def test_daylight_saving_weeks_at_1280_and_375(app_server, browser, dst_weeks):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/calendar?week=2026-W14")
    expect(page.locator("h1")).to_have_text("Week 14: 30 Mar – 5 Apr 2026")
    expect(page.locator("#calendar")).to_contain_text("NZDT, then NZST from Sun 5 Apr")
    sunday = page.locator(".cal-day").nth(6)
    expect(sunday).to_contain_text(
        "Clocks go back an hour at 3:00 am (to 2:00 am, NZST): a 25-hour day."
    )
    items = [t.replace("\xa0", " ") for t in sunday.locator(".cal-item").all_inner_texts()]
    twice = [n for n, text in enumerate(items) if "Half Past Two" in text]
    assert len(twice) == 2 and "NZDT" in items[twice[0]] and "NZST" in items[twice[1]], items
    assert any("Morning After" in text and "10:00–11:00 am NZST" in text for text in items), items
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-calendar-dst-1280.png"), full_page=True)
    context.close()

    context = browser.new_context(viewport={"width": 375, "height": 812}, has_touch=True)
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/calendar?day=2026-09-27")
    expect(page.locator("h1")).to_have_text("Sunday 27 September 2026")
    day = page.locator(".cal-day:visible")
    expect(day).to_contain_text(
        "Clocks go forward an hour at 2:00 am (to 3:00 am, NZDT): a 23-hour day."
    )
    expect(day).to_contain_text("10:00–11:00 am NZDT")
    expect(day).to_contain_text("Spring Morning")
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-calendar-dst-375.png"), full_page=True)
    context.close()
