"""The receipt (a tax invoice), the payouts page and a disputed booking in a real Chromium at
1280 px and 375 px (no sideways scrolling), writing the README's screenshots:
docs/screenshots/{receipt,payouts,booking-disputed}-{1280,375}.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from peepopay.extensions import db
from peepopay.models import Tradie
from tests.browser.conftest import SCREENSHOTS
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    booking,
    connect,
    hold,
    pay,
    payments,
    settle,
)

pytestmark = pytest.mark.usefixtures("fast_passwords")
TIMEOUT = 15_000
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
WIDTHS = (1280, 375)


@pytest.fixture
def story(app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int) -> dict[str, Any]:
    """A GST-registered tradie: a job paid in full, one disputed, and two payouts."""
    with app.app_context():
        db.session.execute(
            sa.update(Tradie)
            .where(Tradie.id == tradie_id)
            .values(
                tax_number="123-456-789",
                tax_rate_bps=1500,
                phone="+6495550000",
                contact_email="jobs@kiwi.example",
            )
        )
        db.session.commit()
    account = connect(app, tradie_id, stripe_live)
    done = hold(app, tradie_id, hour=9)
    pay(stripe_live, done)
    settle(stripe_live)
    dash.post(f"/dashboard/bookings/{done.booking_id}/balance", {"final_amount": "230"})
    settle(stripe_live)
    stripe_live.control(f"accounts/{account}/payouts", {"status": "paid"})
    disputed = hold(app, tradie_id, hour=13, days=4)
    pay(stripe_live, disputed, "5555 5555 5555 4444")
    settle(stripe_live)
    stripe_live.control(f"accounts/{account}/payouts", {"status": "in_transit"})
    (deposit,) = payments(app, disputed.booking_id)
    stripe_live.control(
        f"charges/{deposit.stripe_charge_id}/dispute", {"reason": "product_not_received"}
    )
    settle(stripe_live)
    return {
        "token": booking(app, done.booking_id).public_token,
        "disputed": disputed.booking_id,
    }


def shoot(page: Any, name: str, width: int) -> None:
    assert page.evaluate(OVERFLOW) == 0, f"{name} scrolls sideways at {width} px"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)


@pytest.mark.parametrize("width", WIDTHS)
def test_receipt_payouts_and_dispute_pages(
    app_server: Any, browser: Any, story: dict[str, Any], width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()

    page.goto(f"{app_server.url}/b/{story['token']}/receipt")
    expect(page.get_by_role("heading", name="Tax invoice")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("GST number")).to_be_visible()
    expect(page.get_by_text("Visa ending 4242").first).to_be_visible()
    shoot(page, "receipt", width)

    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/payouts")
    expect(page.get_by_role("heading", name="Payouts")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("On its way")).to_be_visible()
    expect(page.get_by_role("link", name="Open your Stripe dashboard")).to_be_visible()
    shoot(page, "payouts", width)

    page.goto(f"{app_server.url}/dashboard/bookings/{story['disputed']}")
    expect(page.get_by_text("Needs your response")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("link", name="Respond in Stripe")).to_be_visible()
    assert page.evaluate(OVERFLOW) == 0, f"the disputed booking scrolls sideways at {width} px"
    # The booking's payments card, where the dispute shows (the whole page is long).
    page.locator("#booking-payments").screenshot(
        path=str(SCREENSHOTS / f"booking-disputed-{width}.png")
    )
    context.close()
