"""Bookings by hand in a real Chromium: from the calendar's free time to the new-booking page at
1280 px (a past customer fills the form through htmx, the deposit choice shows its own fields),
the same page at 375 px without sideways scrolling, and the move card on the booking page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

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


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AUCKLAND).astimezone(UTC)


@pytest.fixture
def customers(add_booking: Any, frozen_clock: Any) -> int:
    frozen_clock.set(NOW)
    add_booking(
        customer_name="Mere Walker",
        customer_email="mere@example.com",
        customer_phone="+64211112222",
        job_address="12 Ponsonby Road, Auckland",
        starts_at=local(2026, 11, 20, 9),
        status="completed",
    )
    return int(add_booking(customer_name="Aroha Smith", starts_at=local(2026, 12, 3, 10)))


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)


def test_new_booking_from_the_calendar_at_1280(app_server: Any, browser: Any, customers: int):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/calendar?day=2026-12-03")
    page.locator("a[href*='/dashboard/bookings/new?start=']").first.click()
    page.wait_for_url(re.compile(r".*/dashboard/bookings/new\?start=.*"), timeout=TIMEOUT)
    expect(page.locator("#start")).to_have_value(re.compile(r"2026-12-03T\d\d:\d\d"))

    # A past customer fills the details (htmx swaps the form, keeping what was chosen).
    mere = page.locator("#customer_id option", has_text="Mere Walker").get_attribute("value")
    page.locator("#customer_id").select_option(mere)
    expect(page.locator("#email")).to_have_value("mere@example.com", timeout=TIMEOUT)
    expect(page.locator("#start")).to_have_value(re.compile(r"2026-12-03T\d\d:\d\d"))

    # Each deposit choice shows only its own fields.
    expect(page.locator("#field-method")).to_be_hidden()
    page.get_by_label("Paid another way").check()
    expect(page.locator("#field-method")).to_be_visible()
    page.get_by_label("Bank transfer").check()
    # The calendar offered 09:30, but a one-hour job from then would run into the 10:00 job.
    page.locator("#start").fill("2026-12-03T14:00")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-booking-new-1280.png"), full_page=True)

    page.get_by_role("button", name="Add booking").click()
    page.wait_for_url(re.compile(r".*/dashboard/bookings/\d+$"), timeout=TIMEOUT)
    expect(page.locator("#booking-payments")).to_contain_text("Paid another way (bank transfer)")
    expect(page.locator("#booking-move")).to_be_visible()
    context.close()


def test_new_booking_and_move_at_375(app_server: Any, browser: Any, customers: int):
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/bookings/new")
    page.get_by_label("Ask the customer to pay it").check()
    expect(page.locator("#deadline")).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / "dashboard-booking-new-375.png"), full_page=True)

    # An overlap is refused on the start field.
    page.locator("#start").fill("2026-12-03T10:30")
    page.locator("#name").fill("Ben Carter")
    page.locator("#email").fill("ben@example.com")
    page.locator("#phone").fill("021 555 0101")
    page.locator("#address").fill("3 Karangahape Road, Auckland")
    page.get_by_label("No deposit").check()
    page.get_by_role("button", name="Add booking").click()
    expect(page.locator("#err-start")).to_contain_text("overlaps another booking", timeout=TIMEOUT)
    assert page.evaluate(OVERFLOW) <= 0

    page.goto(f"{app_server.url}/dashboard/bookings/{customers}")
    move = page.locator("#booking-move")
    expect(move).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 0
    move.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "dashboard-booking-move-375.png"), full_page=True)

    # A time outside working hours waits for the tradie to confirm it before anything is sent.
    move.locator("#start").fill("2026-12-04T21:00")
    move.get_by_role("button", name="Move", exact=True).click()
    warning = page.locator("#booking-move .flash-warning")
    expect(warning).to_contain_text("outside your working hours", timeout=TIMEOUT)
    expect(warning).to_contain_text("Nothing has been saved")
    assert page.evaluate(OVERFLOW) <= 0
    warning.scroll_into_view_if_needed()
    page.screenshot(
        path=str(SCREENSHOTS / "dashboard-booking-move-warning-375.png"), full_page=True
    )
    warning.get_by_role("button", name="Move anyway").click()
    page.wait_for_url(re.compile(rf".*/dashboard/bookings/{customers}$"), timeout=TIMEOUT)
    expect(page.locator("main")).to_contain_text("Moved;", timeout=TIMEOUT)
    context.close()
