"""What a new tradie walking through the dashboard reads: money as money, every field's error
at once, statuses and times in words, live bookings only where upcoming work is listed."""

from __future__ import annotations

import html as htmllib
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from peepopay.extensions import db
from peepopay.formatting import clock_time, local_time
from tests.fixtures.clients import DashboardClient, csrf_token


def test_an_over_refund_names_what_is_left_in_money(
    app: Flask,
    dash: DashboardClient,
    add_booking: Callable[..., int],
    add_payment: Callable[..., int],
) -> None:
    booking_id = add_booking()
    add_payment(booking_id)  # a 50.00 deposit, nothing refunded yet
    over = dash.post(
        f"/dashboard/bookings/{booking_id}/refund",
        {"refund_amount": "60.00", "refund_reason": "Too much"},
    )
    assert over.status_code == 422
    page = over.get_data(as_text=True)
    assert "more than can be refunded" in page
    assert "$50.00" in page and "5000" not in page and "minor units" not in page


def test_sign_up_names_every_field_at_fault_at_once(client: FlaskClient) -> None:
    data = {
        "email": "not-an-email",
        "password": "short1",  # too short: once said only after the email was put right
        "business_name": "   ",  # blank once stripped
        "csrf_token": csrf_token(client, "/auth/signup"),
    }
    response = client.post("/auth/signup", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field, message in (
        ("email", "Email must be a valid address"),
        ("password", "Password must be at least 10 characters."),
        ("business_name", "Business name is required."),
    ):
        block = re.search(rf'<div class="field has-error" id="field-{field}">.*?</div>', html, re.S)
        assert block, f"no error shown on the {field} field"
        assert message in block.group(0)


def _badges(page: str) -> list[str]:
    return [text.strip() for text in re.findall(r'<span class="badge[^"]*">([^<]*)</span>', page)]


def test_statuses_read_as_words_on_every_page(
    app: Flask,
    dash: DashboardClient,
    dash_now: datetime,
    add_booking: Callable[..., int],
    add_payment: Callable[..., int],
) -> None:
    booking_id = add_booking()  # confirmed, tomorrow morning in Auckland
    add_payment(booking_id, created_at=dash_now)  # the 50.00 deposit
    add_payment(
        booking_id, kind="refund", amount_minor=1000, application_fee_minor=25, created_at=dash_now
    )
    pages = {
        url: dash.get(url).get_data(as_text=True)
        for url in (
            "/dashboard",
            "/dashboard/payments",
            "/dashboard/bookings",
            f"/dashboard/bookings/{booking_id}",
            f"/dashboard/bookings/{booking_id}/payments",
        )
    }
    for url, page in pages.items():
        badges = _badges(page)
        assert badges, url
        for raw in ("succeeded", "confirmed", "pending payment", "awaiting payment", "canceled"):
            assert raw not in badges, f"{url} shows {raw!r}: {badges}"
        assert all(badge[:1].isupper() for badge in badges), f"{url}: {badges}"
    assert "Confirmed" in _badges(pages["/dashboard"])
    assert {"Paid", "Refunded"} <= set(_badges(pages["/dashboard/payments"]))
    assert {"Confirmed", "Paid", "Refunded"} <= set(
        _badges(pages[f"/dashboard/bookings/{booking_id}/payments"])
    )


def test_times_of_day_read_one_way_everywhere(
    app: Flask, dash: DashboardClient, tradie_id: int
) -> None:
    # The hours list says "8:00 am – 5:00 pm"; the error about overlapping them said "08:00–17:00".
    response = dash.post(
        "/dashboard/availability/hours", {"weekday": "0", "start": "16:00", "end": "18:00"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "overlap Monday 8:00 am – 5:00 pm" in page and "08:00" not in page
    # One helper writes every time of day: a formatted instant agrees with it, lower case.
    instant = datetime(2030, 1, 8, 1, 30, tzinfo=UTC)  # 2:30 pm in Auckland (NZDT)
    assert clock_time(instant.astimezone(ZoneInfo("Pacific/Auckland"))) == "2:30 pm"
    assert local_time(instant, "Pacific/Auckland", "%-I:%M %p") == "2:30 pm"
    assert local_time(instant, "Pacific/Auckland") == "Tue 8 Jan 2030, 2:30 pm"


def test_upcoming_lists_live_bookings_and_totals_count_real_ones(
    app: Flask, dash: DashboardClient, dash_now: datetime, add_booking: Callable[..., int]
) -> None:
    same = {"customer_email": "sam@example.com", "customer_phone": "+64210000099"}
    minutes = timedelta(minutes=10)
    confirmed = add_booking(**same)
    live_hold = add_booking(**same, status="pending_payment", hold_expires_at=dash_now + minutes)
    dead = [
        add_booking(**same, status="pending_payment", hold_expires_at=dash_now - minutes),
        add_booking(**same, status="expired", hold_expires_at=dash_now - minutes),
        add_booking(**same, status="cancelled"),
        add_booking(**same, status="payment_failed"),
    ]
    done = add_booking(**same, status="completed", starts_at=dash_now - timedelta(days=3))

    page = dash.get("/dashboard/bookings").get_data(as_text=True)
    listed = {int(n) for n in re.findall(r'href="/dashboard/bookings/(\d+)"', page)}
    assert listed == {confirmed, live_hold}, listed
    assert "2 bookings" in page
    assert not set(dead) & listed and done not in listed

    customers = dash.get("/dashboard/customers").get_data(as_text=True)
    assert re.search(r'data-label="Bookings">3\b', customers), customers  # not 7
    customer_id = re.search(r'href="/dashboard/customers/(\d+)"', customers)
    assert customer_id
    detail = dash.get(f"/dashboard/customers/{customer_id.group(1)}").get_data(as_text=True)
    assert "<dt>Bookings</dt><dd>3</dd>" in detail


def test_an_erased_customers_booking_reads_as_erased(
    app: Flask,
    dash: DashboardClient,
    dash_now: datetime,
    add_booking: Callable[..., int],
    add_payment: Callable[..., int],
) -> None:
    booking_id = add_booking(status="completed", starts_at=dash_now - timedelta(days=3))
    add_payment(booking_id, created_at=dash_now - timedelta(days=4))
    customers = dash.get("/dashboard/customers").get_data(as_text=True)
    customer_id = re.search(r'href="/dashboard/customers/(\d+)"', customers)
    assert customer_id
    erase = f"/dashboard/customers/{customer_id.group(1)}/erase"
    assert dash.post(erase, {"confirm": "y"}).status_code == 303

    page = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert "Erased customer" in page
    assert "google.com/maps" not in page  # no address to find
    assert "Edit details" not in page and f"/dashboard/bookings/{booking_id}/edit" not in page
    assert 'href="mailto:"' not in page and 'href="tel:"' not in page
    assert dash.get(f"/dashboard/bookings/{booking_id}/edit").status_code == 404
    receipt = dash.get(f"/dashboard/bookings/{booking_id}/receipt").get_data(as_text=True)
    assert "Erased customer" in receipt
    pdf = dash.get(f"/dashboard/bookings/{booking_id}/receipt.pdf")
    assert pdf.status_code == 200
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Erased customer" in text and "<>" not in text


def test_a_job_completed_before_its_start_counts_in_the_no_show_rate(
    dash: DashboardClient, dash_now: datetime, add_booking: Callable[..., int]
) -> None:
    for days, status in [(3, "completed"), (8, "no_show")]:
        add_booking(starts_at=dash_now - timedelta(days=days), status=status)
    # Marked completed before it was due, in a week after this one: still a job done.
    add_booking(
        starts_at=dash_now + timedelta(days=20),
        status="completed",
        completed_at=dash_now - timedelta(days=1),
    )
    add_booking(starts_at=dash_now + timedelta(days=20), status="confirmed")  # not done yet
    html = dash.get("/dashboard/analytics").get_data(as_text=True)
    assert "1 no-show of 3 finished jobs" in html and "33.3%" in html


def test_recovery_codes_can_be_copied_and_downloaded_when_shown(
    dash: DashboardClient, frozen_clock: Any
) -> None:
    page = dash.get("/dashboard/settings/two-factor").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(frozen_clock.now)
    shown = dash.post("/dashboard/settings/two-factor/enable", {"code": code}, htmx=True)
    html = shown.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", html)
    assert len(codes) == 10
    # Copy: the page's copy script takes the list's text.
    assert re.search(r'<button[^>]*data-copy="recovery-codes"[^>]*>Copy', html)
    assert 'id="recovery-codes"' in html
    # Download: a file built in the page from the codes just shown; no address serves them.
    link = re.search(r'<a[^>]*href="(data:text/plain[^"]*)"[^>]*download="([^"]+)"', html)
    assert link, html
    assert link.group(2).endswith(".txt")
    text = unquote(htmllib.unescape(link.group(1)).split(",", 1)[1])
    assert [line for line in text.splitlines() if re.fullmatch(r"[a-z0-9-]{11}", line)] == codes
    again = dash.get("/dashboard/settings/two-factor").get_data(as_text=True)
    assert codes[0] not in again and "data:text/plain" not in again


def test_the_brand_colour_has_a_picker_beside_its_hex_field(
    app: Flask, dash: DashboardClient, tradie_id: int
) -> None:
    with app.app_context():
        from peepopay.models import Tradie

        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None
        tradie.brand_color = "#0b3d2e"
        db.session.commit()
    for htmx in (False, True):
        html = dash.get("/dashboard/settings", htmx=htmx).get_data(as_text=True)
        picker = re.search(r'<input[^>]*type="color"[^>]*>', html)
        assert picker, html
        # It shows the colour now, feeds the hex field (which the form sends) and is labelled.
        assert 'value="#0b3d2e"' in picker.group(0)
        assert 'data-colour-for="brand_color"' in picker.group(0)
        assert 'aria-label="Pick the brand colour"' in picker.group(0)
        assert "name=" not in picker.group(0)
        assert re.search(r'<input[^>]*name="brand_color"[^>]*value="#0b3d2e"', html)
