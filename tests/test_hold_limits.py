"""Unpaid holds are scarce: per client address (an IPv6 client per /64), per customer and per
day of a tradie's jobs (half of what the day can take).

A refused hold is a 429 with a reason in the API and a friendly step in the widget, and it
leaves nothing behind: no booking, no payment record, no Stripe object."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import Booking, Payment, Status
from peepopay.net import network_of
from tests.booking_helpers import (
    CUSTOMER,
    SLUG,
    add_service,
    at,
    booking_body,
    iso_z,
    local_day,
    service_id,
)
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


def book(
    client: Any,
    service: int,
    hour: int,
    n: int,
    address: str,
    days: int = 3,
    minute: int = 0,
    replaces: str | None = None,
    **who: str,
) -> Any:
    """Customer `n` (or who they claim to be) holds a time from `address` through the API."""
    body = booking_body(service, at(local_day(days), hour, minute), **(customer(n) | who))
    if replaces is not None:
        body["replaces"] = replaces
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


def test_a_customers_hold_is_replaced_only_with_its_token(app, client, kiwi):
    _, service = kiwi
    first = book(client, service, 10, 1, "203.0.113.5")
    assert first.status_code == 201
    # Someone else who knows the customer's email, or their phone, cannot release the hold.
    stranger = book(client, service, 13, 1, "198.51.100.1")
    assert_refused(stranger, "customer")
    assert "already held" in stranger.get_json()["error"]["message"]
    by_phone = book(client, service, 13, 9, "198.51.100.2", phone=customer(1)["phone"])
    assert_refused(by_phone, "customer")
    token = first.get_json()["holdToken"]
    forged = book(client, service, 13, 1, "198.51.100.3", replaces=token[:-2] + "xx")
    assert_refused(forged, "customer")
    assert rows(app) == ([("c1@example.com", Status.PENDING_PAYMENT)], 1)
    # The customer's own browser presents the hold's token: the new time replaces the old.
    second = book(client, service, 13, 1, "198.51.100.1", replaces=token)
    assert second.status_code == 201, second.get_json()
    conforms(second, "/api/widget/{slug}/book", "post")
    # The same phone with another email is the same customer too; its token moves it again.
    third = book(
        client,
        service,
        15,
        9,
        "198.51.100.2",
        phone=customer(1)["phone"],
        replaces=second.get_json()["holdToken"],
    )
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


def test_the_widget_moves_a_hold_only_from_its_own_payment_step(app, client, kiwi):
    _, service = kiwi
    hold_url = f"/book/{SLUG}/hold"
    data = {"service": service, "start": iso_z(at(local_day(), 10)), **CUSTOMER}
    held = client.post(hold_url, data=data, environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert held.status_code == 303
    payment = client.get(held.headers["Location"])
    assert payment.status_code == 200
    # Another browser typing the same email is refused, and the hold stays.
    later = {**data, "start": iso_z(at(local_day(), 13))}
    other = client.post(
        hold_url,
        data=later,
        headers={"HX-Request": "true"},
        environ_base={"REMOTE_ADDR": "198.51.100.1"},
    )
    assert other.status_code == 429
    text = html.unescape(other.get_data(as_text=True))
    assert 'role="alert"' in text and "already held" in text
    assert "Set-Cookie" not in other.headers
    assert rows(app) == ([(CUSTOMER["email"], Status.PENDING_PAYMENT)], 1)
    # The payment step's "Choose another time" carries the hold's signed token along.
    page = html.unescape(payment.get_data(as_text=True))
    form = re.search(r'<form[^>]*action="/book/kiwi/date"[^>]*>(.*?)</form>', page, re.S)
    assert form is not None and "Choose another time" in form.group(1)
    carried = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[1]))
    assert carried["email"] == CUSTOMER["email"] and carried["service"] == str(service)
    moved = client.post(
        hold_url,
        data={**carried, "start": later["start"]},
        environ_base={"REMOTE_ADDR": "198.51.100.1"},
    )
    assert moved.status_code == 303, moved.get_data(as_text=True)
    bookings, _ = rows(app)
    assert [status for _, status in bookings] == [Status.EXPIRED, Status.PENDING_PAYMENT]


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
    app.config.update(HOLD_LIMIT_PER_CLIENT=1, HOLD_LIMIT_DAY_PERCENT=100)
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


def test_a_day_takes_unpaid_holds_for_half_the_jobs_it_has_room_for(app, client, stripe_live):
    tradie_id = payments_tradie(app, stripe_live, buffer_minutes=0)
    service = add_service(app, tradie_id, duration_minutes=30)
    # 08:00-17:00 has room for eighteen 30-minute jobs: nine may wait for payment at once,
    # however few addresses hold them, not just three.
    for n in range(9):
        response = book(client, service, 8 + n, n + 1, f"203.0.113.{n + 1}")
        assert response.status_code == 201, (n, response.get_json())
    before = rows(app)
    tenth = book(client, service, 8, 10, "203.0.113.10", minute=30)
    assert_refused(tenth, "day")
    assert "Several people are booking this day" in tenth.get_json()["error"]["message"]
    assert rows(app) == before


def test_a_day_with_room_for_two_jobs_takes_one_unpaid_hold(app, client, kiwi):
    tradie_id, _ = kiwi
    # Three hours and half an hour's buffer: 08:00 and 11:30 are the day's two jobs.
    long_job = add_service(app, tradie_id, duration_minutes=180)
    assert book(client, long_job, 8, 1, "203.0.113.1").status_code == 201
    before = rows(app)
    second = book(client, long_job, 11, 2, "203.0.113.2", minute=30)
    assert_refused(second, "day")
    assert rows(app) == before
    # So two addresses cannot take the whole day: 11:30 is still there for a paying customer.
    day = local_day().isoformat()
    url = f"/api/widget/{SLUG}/availability?date={day}&serviceId={long_job}"
    free = [s["time"] for s in client.get(url).get_json()["slots"] if s["available"]]
    assert "11:30" in free


def test_ipv6_clients_hold_per_64_network(app, client, kiwi):
    _, service = kiwi
    assert book(client, service, 10, 1, "2001:db8:5:6::1").status_code == 201
    assert book(client, service, 13, 2, "2001:db8:5:6:ffff:1:2:3").status_code == 201
    before = rows(app)
    # Another address of the same /64 is the same client.
    assert_refused(book(client, service, 15, 3, "2001:db8:5:6::abcd"), "client")
    assert rows(app) == before
    # Another /64 is another client.
    assert book(client, service, 15, 3, "2001:db8:5:7::1").status_code == 201


def test_rate_limits_count_ipv6_clients_per_64_network(app, client, kiwi):
    _, service = kiwi
    app.config.update(WIDGET_AVAILABILITY_LIMIT="2 per minute", WIDGET_BOOKING_LIMIT="1 per minute")
    day = local_day().isoformat()
    api = f"/api/widget/{SLUG}/availability?date={day}&serviceId={service}"
    widget = f"/book/{SLUG}/date?service={service}"

    def status(url: str, address: str) -> int:
        return int(client.get(url, environ_base={"REMOTE_ADDR": address}).status_code)

    assert status(api, "2001:db8:9:9::1") == 200
    assert status(api, "2001:db8:9:9::2") == 200
    assert status(api, "2001:db8:9:9:1::3") == 429
    assert status(widget, "2001:db8:9:9:2::4") == 429  # Flask-Limiter's key, the same bucket
    assert status(widget, "2001:db8:9:a::1") == 200
    assert status(api, "203.0.113.1") == 200  # IPv4: per address
    assert book(client, service, 10, 1, "2001:db8:9:9::10").status_code == 201
    limited = book(client, service, 13, 2, "2001:db8:9:9:5::11")
    assert limited.status_code == 429
    assert "reason" not in limited.get_json()["error"]  # the rate limit, not a hold limit
    assert book(client, service, 13, 2, "2001:db8:9:b::11").status_code == 201


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),  # IPv4 written as IPv6 is still that address
        ("2001:db8:5:6:ffff:1:2:3", "2001:db8:5:6::/64"),
        ("2001:DB8:5:6::1", "2001:db8:5:6::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unknown", "unknown"),
    ],
)
def test_limits_count_an_ipv4_address_or_an_ipv6_64(address, client):
    assert network_of(address) == client
