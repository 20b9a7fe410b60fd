"""The dashboard in a real Chromium: readable at 375 px, labelled, and its htmx parts working."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

# One backend is enough in the browser; the routes are tested on both elsewhere.
pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("fast_passwords"),
]
TIMEOUT = 10_000
PAGES = [
    "/dashboard",
    "/dashboard/bookings",
    "/dashboard/bookings/{booking}",
    "/dashboard/services",
    "/dashboard/services/{service}/edit",
    "/dashboard/availability",
    "/dashboard/settings",
    "/dashboard/analytics",
]
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.closest('fieldset')?.querySelector('legend'))
  .map(el => el.name || el.id)"""


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/dashboard$"), timeout=TIMEOUT)


def test_every_page_fits_a_phone_and_labels_every_field(
    app_server, browser, tradie_id, add_booking
):
    booking = add_booking()
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    sign_in(page, app_server.url)
    for path in PAGES:
        page.goto(app_server.url + path.format(booking=booking, service=1))
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 375px"
        assert page.evaluate(UNLABELLED) == [], path
        assert page.locator("h1").count() >= 1, path
    context.close()


def test_keyboard_starts_at_the_skip_link(app_server, browser_context, tradie_id):
    page = browser_context.new_page()
    sign_in(page, app_server.url)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "PeepoPay"


def test_services_validate_inline_and_reorder_without_reloading(
    app_server, browser_context, tradie_id
):
    page = browser_context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/services")
    page.evaluate("window.notReloaded = true")
    # The worked example follows what is typed.
    page.locator("#price").fill("200")
    page.locator("#deposit_amount").fill("50")
    expect(page.locator("#service-example")).to_contain_text("$48.75", timeout=TIMEOUT)
    # A bad price is refused on the field itself (a 422 fragment swapped in by htmx).
    page.locator("#price").fill("twelve")
    page.locator("#price").blur()
    expect(page.locator("#field-price .error")).to_have_text(
        "Price must be an amount like 120 or 120.50.", timeout=TIMEOUT
    )
    # htmx wires the swapped-in field up while it settles; typing before that would be missed.
    expect(page.locator(".htmx-request, .htmx-settling, .htmx-added")).to_have_count(
        0, timeout=TIMEOUT
    )
    page.locator("#price").fill("200")
    page.locator("#price").blur()
    expect(page.locator("#field-price .error")).to_have_count(0, timeout=TIMEOUT)
    # Add a service, then move it up: the list is swapped in place.
    page.locator("#name").fill("Gas fitting")
    page.get_by_role("button", name="Add service").click()
    expect(page.locator("#services-page")).to_contain_text("Added “Gas fitting”.", timeout=TIMEOUT)
    page.get_by_role("button", name="Move Gas fitting up").click()
    expect(page.locator("#service-list .row strong").first).to_have_text(
        "Gas fitting", timeout=TIMEOUT
    )
    assert page.evaluate("window.notReloaded") is True


def test_copy_buttons_copy_the_snippet(app_server, browser, tradie_id):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in(page, app_server.url)
    button = page.locator("button[data-copy=embed-script]")
    expect(button).to_have_text("Copy script tag")  # visible: the script un-hides it
    button.click()
    expect(button).to_have_text("Copied", timeout=TIMEOUT)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert (
        copied
        == '<script src="http://peepopay.test/embed.js" data-tradie="kiwi-plumbing" async></script>'
    )
    context.close()


def test_the_service_form_shows_only_the_chosen_deposit_field(
    app_server, browser_context, tradie_id
):
    # Console errors (a CSP violation, the favicon) fail any browser test: see conftest.py.
    page = browser_context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/services")
    amount, percent = page.locator("#field-deposit_amount"), page.locator("#field-deposit_percent")
    expect(amount).to_be_visible()
    expect(percent).to_be_hidden()
    page.get_by_label("Percentage of the price").check()
    expect(percent).to_be_visible(timeout=TIMEOUT)
    expect(amount).to_be_hidden()
    page.locator("#name").fill("Hot water cylinder")
    page.locator("#price").fill("800")
    page.locator("#deposit_percent").fill("25")
    # Autofill and password managers put style attributes on inputs; htmx must not copy them
    # onto the swapped-in form (that was nine CSP violations on adding a service).
    page.evaluate(
        "document.querySelectorAll('#service-form input, #service-form textarea')"
        ".forEach(input => { input.style.backgroundSize = '16px' })"
    )
    page.get_by_role("button", name="Add service").click()
    expect(page.locator("#services-page")).to_contain_text("Added", timeout=TIMEOUT)
    # The fresh form after the swap starts again from a fixed deposit, its field alone.
    expect(page.locator("#field-deposit_amount")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#field-deposit_percent")).to_be_hidden()
    assert page.evaluate("document.querySelectorAll('#service-form [style]').length") == 0
    favicon = page.request.get(f"{app_server.url}/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"].startswith("image/")
