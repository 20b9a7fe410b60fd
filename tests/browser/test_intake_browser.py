"""Job intake in a real Chromium with third-party cookies blocked, inside the cross-origin
embed: a customer gives an in-area postcode, answers two questions, books an arrival window
and attaches two photos; the tradie then sees the photos and the answers on the booking page.
Screenshots at 375 and 1280 px."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from PIL import Image

from peepopay.extensions import db
from peepopay.models import Booking, BookingPhoto, QuestionKind, ServiceQuestion, Tradie
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_widget_browser import Widget
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)
from tests.test_arrival_windows import by_window

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def intake_tradie(app: Any, stripe_live: Any) -> int:
    """Kiwi Plumbing serving 1010-1072, its service booked by window with two questions."""
    tradie_id = payments_tradie(app, stripe_live)
    service = by_window(app, tradie_id, jobs=2)
    with app.app_context():
        db.session.get(Tradie, tradie_id).service_area = "1010-1072"
        db.session.add_all(
            [
                ServiceQuestion(
                    service_id=service,
                    label="Where is the leak?",
                    kind=QuestionKind.SHORT_TEXT,
                    required=True,
                    sort_order=1,
                ),
                ServiceQuestion(
                    service_id=service,
                    label="Is the water turned off?",
                    kind=QuestionKind.YES_NO,
                    required=True,
                    sort_order=2,
                ),
            ]
        )
        db.session.commit()
    return tradie_id


def photo_files(folder: Path) -> list[str]:
    paths = []
    for name, colour in (("kitchen.jpg", (180, 60, 40)), ("under-sink.png", (40, 90, 160))):
        image = Image.new("RGB", (1200, 900), colour)
        out = io.BytesIO()
        image.save(out, "JPEG" if name.endswith(".jpg") else "PNG")
        path = folder / name
        path.write_bytes(out.getvalue())
        paths.append(str(path))
    return paths


def pick_a_later_day(widget: Widget, app: Any) -> None:
    """A day after today, whose three windows all lie ahead: "Next available" is today until its
    last window starts, and later in the day offers fewer windows."""
    with app.app_context():
        zone = db.session.scalars(sa.select(Tradie.timezone)).one()
    today = datetime.now(ZoneInfo(zone)).date().isoformat()
    days = widget.frame.locator(".pp-cal button[name=date]")
    later = [d for d in days.evaluate_all("bs => bs.map(b => b.value)") if d > today]
    if not later:  # today is the month's last day with times: the next month's first
        widget.frame.click("button[aria-label='Next month']")
        widget.wait_for_step("Choose a day")
        later = widget.frame.locator(".pp-cal button[name=date]").evaluate_all(
            "bs => bs.map(b => b.value)"
        )
    widget.frame.click(f".pp-cal button[value='{later[0]}']")


def no_sideways_scroll(widget: Widget) -> None:
    assert widget.frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert widget.page.evaluate("document.documentElement.scrollWidth <= innerWidth")


def test_customer_gives_intake_in_the_embed_and_the_tradie_sees_it(
    app, app_server, host_page, browser, stripe_live, tmp_path
):
    intake_tradie(app, stripe_live)
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto(host_page("kiwi"))
    widget = Widget(page)

    # The postcode first; an in-area one leads to the services.
    widget.wait_for_step("Where is the job?")
    widget.frame.fill("#postcode", "1024")
    widget.frame.click("text=Check my area")
    widget.wait_for_step("Choose a service")
    widget.frame.click("button[name=service]")
    widget.wait_for_step("Choose a day")
    pick_a_later_day(widget, app)
    widget.wait_for_step("Choose a time")
    windows = widget.frame.locator("button[name=start]").all_inner_texts()
    assert windows[:3] == ["8:00 – 10:00 am", "10:00 am – 12:00 pm", "1:00 – 3:00 pm"], windows
    widget.frame.click("button[name=start] >> nth=0")
    widget.wait_for_step("Your details")

    # The fixed fields and the service's two questions.
    widget.frame.fill("#name", "Aroha Smith")
    widget.frame.fill("#email", "aroha@example.com")
    widget.frame.fill("#phone", "021 123 4567")
    widget.frame.fill("#address", "1 Queen Street, Auckland")
    widget.frame.get_by_label("Where is the leak?").fill("Under the kitchen sink")
    widget.frame.get_by_role("group", name="Is the water turned off?").get_by_label("Yes").check()
    no_sideways_scroll(widget)
    widget.screenshot("widget-intake-375-details.png")
    widget.frame.click("text=Review booking")
    widget.wait_for_step("Review your booking")
    summary = widget.frame.inner_text("#step")
    assert "arriving between 8:00 and 10:00 am" in summary
    assert "Under the kitchen sink" in summary and "1024" in summary

    widget.frame.click("text=Continue to payment")
    widget.frame.wait_for_selector("#step-title >> text=Pay your deposit")
    widget = Widget(page)  # the payment step is a whole page (it has its own CSP)
    widget.fit()
    widget.frame.set_input_files("#photo-input", photo_files(tmp_path))
    widget.frame.click("text=Upload photos")
    widget.frame.wait_for_selector("text=2 of 5 photos added", timeout=15_000)
    thumbs = widget.frame.locator(".pp-thumbs img")
    assert thumbs.count() == 2
    # The thumbnails load lazily: they are brought into view, as a person would see them,
    # and must then decode (a broken image is complete with no width, and times out here).
    thumbs.nth(1).scroll_into_view_if_needed()
    widget.frame.wait_for_function(
        "[...document.querySelectorAll('.pp-thumbs img')]"
        ".every(img => img.complete && img.naturalWidth > 0)",
        timeout=10_000,
    )
    no_sideways_scroll(widget)
    widget.screenshot("widget-intake-375-photos.png")
    page.set_viewport_size({"width": 1280, "height": 900})
    widget.screenshot("widget-intake-1280-photos.png")

    # Third-party cookies are blocked and the widget set none, uploads included.
    assert (
        widget.frame.evaluate("document.cookie = 'probe=1; SameSite=None; Secure'; document.cookie")
        == ""
    )
    assert context.cookies(app_server.url) == []
    assert problems == []
    context.close()

    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking.postcode == "1024"
        assert booking.window_starts_at is not None
        assert db.session.scalar(sa.select(sa.func.count(BookingPhoto.id))) == 2
        booking_id = booking.id

    # The tradie, signed in on their own browser, sees the photos and the answers.
    for width in (1280, 375):
        tradie_context = browser.new_context(viewport={"width": width, "height": 900})
        dash = tradie_context.new_page()
        dash.goto(f"{app_server.url}/auth/login")
        dash.locator("#email").fill("tradie@example.com")
        dash.locator("#password").fill("correct horse battery")
        dash.locator("button[type=submit]").click()
        dash.wait_for_url("**/dashboard**")
        dash.goto(f"{app_server.url}/dashboard/bookings/{booking_id}")
        text = dash.inner_text("main")
        assert "arriving between 8:00 and 10:00 am" in text
        assert "Where is the leak?" in text and "Under the kitchen sink" in text
        assert "Is the water turned off?" in text and "1024" in text
        images = dash.locator(".photo-grid img")
        assert images.count() == 2
        for i in range(2):
            images.nth(i).scroll_into_view_if_needed()
        dash.wait_for_function(
            "[...document.querySelectorAll('.photo-grid img')]"
            ".every(img => img.complete && img.naturalWidth > 0)",
            timeout=10_000,
        )
        assert dash.evaluate("document.documentElement.scrollWidth <= innerWidth")
        dash.screenshot(
            path=str(SCREENSHOTS / f"dashboard-booking-intake-{width}.png"), full_page=True
        )
        tradie_context.close()
