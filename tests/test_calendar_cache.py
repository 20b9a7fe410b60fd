"""The calendar page is rendered once and reused while nothing it shows has changed
(peepopay/dashboard/calendar.py, `rendered`): every commit that changes a booking, hours, blocked
days, busy times or the tradie bumps the tradie's slot versions (peepopay/slot_versions.py), a
hold leaves at its expiry without any write, and the next free start moves with the clock.
Each test first shows the page is served without reading the bookings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import BlockedPeriod, Booking, Tradie
from tests.fixtures.app import sql_statements
from tests.test_dashboard_calendar import NOW, day_text, local

pytestmark = [pytest.mark.both_databases, pytest.mark.usefixtures("fast_passwords")]

WEEK = "/dashboard/calendar?week=2026-W49"
FRIDAY = "2026-12-04"


@pytest.fixture
def clock(frozen_clock):
    frozen_clock.set(NOW)
    return frozen_clock.set


def page(dash) -> str:
    response = dash.get(WEEK)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def kept(app, dash) -> str:
    """The week, asked until it comes from the kept rendering (proved: no booking is read)."""
    first = page(dash)
    for _ in range(5):  # the first asks set the slot versions, a late bump may come once
        with sql_statements(app) as seen:
            again = page(dash)
        if not any("bookings" in s for s in seen):
            break
    assert not any("bookings" in s for s in seen), "a repeated week should be reused"
    assert calendar_of(again) == calendar_of(first)
    return again


def calendar_of(html: str) -> str:
    """The calendar's own markup (the page around it carries a fresh CSRF token each time)."""
    return html[html.index('<section id="calendar"') :]


def friday(html: str) -> str:
    return day_text(html, FRIDAY)


def test_a_repeated_week_is_rendered_once(app, dash, clock, add_booking):
    add_booking(customer_name="Aroha Smith", starts_at=local(2026, 12, 4, 10))
    assert "Aroha Smith" in friday(kept(app, dash))


def test_without_redis_every_page_is_built(app, dash, clock, add_booking):
    add_booking(customer_name="Aroha Smith", starts_at=local(2026, 12, 4, 10))
    app.extensions["redis"] = None
    page(dash)
    with sql_statements(app) as seen:
        assert "Aroha Smith" in friday(page(dash))
    assert any("bookings" in s for s in seen), "without slot versions nothing may be reused"


def test_a_new_booking_and_an_edit_show_at_once(app, dash, clock, add_booking):
    job = add_booking(customer_name="Aroha Smith", starts_at=local(2026, 12, 4, 10))
    assert "Tane Walker" not in friday(kept(app, dash))
    add_booking(customer_name="Tane Walker", starts_at=local(2026, 12, 4, 13))
    assert "Tane Walker" in friday(page(dash))
    kept(app, dash)
    with app.app_context():
        db.session.get(Booking, job).customer_name = "Aroha Smith-Jones"
        db.session.commit()
    assert "Aroha Smith-Jones" in friday(page(dash))


def test_a_cancellation_by_a_bulk_statement_shows_at_once(app, dash, clock, add_booking):
    job = add_booking(customer_name="Aroha Smith", starts_at=local(2026, 12, 4, 10))
    assert "Aroha Smith" in friday(kept(app, dash))
    with app.app_context():
        db.session.execute(sa.update(Booking).where(Booking.id == job).values(status="cancelled"))
        db.session.commit()
    assert "Aroha Smith" not in friday(page(dash))


def test_a_hold_leaves_at_its_expiry_without_any_write(app, dash, clock, add_booking):
    add_booking(
        customer_name="Held Person",
        starts_at=local(2026, 12, 4, 10),
        status="pending_payment",
        hold_expires_at=NOW + timedelta(minutes=10),
    )
    assert "Held Person" in friday(kept(app, dash))
    clock(NOW + timedelta(minutes=11))
    assert "Held Person" not in friday(page(dash))


def test_a_blocked_day_and_new_hours_show_at_once(app, dash, clock, tradie_id):
    assert "Blocked all day" not in friday(kept(app, dash))
    with app.app_context():
        db.session.add(
            BlockedPeriod(
                tradie_id=tradie_id,
                start_date=date(2026, 12, 4),
                end_date=date(2026, 12, 4),
                reason="Holiday",
            )
        )
        db.session.commit()
    assert "Blocked all day · Holiday" in friday(page(dash))
    kept(app, dash)
    with app.app_context():
        db.session.get(Tradie, tradie_id).timezone = "Australia/Sydney"
        db.session.commit()
    assert "Times are in Australia/Sydney" in page(dash)


def test_the_next_free_start_moves_with_the_clock(app, dash, clock):
    # 09:10 on Thursday: the first free time offered today starts at 09:30.
    assert "9:30 am" in day_text(kept(app, dash), "2026-12-03")
    clock(NOW + timedelta(minutes=30))  # 09:40: now from 10:00
    today = day_text(page(dash), "2026-12-03")
    assert "9:30 am" not in today and "10:00 am" in today
