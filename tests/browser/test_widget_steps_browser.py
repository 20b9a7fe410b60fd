"""Every step of the widget in Chromium on a phone (375 × 740) and a desktop (1280 × 900),
opened as a customer opens a booking link: each step fits without sideways scrolling and is
saved to docs/screenshots/; the review step is one column on the phone; the payment step puts
the amount and the card field on the first screen, with one demo notice and a countdown; the
confirmation step restates the money, the time and the address, its links in the brand colour.
Embedded on a phone, the payment step brings the frame back into view."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from peepopay.extensions import db
from peepopay.models import Tradie
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_widget_browser import Widget
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_OK,
    app_config,
    payments_tradie,
)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

TIMEOUT = 15_000
SIZES = {375: 740, 1280: 900}
BRAND = "rgb(29, 78, 216)"  # the default brand colour, #1d4ed8


def logo_png() -> bytes:
    """A small square logo (a "K" on the brand colour) as a PNG."""
    import struct
    import zlib

    glyph = ["#..#", "#.#.", "##..", "#.#.", "#..#"]
    size, rows = 40, []
    for y in range(size):
        row = b"\x00"
        for x in range(size):
            gx, gy = (x - 12) // 4, (y - 10) // 4
            on = 0 <= gx < 4 and 0 <= gy < 5 and glyph[gy][gx] == "#"
            row += bytes((255, 255, 255) if on else (29, 78, 216))
        rows.append(row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def tradie(app: Flask, stripe_live: Any, tmp_path: Path) -> int:
    tradie_id = payments_tradie(app, stripe_live)
    data = logo_png()
    name = hashlib.sha256(data).hexdigest() + ".png"
    app.config["LOGO_DIR"] = str(tmp_path)
    (tmp_path / name).write_bytes(data)
    with app.app_context():
        db.session.get(Tradie, tradie_id).logo_path = name
        db.session.commit()
        db.session.remove()
    return tradie_id


def wait_for_step(page: Any, title: str) -> None:
    expect(page.locator("#step-title")).to_contain_text(title, timeout=TIMEOUT)
    expect(page.locator("[aria-busy]")).to_have_count(0, timeout=TIMEOUT)


def fits_sideways(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= innerWidth"))


def card_frame_fitted(page: Any) -> Any:
    """The demo card form's frame once payment.js has sized it to its content. Chromium stops
    rendering a cross-origin frame that is wholly off screen (its size report waits until it is
    seen), so it is brought into view first, as a person paying would."""
    frame_element = page.locator("iframe.pp-card-frame")
    card = page.frame_locator("iframe.pp-card-frame")
    expect(card.locator("#number")).to_be_visible(timeout=TIMEOUT)
    frame_element.scroll_into_view_if_needed()
    deadline = time.monotonic() + 10
    while True:
        outer = frame_element.evaluate("f => Math.round(f.getBoundingClientRect().height)")
        inner = card.locator("body").evaluate("b => Math.ceil(b.getBoundingClientRect().height)")
        if abs(outer - inner) <= 1:
            return card
        assert time.monotonic() < deadline, f"card frame {outer}px never fitted {inner}px"
        page.wait_for_timeout(50)


def within_first_screen(box: dict[str, float], height: int) -> bool:
    return box["y"] >= 0 and box["y"] + box["height"] <= height


@pytest.mark.parametrize("width", sorted(SIZES))
def test_every_step_on_a_phone_and_a_desktop(
    app: Flask, app_server: Any, browser: Any, tradie: int, width: int
) -> None:
    height = SIZES[width]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()

    def shot(number: int, name: str) -> None:
        assert fits_sideways(page), f"step {name} scrolls sideways at {width}px"
        path = SCREENSHOTS / f"widget-step{number}-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)

    page.goto(f"{app_server.url}/book/kiwi")
    wait_for_step(page, "Choose a service")
    logo = page.locator("header.pp-head img.pp-logo")
    expect(logo).to_be_visible()
    # The tradie's logo, loaded (waited for: an image may still be decoding once it is visible).
    page.wait_for_function(
        "document.querySelector('header.pp-head img.pp-logo').naturalWidth === 40",
        timeout=10_000,
    )
    shot(1, "service")
    page.locator("button[name=service]").first.click()
    wait_for_step(page, "Choose a day")
    shot(2, "day")
    page.get_by_text("Next available").click()
    wait_for_step(page, "Choose a time")
    shot(3, "time")
    page.locator("button[name=start]").first.click()
    wait_for_step(page, "Your details")
    page.locator("#name").fill("Aroha Smith-Ngata")
    page.locator("#email").fill("aroha.smith-ngata@example.co.nz")
    page.locator("#phone").fill("021 123 4567")
    page.locator("#address").fill("1 Queen Street, Auckland Central, Auckland 1010")
    page.locator("#notes").fill("Side gate, mind the dog")
    shot(4, "details")
    page.get_by_role("button", name="Review booking").click()
    wait_for_step(page, "Review your booking")

    # One column on the phone (each label above its value), two on the desktop; the email and
    # the phone number whole, the phone in the national format.
    email = page.locator(".pp-summary .pp-email")
    assert email.evaluate("e => e.getClientRects().length") == 1, "the email wraps"
    label = page.locator(".pp-summary dt", has_text="Contact").bounding_box()
    value = page.locator(".pp-summary dd", has=page.locator(".pp-email")).bounding_box()
    assert label and value
    if width == 375:
        assert value["y"] >= label["y"] + label["height"] - 1, "not one column on a phone"
    else:
        assert value["x"] > label["x"] + label["width"] - 1 and abs(value["y"] - label["y"]) < 4
    expect(page.locator(".pp-summary")).to_contain_text("021 123 4567")
    shot(5, "review")

    page.get_by_role("button", name="Continue to payment").click()
    wait_for_step(page, "Pay your deposit")
    card = card_frame_fitted(page)
    # The first screen after the step opens: the amount and the card field, unscrolled.
    assert page.evaluate("scrollY") == 0
    amount = page.locator(".pp-due strong").bounding_box()
    number = card.locator("#number").bounding_box()
    assert amount and number
    assert within_first_screen(amount, height), amount
    assert within_first_screen(number, height), number
    # One demo notice (the card form leaves it to us); nothing offered before paying.
    notices = (
        page.get_by_text("Demo payments — no real money").count()
        + card.get_by_text(re.compile("Test mode|no real money", re.I)).count()
    )
    assert notices == 1
    expect(page.get_by_text("Paid?")).to_have_count(0)
    # The hold as a ticking countdown, and a local time with its zone.
    clock = page.locator(".pp-countdown")
    expect(clock).to_have_text(re.compile(r"^1[45]:\d\d$"), timeout=TIMEOUT)
    until = re.compile(r"until \d{1,2}:\d\d [ap]m NZ[DS]T")
    expect(page.locator(".pp-hold")).to_contain_text(until)
    shot(6, "payment")

    card.locator("#number").fill(CARD_OK)
    card.locator("#exp").fill("12 / 34")
    card.locator("#cvc").fill("123")
    card.get_by_role("button", name="Pay").click()
    wait_for_step(page, "You're booked")
    step = page.locator("#step")
    expect(step).to_contain_text("Paid now")
    expect(step).to_contain_text("$50.00")
    expect(step).to_contain_text("$150.00")
    expect(step).to_contain_text("1 Queen Street, Auckland Central, Auckland 1010")
    expect(step).to_contain_text(re.compile(r"\d{1,2}:\d\d [ap]m NZ[DS]T"))
    for name in ("Add to calendar", "Manage your booking"):
        link = page.get_by_role("link", name=name)
        expect(link).to_be_visible()
        assert link.evaluate("a => getComputedStyle(a).color") == BRAND, name
        assert link.evaluate("a => getComputedStyle(a).borderTopColor") == BRAND, name
    shot(7, "confirmation")
    assert context.cookies(app_server.url) == []  # the logo's request set none either
    context.close()


def test_embedded_on_a_phone_the_payment_step_opens_in_view(
    app: Flask, app_server: Any, host_page: Any, browser: Any, tradie: int
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(host_page("kiwi"))
    widget = Widget(page)
    widget.wait_for_step("Choose a service")
    widget.frame.click("button[name=service]")
    widget.wait_for_step("Choose a day")
    widget.frame.click("text=Next available")
    widget.wait_for_step("Choose a time")
    widget.frame.click("button[name=start] >> nth=0")
    widget.wait_for_step("Your details")
    widget.frame.fill("#name", "Aroha Smith")
    widget.frame.fill("#email", "aroha@example.com")
    widget.frame.fill("#phone", "021 123 4567")
    widget.frame.fill("#address", "1 Queen Street, Auckland")
    widget.frame.click("text=Review booking")
    widget.wait_for_step("Review your booking")
    widget.frame.click("text=Continue to payment")
    widget.frame.wait_for_selector("#step-title >> text=Pay your deposit")
    widget = Widget(page)
    widget.wait_for_step("Pay your deposit")
    outer = page.frame_locator("iframe[src*='/book/']")
    number = outer.frame_locator("iframe.pp-card-frame").locator("#number")
    expect(number).to_be_visible(timeout=TIMEOUT)
    deadline = time.monotonic() + 10
    while not within_first_screen(number.bounding_box() or {"y": -1, "height": 0}, 740):
        assert time.monotonic() < deadline, f"card field at {number.bounding_box()}"
        page.wait_for_timeout(50)
    amount = outer.locator(".pp-due strong").bounding_box()
    assert amount and within_first_screen(amount, 740), amount
    context.close()


def test_a_site_not_allowed_sees_a_page_for_its_owner_and_the_console_names_it(
    app: Flask, app_server: Any, host_page: Any, browser: Any, stripe_live: Any
) -> None:
    payments_tradie(app, stripe_live, allowed_origins="https://www.kiwi-plumbing.example\n")
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    host = host_page("kiwi")
    page.goto(host)
    widget = Widget(page)
    widget.wait_for_step("Booking isn't switched on for this website")
    origin = host.rstrip("/")
    assert f"isn't allowed on {origin}" in widget.frame.inner_text("#step")
    assert widget.frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
    deadline = time.monotonic() + 10
    while not any(origin in text for text in warnings):
        assert time.monotonic() < deadline, warnings
        page.wait_for_timeout(50)
    assert any("Add " + origin + " to the allowed websites" in text for text in warnings)
    page.screenshot(path=str(SCREENSHOTS / "widget-blocked-site-375.png"), full_page=True)
    context.close()
