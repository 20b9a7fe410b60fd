"""Back from the widget's payment step, on a phone (375 px): the browser's Back shows the
review step with the details kept, the customer's own hold stays theirs (its time is still
offered to them), continuing again leaves them one live hold, and the payment step's "Change"
goes to the review step."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, Status, Tradie
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

TIMEOUT = 15_000
DETAILS = {
    "#name": "Aroha Smith",
    "#email": "aroha@example.com",
    "#phone": "021 123 4567",
    "#address": "1 Queen Street, Auckland",
}


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    tradie_id = payments_tradie(app, stripe_live)
    with app.app_context():
        db.session.get(Tradie, tradie_id).service_area = "1010-1072"
        db.session.commit()
        db.session.remove()
    return tradie_id


def wait_for_step(page: Any, title: str) -> None:
    expect(page.locator("#step-title")).to_contain_text(title, timeout=TIMEOUT)
    expect(page.locator("[aria-busy]")).to_have_count(0, timeout=TIMEOUT)


def live_holds(app: Flask) -> list[tuple[str, Any]]:
    """(email, start) of every live unpaid hold."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Booking.customer_email, Booking.starts_at).where(
                Booking.status == Status.PENDING_PAYMENT, Booking.hold_expires_at > utcnow()
            )
        ).all()
        db.session.remove()
    return [(email, start) for email, start in rows]


def test_back_from_payment_shows_the_review_and_the_hold_stays_theirs(
    app: Flask, app_server: Any, browser: Any, tradie: int
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(f"{app_server.url}/book/kiwi")
    wait_for_step(page, "Where is the job?")
    page.locator("#postcode").fill("1010")
    page.get_by_role("button", name="Check my area").click()
    wait_for_step(page, "Choose a service")
    page.locator("button[name=service]").first.click()
    wait_for_step(page, "Choose a day")
    page.get_by_text("Next available").click()
    wait_for_step(page, "Choose a time")
    first_time = page.locator("button[name=start]").first
    held_label = first_time.inner_text().strip()
    held_start = first_time.get_attribute("value")
    first_time.click()
    wait_for_step(page, "Your details")
    for field, value in DETAILS.items():
        page.locator(field).fill(value)
    page.get_by_role("button", name="Review booking").click()
    wait_for_step(page, "Review your booking")
    page.get_by_role("button", name="Continue to payment").click()
    wait_for_step(page, "Pay your deposit")
    assert len(live_holds(app)) == 1

    # Back: the review step, every detail kept, not the postcode step with nothing filled.
    page.go_back()
    wait_for_step(page, "Review your booking")
    summary = page.locator(".pp-summary")
    expect(summary).to_contain_text("Aroha Smith")
    expect(summary).to_contain_text("aroha@example.com")
    expect(summary).to_contain_text("021 123 4567")
    expect(summary).to_contain_text("1 Queen Street, Auckland")
    expect(summary).to_contain_text("1010")

    # Their held time is still offered to them on the time step.
    when = page.locator(".pp-summary div", has=page.locator("dt", has_text="When"))
    when.get_by_role("button", name="Change").click()
    wait_for_step(page, "Choose a day")
    page.get_by_text("Next available").click()
    wait_for_step(page, "Choose a time")
    mine = page.locator(f"button[name=start][value='{held_start}']")
    expect(mine).to_have_count(1)
    expect(mine).to_have_text(held_label)
    mine.click()
    wait_for_step(page, "Your details")
    expect(page.locator("#name")).to_have_value("Aroha Smith")
    page.get_by_role("button", name="Review booking").click()
    wait_for_step(page, "Review your booking")
    page.get_by_role("button", name="Continue to payment").click()
    wait_for_step(page, "Pay your deposit")
    holds = live_holds(app)
    assert [email for email, _ in holds] == ["aroha@example.com"], holds

    # The payment step's "Change" goes to the review step, the details kept.
    page.get_by_role("link", name="Change").click()
    wait_for_step(page, "Review your booking")
    expect(page.locator(".pp-summary")).to_contain_text("aroha@example.com")
    page.get_by_role("button", name="Continue to payment").click()
    wait_for_step(page, "Pay your deposit")
    assert len(live_holds(app)) == 1
    context.close()
