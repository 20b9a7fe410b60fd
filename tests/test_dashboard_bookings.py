"""Bookings: filtered, searchable, paginated list; CSV export; detail page; complete and cancel."""

from __future__ import annotations

import csv
import html as htmllib
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.formatting import spreadsheet_cell
from peepopay.models import AuditLog, Booking, OutboxMessage, Tradie

pytestmark = pytest.mark.usefixtures("fast_passwords", "dash_now")

NOW = datetime(2030, 1, 7, 20, 0, tzinfo=UTC)


def text_of(html):
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html)))


def listed(html):
    """Customer names in the list, in order."""
    return re.findall(r"<td>([^<]+)<br><span class=\"muted\">", html)


def status_of(app, booking_id):
    with app.app_context():
        return db.session.get(Booking, booking_id).status


def actions(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)).all()


@pytest.fixture
def mixed(add_booking):
    """Two upcoming, one past, one cancelled upcoming; names chosen for the search tests."""
    return {
        "soon": add_booking(customer_name="Aroha Ngata", customer_email="aroha@example.com"),
        "later": add_booking(customer_name="Ben Carter", customer_phone="+64211234567"),
        "past": add_booking(
            customer_name="Chloe Wong", starts_at=NOW - timedelta(days=3), status="completed"
        ),
        "cancelled": add_booking(customer_name="Dev Patel", status="cancelled"),
    }


@pytest.mark.parametrize("htmx", [False, True])
def test_list_shows_upcoming_first_in_the_tradies_zone(dash, mixed, htmx):
    response = dash.get("/dashboard/bookings", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    if htmx:
        assert html.lstrip().startswith('<section id="booking-list"')
    # Upcoming is work still to come: the cancelled booking is under All, not here.
    assert listed(html) == ["Aroha Ngata", "Ben Carter"]
    # 2030-01-08 20:00 UTC is 9 am on Wednesday in Auckland (NZDT).
    assert "Wed 9 Jan 2030, 9:00 am" in html
    assert "$50.00" in html
    assert "2 bookings" in html
    assert f'href="/dashboard/bookings/{mixed["soon"]}"' in html


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("when=past", ["Chloe Wong"]),
        ("when=all", ["Dev Patel", "Ben Carter", "Aroha Ngata", "Chloe Wong"]),
        ("when=all&status=cancelled", ["Dev Patel"]),
        ("status=confirmed", ["Aroha Ngata", "Ben Carter"]),
        ("when=all&q=AROHA", ["Aroha Ngata"]),
        ("when=all&q=aroha%40example", ["Aroha Ngata"]),
        ("when=all&q=021+123+4567", ["Ben Carter"]),
        ("when=all&q=%2B64211234567", ["Ben Carter"]),
        ("when=all&q=wong", ["Chloe Wong"]),
        ("when=all&q=a%25o", []),
        ("when=all&q=a_o", []),
        ("when=all&q=_", []),
        ("when=bogus&status=bogus", ["Aroha Ngata", "Ben Carter"]),
        ("status=cancelled", []),
    ],
)
def test_filters_and_search(dash, mixed, query, names):
    for htmx in (False, True):
        html = dash.get(f"/dashboard/bookings?{query}", htmx=htmx).get_data(as_text=True)
        assert listed(html) == names, query


def test_search_finds_nothing_politely(dash, mixed):
    html = dash.get("/dashboard/bookings?q=zebra", htmx=True).get_data(as_text=True)
    assert "No bookings match “zebra”." in htmllib.unescape(html)


def test_pagination(dash, add_booking):
    for n in range(30):
        add_booking(customer_name=f"Person {n:02d}")
    first = dash.get("/dashboard/bookings").get_data(as_text=True)
    assert len(listed(first)) == 25 and listed(first)[0] == "Person 00"
    assert "Page 1 of 2" in first and 'href="/dashboard/bookings?page=2"' in first
    second = dash.get("/dashboard/bookings?page=2", htmx=True).get_data(as_text=True)
    assert listed(second) == [f"Person {n}" for n in range(25, 30)]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert listed(dash.get("/dashboard/bookings?page=99").get_data(as_text=True)) == listed(second)
    assert listed(dash.get("/dashboard/bookings?page=x").get_data(as_text=True)) == listed(first)


def test_csv_export_of_the_filtered_list(dash, add_booking, mixed):
    add_booking(
        customer_name='=HYPERLINK("http://evil.example")',
        customer_email="@evil@example.com",
        job_address="-2+3, Somewhere",
        notes="+call first",
        price_minor=None,
    )
    response = dash.get("/dashboard/bookings.csv?when=upcoming&status=confirmed")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="bookings-2030-01-08.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["Booking", "Status", "Starts", "Ends"]
    by_name = {row[5]: row for row in rows[1:]}
    assert set(by_name) == {"Aroha Ngata", "Ben Carter", '\'=HYPERLINK("http://evil.example")'}
    aroha = by_name["Aroha Ngata"]
    assert aroha[1] == "Confirmed"
    assert aroha[2:4] == ["2030-01-09 09:00", "2030-01-09 10:00"]  # local time, not UTC
    assert aroha[10:13] == ["NZD", "200.00", "50.00"]
    evil = by_name['\'=HYPERLINK("http://evil.example")']
    assert evil[6] == "'@evil@example.com"
    assert evil[7].startswith("'+64")  # phone numbers start with + and are defused too
    assert evil[8] == "'-2+3, Somewhere"
    assert evil[9] == "'+call first"
    assert evil[11] == ""  # no price
    # Every page, not just the first.
    for n in range(30):
        add_booking(customer_name=f"Bulk {n}")
    rows = list(csv.reader(io.StringIO(dash.get("/dashboard/bookings.csv").get_data(True))))
    assert len(rows) == 1 + 2 + 1 + 30  # upcoming: the cancelled one is not


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cells_that_look_like_formulas_are_quoted(value):
    assert spreadsheet_cell(value) == "'" + value
    assert spreadsheet_cell("Plain") == "Plain"
    assert spreadsheet_cell(None) == ""


@pytest.fixture
def detailed(app, add_booking, add_payment, tradie_id):
    booking_id = add_booking(
        customer_name="Aroha Ngata",
        job_address="12 Ponsonby Road, Auckland 1011",
        notes="Side gate is open",
    )
    add_payment(booking_id, amount_minor=5000, application_fee_minor=125)
    with app.app_context():
        db.session.add(
            OutboxMessage(
                kind="reminder",
                channel="sms",
                recipient="+64210000001",
                payload={"body": "Reminder"},
                idempotency_key=f"booking:{booking_id}:reminder:sms",
                status="failed",
                attempts=8,
                last_error="Twilio 21610: unsubscribed recipient",
                booking_id=booking_id,
                tradie_id=tradie_id,
            )
        )
        db.session.add(
            AuditLog(
                tradie_id=tradie_id,
                actor="customer",
                action="booking.created",
                entity_type="booking",
                entity_id=str(booking_id),
                summary={},
            )
        )
        db.session.commit()
    return booking_id


@pytest.mark.parametrize("htmx", [False, True])
def test_detail_page(dash, detailed, htmx):
    response = dash.get(f"/dashboard/bookings/{detailed}", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    text = text_of(html)
    assert "Aroha Ngata" in text and "customer1@example.com" in text
    assert "When Wed 9 Jan 2030, 9:00 am – 10:00 am" in text
    assert (
        'href="https://www.google.com/maps/search/?api=1&amp;query=12+Ponsonby+Road%2C+Auckland+1011"'
        in html
    )
    assert "Side gate is open" in text
    assert "Service Leak repair Duration 60 min Price $200.00" in text
    assert "Deposit $50.00 Balance $150.00" in text
    assert "Deposit $50.00 Paid" in text  # the payment timeline
    assert "Created by the customer" in text  # the audit trail
    assert "could not be delivered" in text and "Twilio 21610" in text
    # Wed 9 Jan has not come yet (NOW is Mon 7 Jan): nothing to complete before the job.
    assert "Mark as completed" not in text and "Cancel booking" in text


def test_detail_without_problems_shows_no_warning(dash, add_booking):
    booking_id = add_booking(status="pending_payment", hold_expires_at=NOW + timedelta(minutes=9))
    html = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert "could not be delivered" not in html
    assert "Awaiting deposit" in html
    assert "Mark as completed" not in html and "Cancel booking" in html


def test_mark_completed(app, dash, add_booking):
    booking_id = add_booking(starts_at=NOW - timedelta(hours=2))
    html = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert "Mark as completed" in html
    response = dash.post(f"/dashboard/bookings/{booking_id}/complete")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/dashboard/bookings/{booking_id}"
    assert status_of(app, booking_id) == "completed"
    with app.app_context():
        assert db.session.get(Booking, booking_id).completed_at == NOW
    assert actions(app)[-1] == "booking.completed"
    text = text_of(dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True))
    assert "Marked as completed." in text and "Completed by you" in text


def test_a_job_is_not_completed_before_it_starts(app, dash, add_booking):
    booking_id = add_booking(starts_at=NOW + timedelta(days=7))
    response = dash.post(f"/dashboard/bookings/{booking_id}/complete", htmx=True)
    assert response.status_code == 409
    assert "has not started yet" in htmllib.unescape(response.get_data(as_text=True))
    assert status_of(app, booking_id) == "confirmed"
    assert "booking.completed" not in actions(app)


@pytest.mark.parametrize("status", ["pending_payment", "completed", "cancelled", "expired"])
def test_complete_only_from_confirmed(app, dash, add_booking, status):
    booking_id = add_booking(status=status)
    response = dash.post(f"/dashboard/bookings/{booking_id}/complete", htmx=True)
    assert response.status_code == 409
    assert "can't be marked completed" in htmllib.unescape(response.get_data(as_text=True))
    assert status_of(app, booking_id) == status
    response = dash.post(f"/dashboard/bookings/{booking_id}/complete")
    assert response.status_code == 303
    assert status_of(app, booking_id) == status
    assert "booking.completed" not in actions(app)


@pytest.mark.parametrize("status", ["confirmed", "pending_payment"])
def test_cancel_tells_the_customer(app, dash, add_booking, status):
    booking_id = add_booking(status=status)
    response = dash.post(
        f"/dashboard/bookings/{booking_id}/cancel", {"reason": "Van broke down"}, htmx=True
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="booking-detail"')
    assert "Booking cancelled; the customer has been told." in html
    assert "Cancel booking" not in html
    assert status_of(app, booking_id) == "cancelled"
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()))
        assert (entry.action, entry.summary["reason"], entry.summary["from"]) == (
            "booking.cancelled",
            "Van broke down",
            status,
        )
        message = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.booking_id == booking_id)
        )
        assert (message.kind, message.recipient) == ("cancelled", "customer1@example.com")


def test_cancel_refunds_everything_paid_through_the_lifecycle(app, dash, add_booking, monkeypatch):
    from peepopay.bookings import lifecycle

    seen = []

    def refund(session, booking, now, *, by, reason):
        seen.append((booking.id, booking.status, by, reason))
        return 5000

    monkeypatch.setattr(lifecycle, "_cancellation_refund", refund)
    booking_id = add_booking()
    response = dash.post(f"/dashboard/bookings/{booking_id}/cancel", {"reason": " Rained out "})
    assert response.status_code == 303
    assert seen == [(booking_id, "confirmed", "tradie", "Rained out")]
    html = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert "Refunded $50.00." in html
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()))
        assert entry.summary["refund_minor"] == 5000


@pytest.mark.parametrize("status", ["completed", "cancelled", "expired", "payment_failed"])
def test_cancel_never_moves_a_booking_backwards(app, dash, add_booking, status):
    booking_id = add_booking(status=status)
    for htmx in (False, True):
        response = dash.post(f"/dashboard/bookings/{booking_id}/cancel", {"reason": ""}, htmx=htmx)
        assert response.status_code == (409 if htmx else 303)
    assert status_of(app, booking_id) == status
    assert "booking.cancelled" not in actions(app)
    html = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert "it can&#39;t be cancelled" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_cancel_reason_too_long_names_the_field(app, dash, add_booking, htmx):
    booking_id = add_booking()
    response = dash.post(
        f"/dashboard/bookings/{booking_id}/cancel", {"reason": "x" * 201}, htmx=htmx
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    block = re.search(r'<div class="field has-error" id="field-reason">.*?</div>', html, re.S)
    assert block and "Reason must be at most 200 characters." in block.group(0)
    assert status_of(app, booking_id) == "confirmed"


def test_amounts_use_the_booking_currency_and_times_the_tradie_zone(
    app, dash, add_booking, tradie_id
):
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.timezone, tradie.currency = "Europe/London", "GBP"
        db.session.commit()
    booking_id = add_booking(currency="GBP", price_minor=12345, deposit_minor=2345)
    html = dash.get("/dashboard/bookings").get_data(as_text=True)
    assert "Tue 8 Jan 2030, 8:00 pm" in html and "£23.45" in html
    text = text_of(dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True))
    assert "Price £123.45" in text and "Balance £100.00" in text


def test_phone_numbers_show_in_the_tradies_national_format(dash, mixed):
    listing = dash.get("/dashboard/bookings").get_data(as_text=True)
    assert "021 123 4567" in listing and "+64211234567" not in listing
    detail = dash.get(f"/dashboard/bookings/{mixed['later']}").get_data(as_text=True)
    assert '<a href="tel:+64211234567">021 123 4567</a>' in detail  # dialled as stored
    rows = list(csv.reader(io.StringIO(dash.get("/dashboard/bookings.csv").get_data(True))))
    assert rows[0][7] == "Phone" and rows[0][-1] == "Phone (local)"
    [ben] = [row for row in rows[1:] if row[5] == "Ben Carter"]
    assert (ben[7], ben[-1]) == ("'+64211234567", "021 123 4567")  # both, E.164 kept
