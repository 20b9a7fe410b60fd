"""Booking messages: real mail through the test SMTP server, SMS through Twilio's SDK to a local
recording endpoint, the tradie's choices, idempotency and failures reported to the tradie."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import sqlalchemy as sa

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, OutboxMessage, Payment, Tradie
from peepopay.notifications import messages, outbox, sms
from peepopay.payments.models import Dispute
from tests.notify_support import (
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    TwilioRecorder,
    deliver_outbox,
    make_booking,
    outbox_rows,
    twilio_config,
)

AKL = ZoneInfo("Pacific/Auckland")
CUSTOMER_NUMBER = "+64215550101"
TRADIE_NUMBER = "+64212345678"


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[TwilioRecorder]:
    recorder = TwilioRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def twilio(twilio_server: TwilioRecorder) -> TwilioRecorder:
    twilio_server.clear()
    return twilio_server


@pytest.fixture
def app_config(app_config, twilio):
    app_config.update(twilio_config(twilio))
    return app_config


def job_start(days: int = 5, hour: int = 10) -> datetime:
    """A local 10:00 some days ahead, as an aware UTC instant."""
    day = (utcnow().astimezone(AKL) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour), AKL).astimezone(UTC)


def with_booking(app, booking_id, fn, *args):
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        fn(db.session, booking, *args)
        db.session.commit()


@pytest.fixture
def booking_id(app, tradie_id):
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.phone = "021 234 5678"
        tradie.brand_color = "#0f766e"
        db.session.commit()
    return make_booking(app, tradie_id, starts_at=job_start())


def test_confirmation_reaches_customer_and_tradie_by_email_and_sms(
    app, smtp, twilio, tradie_id, booking_id
):
    now = utcnow()
    with_booking(app, booking_id, messages.booking_confirmed, now)

    assert sorted(deliver_outbox(app)) == ["sent"] * 4  # the reminders are not due yet

    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        token, starts_at = booking.public_token, booking.starts_at
    local = starts_at.astimezone(AKL)
    link = f"http://peepopay.test/b/{token}"

    [mail] = smtp.to("cara@example.com")
    assert mail["To"] == "cara@example.com"
    assert mail["Subject"] == f"Booking confirmed: Leak repair on {local:%a %-d %b}"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Kiwi Plumbing" in body
        assert "$50.00" in body  # deposit paid
        assert "$150.00" in body  # balance to come: 200.00 - 50.00
        assert "12 Queen Street, Auckland 1010" in body
        assert "48 hours" in body  # the cancellation policy
        assert link in body
        assert f"{local:%-I:%M}" in body and "Pacific/Auckland" in body
    assert "#0f766e" in html  # the tradie's brand colour

    attachment, receipt = list(mail.iter_attachments())
    # The receipt for the deposit goes along, as a PDF (see test_receipts.py for its text).
    assert receipt.get_filename().startswith("receipt")  # numbered when a payment flow paid it
    assert receipt.get_content_type() == "application/pdf"
    assert receipt.get_content().startswith(b"%PDF-")
    assert attachment.get_filename() == "booking.ics"
    assert attachment.get_content_type() == "text/calendar"
    # Declared UTF-8, so a mail client reads the description's dashes as dashes.
    assert attachment.get_content_charset() == "utf-8"
    assert attachment.get_param("method") == "PUBLISH"
    assert "–" in attachment.get_content() or "—" in attachment.get_content()
    cal = icalendar.Calendar.from_ical(attachment.get_content())
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == f"booking-{booking_id}@peepopay"
    assert event.decoded("DTSTART") == starts_at
    assert event.decoded("DTSTART").tzinfo.key == "Pacific/Auckland"
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=1)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Pacific/Auckland"]

    [alert] = smtp.to("tradie@example.com")
    assert alert["Subject"].startswith("New booking: Leak repair for Cara Customer")
    for body in (alert.get_body(("plain",)).get_content(), alert.get_body(("html",)).get_content()):
        assert "021 555 0101" in body and "Gate code 1234" in body
        assert link not in body  # the customer's page is not the tradie's

    [customer_sms] = twilio.to(CUSTOMER_NUMBER)
    assert customer_sms["path"] == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    expected_auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert customer_sms["authorization"] == f"Basic {expected_auth}"
    assert customer_sms["user_agent"].startswith("twilio-python/")
    assert customer_sms["form"]["From"] == TWILIO_FROM
    body = customer_sms["form"]["Body"]
    assert body.startswith("Kiwi Plumbing: booking confirmed for") and body.endswith(link)
    assert sms.fits(body)
    [tradie_sms] = twilio.to(TRADIE_NUMBER)
    assert tradie_sms["form"]["Body"].startswith("New booking: Leak repair")

    rows = outbox_rows(app, booking_id=booking_id)
    assert {r.idempotency_key for r in rows} == {
        f"booking:{booking_id}:confirmed:email",
        f"booking:{booking_id}:confirmed:sms",
        f"booking:{booking_id}:new_booking:email",
        f"booking:{booking_id}:new_booking:sms",
        f"booking:{booking_id}:reminder:email",
        f"booking:{booking_id}:reminder:sms",
    }
    assert all(r.tradie_id == tradie_id for r in rows)


def test_a_repeated_event_sends_nothing_twice(app, smtp, twilio, booking_id):
    now = utcnow()
    with_booking(app, booking_id, messages.booking_confirmed, now)
    with_booking(app, booking_id, messages.booking_confirmed, now + timedelta(seconds=5))
    assert len(outbox_rows(app)) == 6
    deliver_outbox(app)
    deliver_outbox(app)
    assert len(smtp.to("cara@example.com")) == 1
    assert len(twilio.to(CUSTOMER_NUMBER)) == 1


def test_the_tradies_choices_are_honoured(app, smtp, twilio, tradie_id, booking_id):
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.notify_new_booking_email = False
        tradie.notify_new_booking_sms = True
        tradie.phone = None  # SMS wanted but no number to send it to
        tradie.reminder_hours = 0  # no reminders
        db.session.commit()
    with_booking(app, booking_id, messages.booking_confirmed, utcnow())
    kinds = sorted((r.kind, r.channel) for r in outbox_rows(app))
    assert kinds == [("confirmed", "email"), ("confirmed", "sms")]


def test_no_sms_to_a_number_that_does_not_parse(app, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=job_start(), phone="12")
    with_booking(app, booking_id, messages.booking_confirmed, utcnow())
    assert [r.channel for r in outbox_rows(app, kind="confirmed")] == ["email"]


def test_every_message_renders_both_bodies_for_the_right_person(app, tradie_id, booking_id):
    now = utcnow()
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        payment = db.session.scalar(sa.select(Payment).where(Payment.booking_id == booking_id))
        messages.payment_failed(db.session, booking, payment, now)
        messages.refund_processed(db.session, booking, payment, now)
        messages.balance_payment_link(db.session, booking, "https://pay.example/cs_123", 15000, now)
        messages.balance_paid(db.session, booking, payment, now)
        dispute = Dispute(
            stripe_dispute_id="dp_1",
            amount_minor=5000,
            currency="NZD",
            status="needs_response",
            reason="fraudulent",
            evidence_due_at=now + timedelta(days=7),
        )
        messages.dispute_opened(db.session, booking, dispute, "https://stripe.example/dp_1", now)
        messages.late_deposit_refunded(db.session, booking, now)
        booking.status = "cancelled"
        messages.booking_cancelled(db.session, booking, "customer", 5000, now)
        token = booking.public_token
        db.session.commit()
    rows = {(r.kind, r.channel): r for r in outbox_rows(app)}
    customer = {
        ("payment_failed", "email"),
        ("refund_processed", "email"),
        ("balance_link", "email"),
        ("balance_link", "sms"),
        ("late_deposit_refunded", "email"),
        ("cancelled", "email"),
        ("balance_receipt", "email"),
    }
    tradie = {("balance_paid", "email"), ("dispute_opened", "email")}
    tradie |= {("cancelled_by_customer", "email")}
    assert set(rows) == customer | tradie
    for key, row in rows.items():
        assert row.booking_id == booking_id
        assert row.idempotency_key.startswith(f"booking:{booking_id}:{key[0]}:{key[1]}")
        if key[1] == "email":
            assert row.recipient == (
                "cara@example.com" if key in customer else "tradie@example.com"
            )
            assert row.payload["subject"] and row.payload["text"].strip()
            assert "<html" in row.payload["html"]
            # Every customer email links to their booking page; the tradie's to the dashboard.
            page = f"http://peepopay.test/b/{token}"
            dashboard = f"http://peepopay.test/dashboard/bookings/{booking_id}"
            for body in (row.payload["text"], row.payload["html"]):
                assert (page in body) == (key in customer), key
                assert (dashboard in body) == (key in tradie), key
        else:
            assert row.recipient == CUSTOMER_NUMBER and sms.fits(row.payload["body"])
    widget = "http://peepopay.test/book/kiwi-plumbing"
    assert widget in rows[("payment_failed", "email")].payload["text"]  # back to the widget
    assert widget in rows[("payment_failed", "email")].payload["html"]
    assert "https://pay.example/cs_123" in rows[("balance_link", "sms")].payload["body"]
    assert "$150.00" in rows[("balance_link", "email")].payload["html"]
    assert "$50.00" in rows[("cancelled", "email")].payload["text"]  # the refund
    cancel_mail = rows[("cancelled", "email")].payload
    [ics] = cancel_mail["attachments"]
    assert "METHOD:CANCEL" in ics["content"] and "STATUS:CANCELLED" in ics["content"]


def test_a_permanent_failure_is_recorded_and_told_to_the_tradie(
    app, smtp, twilio, tradie_id, booking_id
):
    twilio.fail_with = (
        400,
        {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400},
    )
    with_booking(app, booking_id, messages.booking_confirmed, utcnow())
    deliver_outbox(app)

    failed = {(r.kind, r.recipient): r for r in outbox_rows(app, status="failed")}
    assert set(failed) == {("confirmed", CUSTOMER_NUMBER), ("new_booking", TRADIE_NUMBER)}
    customer_sms = failed[("confirmed", CUSTOMER_NUMBER)]
    assert customer_sms.attempts == 1 and "21211" in customer_sms.last_error
    # One notice, about the customer's SMS; the tradie's own failed SMS is not reported to them.
    [notice] = outbox_rows(app, kind="delivery_failed")
    assert notice.booking_id == booking_id
    assert notice.idempotency_key == (
        f"booking:{booking_id}:delivery_failed:email:{customer_sms.id}"
    )
    twilio.clear()
    deliver_outbox(app)
    [mail] = smtp.to("tradie@example.com")[-1:]
    assert mail["Subject"] == f"Could not deliver an SMS to {CUSTOMER_NUMBER}"
    assert "21211" in mail.get_body(("plain",)).get_content()
    assert CUSTOMER_NUMBER in mail.get_body(("html",)).get_content()


def test_transient_failures_back_off_then_fail(app, twilio, tradie_id, booking_id):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    twilio.fail_with = (503, {"code": 20503, "message": "Service unavailable", "status": 503})
    with_booking(app, booking_id, messages.booking_confirmed, utcnow())
    with app.app_context():
        row_id = db.session.scalar(
            sa.select(OutboxMessage.id).where(OutboxMessage.idempotency_key.like("%confirmed:sms"))
        )
        now = utcnow()
        assert outbox.deliver(db.session, row_id, now=now) == "retry"
        row = db.session.get(OutboxMessage, row_id)
        assert row.status == "pending" and row.next_attempt_at == now + timedelta(seconds=30)
        assert outbox.deliver(db.session, row_id, now=row.next_attempt_at) == "failed"
    assert len(twilio.to(CUSTOMER_NUMBER)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short and sweet", "short and sweet"),
        ("x" * 306, "x" * 306),
    ],
)
def test_sms_within_two_segments_unchanged(text, expected):
    assert sms.fit(text) == expected


def test_long_gsm_sms_is_cut_at_a_word_keeping_the_link():
    link = "https://peepopay.test/b/" + "t" * 32
    text = " ".join(["word"] * 120) + "\n" + link
    fitted = sms.fit(text)
    assert sms.is_gsm(fitted) and sms.length(fitted) <= 306
    assert fitted.endswith("...\n" + link)
    assert fitted.startswith("word word")


def test_unicode_sms_counts_utf16_units_and_stays_within_134():
    text = "Kia ora 👋 " + "ā" * 200
    fitted = sms.fit(text)
    assert not sms.is_gsm(fitted)
    assert sms.length(fitted) <= 134 and fitted.endswith("…")
    assert sms.length("👋") == 2  # an emoji is two UTF-16 units


def test_typographic_quotes_are_swapped_to_stay_gsm():
    assert sms.fit("Don’t forget – it’s “today”") == "Don't forget - it's \"today\""


def test_extended_gsm_characters_take_two_septets():
    assert sms.length("€[]") == 6 and sms.is_gsm("€[]")


def test_production_with_twilio_needs_all_its_settings(monkeypatch):
    from peepopay.config import ConfigError, ProductionConfig

    for name, value in {
        "SECRET_KEY": "s",
        "DATABASE_URL": "postgresql+psycopg://db/x",
        "REDIS_URL": "redis://r:6379/0",
        "BASE_URL": "https://peepopay.example",
        "STRIPE_SECRET_KEY": "sk_live_x",
        "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_a",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_b",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("TWILIO_FROM_NUMBER", raising=False)
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    ProductionConfig.check()  # SMS off: fine
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_SID)
    with pytest.raises(ConfigError) as error:
        ProductionConfig.check()
    assert "TWILIO_AUTH_TOKEN" in str(error.value) and "TWILIO_FROM_NUMBER" in str(error.value)


def test_replies_reach_the_tradie_and_their_own_notices_go_to_their_login(
    app, smtp, twilio, tradie_id, booking_id
):
    """A customer's reply goes to the tradie's contact address; the tradie's own notices go
    to the address they sign in with, not to the public one."""
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.contact_email = "office@kiwiplumbing.example"
        db.session.commit()
    with_booking(app, booking_id, messages.booking_confirmed, utcnow())
    deliver_outbox(app)
    [mail] = smtp.to("cara@example.com")
    assert mail["Reply-To"] == "office@kiwiplumbing.example"
    [alert] = smtp.to("tradie@example.com")
    assert alert["Subject"].startswith("New booking")
    assert alert["Reply-To"] is None
    assert smtp.to("office@kiwiplumbing.example") == []


def test_the_tradie_hears_of_the_customers_moves_not_of_their_own(app, tradie_id, booking_id):
    from peepopay.bookings import lifecycle

    def move(by: str, days: int) -> None:
        with app.test_request_context():
            booking = db.session.get(Booking, booking_id)
            start = job_start(days=days)
            lifecycle.move(
                db.session, booking, start, start + timedelta(hours=1), utcnow(), actor=by
            )
            db.session.commit()

    move(f"tradie:{tradie_id}", 6)
    assert outbox_rows(app, kind="rescheduled_tradie") == []
    assert len(outbox_rows(app, kind="rescheduled")) == 2  # the customer's email and SMS
    move("customer", 7)
    assert len(outbox_rows(app, kind="rescheduled_tradie")) == 1
