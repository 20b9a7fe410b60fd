"""A customer pays deposits inside the widget embedded on another site (demo card form in
an iframe, 3-D Secure inside it, a decline then a retry); then the tradie charges the balance
and refunds part of it from the dashboard. Real Chromium, real emulator, real webhooks."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.bookings.models import Status
from peepopay.extensions import db
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    app_config,
    payments,
    payments_tradie,
    settle,
)

TIMEOUT = 15_000


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    return payments_tradie(app, stripe_live)


def book_until_payment(page: Any, host_url: str, name: str) -> Any:
    """Walk the embedded widget to its payment step; returns the widget's frame."""
    from playwright.sync_api import expect

    page.goto(host_url)
    widget = page.frame_locator('iframe[title="Book online"]')
    widget.locator(".pp-card").first.click()
    widget.locator(".pp-suggest button").click()
    widget.locator(".pp-time").first.click()
    widget.locator("#name").fill(name)
    widget.locator("#email").fill("aroha@example.com")
    widget.locator("#phone").fill("021 123 4567")
    widget.locator("#address").fill("1 Queen Street, Auckland")
    widget.get_by_role("button", name="Review booking").click()
    widget.get_by_role("button", name="Continue to payment").click()
    expect(widget.locator("#step-title")).to_have_text("Pay your deposit", timeout=TIMEOUT)
    expect(widget.get_by_text("Demo payments — no real money")).to_be_visible()
    return widget


def type_card(card_form: Any, number: str) -> None:
    card_form.locator("#number").fill(number)
    card_form.locator("#exp").fill("12 / 34")
    card_form.locator("#cvc").fill("123")
    card_form.get_by_role("button", name="Pay").click()


def booking_ids(app: Flask) -> dict[str, tuple[int, str]]:
    from peepopay.models import Booking

    with app.app_context():
        rows = db.session.execute(sa.select(Booking.customer_name, Booking.id, Booking.status))
        found = {name: (booking_id, status) for name, booking_id, status in rows}
        db.session.remove()
        return found


def test_pay_in_the_embedded_widget_then_charge_and_refund(
    app: Flask,
    stripe_live: Any,
    tradie: int,
    app_server: Any,
    host_page: Any,
    browser_context: Any,
) -> None:
    from playwright.sync_api import expect

    host = host_page("kiwi")
    page = browser_context.new_page()

    # 4242: paid at once.
    widget = book_until_payment(page, host, "Card Works")
    type_card(widget.frame_locator("iframe.pp-card-frame"), CARD_OK)
    expect(widget.locator("#step-title")).to_have_text("You're booked", timeout=TIMEOUT)

    # 4000 0025 0000 3155: the bank's challenge shows inside the card frame.
    widget = book_until_payment(page, host, "Three Dee")
    card_form = widget.frame_locator("iframe.pp-card-frame")
    type_card(card_form, CARD_3DS)
    card_form.get_by_role("button", name="Complete authentication").click(timeout=TIMEOUT)
    expect(widget.locator("#step-title")).to_have_text("You're booked", timeout=TIMEOUT)
    assert page.url == host  # the customer's page never navigated away

    # 4000 0000 0000 0002: declined, explained, and another card works.
    widget = book_until_payment(page, host, "Declined First")
    card_form = widget.frame_locator("iframe.pp-card-frame")
    type_card(card_form, CARD_DECLINED)
    expect(card_form.get_by_role("alert")).to_have_text("Your card was declined.", timeout=TIMEOUT)
    type_card(card_form, CARD_OK)
    expect(widget.locator("#step-title")).to_have_text("You're booked", timeout=TIMEOUT)

    settle(stripe_live)
    found = booking_ids(app)
    assert {name: status for name, (_id, status) in found.items()} == {
        "Card Works": Status.CONFIRMED,
        "Three Dee": Status.CONFIRMED,
        "Declined First": Status.CONFIRMED,
    }

    # The tradie signs in, sees the booking confirmed, charges the balance, refunds part.
    booking_id = found["Card Works"][0]
    dashboard = browser_context.new_page()
    dashboard.goto(f"{app_server.url}/auth/login")
    dashboard.locator("#email").fill("tradie@example.com")
    dashboard.locator("#password").fill("correct horse battery")
    dashboard.locator("form button[type=submit]").first.click()
    dashboard.wait_for_url(re.compile(r".*/dashboard.*"), timeout=TIMEOUT)
    dashboard.goto(f"{app_server.url}/dashboard/bookings/{booking_id}")
    panel = dashboard.locator("#booking-payments")
    expect(panel.locator(".payment-timeline")).to_contain_text("Paid")
    expect(dashboard.locator("main")).to_contain_text("Confirmed")

    panel.locator("#final_amount").fill("230.00")
    panel.get_by_role("button", name="Charge balance").click()
    expect(dashboard.locator("#booking-payments")).to_contain_text(
        "charged to the saved card", timeout=TIMEOUT
    )
    panel = dashboard.locator("#booking-payments")
    panel.locator("#refund_amount").fill("30.00")
    panel.locator("#refund_reason").fill("Finished early")
    panel.get_by_role("button", name="Refund").click()
    expect(dashboard.locator("#booking-payments")).to_contain_text("Refund sent", timeout=TIMEOUT)
    expect(dashboard.locator("#booking-payments .payment-totals")).to_contain_text("Net $200.00")

    settle(stripe_live)
    rows = payments(app, booking_id)
    assert [(p.kind, p.amount_minor, p.status) for p in rows] == [
        ("deposit", 5000, "succeeded"),
        ("balance", 18000, "succeeded"),
        ("refund", 3000, "succeeded"),
    ]


def test_the_card_form_is_sized_even_when_it_told_its_height_before_the_page_listened(
    app: Flask,
    stripe_live: Any,
    tradie: int,
    app_server: Any,
    host_page: Any,
    browser_context: Any,
) -> None:
    """The card form reports its height as soon as it loads; payment.js, at the end of the
    payment step, may only start listening after that (a slow script, a busy phone). Held back
    here until the form has certainly reported, payment.js must still get the frame sized."""
    from playwright.sync_api import expect

    page = browser_context.new_page()
    held: list[Any] = []
    page.route("**/widget/payment.js*", lambda route: held.append(route))
    widget = book_until_payment(page, host_page("kiwi"), "Late Script")
    card_form = widget.frame_locator("iframe.pp-card-frame")
    expect(card_form.locator("#number")).to_be_visible(timeout=TIMEOUT)
    frame = widget.locator("iframe.pp-card-frame")
    frame.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the form's own report has long gone, to nobody
    assert len(held) == 1, "payment.js was not asked for"
    held[0].continue_()

    def heights() -> tuple[int, int]:
        outer = frame.evaluate("f => Math.round(f.getBoundingClientRect().height)")
        inner = card_form.locator("body").evaluate(
            "b => Math.ceil(b.getBoundingClientRect().height)"
        )
        return outer, inner

    for _ in range(100):
        outer, inner = heights()
        if abs(outer - inner) <= 1:
            break
        page.wait_for_timeout(50)
    assert abs(outer - inner) <= 1, f"the card frame stayed {outer}px for {inner}px of form"
    type_card(card_form, CARD_OK)
    expect(widget.locator("#step-title")).to_have_text("You're booked", timeout=TIMEOUT)
