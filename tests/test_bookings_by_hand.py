"""Bookings by hand: a new booking at any time (no deposit, or paid another way), moves and
edits from the booking page; overlaps refused by the database, every change audited."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.audit import AuditLog
from peepopay.bookings import by_hand, lifecycle
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, OutboxMessage, Payment, Service, Tradie
from tests.booking_helpers import ZONE, at, local_day
from tests.fixtures.clients import DashboardClient

# Overlap refusals, holds and concurrent moves are where the two databases can differ.
pytestmark = pytest.mark.both_databases

NEW = "/dashboard/bookings/new"
CUSTOMER = {
    "name": "Aroha Smith",
    "email": "aroha@example.com",
    "phone": "021 123 4567",
    "address": "1 Queen Street, Auckland",
    "notes": "Side gate",
}


def local(instant: datetime) -> str:
    return instant.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def service_of(app: Flask, tradie_id: int) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(Service.id).where(Service.tradie_id == tradie_id)))


def form(app: Flask, tradie_id: int, start: datetime, **extra: str) -> dict[str, str]:
    return {
        "service": str(service_of(app, tradie_id)),
        "start": local(start),
        **CUSTOMER,
        "deposit": "none",
        **extra,
    }


def moving(app: Flask, booking_id: int, start: str, **extra: str) -> dict[str, str]:
    """The move form as the booking page renders it: the new time and the start it saw."""
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking is not None
        return {"start": start, "was": booking.starts_at.isoformat(), **extra}


def rows(app: Flask, model: Any, *where: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(model).where(*where)))
        db.session.expunge_all()
        return found


def trail(app: Flask, booking_id: int) -> list[AuditLog]:
    return rows(
        app, AuditLog, AuditLog.entity_type == "booking", AuditLog.entity_id == str(booking_id)
    )


# --------------------------------------------------------------------------- the page


def test_new_booking_page_full_and_fragment(dash: DashboardClient) -> None:
    start = at(local_day(3), 10).astimezone(ZONE).isoformat(timespec="minutes")
    full = dash.get(NEW, query_string={"start": start})
    assert full.status_code == 200
    html = full.get_data(as_text=True)
    assert "<html" in html and 'id="booking-new"' in html
    # The calendar's local ISO with offset becomes the datetime-local input's value.
    assert f'value="{start[:16]}"' in html
    assert 'type="datetime-local"' in html
    fragment = dash.get(NEW, htmx=True)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<div id="booking-new"')
    assert "HX-Request" in fragment.headers["Vary"]


def test_the_calendar_links_free_time_to_the_new_booking_page(dash: DashboardClient) -> None:
    page = dash.get("/dashboard/calendar").get_data(as_text=True)
    assert "/dashboard/bookings/new?start=" in page


def test_posting_needs_the_csrf_token(app: Flask, dash: DashboardClient, tradie_id: int) -> None:
    data = form(app, tradie_id, at(local_day(3), 10))
    response = dash.client.post(NEW, data=data)
    assert response.status_code == 400
    assert rows(app, Booking) == []


def test_signed_out_is_sent_to_log_in(client: Any) -> None:
    response = client.get(NEW)
    assert response.status_code in (302, 303)
    assert "/auth/login" in response.headers["Location"]


# --------------------------------------------------------------------------- new booking


def test_no_deposit_books_confirmed_and_tells_only_the_customer(
    app: Flask, dash: DashboardClient, tradie_id: int
) -> None:
    start = at(local_day(3), 10)
    response = dash.post(NEW, form(app, tradie_id, start))
    assert response.status_code == 303, response.get_data(as_text=True)
    (booking,) = rows(app, Booking)
    assert response.headers["Location"].endswith(f"/dashboard/bookings/{booking.id}")
    assert booking.status == "confirmed"
    assert booking.starts_at == start and booking.ends_at == start + timedelta(minutes=60)
    assert booking.deposit_minor == 0 and booking.hold_expires_at is None
    assert booking.customer_phone == "+64211234567" and booking.notes == "Side gate"
    actions = [(e.action, e.actor) for e in trail(app, booking.id)]
    assert ("booking.held", f"tradie:{tradie_id}") in actions
    assert ("booking.confirmed", f"tradie:{tradie_id}") in actions
    kinds = {(m.kind, m.channel) for m in rows(app, OutboxMessage)}
    assert ("confirmed", "email") in kinds and ("confirmed", "sms") in kinds
    assert not any(kind == "new_booking" for kind, _ in kinds)
    page = dash.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Booked." in page


def test_overlap_is_refused_with_a_clear_message(
    app: Flask, dash: DashboardClient, tradie_id: int, add_booking: Any
) -> None:
    start = at(local_day(3), 10)
    add_booking(starts_at=start)
    for htmx in (False, True):
        data = form(app, tradie_id, start + timedelta(minutes=30))
        response = dash.post(NEW, data, htmx=htmx)
        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert by_hand.SLOT_TAKEN.replace("'", "&#39;") in html
        assert 'id="err-start"' in html
        assert ("<html" in html) is not htmx
    assert len(rows(app, Booking)) == 1


def test_a_live_hold_blocks_but_an_expired_one_does_not(
    app: Flask, dash: DashboardClient, tradie_id: int, add_booking: Any
) -> None:
    start = at(local_day(3), 10)
    add_booking(
        starts_at=start, status="pending_payment", hold_expires_at=utcnow() - timedelta(minutes=1)
    )
    response = dash.post(NEW, form(app, tradie_id, start))
    assert response.status_code == 303
    statuses = sorted(b.status for b in rows(app, Booking))
    assert statuses == ["confirmed", "expired"]


def test_outside_working_hours_is_allowed_with_a_warning(
    app: Flask, dash: DashboardClient, tradie_id: int
) -> None:
    start = at(local_day(3), 19, 30)  # hours are 08:00-17:00
    response = dash.post(NEW, form(app, tradie_id, start))
    assert response.status_code == 303
    (booking,) = rows(app, Booking)
    assert booking.status == "confirmed" and booking.starts_at == start
    page = dash.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "outside your working hours" in page


def test_inside_working_hours_has_no_warning(
    app: Flask, dash: DashboardClient, tradie_id: int
) -> None:
    response = dash.post(NEW, form(app, tradie_id, at(local_day(3), 16)))  # ends 17:00
    page = dash.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "outside your working hours" not in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"start": ""}, "start", "Start is required."),
        ({"start": "next tuesday"}, "start", "Start must be a date and time"),
        ({"start": "2001-01-01T10:00"}, "start", "Start must be in the future."),
        ({"service": "999999"}, "service", "choose one of your services"),
        ({"email": "nope"}, "email", "Email must be a valid address"),
        ({"name": ""}, "name", "Name is required."),
        ({"deposit": "offline", "method": "cheque"}, "method", "choose cash or bank transfer"),
        ({"deposit": "request"}, "deposit", "connect Stripe"),
        ({"deposit": "maybe"}, "deposit", "choose none, request it"),
    ],
)
def test_field_errors_are_422_on_the_field(
    app: Flask,
    dash: DashboardClient,
    tradie_id: int,
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    data = {**form(app, tradie_id, at(local_day(3), 10)), **change}
    response = dash.post(NEW, data, htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="err-{field}"' in html
    assert message in html
    assert rows(app, Booking) == []


def test_past_customers_fill_the_form(
    app: Flask, dash: DashboardClient, tradie_id: int, add_booking: Any, other_dash: Any
) -> None:
    hemi = {"customer_name": "Hemi Walker", "customer_email": "hemi@example.com"}
    booking_id = add_booking(**hemi, customer_phone="+64211112222")
    add_booking(**hemi, customer_phone="+64211112222", job_address="9 New Road")
    customer_id = rows(app, Booking)[0].customer_id
    page = dash.get(NEW).get_data(as_text=True)
    assert page.count("Hemi Walker ·") == 1  # one option per customer
    filled = dash.get(f"{NEW}?customer_id={customer_id}", htmx=True).get_data(as_text=True)
    assert 'value="hemi@example.com"' in filled
    assert "9 New Road" in filled  # the details of their latest booking
    assert booking_id
    # Another tradie's customers are neither listed nor filled in.
    theirs = other_dash.get(f"{NEW}?customer_id={customer_id}").get_data(as_text=True)
    assert "Hemi Walker" not in theirs and "hemi@example.com" not in theirs


# --------------------------------------------------------------------------- paid another way


def test_paid_another_way_is_an_offline_payment_everywhere(
    app: Flask, dash: DashboardClient, tradie_id: int
) -> None:
    start = at(local_day(3), 10)
    response = dash.post(NEW, form(app, tradie_id, start, deposit="offline", method="cash"))
    assert response.status_code == 303, response.get_data(as_text=True)
    (booking,) = rows(app, Booking)
    assert booking.status == "confirmed" and booking.deposit_minor == 5000
    (payment,) = rows(app, Payment)
    assert (payment.kind, payment.method, payment.status) == ("deposit", "cash", "succeeded")
    assert payment.amount_minor == 5000 and payment.application_fee_minor == 0
    assert payment.stripe_payment_intent_id is None and payment.stripe_charge_id is None
    assert "payment.recorded_offline" in [e.action for e in trail(app, booking.id)]

    from peepopay.payments.ledger import ledger

    with app.app_context():
        book = ledger(db.session, booking.id)
        assert (book.received_minor, book.offline_minor, book.fees_minor) == (5000, 5000, 0)
        assert book.refundable_minor == 0  # nothing to refund through Stripe

    detail = dash.get(f"/dashboard/bookings/{booking.id}").get_data(as_text=True)
    assert "Paid another way (cash)" in detail
    money = dash.get("/dashboard/payments").get_data(as_text=True)
    assert "Paid another way (cash)" in money
    csv = dash.get("/dashboard/bookings.csv").get_data(as_text=True)
    assert "Paid another way (cash)" in csv


def test_bank_transfer_in_the_month_totals(
    app: Flask, dash: DashboardClient, tradie_id: int
) -> None:
    data = form(app, tradie_id, at(local_day(3), 10), deposit="offline", method="bank_transfer")
    assert dash.post(NEW, data).status_code == 303
    from peepopay.payments import reports

    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        (month,) = reports.monthly_totals(db.session, tradie)
        assert month.offline_minor == 5000 and month.deposits_minor == 0
        assert month.net_minor == 5000 and month.fees_minor == 0
        assert month.offline_methods == ("bank transfer",)
    money = dash.get("/dashboard/payments").get_data(as_text=True)
    assert "Paid another way (bank transfer)" in money


# --------------------------------------------------------------------------- move


def test_move_page_and_card(
    app: Flask, dash: DashboardClient, add_booking: Any, other_dash: Any
) -> None:
    booking_id = add_booking(starts_at=at(local_day(3), 10))
    detail = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert 'id="booking-move"' in detail and "Next free times" in detail
    full = dash.get(f"/dashboard/bookings/{booking_id}/move")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    fragment = dash.get(f"/dashboard/bookings/{booking_id}/move", htmx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="booking-move"' in body
    for url in (f"/dashboard/bookings/{booking_id}/move", f"/dashboard/bookings/{booking_id}/edit"):
        assert other_dash.get(url).status_code == 404
        assert other_dash.post(url, {"start": "2030-01-01T10:00"}).status_code == 404


def test_move_tells_the_customer_with_the_same_event(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any, tradie_id: int
) -> None:
    old = at(local_day(3), 10)
    booking_id = add_booking(starts_at=old)
    add_payment(booking_id, stripe_payment_intent_id="pi_1")
    new = at(local_day(4), 14)
    response = dash.post(
        f"/dashboard/bookings/{booking_id}/move", moving(app, booking_id, local(new))
    )
    assert response.status_code == 303
    (booking,) = rows(app, Booking)
    assert booking.starts_at == new and booking.ends_at == new + timedelta(minutes=60)
    assert len(rows(app, Payment)) == 1  # nobody pays again
    emails = rows(app, OutboxMessage, OutboxMessage.kind == "rescheduled")
    assert {m.channel for m in emails} == {"email", "sms"}
    (email,) = [m for m in emails if m.channel == "email"]
    (ics,) = email.payload["attachments"]
    assert "SEQUENCE:1" in ics["content"] and f"booking-{booking_id}@" in ics["content"]
    (moved,) = [e for e in trail(app, booking_id) if e.action == "booking.rescheduled"]
    assert moved.actor == f"tradie:{tradie_id}"
    assert moved.summary["to"] == new.isoformat()


def test_move_onto_another_booking_is_refused(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    first = add_booking(starts_at=at(local_day(3), 10))
    add_booking(starts_at=at(local_day(3), 13))
    url = f"/dashboard/bookings/{first}/move"
    response = dash.post(url, moving(app, first, local(at(local_day(3), 12, 30))), htmx=True)
    assert response.status_code == 409
    assert "overlaps another booking" in response.get_data(as_text=True)
    assert rows(app, Booking, Booking.id == first)[0].starts_at == at(local_day(3), 10)


def test_a_lapsed_hold_does_not_stop_a_move(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    booking_id = add_booking(starts_at=at(local_day(3), 10))
    target = at(local_day(4), 10)
    lapsed = utcnow() - timedelta(minutes=1)
    add_booking(starts_at=target, status="pending_payment", hold_expires_at=lapsed)
    response = dash.post(
        f"/dashboard/bookings/{booking_id}/move", moving(app, booking_id, local(target))
    )
    assert response.status_code == 303
    assert rows(app, Booking, Booking.id == booking_id)[0].starts_at == target


def test_moves_and_edits_need_the_csrf_token(
    app: Flask, dash: DashboardClient, add_booking: Any, tradie_id: int
) -> None:
    booking_id = add_booking(starts_at=at(local_day(3), 10))
    url = f"/dashboard/bookings/{booking_id}"
    moved = dash.client.post(
        f"{url}/move", data=moving(app, booking_id, local(at(local_day(4), 10)))
    )
    edited = dash.client.post(f"{url}/edit", data=_edit_data(app, tradie_id))
    assert (moved.status_code, edited.status_code) == (400, 400)
    (booking,) = rows(app, Booking)
    assert booking.starts_at == at(local_day(3), 10) and booking.customer_name == "Customer 1"


def test_a_slot_button_moves_with_its_offset(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    booking_id = add_booking(starts_at=at(local_day(3), 10))
    target = at(local_day(5), 9)
    value = target.astimezone(ZONE).isoformat(timespec="minutes")
    response = dash.post(
        f"/dashboard/bookings/{booking_id}/move", moving(app, booking_id, value), htmx=True
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].endswith(f"/dashboard/bookings/{booking_id}")
    assert rows(app, Booking)[0].starts_at == target


def test_only_a_confirmed_booking_moves(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    booking_id = add_booking(starts_at=at(local_day(3), 10), status="cancelled")
    url = f"/dashboard/bookings/{booking_id}/move"
    response = dash.post(url, moving(app, booking_id, local(at(local_day(4), 10))))
    assert response.status_code == 409
    assert "can&#39;t be moved" in response.get_data(as_text=True)


def moves_at_once(app: Flask, tradie_id: int, moves: list[tuple[int, datetime]]) -> list[str]:
    """Each (booking id, new time) moved by the tradie in its own thread, all at once, as the
    booking page's form would (the start it saw); each outcome: moved, taken or refused."""
    barrier = threading.Barrier(len(moves))
    outcomes: list[str] = []

    def move(booking_id: int, target: datetime, was: str) -> None:
        with app.app_context():
            tradie = db.session.get(Tradie, tradie_id)
            booking = db.session.get(Booking, booking_id)
            assert tradie is not None and booking is not None
            barrier.wait()
            try:
                by_hand.move_by_hand(db.session, tradie, booking, local(target), utcnow(), was=was)
                db.session.commit()
                outcomes.append("moved")
            except lifecycle.SlotTaken:
                db.session.rollback()
                outcomes.append("taken")
            except lifecycle.TransitionRefused as refused:
                db.session.rollback()
                assert "moved meanwhile" in str(refused)
                outcomes.append("refused")
            finally:
                db.session.remove()

    seen = {b.id: b.starts_at.isoformat() for b in rows(app, Booking)}
    threads = [threading.Thread(target=move, args=(i, t, seen[i])) for i, t in moves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


def test_two_moves_into_one_free_slot_at_once_give_one_booking(
    app: Flask, tradie_id: int, add_booking: Any
) -> None:
    target = at(local_day(5), 11)
    ids = [add_booking(starts_at=at(local_day(3), 9 + 2 * n)) for n in range(2)]
    assert moves_at_once(app, tradie_id, [(i, target) for i in ids]) == ["moved", "taken"]
    assert len(rows(app, Booking, Booking.starts_at == target)) == 1


# --------------------------------------------------------------------------- edit


def test_edit_page_full_and_fragment(dash: DashboardClient, add_booking: Any) -> None:
    booking_id = add_booking()
    full = dash.get(f"/dashboard/bookings/{booking_id}/edit")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    assert 'value="Customer 1"' in full.get_data(as_text=True)
    fragment = dash.get(f"/dashboard/bookings/{booking_id}/edit", htmx=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and 'id="booking-edit"' in body


def _edit_data(app: Flask, tradie_id: int, **changes: str) -> dict[str, str]:
    return {"service": str(service_of(app, tradie_id)), **CUSTOMER, **changes}


def test_edit_is_audited_field_by_field(
    app: Flask, dash: DashboardClient, add_booking: Any, tradie_id: int
) -> None:
    booking_id = add_booking(service_id=service_of(app, tradie_id))
    url = f"/dashboard/bookings/{booking_id}/edit"
    response = dash.post(url, _edit_data(app, tradie_id))
    assert response.status_code == 303
    (entry,) = [e for e in trail(app, booking_id) if e.action == "booking.edited"]
    assert entry.actor == f"tradie:{tradie_id}"
    changed = entry.summary["changed"]
    assert changed["customer_name"] == ["Customer 1", "Aroha Smith"]
    assert set(changed) == {
        "customer_name",
        "customer_email",
        "customer_phone",
        "notes",
    }  # the job address was the same
    # The same again changes nothing and writes nothing.
    dash.post(url, _edit_data(app, tradie_id))
    assert len([e for e in trail(app, booking_id) if e.action == "booking.edited"]) == 1
    history = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert "Nothing changed." in history


def test_a_service_change_recomputes_nothing_paid(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any, tradie_id: int
) -> None:
    booking_id = add_booking(service_id=service_of(app, tradie_id), starts_at=at(local_day(3), 10))
    add_payment(booking_id, stripe_payment_intent_id="pi_1")
    with app.app_context():
        bigger = Service(
            tradie_id=tradie_id,
            name="Hot water cylinder",
            duration_minutes=180,
            price_minor=90000,
            deposit_type="fixed",
            deposit_value=20000,
        )
        db.session.add(bigger)
        db.session.commit()
        bigger_id = bigger.id
    url = f"/dashboard/bookings/{booking_id}/edit"
    response = dash.post(url, _edit_data(app, tradie_id, service=str(bigger_id)))
    assert response.status_code == 303
    (booking,) = rows(app, Booking)
    assert (booking.service_name, booking.duration_minutes) == ("Hot water cylinder", 180)
    assert booking.ends_at == booking.starts_at + timedelta(hours=3)
    assert booking.price_minor == 90000 and booking.deposit_minor == 5000
    assert len(rows(app, Payment)) == 1
    page = dash.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "nothing already paid is recomputed" in page


def test_a_longer_service_may_not_overlap(
    app: Flask, dash: DashboardClient, add_booking: Any, tradie_id: int
) -> None:
    first = add_booking(service_id=service_of(app, tradie_id), starts_at=at(local_day(3), 10))
    add_booking(starts_at=at(local_day(3), 11, 30))
    with app.app_context():
        longer = Service(
            tradie_id=tradie_id,
            name="Long job",
            duration_minutes=120,
            deposit_type="fixed",
            deposit_value=0,
        )
        db.session.add(longer)
        db.session.commit()
        longer_id = longer.id
    url = f"/dashboard/bookings/{first}/edit"
    response = dash.post(url, _edit_data(app, tradie_id, service=str(longer_id)), htmx=True)
    assert response.status_code == 409
    assert "overlaps another booking" in response.get_data(as_text=True)
    assert rows(app, Booking, Booking.id == first)[0].duration_minutes == 60


def test_edit_field_errors_are_422(
    app: Flask, dash: DashboardClient, add_booking: Any, tradie_id: int
) -> None:

    booking_id = add_booking()
    url = f"/dashboard/bookings/{booking_id}/edit"
    response = dash.post(url, _edit_data(app, tradie_id, phone="12"), htmx=True)
    assert response.status_code == 422
    assert 'id="err-phone"' in response.get_data(as_text=True)


def test_local_instant_reads_wall_clock_and_offsets() -> None:
    assert by_hand.local_instant("2030-01-10T10:00", ZONE) == datetime(2030, 1, 9, 21, tzinfo=UTC)
    assert by_hand.local_instant("2030-01-10T10:00+13:00", ZONE) == datetime(
        2030, 1, 9, 21, tzinfo=UTC
    )
    # 02:30 on the spring-forward night does not exist in Auckland.
    assert by_hand.local_instant("2030-09-29T02:30", ZONE) is None
    assert by_hand.local_instant("soon", ZONE) is None


def test_a_move_outside_hours_or_over_a_busy_time_waits_for_confirmation(
    app: Flask, dash: DashboardClient, add_booking: Any, tradie_id: int
) -> None:
    """Nothing is saved or sent before the tradie confirms the warning; then it moves."""
    from peepopay.calendars.models import BusyTime, CalendarFeed

    booking_id = add_booking(starts_at=at(local_day(3), 10))
    url = f"/dashboard/bookings/{booking_id}/move"
    late = at(local_day(4), 20)  # hours are 08:00-17:00
    response = dash.post(url, moving(app, booking_id, local(late)), htmx=True)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "outside your working hours" in page and "Move anyway" in page
    assert rows(app, Booking)[0].starts_at == at(local_day(3), 10)
    assert rows(app, OutboxMessage, OutboxMessage.kind == "rescheduled") == []

    busy_from, busy_to = at(local_day(5), 9), at(local_day(5), 12)
    with app.app_context():
        feed = CalendarFeed(tradie_id=tradie_id, name="Personal", url="https://example.com/a.ics")
        db.session.add(feed)
        db.session.flush()
        db.session.add(
            BusyTime(tradie_id=tradie_id, feed_id=feed.id, starts_at=busy_from, ends_at=busy_to)
        )
        db.session.commit()
    over_busy = at(local_day(5), 10)
    response = dash.post(url, moving(app, booking_id, local(over_busy)), htmx=True)
    assert response.status_code == 409
    assert "busy time in your own calendar" in response.get_data(as_text=True)
    assert rows(app, Booking)[0].starts_at == at(local_day(3), 10)

    confirmed = dash.post(url, moving(app, booking_id, local(late), confirm="1"))
    assert confirmed.status_code == 303
    assert rows(app, Booking)[0].starts_at == late
    assert len(rows(app, OutboxMessage, OutboxMessage.kind == "rescheduled")) == 2


def test_a_move_from_a_page_that_is_out_of_date_is_refused(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    booking_id = add_booking(starts_at=at(local_day(3), 10))
    url = f"/dashboard/bookings/{booking_id}/move"
    seen = moving(app, booking_id, local(at(local_day(4), 10)))
    assert dash.post(url, seen).status_code == 303
    again = dash.post(url, {**seen, "start": local(at(local_day(5), 10))}, htmx=True)
    assert again.status_code == 409
    assert "moved meanwhile" in again.get_data(as_text=True)
    assert rows(app, Booking)[0].starts_at == at(local_day(4), 10)
    assert dash.post(url, {"start": local(at(local_day(5), 10))}).status_code == 422


def test_twelve_concurrent_moves_of_one_booking_give_one_move_and_one_message(
    app: Flask, tradie_id: int, add_booking: Any
) -> None:
    """Twelve moves of one booking from the same page at once, each to its own free time:
    exactly one is saved and sent; the others are told it was moved meanwhile."""
    booking_id = add_booking(starts_at=at(local_day(3), 9))
    targets = [at(local_day(4 + n // 8), 8 + n % 8) for n in range(12)]
    outcomes = moves_at_once(app, tradie_id, [(booking_id, t) for t in targets])
    assert outcomes == ["moved"] + ["refused"] * 11
    (booking,) = rows(app, Booking)
    assert booking.starts_at in targets
    moves = [e for e in trail(app, booking_id) if e.action == "booking.rescheduled"]
    assert len(moves) == 1
    assert len(rows(app, OutboxMessage, OutboxMessage.kind == "rescheduled")) == 2  # email, SMS
