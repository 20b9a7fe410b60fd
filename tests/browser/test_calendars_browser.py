"""The calendars page in a real Chromium: connecting a calendar answers in place with what it
found, a failing one shows why, and its busy times show in the calendar; at 1280 px and at
375 px without sideways scrolling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.calendar_support import ics

pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("fast_passwords", "frozen_clock"),
]
TIMEOUT = 10_000
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
# Thursday 10 January 2030 in Auckland: a dentist at 10:00 and the whole of the next day off.
BUSY = ics(
    """
    DTSTART;TZID=Pacific/Auckland:20300110T100000
    DTEND;TZID=Pacific/Auckland:20300110T113000
    SUMMARY:Dentist
    """,
    "DTSTART;VALUE=DATE:20300111\nDTEND;VALUE=DATE:20300112\nSUMMARY:Family day",
)
WORK = ics(
    "DTSTART;TZID=Pacific/Auckland:20300110T140000\nDTEND;TZID=Pacific/Auckland:20300110T150000"
)


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)


def connect(page: Any, url: str, name: str) -> None:
    form = page.get_by_role("form", name="Add a calendar address")
    form.get_by_label("Calendar address").fill(url)
    form.get_by_label("Name (optional)").fill(name)
    form.get_by_role("button", name="Add and sync").click()


def test_connect_and_see_failures_at_1280(app_server, browser, tradie_id, feed_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/settings")
    page.get_by_role("link", name="connect your calendars").click()
    page.wait_for_url(re.compile(r".*/dashboard/calendars$"), timeout=TIMEOUT)
    page.evaluate("window.notReloaded = true")
    connect(page, feed_server.serve("/personal.ics", BUSY), "Personal")
    expect(page.get_by_role("status")).to_have_text(
        "Connected Personal: 2 busy times in the next 60 days.", timeout=TIMEOUT
    )
    assert page.evaluate("window.notReloaded") is True  # htmx answered in place
    connect(page, feed_server.serve("/work.ics", WORK), "Work")
    expect(page.get_by_role("status")).to_contain_text("Connected Work", timeout=TIMEOUT)
    # A web page instead of a calendar is refused on the field.
    connect(page, feed_server.serve("/login", "<!doctype html><p>Sign in", headers={}), "Oops")
    expect(page.locator("#err-feed-url")).to_contain_text("a web page, not a calendar")
    # The work calendar stops answering: its row says why and what still blocks.
    feed_server.answers.pop("/work.ics")
    page.get_by_role("button", name="Sync now: Work").click()
    expect(page.locator(".calendar-feed.failing")).to_contain_text(
        "Not syncing: The calendar's server has no calendar at that address (404).",
        timeout=TIMEOUT,
    )
    expect(page.locator(".flash-warning")).to_contain_text("Work could not be read")
    failing = page.locator(".calendar-feed.failing")
    expect(failing).to_contain_text("its 1 busy time still blocks bookings")
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-calendars-1280.png"), full_page=True)
    context.close()


def test_calendars_and_busy_times_at_375(app_server, browser, tradie_id, feed_server):
    context = browser.new_context(viewport={"width": 375, "height": 812}, has_touch=True)
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/calendars")
    connect(page, feed_server.serve("/personal.ics", BUSY), "Personal")
    expect(page.get_by_role("status")).to_contain_text("2 busy times", timeout=TIMEOUT)
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-calendars-375.png"), full_page=True)

    page.goto(f"{app_server.url}/dashboard/calendar?day=2030-01-10")
    day = page.locator(".cal-day")
    expect(day).to_contain_text("10:00–11:30 am · Busy (Personal)")
    expect(day).not_to_contain_text("Dentist")
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-calendar-busy-375.png"), full_page=True)
    page.get_by_role("link", name="Next day").click()
    expect(page.locator(".cal-day")).to_contain_text("Busy (Personal)", timeout=TIMEOUT)
    context.close()
