"""Receipts and tax invoices: what was paid, when and how, refunds and the balance due, from the
payment records only; for a GST-registered NZ or AU tradie a valid tax invoice, as HTML and as
a PDF whose text the tests read back; invoice numbers per tradie with no gaps."""

from __future__ import annotations

import base64
import http.client
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from werkzeug.serving import WSGIRequestHandler, make_server

from peepopay.bookings.models import Status
from peepopay.config import TestingConfig
from peepopay.extensions import db
from peepopay.formatting import format_money
from peepopay.models import Booking, Invoice, OutboxMessage, Tradie
from peepopay.payments.models import PaymentKind, PaymentStatus
from peepopay.receipts.build import tax_included
from peepopay.receipts.pdf import day_text
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    Held,
    app_config,
    booking,
    connect,
    event_payload,
    hold,
    job_started,
    pay,
    payments,
    settle,
    signed,
    stripe_object,
)

NZ_GST = "123-456-789"
AU_ABN = "51 824 753 556"  # the ATO's example of a valid ABN


def set_tradie(app: Flask, tradie_id: int, **values: Any) -> None:
    with app.app_context():
        db.session.execute(sa.update(Tradie).where(Tradie.id == tradie_id).values(**values))
        db.session.commit()


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-"), "not a PDF"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def received(app: Flask, booking_id: int) -> int:
    """Money in minus refunds, from the payment records."""
    total = 0
    for payment in payments(app, booking_id):
        if payment.kind in (PaymentKind.DEPOSIT, PaymentKind.BALANCE):
            total += payment.amount_minor if payment.status == PaymentStatus.SUCCEEDED else 0
        elif payment.status in PaymentStatus.REFUND_HOLDING:
            total -= payment.amount_minor
    return total


def supply_day(app: Flask, booking_id: int, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return day_text(booking(app, booking_id).starts_at.astimezone(ZoneInfo(zone)).date())


def attachments(app: Flask, booking_id: int, kind: str) -> list[dict[str, str]]:
    with app.app_context():
        payload = db.session.scalar(
            sa.select(OutboxMessage.payload).where(
                OutboxMessage.booking_id == booking_id, OutboxMessage.kind == kind
            )
        )
        db.session.remove()
    assert payload is not None, f"no {kind} email"
    return list(payload["attachments"])


def attached_pdf(app: Flask, booking_id: int, kind: str) -> str:
    pdfs = [a for a in attachments(app, booking_id, kind) if a["content_type"] == "application/pdf"]
    assert len(pdfs) == 1, f"the {kind} email carries no receipt"
    return pdf_text(base64.b64decode(pdfs[0]["content_b64"]))


def line_with(text: str, start: str) -> str:
    found = [line for line in text.splitlines() if line.startswith(start)]
    assert found, f"no line starting {start!r} in:\n{text}"
    return found[0]


def test_nz_tax_invoice_after_deposit_and_balance(
    app: Flask, stripe_live: Any, dash: DashboardClient, client: FlaskClient, tradie_id: int
) -> None:
    set_tradie(app, tradie_id, tax_number=NZ_GST, tax_rate_bps=1500, prices_include_tax=True)
    connect(app, tradie_id, stripe_live)
    held = hold(app, tradie_id)
    pay(stripe_live, held)
    settle(stripe_live)
    job_started(app, held.booking_id)
    dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "230"})
    settle(stripe_live)
    row = booking(app, held.booking_id)
    assert row.status == Status.COMPLETED

    money = received(app, held.booking_id)
    assert money == 23000
    nzd = lambda minor: format_money(minor, "NZD")  # noqa: E731
    response = client.get(f"/b/{row.public_token}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert 'filename="tax-invoice-1.pdf"' in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    assert text.splitlines()[0] == "Tax invoice"
    assert "Kiwi Plumbing" in text
    assert f"GST number: {NZ_GST}" in text
    assert line_with(text, "Invoice number").endswith(" 1")
    assert "Date issued" in text
    assert line_with(text, "Date of supply").endswith(supply_day(app, row.id, "Pacific/Auckland"))
    assert line_with(text, "Total including GST").endswith(nzd(money))
    # 15 % GST inside a GST-inclusive price is 3/23 of it.
    assert money * 3 % 23 == 0
    assert line_with(text, "GST included (15 %)").endswith(nzd(money * 3 // 23))
    assert "Aroha Smith" in text and "1 Queen Street, Auckland" in text
    assert line_with(text, "Paid").endswith(nzd(money))
    assert line_with(text, "Balance due").endswith(nzd(0))
    deposit, balance = payments(app, held.booking_id)
    deposit_line = [line for line in text.splitlines() if "Deposit - Visa ending 4242" in line]
    balance_line = [line for line in text.splitlines() if "Balance - Visa ending 4242" in line]
    assert deposit_line and deposit_line[0].endswith(nzd(deposit.amount_minor))
    assert balance_line and balance_line[0].endswith(nzd(balance.amount_minor))

    # The same on the HTML page, the tradie's copy, and attached to the emails.
    page = client.get(f"/b/{row.public_token}/receipt").get_data(as_text=True)
    for words in ("Tax invoice", NZ_GST, "Date of supply", "Visa ending 4242", nzd(3000)):
        assert words in page
    own = dash.get(f"/dashboard/bookings/{row.id}/receipt.pdf")
    assert own.status_code == 200 and pdf_text(own.data) == text
    assert "Tax invoice" in dash.get(f"/dashboard/bookings/{row.id}").get_data(as_text=True)
    confirmed = attached_pdf(app, row.id, "confirmed")
    assert "Tax invoice" in confirmed and line_with(confirmed, "Paid").endswith(nzd(5000))
    assert line_with(confirmed, "Balance due").endswith(nzd(15000))  # of the $200 price
    for kind in ("balance_paid", "balance_receipt"):
        assert line_with(attached_pdf(app, row.id, kind), "Paid").endswith(nzd(money))


def test_au_tax_invoice_with_balance_due(
    app: Flask, stripe_live: Any, client: FlaskClient, tradie_id: int
) -> None:
    set_tradie(
        app,
        tradie_id,
        country="AU",
        currency="AUD",
        timezone="Australia/Sydney",
        tax_number=AU_ABN,
        tax_rate_bps=1000,
    )
    connect(app, tradie_id, stripe_live)
    held = hold(app, tradie_id, hour=12)
    pay(stripe_live, held, "5555 5555 5555 4444")
    settle(stripe_live)
    row = booking(app, held.booking_id)
    assert row.status == Status.CONFIRMED and row.currency == "AUD"
    aud = lambda minor: format_money(minor, "AUD")  # noqa: E731
    text = pdf_text(client.get(f"/b/{row.public_token}/receipt.pdf").data)
    assert text.splitlines()[0] == "Tax invoice"
    assert f"ABN: {AU_ABN}" in text
    assert line_with(text, "Invoice number").endswith(" 1")
    assert line_with(text, "Date of supply").endswith(supply_day(app, row.id, "Australia/Sydney"))
    price = 20000
    assert line_with(text, "Total including GST").endswith(aud(price))
    # 10 % GST inside the price is 1/11 of it, rounded to the cent: $18.18 of $200.
    assert tax_included(price, 1000) == 1818
    assert line_with(text, "GST included (10 %)").endswith(aud(1818))
    assert "Deposit - Mastercard ending 4444" in text
    assert line_with(text, "Paid").endswith(aud(received(app, row.id)))
    assert line_with(text, "Balance due").endswith(aud(price - received(app, row.id)))


def test_a_receipt_without_tax_registration_is_not_a_tax_invoice(
    app: Flask, stripe_live: Any, client: FlaskClient, tradie_id: int
) -> None:
    connect(app, tradie_id, stripe_live)
    held = hold(app, tradie_id)
    pay(stripe_live, held)
    settle(stripe_live)
    token = booking(app, held.booking_id).public_token
    text = pdf_text(client.get(f"/b/{token}/receipt.pdf").data)
    assert text.splitlines()[0] == "Receipt"
    assert "Tax invoice" not in text and "GST" not in text
    assert line_with(text, "Receipt number").endswith(" 1")
    page = client.get(f"/b/{token}").get_data(as_text=True)
    assert f"/b/{token}/receipt" in page


def test_receipts_are_private(
    app: Flask, client: FlaskClient, other_dash: DashboardClient, add_booking: Any
) -> None:
    booking_id = add_booking()
    assert client.get("/b/not-a-token/receipt").status_code == 404
    assert client.get("/b/not-a-token/receipt.pdf").status_code == 404
    assert other_dash.get(f"/dashboard/bookings/{booking_id}/receipt").status_code == 404
    assert other_dash.get(f"/dashboard/bookings/{booking_id}/receipt.pdf").status_code == 404


@pytest.mark.parametrize(
    ("country", "number", "saved"),
    [
        ("NZ", "123456789", NZ_GST),
        ("NZ", "12-345-678", "012-345-678"),
        ("AU", "51824753556", AU_ABN),
    ],
)
def test_tax_settings(
    app: Flask, dash: DashboardClient, tradie_id: int, country: str, number: str, saved: str
) -> None:
    set_tradie(app, tradie_id, country=country)
    response = dash.post(
        "/dashboard/settings/tax",
        {"tax_number": number, "tax_rate": "15", "prices_include_tax": "y"},
    )
    assert response.status_code == 303
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert (tradie.tax_number, tradie.tax_rate_bps, tradie.prices_include_tax) == (
            saved,
            1500,
            True,
        )


@pytest.mark.parametrize(
    ("country", "form", "message"),
    [
        ("AU", {"tax_number": "51824753557", "tax_rate": "10"}, "Enter your ABN"),
        ("NZ", {"tax_number": "12345", "tax_rate": "15"}, "Enter your GST number"),
        ("NZ", {"tax_number": "123456789", "tax_rate": ""}, "Enter the rate you charge"),
        ("NZ", {"tax_number": "123456789", "tax_rate": "45"}, "between 0 and 30%"),
    ],
)
def test_tax_settings_refused(
    app: Flask,
    dash: DashboardClient,
    tradie_id: int,
    country: str,
    form: dict[str, str],
    message: str,
) -> None:
    set_tradie(app, tradie_id, country=country)
    response = dash.post("/dashboard/settings/tax", form, htmx=True)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Tradie, tradie_id).tax_number is None


# ------------------------------------------------------------------- gapless under concurrency


class Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(app: Flask) -> Iterator[tuple[str, int]]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", httpd.port
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


CONCURRENT = 20


@pytest.mark.both_databases
def test_invoice_numbers_stay_gapless_under_concurrent_bookings(
    app: Flask, stripe_live: Any, server: tuple[str, int], tradie_id: int
) -> None:
    set_tradie(app, tradie_id, tax_number=NZ_GST, tax_rate_bps=1500)
    connect(app, tradie_id, stripe_live)
    # Stripe's webhooks are ours to send, all at the same moment.
    stripe_live.control("config", {"hold_events": True})
    sdk = stripe_live.client("sk_test_peepopay_tests")
    helds: list[Held] = [
        hold(app, tradie_id, days=2 + index // 4, hour=9 + 2 * (index % 4))
        for index in range(CONCURRENT)
    ]
    events = []
    for held in helds:
        sdk.v1.payment_intents.confirm(
            held.pi,
            {"payment_method": "pm_card_visa", "return_url": "https://example.com/return"},
            options={"stripe_account": held.account},
        )
        pi = stripe_object(stripe_live, held.pi)["object"]
        events.append(event_payload("payment_intent.succeeded", pi, held.account))

    barrier = threading.Barrier(CONCURRENT)
    statuses: list[int] = [0] * CONCURRENT

    def deliver(index: int, payload: str) -> None:
        conn = http.client.HTTPConnection(*server, timeout=120)
        try:
            conn.connect()
            secret = TestingConfig.STRIPE_CONNECT_WEBHOOK_SECRET
            barrier.wait()
            conn.request(
                "POST",
                "/webhooks/stripe/connect",
                payload,
                {"Content-Type": "application/json", "Stripe-Signature": signed(payload, secret)},
            )
            response = conn.getresponse()
            response.read()
            statuses[index] = response.status
        finally:
            conn.close()

    threads = [threading.Thread(target=deliver, args=(i, e)) for i, e in enumerate(events)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert statuses == [200] * CONCURRENT

    with app.app_context():
        numbers = sorted(
            db.session.scalars(sa.select(Invoice.number).where(Invoice.tradie_id == tradie_id))
        )
        confirmed = db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.tradie_id == tradie_id, Booking.status == Status.CONFIRMED
            )
        )
        db.session.remove()
    assert confirmed == CONCURRENT
    assert numbers == list(range(1, CONCURRENT + 1))
    stripe_live.control("config", {"hold_events": False})


def test_refunds_and_money_paid_another_way_on_the_receipt(
    app: Flask, stripe_live: Any, dash: DashboardClient, client: FlaskClient, tradie_id: int
) -> None:
    from tests.booking_helpers import at, local_day
    from tests.test_bookings_by_hand import NEW, form

    connect(app, tradie_id, stripe_live)
    held = hold(app, tradie_id)
    pay(stripe_live, held)
    settle(stripe_live)
    refunded = dash.post(
        f"/dashboard/bookings/{held.booking_id}/refund",
        {"refund_amount": "12.50", "refund_reason": "Finished early"},
    )
    assert refunded.status_code in (200, 303)
    settle(stripe_live)
    # The PDF's core fonts are Latin-1: its minus is the hyphen, where HTML has U+2212.
    nzd = lambda minor: format_money(minor, "NZD").replace("\u2212", "-")  # noqa: E731
    text = pdf_text(client.get(f"/b/{booking(app, held.booking_id).public_token}/receipt.pdf").data)
    assert line_with(text, "Paid").endswith(nzd(5000))
    assert line_with(text, "Refunded").endswith(nzd(-1250))
    refund_line = [line for line in text.splitlines() if "Refund - to the original" in line]
    assert refund_line and refund_line[0].endswith(nzd(-1250))
    assert received(app, held.booking_id) == 3750
    assert line_with(text, "Balance due").endswith(nzd(20000 - 3750))

    # A deposit taken in cash by a booking made by hand: a receipt, numbered next.
    made = dash.post(
        NEW, form(app, tradie_id, at(local_day(5), 10), deposit="offline", method="cash")
    )
    assert made.status_code == 303
    with app.app_context():
        cash = db.session.scalar(
            sa.select(Booking).where(Booking.id != held.booking_id, Booking.tradie_id == tradie_id)
        )
        token, cash_id = cash.public_token, cash.id
        db.session.remove()
    text = pdf_text(client.get(f"/b/{token}/receipt.pdf").data)
    assert "Deposit - Cash" in text and line_with(text, "Receipt number").endswith(" 2")
    assert line_with(text, "Paid").endswith(nzd(received(app, cash_id)))
