"""A customer books through the widget embedded by /embed.js on a page from another origin,
in a real Chromium with third-party cookies blocked, up to the payment step."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

# One backend is enough here; booking rules and concurrency are covered on both elsewhere.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

WIDGET_FRAME = "iframe[src*='/book/']"


class Widget:
    """The embedded widget as the host page and the customer see it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.element = page.wait_for_selector(WIDGET_FRAME)
        self.frame = self.element.content_frame()
        self.heights: list[int] = []

    def heading(self) -> str:
        return str(self.frame.inner_text("#step-title"))

    def wait_for_step(self, title: str, timeout: float = 10) -> None:
        # Polled from here: the widget's CSP forbids the eval that wait_for_function's in-page
        # polling would need.
        ready = (
            "t => { const h = document.getElementById('step-title');"
            " return !!h && h.textContent.includes(t) && !document.querySelector('[aria-busy]'); }"
        )
        deadline = time.monotonic() + timeout
        while not self.frame.evaluate(ready, title):
            assert time.monotonic() < deadline, f"step {title!r} never showed"
            self.page.wait_for_timeout(50)
        self.fit()

    def fit(self, timeout: float = 10) -> int:
        """Wait until the iframe is exactly as tall as the widget's content; record it.

        Chromium stops rendering a cross-origin frame that is entirely off screen (its resize
        reports wait until it is seen), so the frame is brought into view first, as a person
        looking at it would."""
        self.element.scroll_into_view_if_needed()
        deadline = time.monotonic() + timeout
        while True:
            content = self.frame.evaluate("Math.ceil(document.body.getBoundingClientRect().height)")
            height = self.element.evaluate("f => Math.round(f.getBoundingClientRect().height)")
            if abs(height - content) <= 1:
                break
            assert time.monotonic() < deadline, f"iframe {height}px never fitted {content}px"
            self.page.wait_for_timeout(50)
        # No inner scroll bar: the document is no taller than its frame.
        scroll = self.frame.evaluate("document.documentElement.scrollHeight")
        assert scroll <= height + 1, (scroll, height)
        self.heights.append(height)
        return int(height)

    def screenshot(self, name: str) -> None:
        """The whole host page with the widget fitted, without Playwright's full-page mode
        (which re-lays the page out while capturing)."""
        viewport = self.page.viewport_size
        height = self.page.evaluate("document.documentElement.scrollHeight")
        self.page.set_viewport_size({"width": viewport["width"], "height": height})
        self.fit()
        self.page.screenshot(path=str(SCREENSHOTS / name))
        self.page.set_viewport_size(viewport)
        self.fit()

    def expect_heading_focused(self) -> None:
        """Focus moves to the new step's heading once htmx has settled the swap."""
        from playwright.sync_api import expect

        expect(self.frame.locator("#step-title")).to_be_focused(timeout=10_000)


def test_customer_books_up_to_payment_in_an_embedded_widget(
    app, app_server, host_page, browser_context, stripe_live
):
    payments_tradie(app, stripe_live)
    page = browser_context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "status of 422" not in message.text
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}") if r.status >= 400 and r.status != 422 else None
        ),
    )
    host = host_page("kiwi")
    page.goto(host)
    widget = Widget(page)
    assert widget.frame.url.startswith(f"{app_server.url}/book/kiwi?origin=http%3A%2F%2Flocalhost")

    # Step 1 by keyboard alone: focus the service and press Enter.
    widget.wait_for_step("Choose a service")
    first_height = widget.heights[-1]
    assert first_height != 640  # the loader's initial height was replaced by the widget's own
    widget.frame.focus("button[name=service]")
    page.keyboard.press("Enter")
    widget.wait_for_step("Choose a day")
    widget.expect_heading_focused()
    widget.screenshot("widget-1280.png")

    widget.frame.click("text=Next available")
    widget.wait_for_step("Choose a time")
    widget.frame.click("button[name=start] >> nth=0")
    widget.wait_for_step("Your details")

    # A phone number the server refuses: the error is announced and what was typed stays.
    widget.frame.fill("#name", "Aroha Smith")
    widget.frame.fill("#email", "aroha@example.com")
    widget.frame.fill("#phone", "12")
    widget.frame.fill("#address", "1 Queen Street, Auckland")
    widget.frame.fill("#notes", "Side gate, mind the dog")
    widget.frame.click("text=Review booking")
    widget.frame.wait_for_selector("[role=alert] >> text=Phone must be a valid phone number")
    widget.fit()
    assert widget.frame.input_value("#name") == "Aroha Smith"
    assert widget.frame.get_attribute("#phone", "aria-invalid") == "true"

    # Back to the times and forward again: the details survive the round trip.
    tall = widget.heights[-1]
    widget.frame.click("text=Change time")
    widget.wait_for_step("Choose a time")
    assert widget.heights[-1] < tall  # the frame shrinks with its content
    widget.frame.click("button[name=start] >> nth=1")
    widget.wait_for_step("Your details")
    assert widget.frame.input_value("#notes") == "Side gate, mind the dog"
    widget.frame.fill("#phone", "021 123 4567")
    widget.frame.click("text=Review booking")
    widget.wait_for_step("Review your booking")
    summary = widget.frame.inner_text("#step")
    assert "$50.00" in summary and "$150.00" in summary and "48 hours" in summary
    assert "021 123 4567" in summary and "+64" not in summary
    widget.screenshot("widget-1280-review.png")

    widget.frame.click("text=Continue to payment")
    widget.frame.wait_for_selector("#step-title >> text=Pay your deposit")
    widget = Widget(page)  # the payment step is a whole page (it has its own CSP)
    widget.fit()
    assert "$50.00" in widget.frame.inner_text("#step")

    heights = widget.heights
    assert max(heights) > first_height, heights

    # Third-party cookies really are blocked in this browser, and the widget never set any.
    probe = widget.frame.evaluate(
        "document.cookie = 'probe=1; SameSite=None; Secure'; document.cookie"
    )
    assert probe == ""
    assert browser_context.cookies(app_server.url) == []
    assert problems == []


@pytest.mark.parametrize("snippet", ["iframe", "script"])
def test_widget_fits_a_phone_screen(
    app, app_server, host_page, browser_context, stripe_live, snippet
):
    payments_tradie(app, stripe_live)
    page = browser_context.new_page()
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(host_page("kiwi", snippet))
    widget = Widget(page)
    widget.wait_for_step("Choose a service")
    widget.frame.click("button[name=service]")
    widget.wait_for_step("Choose a day")
    # Nothing wider than the phone: no sideways scrolling inside the frame or on the page.
    assert widget.frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    widget.screenshot(f"widget-375{'' if snippet == 'script' else '-iframe-snippet'}.png")
    widget.frame.click("text=Next available")
    widget.wait_for_step("Choose a time")
    widget.frame.click("button[name=start] >> nth=0")
    widget.wait_for_step("Your details")
    if snippet == "script":
        widget.screenshot("widget-375-details.png")
    # Turning the phone: the frame follows its content's new height.
    narrow = widget.heights[-1]
    page.set_viewport_size({"width": 812, "height": 375})
    assert widget.fit() < narrow


# A height the widget never asks for: a message that sets it came from somebody else.
FORGED = 123


@pytest.mark.parametrize("snippet", ["iframe", "script"])
def test_embed_on_a_phone_resizes_pins_messages_to_origins_and_passes_focus(
    app, app_server, host_page, browser, stripe_live, snippet
):
    """On a 375 px phone, a host page of another site, third-party cookies blocked: the frame
    takes the widget's height; only the widget's frame, from the widget's origin, may set it;
    the widget answers only its parent; Tab goes from the host page into the widget and out."""
    payments_tradie(app, stripe_live)
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    try:
        page = context.new_page()
        host = host_page("kiwi", snippet)
        page.goto(host)
        widget = Widget(page)
        if snippet == "iframe":
            # The frame was in the page's HTML (no origin claimed in its address), adopted.
            assert widget.frame.url == f"{app_server.url}/book/kiwi"
            assert page.locator("iframe[src*='/book/']").count() == 1
        else:
            assert "?origin=http%3A%2F%2Flocalhost" in widget.frame.url
        assert widget.element.get_attribute("data-peepopay-mounted") == "1"
        widget.wait_for_step("Choose a service")
        fitted = widget.heights[-1]
        assert fitted != 640  # the initial height was replaced by the widget's own

        # Forged sizes: from the host page itself, from another frame of the host's origin,
        # and from a frame of the widget's origin that is not the widget's frame.
        page.evaluate(
            """([forged, src]) => new Promise(done => {
              window.postMessage({type: 'peepopay:height', height: forged}, '*');
              const a = document.createElement('iframe');
              a.srcdoc = '<script>parent.postMessage({type: "peepopay:height", height: '
                + forged + '}, "*")</' + 'script>';
              const b = document.createElement('iframe');
              b.src = src;
              b.onload = done;
              document.body.append(a, b);
            })""",
            [FORGED, f"{app_server.url}/book/kiwi?other=1"],
        )
        other = next(f for f in page.frames if "other=1" in f.url)
        other.evaluate("h => parent.postMessage({type: 'peepopay:height', height: h}, '*')", FORGED)
        page.wait_for_timeout(500)
        assert widget.element.evaluate("f => f.getBoundingClientRect().height") == fitted
        # A "hello" from anyone but its parent (here the widget's own window) moves nothing:
        # were it taken, the widget would post to its own origin and the browser would log it.
        widget.frame.evaluate("window.postMessage({type: 'peepopay:hello'}, location.origin)")
        widget.frame.click("button[name=service]")
        widget.wait_for_step("Choose a day")
        assert widget.heights[-1] != fitted  # the new step's height reached the host page

        # Keyboard: from the host's link before the frame into the widget's first stop, and
        # from the widget's last stop out to the host's link after it.
        page.focus("#call")
        page.keyboard.press("Tab")
        inside = widget.frame.evaluate(
            "document.hasFocus() && document.activeElement !== document.body"
            " && !!document.activeElement.closest('#widget')"
        )
        assert inside, "Tab from the host page did not reach the widget"
        widget.frame.evaluate(
            """() => {
              const all = [...document.querySelectorAll('a[href], button, input, select, textarea')]
                .filter(e => !e.disabled && e.getClientRects().length);
              all[all.length - 1].focus();
            }"""
        )
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "top"
        page.keyboard.press("Shift+Tab")
        assert widget.frame.evaluate("document.hasFocus()")

        # Third-party cookies are blocked here, and the widget never set any.
        probe = widget.frame.evaluate(
            "document.cookie = 'probe=1; SameSite=None; Secure'; document.cookie"
        )
        assert probe == ""
        assert context.cookies(app_server.url) == []
    finally:
        context.close()


@pytest.mark.parametrize("order", ["loader first", "loader last"])
def test_the_loader_adopts_a_frame_that_loads_before_or_after_it(
    app, app_server, browser_context, stripe_live, order
):
    """The loader asks an adopted frame for its size: one that loaded before the loader ran
    answers at once; one still loading answers when its page has loaded."""
    from peepopay.widget.demo_host import DemoHost, embed_code

    payments_tradie(app, stripe_live)
    code = embed_code(app_server.url, "kiwi", "iframe", "Kiwi")
    frame = code.split("\n")[1]
    assert frame.startswith("<iframe ")
    page_html = '<!doctype html><title>Host</title><link rel="icon" href="data:,"><p>Book</p>'
    if order == "loader last":
        page_html += frame  # the frame is in the page and loads before the loader is added
    host = DemoHost(app_server.url, page=page_html.encode()).start()
    try:
        page = browser_context.new_page()
        page.goto(f"http://localhost:{host.port}/", wait_until="load")
        page.add_script_tag(url=f"{app_server.url}/embed.js")
        page.wait_for_function("!!window.PeepoPay")
        if order == "loader first":
            # The frame is added and adopted at once: still on the host's own blank page.
            page.evaluate(
                """html => {
                  document.body.insertAdjacentHTML('beforeend', html);
                  window.PeepoPay.scan();
                }""",
                frame,
            )
        assert page.evaluate("window.PeepoPay.frames.length") == 1
        widget = Widget(page)
        widget.wait_for_step("Choose a service")
        assert widget.heights[-1] != 640
    finally:
        host.stop()


def test_widget_works_without_javascript_and_unframed(app, app_server, browser, stripe_live):
    """Opened directly (not framed) with JavaScript off: every step is a plain form."""
    payments_tradie(app, stripe_live)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{app_server.url}/book/kiwi")
        page.click("button[name=service]")
        assert page.inner_text("#step-title") == "Choose a day"
        page.click("text=Next available")
        assert page.inner_text("#step-title") == "Choose a time"
        page.click("button[name=start] >> nth=0")
        assert page.inner_text("#step-title") == "Your details"
        page.fill("#name", "Aroha Smith")
        page.fill("#email", "aroha@example.com")
        page.fill("#phone", "021 123 4567")
        page.fill("#address", "1 Queen Street, Auckland")
        page.click("text=Review booking")
        assert page.inner_text("#step-title") == "Review your booking"
        assert "/summary" in page.url and "aroha" not in page.url  # details never in the URL
        page.click("text=Continue to payment")
        assert page.inner_text("#step-title") == "Pay your deposit"
        # Nothing on the way set a cookie (not even a favicon request's error page).
        assert context.cookies(app_server.url) == []
    finally:
        context.close()


def test_next_available_is_asked_for_ahead_and_the_click_swaps_that_answer(
    app, app_server, host_page, browser_context, stripe_live
):
    """The day step asks for the suggested day's times as it shows (the very GET the click
    sends); the click swaps that answer in without a second request, focus on the heading.
    A day picked on the calendar still asks the server; an answer ahead that failed is not
    used, and the click asks again."""
    payments_tradie(app, stripe_live)
    page = browser_context.new_page()
    times: list[str] = []
    page.on("request", lambda r: times.append(r.url) if "/book/kiwi/time?" in r.url else None)
    failed: list[str] = []

    def fail_first(route: Any) -> None:
        if not failed:
            failed.append(route.request.url)
            # Not a 200 (an error status would do the same, but log to the console, which
            # these tests forbid).
            route.fulfill(status=204)
        else:
            route.continue_()

    page.goto(host_page("kiwi"))
    widget = Widget(page)
    widget.wait_for_step("Choose a service")
    widget.frame.click("button[name=service]")
    widget.wait_for_step("Choose a day")
    suggested = widget.frame.get_attribute("form.pp-suggest button", "value")
    deadline = time.monotonic() + 10
    while len(times) < 1:
        assert time.monotonic() < deadline, "the suggested day's times were never asked for"
        page.wait_for_timeout(50)
    assert f"date={suggested}" in times[0]
    page.wait_for_timeout(300)  # the answer is in
    widget.frame.click("text=Next available")
    widget.wait_for_step("Choose a time")
    widget.expect_heading_focused()
    assert len(times) == 1, times  # no second request: the answer asked for ahead was swapped
    assert widget.frame.locator("button[name=start]").count() > 0
    assert widget.frame.evaluate("document.querySelector('[aria-busy]') === null")

    # Back on the day step another day is picked: that one goes to the server.
    widget.frame.click("text=Change day")
    widget.wait_for_step("Choose a day")
    other = widget.frame.locator(".pp-cal button:not(.pp-first)").first
    day = other.get_attribute("value")
    before = len(times)
    other.click()
    widget.wait_for_step("Choose a time")
    widget.expect_heading_focused()
    assert any(f"date={day}" in url for url in times[before:]), times

    # The answer asked for ahead is not a 200: the click asks the server itself.
    page.route("**/book/kiwi/time?**", fail_first)
    widget.frame.click("text=Change day")
    widget.wait_for_step("Choose a day")
    deadline = time.monotonic() + 10
    while not failed:
        assert time.monotonic() < deadline, "the suggested day's times were never asked for"
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)
    before = len(times)
    widget.frame.click("text=Next available")
    widget.wait_for_step("Choose a time")
    widget.expect_heading_focused()
    assert len(times) == before + 1, times[before:]
