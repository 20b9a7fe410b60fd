"""The widget's console stays clean on its payment step: no postMessage aimed at a window of
another origin (the card frame before it loaded, a parent not yet known), embedded either way
or opened on its own. Every console message is collected, warnings too."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.browser.test_payments_browser import TIMEOUT
from tests.payments_support import app_config, payments_tradie  # noqa: F401  (the emulator)


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    return payments_tradie(app, stripe_live)


def postmessage_noise(page: Any) -> list[str]:
    """Every console message of the page that speaks of postMessage, of any level."""
    heard: list[str] = []
    page.on(
        "console",
        lambda m: heard.append(f"{m.type}: {m.text}") if "postMessage" in m.text else None,
    )
    return heard


def walk_to_payment(widget: Any) -> None:
    """Service, next available day, first time, details, review, then the payment step; its
    demo card form is loaded in its own frame."""
    from playwright.sync_api import expect

    widget.locator(".pp-card").first.click()
    widget.locator(".pp-suggest button").click()
    widget.locator(".pp-time").first.click()
    widget.locator("#name").fill("Console Clean")
    widget.locator("#email").fill("aroha@example.com")
    widget.locator("#phone").fill("021 123 4567")
    widget.locator("#address").fill("1 Queen Street, Auckland")
    widget.get_by_role("button", name="Review booking").click()
    widget.get_by_role("button", name="Continue to payment").click()
    expect(widget.locator("#step-title")).to_have_text("Pay your deposit", timeout=TIMEOUT)
    card = widget.frame_locator("iframe.pp-card-frame")
    expect(card.locator("#number")).to_be_visible(timeout=TIMEOUT)


@pytest.mark.parametrize("snippet", ["script", "iframe"])
def test_the_embedded_payment_step_posts_no_message_to_a_wrong_origin(
    app: Flask,
    stripe_live: Any,
    tradie: int,
    app_server: Any,
    host_page: Any,
    browser_context: Any,
    snippet: str,
) -> None:
    page = browser_context.new_page()
    heard = postmessage_noise(page)
    page.goto(host_page("kiwi", snippet))
    walk_to_payment(page.frame_locator('iframe[src*="/book/"]'))
    page.wait_for_timeout(500)  # any late message has been sent by now
    assert heard == []


def test_the_payment_step_on_its_own_posts_no_message_to_a_wrong_origin(
    app: Flask, stripe_live: Any, tradie: int, app_server: Any, browser_context: Any
) -> None:
    page = browser_context.new_page()
    heard = postmessage_noise(page)
    page.goto(f"{app_server.url}/book/kiwi")
    walk_to_payment(page)
    page.wait_for_timeout(500)
    assert heard == []
