"""Arrival windows: a service booked by window, N jobs a window, and the database (not a check
before insert) keeping the window to N even under concurrent bookings."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from peepopay.bookings import services as bookings
from peepopay.extensions import db
from peepopay.models import ArrivalWindow, Booking, Service, Tradie
from peepopay.scheduling import services as scheduling
from peepopay.scheduling import slots
from tests.booking_helpers import SLUG, ZONE, at, booking_body, local_day, service_id
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)
from tests.test_api import conforms
from tests.test_concurrency import fire, other_customer, server  # noqa: F401

BASE = f"/api/widget/{SLUG}"


def by_window(app, tradie_id: int, jobs: int = 2) -> int:
    """The tradie's service booked by window, windows 08–10, 10–12 and 13–15 every day."""
    service = service_id(app, tradie_id)
    with app.app_context():
        db.session.get(Service, service).by_arrival_window = True
        db.session.get(Tradie, tradie_id).jobs_per_window = jobs
        for weekday in range(7):
            for start, end in ((8, 10), (10, 12), (13, 15)):
                db.session.add(
                    ArrivalWindow(
                        tradie_id=tradie_id,
                        weekday=weekday,
                        start_local=time(start),
                        end_local=time(end),
                    )
                )
        db.session.commit()
    return service


def test_window_units_cut_a_window_into_shares():
    start = datetime(2030, 1, 7, 19, tzinfo=UTC)
    units = slots.window_units(start, start + timedelta(hours=2), 3)
    assert units == [
        (start, start + timedelta(minutes=40)),
        (start + timedelta(minutes=40), start + timedelta(minutes=80)),
        (start + timedelta(minutes=80), start + timedelta(hours=2)),
    ]
    assert slots.window_units(start, start + timedelta(minutes=2), 5) == [
        (start, start + timedelta(minutes=1)),
        (start + timedelta(minutes=1), start + timedelta(minutes=2)),
    ]


def test_engine_offers_windows_while_a_share_is_free():
    day = datetime(2030, 1, 7).date()  # a Monday
    rules = slots.SlotRules(tz=ZONE, duration_minutes=60, window_jobs=2, horizon_days=9999)
    windows = [slots.WeeklyRule(0, time(8), time(10)), slots.WeeklyRule(0, time(13), time(15))]
    now = datetime(2030, 1, 1, tzinfo=UTC)
    eight = datetime.combine(day, time(8), ZONE).astimezone(UTC)
    nine = eight + timedelta(hours=1)
    inputs = {"rules": rules, "weekly": windows, "blocked": [], "now_utc": now}
    offered = slots.slots_for_date(day, busy=[slots.Busy(eight, nine)], **inputs)
    assert [(s.local_start.hour, s.available, s.window) for s in offered] == [
        (8, True, True),
        (13, True, True),
    ]
    assert offered[0].ends_at_utc == eight + timedelta(hours=2)
    full = [slots.Busy(eight, nine), slots.Busy(nine, nine + timedelta(hours=1))]
    offered = slots.slots_for_date(day, busy=full, **inputs)
    assert [s.available for s in offered] == [False, True]


@pytest.fixture
def windowed(app, stripe_live):
    tradie_id = payments_tradie(app, stripe_live)
    return tradie_id, by_window(app, tradie_id)


def test_availability_lists_windows_with_their_end(app, client, windowed):
    _, service = windowed
    day = local_day()
    response = client.get(f"{BASE}/availability?date={day}&serviceId={service}")
    body = conforms(response, "/api/widget/{slug}/availability")
    assert [(s["time"], s["available"]) for s in body["slots"]] == [
        ("08:00", True),
        ("10:00", True),
        ("13:00", True),
    ]
    assert datetime.fromisoformat(body["slots"][0]["end"]) == at(day, 10)
    config = conforms(client.get(f"{BASE}/config"), "/api/widget/{slug}/config")
    assert config["services"][0]["bookBy"] == "arrivalWindow"


def test_a_window_takes_its_number_of_jobs_then_is_full(app, client, windowed):
    _, service = windowed
    app.config["HOLD_LIMIT_PER_CLIENT"] = 10  # one test client holds them all
    day = local_day()
    codes = []
    for i in range(3):
        body = booking_body(service, at(day, 8), **other_customer(i))
        codes.append(client.post(f"{BASE}/book", json=body).status_code)
    assert codes == [201, 201, 409]
    with app.app_context():
        held = db.session.scalars(sa.select(Booking).order_by(Booking.starts_at)).all()
        assert [(b.starts_at, b.ends_at) for b in held] == [
            (at(day, 8), at(day, 9)),
            (at(day, 9), at(day, 10)),
        ]
        assert {(b.window_starts_at, b.window_ends_at) for b in held} == {(at(day, 8), at(day, 10))}
        assert {b.duration_minutes for b in held} == {60}
    response = client.get(f"{BASE}/availability?date={day}&serviceId={service}")
    assert [s["available"] for s in response.get_json()["slots"]] == [False, True, True]


@pytest.mark.both_databases
@pytest.mark.parametrize("check", ["slot engine", "database only"])
def test_thirty_at_once_for_a_window_with_room_for_two_give_two(
    app,
    server,  # noqa: F811
    stripe_live,
    check,
    monkeypatch,
):
    # The hold limits would stop a third hold from one address on their own: lift them, so
    # only the window's shares decide.
    app.config["HOLD_LIMIT_PER_CLIENT"] = 1000
    app.config["HOLD_LIMIT_DAY_PERCENT"] = 100
    tradie_id = payments_tradie(app, stripe_live)
    service = by_window(app, tradie_id, jobs=2)
    day = local_day(4)
    if check == "database only":
        # Blind every check before the insert: the window is always offered with every share
        # free, so only the database's overlap refusal can keep it to two.
        def always_free(session, tradie, service, start_utc, now):
            return slots.Slot(start_utc, start_utc + timedelta(hours=2), start_utc, True, True)

        def every_share(session, tradie, window, now, exclude_booking_id=None):
            return slots.window_units(window.starts_at_utc, window.ends_at_utc, 2)

        monkeypatch.setattr(bookings, "offered_slot", always_free)
        monkeypatch.setattr(scheduling, "free_units", every_share)
    bodies = [booking_body(service, at(day, 8), **other_customer(i)) for i in range(30)]
    results = fire(server, bodies)
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 2, 409: 28}, statuses
    for status, body in results:
        assert "database is locked" not in body
        if status == 409:
            assert json.loads(body)["error"]["message"].startswith("Sorry, that time")
    with app.app_context():
        held = db.session.scalars(
            sa.select(Booking)
            .where(Booking.status == "pending_payment")
            .order_by(Booking.starts_at)
        ).all()
    assert [(b.starts_at, b.ends_at) for b in held] == [
        (at(day, 8), at(day, 9)),
        (at(day, 9), at(day, 10)),
    ]


def test_customer_moves_a_window_booking_into_another_window(app, client, windowed):
    from peepopay.bookings import customer_changes, lifecycle
    from peepopay.clock import utcnow

    _, service = windowed
    day = local_day()
    response = client.post(f"{BASE}/book", json=booking_body(service, at(day, 8)))
    booking_id = response.get_json()["bookingId"]
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        lifecycle.confirm(db.session, booking, utcnow(), actor="stripe")
        db.session.commit()
    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        customer_changes.reschedule(db.session, booking, at(day, 13), utcnow())
        db.session.commit()
        booking = db.session.get(Booking, booking_id)
        assert (booking.window_starts_at, booking.window_ends_at) == (at(day, 13), at(day, 15))
        assert (booking.starts_at, booking.ends_at) == (at(day, 13), at(day, 14))
