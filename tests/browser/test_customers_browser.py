"""Customers in a real Chromium: from the navigation to the list, a search, one customer's page
with their bookings and totals, private notes saved in place; at 1280 px and at 375 px with no
sideways scrolling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_dashboard_calendar_browser import OVERFLOW, TIMEOUT, sign_in

pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("fast_passwords"),
]
PAST = datetime(2026, 10, 5, 21, tzinfo=UTC)


@pytest.fixture
def people(add_booking, add_payment, frozen_clock) -> None:
    frozen_clock.set(datetime(2026, 12, 2, 20, 10, tzinfo=UTC))
    for n, (name, email, phone) in enumerate(
        [
            ("Aroha Smith", "aroha@example.com", "+64211110001"),
            ("Aroha Smith", "aroha.work@example.com", "+64211110001"),
            ("Ben Carter", "ben@example.com", "+64211110002"),
            ("Mere Walker", "mere@example.com", "+64211110003"),
        ]
    ):
        start = PAST + timedelta(days=7 * n)
        booking = add_booking(
            customer_name=name,
            customer_email=email,
            customer_phone=phone,
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            status="completed",
        )
        add_payment(booking, amount_minor=5000)


@pytest.mark.parametrize("width", [1280, 375])
def test_customers_list_search_page_and_notes(app_server, browser, people, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, app_server.url)
    page.get_by_role("link", name="Customers", exact=True).click()
    page.wait_for_url(re.compile(r".*/dashboard/customers$"), timeout=TIMEOUT)
    expect(page.locator("#customer-list")).to_contain_text("3 customers")
    expect(page.locator("#customer-list")).to_contain_text("$100.00")  # Aroha's two deposits
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-customers-{width}.png"), full_page=True)

    page.locator("#q").fill("ben")
    expect(page.locator("#customer-list")).to_contain_text("1 customer", timeout=TIMEOUT)
    assert page.url.endswith("/dashboard/customers?q=ben")
    page.locator("#q").fill("aroha")
    expect(page.locator("#customer-list")).not_to_contain_text("Ben Carter", timeout=TIMEOUT)
    page.get_by_role("link", name="Aroha Smith").click()
    expect(page.locator("h1")).to_have_text("Aroha Smith", timeout=TIMEOUT)
    expect(page.locator("#customer-detail")).to_contain_text("aroha.work@example.com")
    page.locator("#notes").fill("Gate code 1234. Dog is friendly.")
    page.get_by_role("button", name="Save notes").click()
    expect(page.locator("#customer-detail")).to_contain_text("Notes saved.", timeout=TIMEOUT)
    page.reload()
    expect(page.locator("#notes")).to_have_value("Gate code 1234. Dog is friendly.")
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-customer-{width}.png"), full_page=True)
    context.close()
