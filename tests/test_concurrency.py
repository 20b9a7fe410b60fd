"""Many customers at once: real HTTP requests through a threaded server, exactly one booking."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.serving import WSGIRequestHandler, make_server

from peepopay.bookings import services as bookings
from peepopay.bookings.models import ACTIVE_STATUSES
from peepopay.extensions import db
from peepopay.models import Booking
from peepopay.scheduling import slots
from tests.booking_helpers import SLUG, add_service, at, booking_body, local_day, service_id
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

pytestmark = pytest.mark.both_databases

CLIENTS = 60
PATH = f"/api/widget/{SLUG}/book"


class Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(app, app_config) -> Iterator[tuple[str, int]]:  # noqa: F811
    """The app under a real threaded WSGI server, one thread per connection."""
    app.config["WIDGET_BOOKING_LIMIT"] = "1000 per minute"
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", httpd.port
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def tradie(app, stripe_live) -> int:
    return payments_tradie(app, stripe_live)


def fire(address: tuple[str, int], bodies: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """POST every body at the same moment: connect first, then release all at a barrier."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, str]] = [(0, "")] * len(bodies)

    def customer(index: int, body: dict[str, Any]) -> None:
        conn = http.client.HTTPConnection(*address, timeout=120)
        try:
            conn.connect()
            payload = json.dumps(body)
            barrier.wait()
            conn.request("POST", PATH, payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            results[index] = (response.status, response.read().decode())
        finally:
            conn.close()

    threads = [threading.Thread(target=customer, args=(i, b)) for i, b in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return results


def active_between(app, start: datetime, end: datetime) -> list[Booking]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(Booking).where(
                    Booking.status.in_(ACTIVE_STATUSES),
                    Booking.starts_at < end,
                    Booking.ends_at > start,
                )
            )
        )


def assert_exactly_one_booking(results: list[tuple[int, str]]) -> None:
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: len(results) - 1}, statuses
    for status, body in results:
        assert "database is locked" not in body
        if status == 409:
            assert json.loads(body)["nextFreeSlots"], body


def other_customer(i: int) -> dict[str, str]:
    """Customer i of many: their own email and phone (one customer holds one time at most)."""
    return {"email": f"customer{i}@example.com", "phone": f"021 {1234000 + i}"}


@pytest.mark.parametrize("check", ["slot engine", "database only"])
def test_same_slot_from_many_clients_books_once(app, server, tradie, check, monkeypatch):
    if check == "database only":
        # Blind the check before insert: the overlap guarantee alone must keep one booking.
        def always_free(session, tradie, service, start_utc, now):
            end = start_utc + timedelta(minutes=service.duration_minutes)
            return slots.Slot(start_utc, end, start_utc, True)

        monkeypatch.setattr(bookings, "offered_slot", always_free)
    day = local_day(4)
    service = service_id(app, tradie)
    bodies = [booking_body(service, at(day, 10), **other_customer(i)) for i in range(CLIENTS)]
    assert_exactly_one_booking(fire(server, bodies))
    booked = active_between(app, at(day, 0), at(day, 23))
    assert [b.starts_at for b in booked] == [at(day, 10)]


def test_overlapping_slots_of_different_durations_book_once(app, server, tradie):
    """Every request below covers 11:00–11:30, so only one of them can be held."""
    # The long services leave room for few jobs a day, and the day's cap on unpaid holds would
    # answer 429 before the overlap does; this test is about the overlap.
    app.config.update(HOLD_LIMIT_DAY_PERCENT=100)
    day = local_day(5)
    services = {
        minutes: add_service(app, tradie, name=f"{minutes} min", duration_minutes=minutes)
        for minutes in (90, 120, 180)
    }
    services[60] = service_id(app, tradie)
    choices = [
        (60, 10, 30),
        (60, 11, 0),
        (90, 10, 0),
        (90, 10, 30),
        (120, 9, 30),
        (120, 11, 0),
        (180, 9, 0),
    ]
    bodies = []
    for i in range(CLIENTS):
        minutes, hour, minute = choices[i % len(choices)]
        bodies.append(booking_body(services[minutes], at(day, hour, minute), **other_customer(i)))
    assert_exactly_one_booking(fire(server, bodies))
    booked = active_between(app, at(day, 0), at(day, 23))
    assert len(booked) == 1
    assert booked[0].starts_at <= at(day, 11) and booked[0].ends_at >= at(day, 11, 30)


def test_concurrent_bookings_get_distinct_per_tradie_references(app, server, tradie):
    """Each booking takes the tradie's next number, race-free: twelve customers at once for
    six different times (two per time), so six bookings are made and six refused; the six
    made are numbered 1 to 6, each once, and a refused insert gave its number back."""
    app.config.update(HOLD_LIMIT_PER_CLIENT=100, HOLD_LIMIT_DAY_PERCENT=100)
    day = local_day(6)
    service = service_id(app, tradie)
    starts = [at(day, hour) for hour in (9, 11, 13)] + [
        at(day + timedelta(1), h) for h in (9, 11, 13)
    ]
    bodies = [booking_body(service, starts[i % 6], **other_customer(i)) for i in range(12)]
    results = fire(server, bodies)
    assert Counter(status for status, _ in results) == {201: 6, 409: 6}, results
    with app.app_context():
        references = db.session.scalars(
            sa.select(Booking.reference).where(Booking.tradie_id == tradie)
        ).all()
    assert sorted(references) == [1, 2, 3, 4, 5, 6]
