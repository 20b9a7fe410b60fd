"""The dashboard as a new tradie sees it on a phone and a laptop: cards apart, and the
navigation out of the way of the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_dashboard_browser import sign_in

pytestmark = [
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("fast_passwords"),
]

# Each card's box, in page order: [top, bottom, left, right].
CARD_BOXES = """() => [...document.querySelectorAll('.analytics .card')]
  .filter(el => el.offsetParent !== null)
  .map(el => { const r = el.getBoundingClientRect();
               return [r.top, r.bottom, r.left, r.right]; })"""


@pytest.mark.parametrize("width", [375, 1280])
def test_analytics_cards_do_not_touch(app_server: Any, browser: Any, tradie_id: int, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/analytics")
    boxes = page.evaluate(CARD_BOXES)
    assert len(boxes) >= 4
    for n, (_top, bottom, left, right) in enumerate(boxes):
        for other_top, _bottom, other_left, other_right in boxes[n + 1 :]:
            apart_down = other_top - bottom
            apart_across = max(other_left - right, left - other_right)
            assert max(apart_down, apart_across) >= 8, (
                f"at {width}px card {n} and a later one are {apart_down}px apart: {boxes}"
            )
    context.close()


# Where the page's own content starts: the top of the first thing in <main>.
CONTENT_TOP = (
    """() => document.querySelector('main').firstElementChild.getBoundingClientRect().top"""
)
NAV_LINKS = (
    """() => [...document.querySelectorAll('.topbar nav a')].map(a => a.textContent.trim())"""
)


@pytest.mark.parametrize(("width", "most"), [(375, 120), (1280, 120)])
def test_the_page_starts_near_the_top_on_a_phone(
    app_server: Any, browser: Any, tradie_id: int, width: int, most: int
):
    context = browser.new_context(viewport={"width": width, "height": 812})
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/settings")
    top = page.evaluate(CONTENT_TOP)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-nav-{width}.png"))
    assert top <= most, f"at {width}px the page starts {top}px down"
    # Every entry is still there, and the page itself never scrolls sideways.
    assert len(page.evaluate(NAV_LINKS)) == 9
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    # The current page's entry is in view, even at the far end of the strip.
    current = page.locator('.topbar nav a[aria-current="page"]')
    box = current.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    page.locator(".topbar nav").get_by_role("link", name="Calendar", exact=True).click()
    page.wait_for_url("**/dashboard/calendar")
    context.close()


def test_recovery_codes_copy_and_download(
    app_server: Any, browser: Any, tradie_id: int, frozen_clock: Any
):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.url)
    page = context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/settings/two-factor")
    secret = page.locator("code.secret").inner_text()
    page.locator("#code").fill(pyotp.TOTP(secret).at(frozen_clock.now))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    codes = page.locator("#recovery-codes code")
    codes.first.wait_for()
    shown = codes.all_inner_texts()
    assert len(shown) == 10
    page.get_by_role("button", name="Copy codes").click()
    page.wait_for_function("() => navigator.clipboard.readText().then(t => t.includes('-'))")
    assert page.evaluate("navigator.clipboard.readText()").split() == shown
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as a text file").click()
    assert download.value.suggested_filename == "peepopay-recovery-codes.txt"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert all(code in text for code in shown)
    context.close()


def test_the_brand_colour_picker_fills_the_hex_field(
    app_server: Any, browser_context: Any, tradie_id: int
):
    page = browser_context.new_page()
    sign_in(page, app_server.url)
    page.goto(f"{app_server.url}/dashboard/settings")
    picker = page.get_by_label("Pick the brand colour")
    assert picker.is_visible()
    picker.fill("#0b3d2e")
    assert page.locator("#brand_color").input_value() == "#0b3d2e"
    page.locator("#brand_color").fill("#1D4")
    assert picker.input_value() == "#11dd44"
    page.locator("#brand_color").fill("#0b3d2e")
    page.get_by_role("button", name="Save branding").click()
    page.locator("#branding .swatch-line").filter(has_text="Now: #0b3d2e").wait_for()


@pytest.mark.parametrize(
    ("browser_zone", "country", "chosen"),
    [
        ("UTC", "AU", "Australia/Sydney"),  # a laptop left on UTC: the country's zone
        ("Etc/UTC", "NZ", "Pacific/Auckland"),
        ("Etc/GMT", "AU", "Australia/Sydney"),
        ("Australia/Perth", "AU", "Australia/Perth"),  # a real zone is taken as it is
    ],
)
def test_a_utc_browser_does_not_choose_utc_at_the_first_run(
    app: Any,
    app_server: Any,
    browser: Any,
    tradie_id: int,
    browser_zone: str,
    country: str,
    chosen: str,
):
    from peepopay.extensions import db
    from peepopay.models import Tradie

    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.profile_confirmed_at = None  # just signed up: the first run's first step
        tradie.country, tradie.timezone = country, "Europe/London"
        db.session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=browser_zone)
    page = context.new_page()
    page.goto(f"{app_server.url}/auth/login")
    page.locator("#email").fill("tradie@example.com")
    page.locator("#password").fill("correct horse battery")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url("**/dashboard/welcome/**")
    page.goto(f"{app_server.url}/dashboard/welcome/business")
    assert page.locator("#timezone").input_value() == chosen
    context.close()
