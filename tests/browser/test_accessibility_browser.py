"""Accessibility in a real Chromium, judged by axe-core (WCAG 2.2 AA and best practices): every
product page (front door, sign-up, log-in, every dashboard page, the customer's booking page and
receipts) and every widget step, on a phone (375 px) and a desktop (1280 px), with no violation
of any impact and no console error (a CSP refusal of an inline style is one). Then what axe
cannot judge alone: the widget's day grid answers the arrow keys, Home and End; the payment
step, loaded as a whole page, puts focus on its heading; a focused control shows a ring that
stands out on white."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from peepopay.calendars.models import CalendarFeed
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, Service
from tests.browser.axe import check
from tests.browser.conftest import SCREENSHOTS
from tests.fixtures.factories import make_booking, make_payment
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_OK,
    app_config,
    payments_tradie,
)

pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("fast_passwords"),
]
TIMEOUT = 15_000
SIZES = {375: 740, 1280: 900}
WHITE, BRAND = "rgb(255, 255, 255)", "rgb(29, 78, 216)"  # the default brand colour, #1d4ed8
PUBLIC = ["/", "/auth/signup", "/auth/login", "/auth/forgot", "/privacy", "/terms"]
DASHBOARD = [
    "/dashboard",
    "/dashboard/calendar",
    "/dashboard/calendar?day=2030-01-08",
    "/dashboard/bookings",
    "/dashboard/bookings/new",
    "/dashboard/bookings/{booking}",
    "/dashboard/bookings/{booking}/edit",
    "/dashboard/bookings/{booking}/move",
    "/dashboard/bookings/{booking}/payments",
    "/dashboard/bookings/{booking}/receipt",
    "/dashboard/customers",
    "/dashboard/customers/{customer}",
    "/dashboard/calendars",
    "/dashboard/services",
    "/dashboard/services/{service}/edit",
    "/dashboard/services/{service}/intake",
    "/dashboard/service-area",
    "/dashboard/availability",
    "/dashboard/settings",
    "/dashboard/settings/two-factor",
    "/dashboard/analytics",
    "/dashboard/payments",
    "/dashboard/payouts",
]
CUSTOMER = ["/b/{token}", "/b/{token}/receipt", "/b/{token}/reschedule", "/b/{token}/cancel"]


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> dict[str, Any]:
    """A connected tradie (slug kiwi) with a paid booking, its customer and its service."""
    tradie_id = payments_tradie(app, stripe_live)
    booking_id = make_booking(app, tradie_id)
    make_payment(app, tradie_id, booking_id)
    with app.app_context():
        # A synced calendar: its row's buttons are on the calendars page.
        db.session.add(
            CalendarFeed(
                tradie_id=tradie_id,
                name="Personal",
                url="https://calendar.example/personal.ics",
                last_success_at=utcnow(),
            )
        )
        db.session.commit()
        booking = db.session.get(Booking, booking_id)
        assert booking is not None
        found = {
            "booking": booking_id,
            "customer": booking.customer_id,
            "service": db.session.scalar(sa.select(Service.id).filter_by(tradie_id=tradie_id)),
            "token": booking.public_token,
        }
        db.session.remove()
    return found


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)


def wait_for_step(page: Any, title: str) -> None:
    expect(page.locator("#step-title")).to_contain_text(title, timeout=TIMEOUT)
    expect(page.locator("[aria-busy]")).to_have_count(0, timeout=TIMEOUT)


def contrast(rgb: str, against: tuple[int, int, int] = (255, 255, 255)) -> float:
    """WCAG's contrast ratio of a computed `rgb(r, g, b)` colour against another."""

    def luminance(channels: tuple[int, ...]) -> float:
        linear = [
            c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    found = tuple(int(n) for n in re.findall(r"\d+", rgb)[:3])
    light, dark = sorted((luminance(found), luminance(against)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def focus_ring_stands_out(page: Any, where: str) -> None:
    """The element the keyboard is on has a solid outline of 2px or more, 3:1 against white."""
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor,"
        " document.activeElement.matches(':focus-visible')]; })()"
    )
    style, width, colour, visible = ring
    assert visible and style == "solid" and width >= 2, f"no focus ring on {where}: {ring}"
    assert contrast(colour) >= 3, f"focus ring {colour} on {where}: {contrast(colour):.2f}:1"


DAY = "document.activeElement.closest('table.pp-cal') ? document.activeElement.value : null"
# Where each key should land from the focused day: the nearest day with times in its direction
# (a day or a week at a time), or for Home and End the week's first and last such day.
EXPECTED_DAY = """key => {
  const cells = [...document.querySelectorAll('table.pp-cal tbody td')];
  const at = cells.indexOf(document.activeElement.parentNode), week = at - at % 7;
  const step = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: 7, ArrowUp: -7}[key];
  const order = [];
  if (step) for (let i = at + step; i >= 0 && i < cells.length; i += step) order.push(i);
  if (key === 'Home') for (let i = week; i < at; i++) order.push(i);
  if (key === 'End') for (let i = week + 6; i > at; i--) order.push(i);
  const to = order.map(i => cells[i].querySelector('button')).find(Boolean);
  return (to || document.activeElement).value;
}"""


def day_grid_keys(page: Any) -> None:
    """The calendar is one tab stop, on the suggested day; arrows, Home and End move in it."""
    stops = page.locator("table.pp-cal button[tabindex='0']")
    expect(stops).to_have_count(1)
    assert page.locator("table.pp-cal").get_attribute("role") == "grid"
    first = page.locator("table.pp-cal button.pp-first")
    page.locator("#month-name").click()  # then Tab, as a keyboard user comes to it
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate(DAY) is not None:
            break
    assert page.evaluate(DAY) == first.get_attribute("value")
    for key in ("ArrowRight", "ArrowDown", "End", "Home", "ArrowLeft", "ArrowUp", "ArrowRight"):
        expected = page.evaluate(EXPECTED_DAY, key)
        page.keyboard.press(key)
        assert page.evaluate(DAY) == expected, key
    assert page.evaluate(DAY) != first.get_attribute("value"), "the arrows never moved"
    focus_ring_stands_out(page, "a day in the widget")
    page.keyboard.press("Tab")  # one stop: Tab leaves the grid
    assert page.evaluate(DAY) is None


def widget_steps(page: Any, base: str, width: int, found: list[str]) -> None:
    """Through the widget as a customer, axe on every step."""

    def visit(number: int, name: str) -> None:
        # The pictures of each step are test_widget_steps_browser.py's.
        check(page, f"widget step {number} ({name}) at {width}px", found)

    page.goto(f"{base}/book/kiwi")
    wait_for_step(page, "Choose a service")
    visit(1, "service")
    page.locator("button[name=service]").first.click()
    wait_for_step(page, "Choose a day")
    visit(2, "day")
    day_grid_keys(page)
    page.get_by_text("Next available").click()
    wait_for_step(page, "Choose a time")
    visit(3, "time")
    page.locator("button[name=start]").first.click()
    wait_for_step(page, "Your details")
    visit(4, "details")
    page.locator("#name").fill("Aroha Smith")
    page.locator("#email").fill("aroha@example.com")
    page.locator("#phone").fill("021 123 4567")
    page.locator("#address").fill("1 Queen Street, Auckland")
    page.get_by_role("button", name="Review booking").click()
    wait_for_step(page, "Review your booking")
    visit(5, "review")
    page.get_by_role("button", name="Continue to payment").click()
    wait_for_step(page, "Pay your deposit")
    card = page.frame_locator("iframe.pp-card-frame")
    expect(card.locator("#number")).to_be_visible(timeout=TIMEOUT)
    # A whole page (its own policy for the card form), yet it starts at its heading like the
    # swapped-in steps do.
    assert page.evaluate("document.activeElement.id") == "step-title"
    visit(6, "payment")
    card.locator("#number").fill(CARD_OK)
    card.locator("#exp").fill("12 / 34")
    card.locator("#cvc").fill("123")
    card.get_by_role("button", name="Pay").click()
    wait_for_step(page, "You're booked")
    visit(7, "confirmation")


@pytest.mark.parametrize("width", sorted(SIZES))
def test_every_page_and_widget_step_passes_axe(
    app_server: Any, browser: Any, tradie: dict[str, Any], width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": SIZES[width]})
    page = context.new_page()
    base = app_server.url
    found: list[str] = []
    for path in PUBLIC:
        page.goto(base + path)
        check(page, f"{path} at {width}px", found)
    for path in CUSTOMER:
        page.goto(base + path.format(**tradie))
        check(page, f"{path} at {width}px", found)
    widget_steps(page, base, width, found)
    sign_in(page, base)
    for path in DASHBOARD:
        page.goto(base + path.format(**tradie))
        check(page, f"{path} at {width}px", found)
        if path.endswith("/receipt"):
            # Styled by its stylesheet (an inline one is refused by the dashboard's policy),
            # in the tradie's colour.
            sheet = page.locator("main.sheet")
            assert sheet.evaluate("e => getComputedStyle(e).backgroundColor") == WHITE
            assert sheet.evaluate("e => getComputedStyle(e).borderTopColor") == BRAND
            page.screenshot(
                path=str(SCREENSHOTS / f"dashboard-receipt-{width}.png"), full_page=True
            )
    page.goto(f"{base}/dashboard/calendars")
    page.keyboard.press("Tab")
    focus_ring_stands_out(page, "the dashboard's skip link")
    page.get_by_label("Calendar address").first.focus()
    # Each form's own fields: the CalDAV form's labels point at the CalDAV fields.
    caldav = page.get_by_role("form", name="Connect a CalDAV calendar")
    for label in ("Calendar address", "User name", "App password", "Name (optional)"):
        expect(caldav.get_by_label(label)).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-calendars-a11y-{width}.png"), full_page=True)
    context.close()
    assert found == [], f"{len(found)} axe-core violations:\n" + "\n".join(found)
