"""Customers: one record per person, matched by email or phone across their bookings (merged when
one booking shows two records are the same person); the list, page, notes, CSV and erasure."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.audit import AuditLog
from peepopay.bookings import lifecycle
from peepopay.customers import services as customers
from peepopay.extensions import db
from peepopay.models import Booking, Customer, OutboxMessage, Payment
from tests.fixtures.app import sql_statements
from tests.fixtures.clients import DashboardClient

pytestmark = pytest.mark.usefixtures("fast_passwords")
PAST = datetime(2020, 3, 2, 21, tzinfo=UTC)


def rows(app: Flask, model: Any, *where: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(model).where(*where).order_by(model.id)))
        db.session.expunge_all()
        return found


def customer_of(app: Flask, booking_id: int) -> int | None:
    with app.app_context():
        return db.session.get(Booking, booking_id).customer_id  # type: ignore[union-attr]


# --------------------------------------------------------------------------- matching


@pytest.mark.both_databases
def test_bookings_match_by_email_or_phone_and_merge_when_one_shows_both(
    app: Flask, add_booking: Any
) -> None:
    aroha = add_booking(customer_email="aroha@example.com", customer_phone="+64211110001")
    # Same email in another case, a new phone: still Aroha.
    again = add_booking(customer_email="Aroha@Example.com", customer_phone="+64211119999")
    # Only the new phone: Aroha, through the booking that carries it.
    by_phone = add_booking(customer_email="aroha.work@example.com", customer_phone="+64211119999")
    assert customer_of(app, aroha) == customer_of(app, again) == customer_of(app, by_phone)

    hemi = add_booking(customer_email="hemi@example.com", customer_phone="+64211110002")
    wiremu = add_booking(customer_email="wiremu@example.com", customer_phone="+64211110003")
    assert len({customer_of(app, b) for b in (aroha, hemi, wiremu)}) == 3
    with app.app_context():
        record = db.session.get(Customer, customer_of(app, wiremu))
        record.notes = "Dog in the yard"  # type: ignore[union-attr]
        db.session.commit()

    # Hemi's email with Wiremu's phone: they were one person all along.
    both = add_booking(customer_email="hemi@example.com", customer_phone="+64211110003")
    kept = customer_of(app, hemi)
    assert customer_of(app, both) == customer_of(app, wiremu) == kept
    (merged,) = rows(app, Customer, Customer.id == kept)
    assert merged.notes == "Dog in the yard"
    assert len(rows(app, Customer)) == 2
    assert "customer.merged" in [e.action for e in rows(app, AuditLog)]


@pytest.mark.both_databases
def test_customers_are_per_tradie(app: Flask, add_booking: Any, other_dash: Any) -> None:
    from tests.fixtures.factories import make_tradie

    other = make_tradie(app, email="third@example.com", business_name="Third")
    mine = add_booking(customer_email="same@example.com", customer_phone="+64211110001")
    theirs = add_booking(
        tradie_id=other, customer_email="same@example.com", customer_phone="+64211110001"
    )
    assert customer_of(app, mine) != customer_of(app, theirs)


@pytest.mark.both_databases
def test_simultaneous_first_bookings_of_one_person_make_one_record(
    app: Flask, tradie_id: int
) -> None:
    from tests.fixtures.factories import make_booking

    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def book(n: int) -> None:
        try:
            barrier.wait()
            make_booking(
                app,
                tradie_id,
                n,
                customer_email="rush@example.com",
                customer_phone=f"+642199900{n:02d}",
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=book, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    bookings = rows(app, Booking)
    assert len(bookings) == 8
    assert len({b.customer_id for b in bookings}) == 1
    assert len(rows(app, Customer)) == 1


@pytest.mark.both_databases
def test_deleting_a_customer_row_unlinks_its_bookings(app: Flask, add_booking: Any) -> None:
    booking = add_booking()
    with app.app_context():
        db.session.execute(sa.delete(Customer))
        db.session.commit()
    assert customer_of(app, booking) is None
    assert len(rows(app, Booking)) == 1


def test_editing_a_booking_to_someone_elses_email_moves_it_to_them(
    app: Flask, tradie_id: int, add_booking: Any
) -> None:
    first = add_booking(customer_email="a@example.com", customer_phone="+64211110001")
    second = add_booking(customer_email="b@example.com", customer_phone="+64211110002")
    with app.app_context():
        booking = db.session.get(Booking, second)
        values = {"customer_email": "a@example.com", "customer_phone": "+64211110009"}
        lifecycle.edit(db.session, booking, values, booking.created_at, actor="tradie:1")
        db.session.commit()
    assert customer_of(app, second) == customer_of(app, first)


# --------------------------------------------------------------------------- the pages


def test_list_shows_totals_searches_and_pages(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any, other_dash: Any
) -> None:
    one = add_booking(customer_name="Aroha Smith", customer_email="aroha@example.com")
    add_payment(one, amount_minor=5000)
    two = add_booking(customer_name="Aroha Smith", customer_email="aroha@example.com")
    add_payment(two, kind="balance", amount_minor=15000)
    add_payment(two, kind="refund", amount_minor=2000)
    add_booking(customer_name="Aroha Smith", customer_email="aroha@example.com", status="no_show")
    add_booking(customer_name="Hemi Walker", customer_phone="+64215550456")

    page = dash.get("/dashboard/customers")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and "2 customers" in html
    assert "$200.00" in html and "$20.00 refunded" in html and "1 no-show" in html
    assert 'aria-current="page">Customers<' in html

    found = dash.get("/dashboard/customers?q=0456", htmx=True)
    fragment = found.get_data(as_text=True)
    assert "<html" not in fragment and 'id="customer-list"' in fragment
    assert "Hemi Walker" in fragment and "Aroha Smith" not in fragment
    assert "HX-Request" in found.headers["Vary"]

    # Another tradie sees none of it.
    theirs = other_dash.get("/dashboard/customers").get_data(as_text=True)
    assert "Aroha" not in theirs and "0 customers" in theirs


def test_list_pages_through_many_customers(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    for n in range(30):
        add_booking(customer_name=f"Person {n:02d}")
    first = dash.get("/dashboard/customers").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Person 29" in first and "Person 00" not in first
    second = dash.get("/dashboard/customers?page=2").get_data(as_text=True)
    assert "Person 00" in second and "Person 29" not in second


def test_customer_page_notes_and_scoping(
    app: Flask, dash: DashboardClient, add_booking: Any, other_dash: Any, client: Any
) -> None:
    booking = add_booking(customer_name="Aroha Smith")
    customer_id = customer_of(app, booking)
    url = f"/dashboard/customers/{customer_id}"
    html = dash.get(url).get_data(as_text=True)
    assert "Aroha Smith" in html and f"/dashboard/bookings/{booking}" in html
    # The booking page links back to the person.
    assert url in dash.get(f"/dashboard/bookings/{booking}").get_data(as_text=True)

    saved = dash.post(f"{url}/notes", {"notes": "Gate code 1234"}, htmx=True)
    assert saved.status_code == 200 and "Notes saved." in saved.get_data(as_text=True)
    assert rows(app, Customer)[0].notes == "Gate code 1234"
    assert "customer.noted" in [e.action for e in rows(app, AuditLog)]

    too_long = dash.post(f"{url}/notes", {"notes": "x" * 5001}, htmx=True)
    assert too_long.status_code == 422
    assert "Private notes must be at most 5000 characters." in too_long.get_data(as_text=True)

    # No CSRF token, no change.
    refused = dash.client.post(f"{url}/notes", data={"notes": "changed"})
    assert refused.status_code == 400
    assert rows(app, Customer)[0].notes == "Gate code 1234"

    # Another tradie gets a 404 for the page and each action.
    assert other_dash.get(url).status_code == 404
    assert other_dash.post(f"{url}/notes", {"notes": "mine"}).status_code == 404
    assert other_dash.post(f"{url}/erase", {"confirm": "y"}).status_code == 404
    assert rows(app, Customer)[0].notes == "Gate code 1234"


def test_csv_has_every_customer_with_formulas_defused(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any
) -> None:
    evil = add_booking(customer_name="=HYPERLINK(1)", customer_email="evil@example.com")
    add_payment(evil, amount_minor=5000)
    for n in range(3):
        add_booking(customer_name=f"Bulk {n}")
    response = dash.get("/dashboard/customers.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0][:3] == ["Customer", "Name", "Email"]
    assert len(table) == 1 + 4
    (row,) = [r for r in table if r[2] == "evil@example.com"]
    assert row[1] == "'=HYPERLINK(1)"
    assert row[8] == "50.00"


# --------------------------------------------------------------------------- erasure


def test_erasing_a_customer_keeps_the_money_and_forgets_the_person(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any
) -> None:
    start = PAST
    booking = add_booking(
        customer_name="Aroha Smith",
        customer_email="aroha@example.com",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        status="completed",
        notes="Side gate",
    )
    add_payment(booking, amount_minor=5000)
    with app.app_context():
        db.session.add(
            OutboxMessage(
                kind="booking_confirmed",
                channel="email",
                recipient="aroha@example.com",
                payload={"name": "Aroha Smith"},
                idempotency_key="erase-test",
                booking_id=booking,
            )
        )
        db.session.commit()
    customer_id = customer_of(app, booking)
    url = f"/dashboard/customers/{customer_id}/erase"

    unconfirmed = dash.post(url, {}, htmx=True)
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm the erasure." in unconfirmed.get_data(as_text=True)

    erased = dash.post(url, {"confirm": "y"})
    assert erased.status_code == 303 and erased.headers["Location"].endswith("/dashboard/customers")
    assert rows(app, Customer) == []
    (kept,) = rows(app, Booking)
    assert kept.customer_name == customers.ERASED_NAME
    assert (kept.customer_email, kept.customer_phone, kept.job_address, kept.notes) == (
        "",
        "",
        "",
        "",
    )
    (payment,) = rows(app, Payment)
    assert payment.amount_minor == 5000
    (message,) = rows(app, OutboxMessage)
    assert message.recipient == "" and message.payload == {}
    assert "customer.erased" in [e.action for e in rows(app, AuditLog)]
    listing = dash.get("/dashboard/customers").get_data(as_text=True)
    assert "Aroha" not in listing


def test_a_customer_with_an_upcoming_booking_is_not_erased(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    booking = add_booking(customer_name="Aroha Smith")  # confirmed, in 2030
    url = f"/dashboard/customers/{customer_of(app, booking)}/erase"
    refused = dash.post(url, {"confirm": "y"}, htmx=True)
    assert refused.status_code == 409
    assert "1 upcoming booking" in refused.get_data(as_text=True)
    assert rows(app, Booking)[0].customer_name == "Aroha Smith"


# --------------------------------------------------------------------------- the account


def test_customers_are_in_the_export_and_go_with_the_account(
    app: Flask, dash: DashboardClient, add_booking: Any
) -> None:
    booking = add_booking(
        customer_name="Aroha Smith",
        status="completed",
        starts_at=PAST,
        ends_at=PAST + timedelta(hours=1),
    )
    with app.app_context():
        db.session.get(Customer, customer_of(app, booking)).notes = "Likes texts"  # type: ignore[union-attr]
        db.session.commit()
    data = dash.get("/dashboard/settings/export.json").get_json()
    (exported,) = data["customers"]
    assert exported["name"] == "Aroha Smith" and exported["notes"] == "Likes texts"

    form = {"confirm_delete": "y", "delete_password": "correct horse battery"}
    deleted = dash.post("/dashboard/settings/delete", form)
    assert deleted.status_code == 303, deleted.get_data(as_text=True)
    assert rows(app, Customer) == []


def test_the_list_costs_the_same_statements_whatever_the_number_of_customers(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any
) -> None:
    def statements(url: str) -> list[str]:
        with sql_statements(app) as seen:
            assert dash.get(url).status_code == 200
        return [s for s in seen if s.lstrip().upper().startswith("SELECT")]

    for _ in range(3):
        add_payment(add_booking())
    few = statements("/dashboard/customers")
    for _ in range(40):
        add_payment(add_booking())
    many = statements("/dashboard/customers")
    assert len(few) == len(many) <= 5, many
    # The signed-in tradie is read once, not again after the request's commit.
    assert sum("FROM tradies" in s for s in many) == 1
