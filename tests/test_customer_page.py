"""The customer's booking page: details, payments, cancel with the refund shown first,
reschedule under the same slot rules and overlap guarantee, .ics; never a cookie."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import sqlalchemy as sa
import stripe

from peepopay.bookings import customer_changes as customer
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, Payment, Tradie
from tests.fixtures.factories import make_tradie
from tests.fixtures.stripe import emulator_config
from tests.notify_support import deliver_outbox, make_booking

AKL = ZoneInfo("Pacific/Auckland")


def local(days: int, hour: int) -> datetime:
    day = (utcnow().astimezone(AKL) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour), AKL).astimezone(UTC)


def assert_no_cookie(response: Any) -> None:
    assert "Set-Cookie" not in response.headers, response.headers.get("Set-Cookie")


def token_of(app, booking_id: int) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).public_token


def booking(app, booking_id: int) -> Booking:
    with app.app_context():
        row = db.session.get(Booking, booking_id)
        db.session.expunge(row)
        return row


# ------------------------------------------------------------------ page, ics, 404, no cookies


def test_page_shows_the_booking_and_its_payments(app, client, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    url = f"/b/{token_of(app, booking_id)}"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Leak repair" in html and "12 Queen Street, Auckland 1010" in html
    assert "Kiwi Plumbing" in html
    assert "$50.00" in html and "Deposit" in html and "$150.00" in html
    assert "10:00" in html and "Pacific/Auckland" in html
    assert "<!doctype html>" in html
    assert_no_cookie(page)
    # Frameable on any site, like the widget; private.
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"

    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<!doctype html>" not in fragment.get_data(as_text=True)
    assert "12 Queen Street" in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    assert_no_cookie(fragment)


def test_page_shows_how_to_reach_the_tradie_the_logo_and_a_per_tradie_reference(
    app, client, tradie_id
):
    from peepopay.notifications import links

    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.phone, tradie.contact_email = "+64215550456", "office@kiwi.nz"
        tradie.logo_path = "a" * 64 + ".png"
        db.session.commit()
    other = make_tradie(app, slug="other", email="other@example.com")
    make_booking(app, other, starts_at=local(5, 10))  # another tradie's booking takes an id
    make_booking(app, tradie_id, starts_at=local(5, 10))
    second = make_booking(app, tradie_id, starts_at=local(6, 10))
    with app.test_request_context():
        reference = db.session.get(Booking, second).reference
        logo = links.logo_src(db.session.get(Tradie, tradie_id))
    assert (reference, second) == (2, 3)  # numbered per tradie, not the global id
    html = client.get(f"/b/{token_of(app, second)}").get_data(as_text=True)
    assert "Contact Kiwi Plumbing" in html
    assert '<a href="tel:+64215550456">021 555 0456</a>' in html
    assert '<a href="mailto:office@kiwi.nz">office@kiwi.nz</a>' in html
    assert "#2" in html and f"#{second}<" not in html
    # The logo comes from this origin (the page's CSP takes images from 'self' only).
    assert logo == f"/dashboard/logo/{'a' * 64}.png" and f'<img src="{logo}"' in html


def test_framed_only_where_the_tradies_widget_may_be(app, client, tradie_id):
    with app.app_context():
        db.session.get(Tradie, tradie_id).allowed_origins = "https://kiwiplumbing.example\n"
        db.session.commit()
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    page = client.get(f"/b/{token_of(app, booking_id)}")
    assert (
        "frame-ancestors 'self' https://kiwiplumbing.example"
        in page.headers["Content-Security-Policy"]
    )


def test_no_cookie_even_for_a_browser_signed_in_to_the_dashboard(app, signed_in, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    token = token_of(app, booking_id)
    for url in (f"/b/{token}", f"/b/{token}/cancel", f"/b/{token}/reschedule", "/b/nope"):
        response = signed_in.get(url)
        assert response.status_code in (200, 404)
        assert_no_cookie(response)
    # The dashboard session itself still works afterwards.
    assert signed_in.get("/dashboard").status_code == 200


def test_unknown_tokens_and_other_bookings_tokens_get_404(app, client, tradie_id):
    mine = make_booking(app, tradie_id, starts_at=local(5, 10))
    other = make_booking(app, tradie_id, starts_at=local(6, 10), email="other@example.com")
    other_token = token_of(app, other)
    for url in ("/b/not-a-real-token", "/b/x/cancel", "/b/x/booking.ics", "/b/x/reschedule"):
        response = client.get(url)
        assert response.status_code == 404
        assert_no_cookie(response)
    for url in ("/b/x/cancel", "/b/x/reschedule"):
        assert client.post(url, data={"start": local(7, 10).isoformat()}).status_code == 404
    # Another booking's token shows that booking only, never this one.
    page = client.get(f"/b/{other_token}").get_data(as_text=True)
    assert f"#{other}" in page and f"#{mine}<" not in page
    assert booking(app, mine).status == "confirmed"


def test_ics_download_has_a_stable_uid_and_the_tradies_zone(app, client, tradie_id):
    starts_at = local(5, 10)
    booking_id = make_booking(app, tradie_id, starts_at=starts_at)
    response = client.get(f"/b/{token_of(app, booking_id)}/booking.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    assert_no_cookie(response)
    cal = icalendar.Calendar.from_ical(response.data)
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == f"booking-{booking_id}@peepopay"
    assert event.decoded("DTSTART") == starts_at
    assert event["DTSTART"].params["TZID"] == "Pacific/Auckland"
    assert int(event["SEQUENCE"]) == 0
    assert cal.walk("VTIMEZONE")


# ------------------------------------------------------------------ cancel: the refund policy


@pytest.mark.parametrize(
    ("before_start", "refund"),
    [
        (timedelta(hours=48), 5000),  # exactly at the window's edge: still a full refund
        (timedelta(hours=48) - timedelta(seconds=1), 0),  # a second inside: nothing back
        (timedelta(days=4), 5000),
        (timedelta(hours=2), 0),
    ],
)
def test_the_quote_on_each_side_of_the_cancellation_window(app, tradie_id, before_start, refund):
    starts_at = local(5, 10)
    booking_id = make_booking(app, tradie_id, starts_at=starts_at)
    with app.app_context():
        row = db.session.get(Booking, booking_id)
        tradie = db.session.get(Tradie, tradie_id)
        quote = customer.cancel_quote(db.session, row, tradie, starts_at - before_start)
    assert (quote.paid_minor, quote.refund_minor, quote.window_hours) == (5000, refund, 48)
    assert quote.window_ends_at == starts_at - timedelta(hours=48)


@pytest.fixture
def app_config(app_config, stripe_emulator):
    app_config.update(emulator_config(stripe_emulator))
    return app_config


@pytest.fixture
def paid_booking(app, tradie_id, stripe_live):
    """Factory: a booking whose deposit was really paid on the tradie's connected account."""
    sdk = stripe_live.client("sk_test_peepopay_tests", http_client=stripe.RequestsClient())
    account = sdk.v1.accounts.create(
        {"controller": {"stripe_dashboard": {"type": "full"}}, "country": "NZ"}
    )
    stripe_live.control(f"accounts/{account.id}/onboard")
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.stripe_account_id = account.id
        tradie.charges_enabled = True
        db.session.commit()

    def make(starts_at: datetime) -> tuple[int, str]:
        intent = sdk.v1.payment_intents.create(
            {
                "amount": 5000,
                "currency": "nzd",
                "application_fee_amount": 125,
                "payment_method": "pm_card_visa",
                "confirm": True,
                "return_url": "https://example.com/return",
            },
            options={"stripe_account": account.id},
        )
        assert intent.status == "succeeded"
        booking_id = make_booking(app, tradie_id, starts_at=starts_at, payment_intent=intent.id)
        return booking_id, intent.id

    def stripe_refunds(intent_id: str) -> list[int]:
        listed = sdk.v1.refunds.list(
            {"payment_intent": intent_id}, options={"stripe_account": account.id}
        )
        return [r.amount for r in listed.data]

    make.stripe_refunds = stripe_refunds  # type: ignore[attr-defined]
    yield make
    sdk._requestor._client.close()  # the RequestsClient's pooled connections


def refunds(app, booking_id):
    with app.app_context():
        return [
            (p.amount_minor, p.status, p.stripe_refund_id)
            for p in db.session.scalars(
                sa.select(Payment).where(Payment.booking_id == booking_id, Payment.kind == "refund")
            )
        ]


def test_cancelling_outside_the_window_refunds_the_deposit(app, client, smtp, paid_booking):
    booking_id, intent_id = paid_booking(local(5, 10))
    token = token_of(app, booking_id)

    confirm = client.get(f"/b/{token}/cancel")
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert re.search(r'id="refund-amount">\$50\.00<', html)
    assert 'name="expected_refund" value="5000"' in html
    assert booking(app, booking_id).status == "confirmed"  # showing the amount changes nothing
    assert_no_cookie(confirm)

    done = client.post(f"/b/{token}/cancel", data={"expected_refund": "5000"})
    assert done.status_code == 303
    assert done.headers["Location"] == f"/b/{token}?done=cancelled"
    assert_no_cookie(done)
    row = booking(app, booking_id)
    assert row.status == "cancelled" and row.cancelled_at is not None
    [(amount, status, refund_id)] = refunds(app, booking_id)
    assert amount == 5000 and status in ("succeeded", "pending") and refund_id.startswith("re_")
    assert paid_booking.stripe_refunds(intent_id) == [5000]  # Stripe holds the same refund

    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Your booking is cancelled" in page and "Cancel booking" not in page

    deliver_outbox(app)
    [mail] = smtp.to("cara@example.com")
    assert mail["Subject"].startswith("Booking cancelled")
    assert "Refund: $50.00" in mail.get_body(("plain",)).get_content()
    [tradie_mail] = smtp.to("tradie@example.com")
    assert tradie_mail["Subject"].startswith("Cancelled by the customer: Cara Customer")


def test_cancelling_inside_the_window_refunds_nothing(app, client, smtp, paid_booking):
    booking_id, intent_id = paid_booking(utcnow() + timedelta(hours=30))
    token = token_of(app, booking_id)
    html = client.get(f"/b/{token}/cancel").get_data(as_text=True)
    assert re.search(r'id="refund-amount">\$0\.00<', html)
    assert "within 48 hours" in html

    done = client.post(
        f"/b/{token}/cancel", data={"expected_refund": "0"}, headers={"HX-Request": "true"}
    )
    assert done.status_code == 200  # htmx: the page fragment, with the news
    assert "Your booking is cancelled" in done.get_data(as_text=True)
    assert done.headers["HX-Push-Url"] == f"/b/{token}?done=cancelled"
    assert_no_cookie(done)
    assert booking(app, booking_id).status == "cancelled"
    assert refunds(app, booking_id) == []
    assert paid_booking.stripe_refunds(intent_id) == []
    deliver_outbox(app)
    [mail] = smtp.to("cara@example.com")
    assert "No refund is due" in mail.get_body(("plain",)).get_content()


def test_a_changed_refund_is_shown_again_instead_of_applied(app, client, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=utcnow() + timedelta(hours=30))
    token = token_of(app, booking_id)
    # The page said $50.00 back, but the window has closed since: ask again.
    response = client.post(f"/b/{token}/cancel", data={"expected_refund": "5000"})
    assert response.status_code == 409
    assert "has changed" in response.get_data(as_text=True)
    assert booking(app, booking_id).status == "confirmed"
    assert_no_cookie(response)


def test_a_cancelled_or_past_booking_cannot_be_cancelled_again(app, client, tradie_id):
    gone = make_booking(app, tradie_id, starts_at=local(5, 10), status="cancelled")
    past = make_booking(app, tradie_id, starts_at=utcnow() - timedelta(hours=3))
    for booking_id in (gone, past):
        token = token_of(app, booking_id)
        assert "can no longer be cancelled" in client.get(f"/b/{token}/cancel").get_data(
            as_text=True
        )
        assert client.post(f"/b/{token}/cancel", data={}).status_code == 409
    assert booking(app, past).status == "confirmed"


# ------------------------------------------------------------------ reschedule


def test_reschedule_to_a_free_slot_without_paying_again(app, client, smtp, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    token = token_of(app, booking_id)
    target = local(6, 14)
    day = target.astimezone(AKL).date().isoformat()

    form = client.get(f"/b/{token}/reschedule", query_string={"date": day})
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert f'value="{target.isoformat()}"' in html
    assert f'value="{local(5, 10).isoformat()}"' not in html  # not its own current time
    fragment = client.get(
        f"/b/{token}/reschedule", query_string={"date": day}, headers={"HX-Request": "true"}
    )
    assert "<!doctype html>" not in fragment.get_data(as_text=True)
    assert f'value="{target.isoformat()}"' in fragment.get_data(as_text=True)

    done = client.post(f"/b/{token}/reschedule", data={"start": target.isoformat()})
    assert done.status_code == 303
    assert done.headers["Location"] == f"/b/{token}?done=rescheduled"
    assert_no_cookie(done)
    row = booking(app, booking_id)
    assert (row.starts_at, row.ends_at) == (target, target + timedelta(hours=1))
    assert row.status == "confirmed"
    with app.app_context():
        payments = db.session.scalars(sa.select(Payment).where(Payment.booking_id == booking_id))
        assert [(p.kind, p.amount_minor) for p in payments] == [("deposit", 5000)]

    ics = icalendar.Calendar.from_ical(client.get(f"/b/{token}/booking.ics").data)
    [event] = ics.walk("VEVENT")
    assert str(event["UID"]) == f"booking-{booking_id}@peepopay"
    assert int(event["SEQUENCE"]) == 1 and event.decoded("DTSTART") == target

    deliver_outbox(app)
    [mail] = smtp.to("cara@example.com")
    assert mail["Subject"].startswith("Booking moved to")
    assert "nothing more to pay" in mail.get_body(("plain",)).get_content().lower()


def test_reschedule_into_a_taken_slot_is_409(app, client, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    taken = local(6, 14)
    make_booking(app, tradie_id, starts_at=taken, email="first@example.com")
    token = token_of(app, booking_id)
    response = client.post(f"/b/{token}/reschedule", data={"start": taken.isoformat()})
    assert response.status_code == 409
    assert "just taken" in response.get_data(as_text=True)
    assert_no_cookie(response)
    assert booking(app, booking_id).starts_at == local(5, 10)


def test_the_database_settles_a_reschedule_race_with_409(app, client, tradie_id, monkeypatch):
    """A booking committed between our check and our update: the overlap guarantee answers."""
    from peepopay.scheduling import services as scheduling

    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    taken = local(6, 14)
    make_booking(app, tradie_id, starts_at=taken, email="racer@example.com")
    # The check does not see the racer (it committed after we looked).
    monkeypatch.setattr(scheduling, "busy_between", lambda *args, **kwargs: [])
    token = token_of(app, booking_id)
    response = client.post(f"/b/{token}/reschedule", data={"start": taken.isoformat()})
    assert response.status_code == 409
    assert booking(app, booking_id).starts_at == local(5, 10)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (lambda: local(6, 3).isoformat(), "Choose one of the times offered."),  # 03:00: closed
        (lambda: "tomorrow at ten", "Choose one of the times offered."),
        (lambda: "", "Choose a new time."),
    ],
)
def test_reschedule_to_a_time_not_offered_is_422(app, client, tradie_id, start, message):
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    token = token_of(app, booking_id)
    response = client.post(f"/b/{token}/reschedule", data={"start": start()})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert booking(app, booking_id).starts_at == local(5, 10)


# ------------------------------------------- a move never reopens a closed cancellation window


def test_moving_after_the_window_closed_does_not_restore_the_refund(app, client, paid_booking):
    """Booked for tomorrow (inside the 48-hour window), moved three weeks out, cancelled: the
    deposit stays kept, as the page said before the move, and no refund reaches Stripe."""
    booking_id, intent_id = paid_booking(utcnow() + timedelta(hours=30))
    token = token_of(app, booking_id)
    assert "not refunded" in client.get(f"/b/{token}").get_data(as_text=True)

    target = local(21, 10)
    form = client.get(
        f"/b/{token}/reschedule", query_string={"date": target.astimezone(AKL).date().isoformat()}
    ).get_data(as_text=True)
    assert "moving it does not restore it" in form  # said before the customer moves
    moved = client.post(f"/b/{token}/reschedule", data={"start": target.isoformat()})
    assert moved.status_code == 303
    assert booking(app, booking_id).starts_at == target

    page = client.get(f"/b/{token}").get_data(as_text=True)
    assert "moving the job does not change that" in page
    confirm = client.get(f"/b/{token}/cancel").get_data(as_text=True)
    assert re.search(r'id="refund-amount">\$0\.00<', confirm)
    done = client.post(f"/b/{token}/cancel", data={"expected_refund": "0"})
    assert done.status_code == 303
    assert booking(app, booking_id).status == "cancelled"
    assert refunds(app, booking_id) == []
    assert paid_booking.stripe_refunds(intent_id) == []


def test_a_move_while_the_window_is_open_keeps_it_open_for_the_new_time(app, client, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    token = token_of(app, booking_id)
    target = local(21, 10)
    assert (
        client.post(f"/b/{token}/reschedule", data={"start": target.isoformat()}).status_code == 303
    )
    with app.app_context():
        row = db.session.get(Booking, booking_id)
        quote = customer.cancel_quote(db.session, row, row_tradie(row), utcnow())
        assert quote.window_open and quote.refund_minor == quote.paid_minor == 5000
        assert quote.window_ends_at == target - timedelta(hours=48)


def test_a_tradie_move_after_the_window_closed_keeps_it_closed(app, tradie_id):
    """The same rule on the tradie's side: moving a booking does not reopen its window."""
    from peepopay.bookings import by_hand

    booking_id = make_booking(app, tradie_id, starts_at=utcnow() + timedelta(hours=30))
    target = local(21, 10).astimezone(AKL)
    with app.test_request_context():
        row = db.session.get(Booking, booking_id)
        tradie = row_tradie(row)
        by_hand.move_by_hand(
            db.session,
            tradie,
            row,
            target.strftime("%Y-%m-%dT%H:%M"),
            utcnow(),
            was=row.starts_at.isoformat(),
            confirmed=True,
        )
        db.session.commit()
        quote = customer.cancel_quote(db.session, row, tradie, utcnow())
        assert row.starts_at == target
        assert not quote.window_open and quote.refund_minor == 0


def row_tradie(row: Booking) -> Tradie:
    return db.session.get(Tradie, row.tradie_id)
