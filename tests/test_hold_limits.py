"""Unpaid holds are scarce: per client address, per customer and per day of a tradie's jobs.

A refused hold is a 429 with a reason in the API and a friendly step in the widget, and it
leaves nothing behind: no booking, no payment record, no Stripe object."""

from __future__ import annotations

import html
from typing import Any

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import Booking, Payment, Status
from tests.booking_helpers import CUSTOMER, SLUG, at, booking_body, iso_z, local_day, service_id
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)
from tests.test_api import conforms

pytestmark = pytest.mark.both_databases

API = f"/api/widget/{SLUG}/book"


@pytest.fixture
def kiwi(app: Any, stripe_live: Any) -> tuple[int, int]:
    tradie_id = payments_tradie(app, stripe_live)
    return tradie_id, service_id(app, tradie_id)


def customer(n: int) -> dict[str, str]:
    return {"name": f"Customer {n}", "email": f"c{n}@example.com", "phone": f"021 555 01{n:02d}"}


def book(client: Any, service: int, hour: int, n: int, address: str, days: int = 3) -> Any:
    body = booking_body(service, at(local_day(days), hour), **customer(n))
    return client.post(API, json=body, environ_base={"REMOTE_ADDR": address})


def rows(app: Any) -> tuple[list[tuple[str, str]], int]:
    """(customer email, status) of every booking, and how many payment records exist."""
    with app.app_context():
        bookings = db.session.execute(
            sa.select(Booking.customer_email, Booking.status).order_by(Booking.id)
        ).all()
        payments = db.session.scalar(sa.select(sa.func.count(Payment.id)))
        db.session.remove()
    return [tuple(b) for b in bookings], int(payments or 0)


def assert_refused(response: Any, reason: str) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    body = conforms(response, "/api/widget/{slug}/book", "post")
    assert body["error"]["reason"] == reason
    assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60
    assert "Set-Cookie" not in response.headers


def test_one_address_holds_two_unpaid_times_at_most(app, client, kiwi):
    _, service = kiwi
    assert book(client, service, 10, 1, "203.0.113.5").status_code == 201
    assert book(client, service, 13, 2, "203.0.113.5").status_code == 201
    before = rows(app)
    third = book(client, service, 15, 3, "203.0.113.5")
    assert_refused(third, "client")
    assert "waiting for payment" in third.get_json()["error"]["message"]
    assert rows(app) == before  # no booking, no payment record, so no Stripe object either
    assert before[1] == 2
    # Another address is not held back by the first one.
    assert book(client, service, 15, 3, "203.0.113.6").status_code == 201


def test_a_paid_or_expired_hold_no_longer_counts(app, client, kiwi):
    _, service = kiwi
    first = book(client, service, 10, 1, "203.0.113.5")
    assert book(client, service, 13, 2, "203.0.113.5").status_code == 201
    with app.app_context():
        booking = db.session.get(Booking, first.get_json()["bookingId"])
        booking.status = Status.CONFIRMED
        db.session.commit()
    assert book(client, service, 15, 3, "203.0.113.5").status_code == 201


def test_a_customer_holds_one_time_and_a_new_hold_replaces_it(app, client, kiwi):
    _, service = kiwi
    first = book(client, service, 10, 1, "203.0.113.5")
    assert first.status_code == 201
    # The same customer (same email) picks another time: the 10:00 hold lets go.
    second = book(client, service, 13, 1, "198.51.100.1")
    assert second.status_code == 201
    # The same phone with another email is the same customer too.
    body = booking_body(service, at(local_day(), 15), **{**customer(1), "email": "new@example.com"})
    third = client.post(API, json=body, environ_base={"REMOTE_ADDR": "198.51.100.2"})
    assert third.status_code == 201
    bookings, _ = rows(app)
    assert [status for _, status in bookings] == [
        Status.EXPIRED,
        Status.EXPIRED,
        Status.PENDING_PAYMENT,
    ]
    # The released time is offered again, and someone else can hold it.
    day = local_day().isoformat()
    slots = client.get(f"/api/widget/{SLUG}/availability?date={day}&serviceId={service}").get_json()
    assert {"time": "10:00", "available": True}.items() <= next(
        s for s in slots["slots"] if s["time"] == "10:00"
    ).items()
    assert book(client, service, 10, 2, "203.0.113.9").status_code == 201


def test_a_day_takes_three_unpaid_holds_at_most(app, client, kiwi):
    _, service = kiwi
    for n, hour in enumerate((8, 10, 12), start=1):
        assert book(client, service, hour, n, f"203.0.113.{n}").status_code == 201
    before = rows(app)
    fourth = book(client, service, 14, 4, "203.0.113.4")
    assert_refused(fourth, "day")
    assert rows(app) == before
    # Another day is free to hold.
    assert book(client, service, 14, 4, "203.0.113.4", days=4).status_code == 201


def test_limits_come_from_configuration(app, client, kiwi):
    _, service = kiwi
    app.config.update(HOLD_LIMIT_PER_CLIENT=1, HOLD_LIMIT_PER_DAY=10)
    assert book(client, service, 10, 1, "203.0.113.5").status_code == 201
    assert_refused(book(client, service, 13, 2, "203.0.113.5"), "client")


def test_the_widget_says_why_a_hold_was_refused(app, client, kiwi):
    _, service = kiwi
    for n, hour in enumerate((8, 10, 12), start=1):
        assert book(client, service, hour, n, f"203.0.113.{n}").status_code == 201
    data = {"service": service, "start": iso_z(at(local_day(), 14)), **CUSTOMER}
    response = client.post(
        f"/book/{SLUG}/hold",
        data=data,
        headers={"HX-Request": "true"},
        environ_base={"REMOTE_ADDR": "192.0.2.50"},
    )
    assert response.status_code == 429
    text = html.unescape(response.get_data(as_text=True))
    assert 'role="alert"' in text and "Several people are booking this day" in text
    assert "Nothing has been charged" in text
    assert "Set-Cookie" not in response.headers
    assert len(rows(app)[0]) == 3
