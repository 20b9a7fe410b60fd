"""Accounts in a real Chromium: a tradie signs up with a password and goes through the guided
first run to a working widget that takes a booking; another signs up with Google against the
local OpenID Connect provider; a third turns on two-factor, logs out and back in with a code,
then with a recovery code. Writes the front door's and each first-run step's screenshots."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from peepopay.extensions import db
from peepopay.models import Booking, OutboxMessage, Tradie
from tests.browser.conftest import SCREENSHOTS
from tests.fixtures.factories import make_tradie
from tests.fixtures.stripe import emulator_config
from tests.payments_support import CARD_OK

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
TIMEOUT = 15_000
WIDTHS = (1280, 375)


@pytest.fixture
def app_config(app_config, stripe_emulator, oidc_provider):
    return {
        **app_config,
        **emulator_config(stripe_emulator),
        "GOOGLE_CLIENT_ID": "peepopay-browser",
        "GOOGLE_CLIENT_SECRET": "peepopay-browser-secret",
        "GOOGLE_METADATA_URL": oidc_provider.metadata_url,
    }


def shoot(page: Any, name: str) -> None:
    """`docs/screenshots/<name>-<width>.png` at each width; no sideways scrolling at 375 px."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def texted_code(app: Flask) -> str:
    with app.app_context():
        body = db.session.scalars(
            sa.select(OutboxMessage.payload).where(OutboxMessage.kind == "phone_code")
        ).all()[-1]["body"]
        db.session.remove()
    return re.search(r"\b(\d{6})\b", body).group(1)


def verification_path(app: Flask) -> str:
    with app.app_context():
        text = db.session.scalars(
            sa.select(OutboxMessage.payload).where(OutboxMessage.kind == "verify_email")
        ).all()[-1]["text"]
        db.session.remove()
    return re.search(r"https?://[^/\s]+(/auth/verify/\S+)", text).group(1)


def test_sign_up_then_first_run_to_a_booking(app, app_server, stripe_live, browser):
    app.config["BASE_URL"] = app_server.url  # Stripe's onboarding returns to this server
    base = app_server.url
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Pacific/Auckland"
    )
    page = context.new_page()
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bookings with a deposit")
    shoot(page, "front-door")
    page.get_by_role("link", name="Sign up free").click()
    page.locator("#business_name").fill("Harbour Sparks")
    page.locator("#email").fill("harbour@example.com")
    page.locator("#password").fill("bright wires at dawn")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=TIMEOUT)
    page.locator("#email").fill("harbour@example.com")
    page.locator("#password").fill("bright wires at dawn")
    page.locator("form button[type=submit]").last.click()

    # Country and time zone: the browser's zone is chosen for the tradie.
    page.wait_for_url(re.compile(r".*/dashboard/welcome/business$"), timeout=TIMEOUT)
    assert page.locator("#timezone").input_value() == "Pacific/Auckland"
    page.locator("#country").select_option("NZ")
    expect(page.locator("#country-facts")).to_contain_text("NZD")
    shoot(page, "first-run-1-business")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r".*/welcome/phone$"), timeout=TIMEOUT)
    page.locator("#phone").fill("021 555 0123")
    page.get_by_role("button", name="Text me a code").click()
    expect(page.get_by_text("We texted a code to")).to_be_visible(timeout=TIMEOUT)
    shoot(page, "first-run-2-phone")
    page.locator("#code").fill(texted_code(app))
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(re.compile(r".*/welcome/service$"), timeout=TIMEOUT)
    page.locator("#name").fill("Power point install")
    page.locator("#duration_minutes").fill("60")
    page.locator("#price").fill("160")
    page.locator("#deposit_amount").fill("40")
    shoot(page, "first-run-3-service")
    page.get_by_role("button", name="Add and continue").click()

    page.wait_for_url(re.compile(r".*/welcome/hours$"), timeout=TIMEOUT)
    for day in ("Saturday", "Sunday"):
        page.get_by_label(day).check()
    shoot(page, "first-run-4-hours")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r".*/welcome/stripe$"), timeout=TIMEOUT)
    shoot(page, "first-run-5-stripe")
    page.get_by_role("button", name="Connect Stripe").click()
    page.get_by_role("button", name="Complete onboarding (test)").click(timeout=TIMEOUT)
    # Back from Stripe, the checklist goes on where it was.
    page.wait_for_url(re.compile(r".*/welcome/snippet$"), timeout=TIMEOUT)
    # The tradie confirms their address from the email: the booking page is public only then.
    page.goto(base + verification_path(app))
    page.goto(f"{base}/dashboard/welcome")
    page.wait_for_url(re.compile(r".*/welcome/snippet$"), timeout=TIMEOUT)
    expect(page.locator("#embed-script")).to_have_value(re.compile(r'data-tradie="harbour-sparks"'))
    shoot(page, "first-run-6-snippet")
    page.get_by_role("button", name="Done").click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)
    expect(page.get_by_text("Finish setting up")).to_have_count(0)
    expect(page.get_by_text("isn't taking bookings")).to_have_count(0)

    # The widget works: a customer books and pays the deposit.
    customer = browser.new_context(viewport={"width": 375, "height": 812}).new_page()
    customer.goto(f"{base}/book/harbour-sparks")
    customer.locator(".pp-card").first.click()
    customer.locator(".pp-suggest button").click()
    customer.locator(".pp-time").first.click()
    customer.locator("#name").fill("Mere Customer")
    customer.locator("#email").fill("mere@example.com")
    customer.locator("#phone").fill("021 123 4567")
    customer.locator("#address").fill("5 Wharf Road, Auckland")
    customer.get_by_role("button", name="Review booking").click()
    customer.get_by_role("button", name="Continue to payment").click()
    expect(customer.locator("#step-title")).to_have_text("Pay your deposit", timeout=TIMEOUT)
    card = customer.frame_locator("iframe.pp-card-frame")
    card.locator("#number").fill(CARD_OK)
    card.locator("#exp").fill("12 / 34")
    card.locator("#cvc").fill("123")
    card.get_by_role("button", name="Pay").click()
    expect(customer.locator("#step-title")).to_have_text("You're booked", timeout=TIMEOUT)
    stripe_live.control("flush", {"timeout": 20})
    with app.app_context():
        booking = db.session.scalars(sa.select(Booking)).one()
        assert (booking.customer_name, booking.deposit_minor) == ("Mere Customer", 4000)
        db.session.remove()
    context.close()


def test_sign_up_with_google(app, app_server, oidc_provider, browser_context):
    oidc_provider.set_user(
        "google-browser-1", email="tui@example.com", email_verified=True, name="Tui Roofing"
    )
    page = browser_context.new_page()
    page.goto(f"{app_server.url}/auth/signup")
    shoot(page, "signup")
    page.get_by_role("button", name="Sign up with Google").click()
    page.locator("input[name=sub]").fill("google-browser-1", timeout=TIMEOUT)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(r".*/dashboard/welcome/business$"), timeout=TIMEOUT)
    expect(page.get_by_role("heading", name="Where do you work?")).to_be_visible()
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        assert (tradie.email, tradie.google_sub) == ("tui@example.com", "google-browser-1")
        assert tradie.business_name == "Tui Roofing"
        db.session.remove()


def login(page: Any, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").last.click()


def logout(page: Any) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/auth/login$"), timeout=TIMEOUT)


def test_two_factor_with_a_code_then_a_recovery_code(app, app_server, browser_context):
    make_tradie(app)
    base = app_server.url
    page = browser_context.new_page()
    login(page, base)
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)
    page.goto(f"{base}/dashboard/settings")
    page.locator("#signin").get_by_role("link", name="Turn on").click()
    expect(page.locator(".qr svg")).to_be_visible(timeout=TIMEOUT)
    shoot(page, "two-factor-setup")
    secret = page.locator("code.secret").inner_text()
    totp = pyotp.TOTP(secret)
    page.locator("#code").fill(totp.now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    codes = page.locator(".recovery-codes code")
    expect(codes).to_have_count(10, timeout=TIMEOUT)
    recovery = codes.nth(0).inner_text()
    page.get_by_role("link", name="I've saved them").click()
    logout(page)

    # The code from the app. The one used to turn it on is spent: the next step's code is
    # within the drift window, and never used before.
    login(page, base)
    page.wait_for_url(re.compile(r".*/auth/two-factor$"), timeout=TIMEOUT)
    shoot(page, "two-factor-code")
    page.locator("#code").fill(totp.at(datetime.now(UTC) + timedelta(seconds=30)))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)
    logout(page)

    login(page, base)
    page.wait_for_url(re.compile(r".*/auth/two-factor$"), timeout=TIMEOUT)
    page.locator("#code").fill(recovery)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)
    page.goto(f"{base}/dashboard/settings/two-factor")
    expect(page.get_by_text("9 of 10 recovery codes left")).to_be_visible()
