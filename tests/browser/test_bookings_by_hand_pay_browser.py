"""A phone call in a real Chromium: the tradie books the caller in by hand and asks for the
deposit; the customer pays it from the emailed link on the emulator's card form; the tradie
sees the booking confirmed and moves it to one of the next free times."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from peepopay.bookings.models import Status
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.formatting import local_time
from peepopay.models import AuditLog, Booking
from tests.booking_helpers import ZONE, at, local_day
from tests.notify_support import deliver_outbox
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_OK,
    app_config,
    payments_tradie,
    settle,
)

pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("fast_passwords"),
]
TIMEOUT = 15_000


def local(instant: Any) -> str:
    return instant.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def the_booking(app: Flask) -> Booking:
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking is not None, "no booking was made"
        db.session.expunge(booking)
        return booking


def test_deposit_requested_by_hand_paid_through_the_link_then_moved(
    app: Flask, stripe_live: Any, app_server: Any, browser: Any, smtp: Any
) -> None:
    payments_tradie(app, stripe_live)
    tradie = browser.new_context(viewport={"width": 1280, "height": 900})
    page = tradie.new_page()
    page.goto(f"{app_server.url}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/dashboard.*"), timeout=TIMEOUT)

    page.goto(f"{app_server.url}/dashboard/bookings/new")
    page.locator("#start").fill(local(at(local_day(3), 10)))
    page.locator("#name").fill("Aroha Smith")
    page.locator("#email").fill("aroha@example.com")
    page.locator("#phone").fill("021 123 4567")
    page.locator("#address").fill("1 Queen Street, Auckland")
    page.get_by_label("Ask the customer to pay it").check()
    page.locator("#deadline").fill(local(utcnow() + timedelta(days=1)))
    page.get_by_role("button", name="Add booking").click()
    page.wait_for_url(re.compile(r".*/dashboard/bookings/\d+$"), timeout=TIMEOUT)
    expect(page.locator("main")).to_contain_text("we sent the customer a link")
    assert the_booking(app).status == Status.PENDING_PAYMENT

    # The customer opens the emailed link on their phone and pays on the card form.
    deliver_outbox(app)
    (email,) = [m for m in smtp.messages if m["To"] == "aroha@example.com"]
    text = email.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://[^/\s]+(/book/kiwi/pay/\S+)", text)
    assert link, f"no payment link in the email: {text}"
    customer = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    phone = customer.new_page()
    phone.goto(f"{app_server.url}{link.group(1)}")
    expect(phone.locator("#step-title")).to_have_text("Pay your deposit", timeout=TIMEOUT)
    card = phone.frame_locator("iframe.pp-card-frame")
    card.locator("#number").fill(CARD_OK)
    card.locator("#exp").fill("12 / 34")
    card.locator("#cvc").fill("123")
    card.get_by_role("button", name="Pay").click()
    expect(phone.locator("#step-title")).to_have_text("You're booked", timeout=TIMEOUT)
    settle(stripe_live)
    booking = the_booking(app)
    assert booking.status == Status.CONFIRMED
    customer.close()

    # The tradie sees it confirmed and moves it to the first of the next free times.
    page.reload()
    expect(page.locator("main")).to_contain_text("Confirmed")
    move = page.locator("#booking-move")
    first = move.locator(".slot-list button").first
    chosen = first.inner_text()
    first.click()
    expect(page.locator("main")).to_contain_text("Moved", timeout=TIMEOUT)
    moved = the_booking(app)
    assert moved.starts_at != booking.starts_at
    assert local_time(moved.starts_at, str(ZONE), "%a %-d %b, %-I:%M %p") == chosen
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditLog.action).where(AuditLog.entity_id == str(booking.id))
        ).all()
    assert "booking.rescheduled" in actions
    tradie.close()
