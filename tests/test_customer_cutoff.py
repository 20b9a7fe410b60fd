"""The customer page's own rules: the cancellation text follows the booking's current start and
the current time, and the tradie's cut-off for changing or cancelling online is shown and kept."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.formatting import local_time
from peepopay.models import Booking, Tradie
from tests.notify_support import make_booking

AKL = ZoneInfo("Pacific/Auckland")
HTMX = {"HX-Request": "true"}


def local(days: int, hour: int) -> datetime:
    day = (utcnow().astimezone(AKL) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour), AKL).astimezone(UTC)


def token_of(app, booking_id: int) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).public_token


def starts_at(app, booking_id: int) -> datetime:
    with app.app_context():
        return db.session.get(Booking, booking_id).starts_at


def set_tradie(app, tradie_id: int, **values: object) -> None:
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        for name, value in values.items():
            setattr(tradie, name, value)
        db.session.commit()


# ------------------------------------------------------------------ the free-cancellation text


@pytest.mark.parametrize("htmx", [False, True])
def test_after_a_move_inside_the_window_the_policy_shows_no_past_time(app, client, tradie_id, htmx):
    """Booked more than 48 hours ahead, then moved to a time less than 48 hours away: the page
    said "Free cancellation until" a moment already past."""
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    token = token_of(app, booking_id)
    before = client.get(f"/b/{token}").get_data(as_text=True)
    assert "Free cancellation until" in before

    target = local(1, 14)  # 14 to 38 hours from now: inside the 48-hour window
    moved = client.post(
        f"/b/{token}/reschedule", data={"start": target.isoformat()}, headers=HTMX if htmx else {}
    )
    assert moved.status_code == (200 if htmx else 303)
    assert starts_at(app, booking_id) == target

    pages = [client.get(f"/b/{token}").get_data(as_text=True)]
    if htmx:
        pages.append(moved.get_data(as_text=True))  # the fragment answering the move
    for html in pages:
        assert "Free cancellation until" not in html
        assert "free cancellation has ended" in html.lower()
        assert "the deposit is not refunded" in html


def test_the_policy_time_follows_the_current_start(app, client, tradie_id):
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    token = token_of(app, booking_id)
    target = local(8, 10)
    assert (
        client.post(f"/b/{token}/reschedule", data={"start": target.isoformat()}).status_code == 303
    )
    html = client.get(f"/b/{token}").get_data(as_text=True)
    window_ends = local_time(target - timedelta(hours=48), "Pacific/Auckland")
    assert f"Free cancellation until {window_ends}" in html


# ------------------------------------------------------------------ the tradie's cut-off


def test_the_page_shows_the_cut_off_and_how_to_reach_the_tradie(app, client, tradie_id):
    set_tradie(app, tradie_id, customer_cutoff_hours=24, phone="+64215557770")
    booking_id = make_booking(app, tradie_id, starts_at=local(5, 10))
    html = client.get(f"/b/{token_of(app, booking_id)}").get_data(as_text=True)
    cutoff = local_time(local(5, 10) - timedelta(hours=24), "Pacific/Auckland")
    assert f"change or cancel it here until {cutoff}" in html
    assert "Change the time" in html and "Cancel booking" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_after_the_cut_off_changes_are_refused_with_the_tradies_contact(
    app, client, tradie_id, htmx
):
    set_tradie(
        app, tradie_id, customer_cutoff_hours=24, phone="+64215557770", contact_email="hi@kiwi.nz"
    )
    # 20 hours ahead: inside the 24-hour cut-off, still before the start.
    booking_id = make_booking(app, tradie_id, starts_at=utcnow() + timedelta(hours=20))
    original = starts_at(app, booking_id)
    token = token_of(app, booking_id)
    headers = HTMX if htmx else {}

    page = client.get(f"/b/{token}", headers=headers).get_data(as_text=True)
    assert "Cancel booking" not in page and "Change the time" not in page
    assert "24 hours before the job" in page
    assert "021 555 7770" in page and "hi@kiwi.nz" in page
    assert 'href="tel:+64215557770"' in page  # dialled as stored

    cancel = client.post(f"/b/{token}/cancel", data={"expected_refund": "0"}, headers=headers)
    assert cancel.status_code == 409
    assert "021 555 7770" in cancel.get_data(as_text=True)

    move = client.post(
        f"/b/{token}/reschedule", data={"start": local(6, 10).isoformat()}, headers=headers
    )
    assert move.status_code == 409
    assert "021 555 7770" in move.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(Booking, booking_id)
        assert (row.status, row.starts_at) == ("confirmed", original)


def test_the_cut_off_is_kept_by_the_services_not_only_the_page(app, tradie_id):
    from peepopay.bookings import customer_changes as customer

    set_tradie(app, tradie_id, customer_cutoff_hours=6)
    start = local(5, 10)
    booking_id = make_booking(app, tradie_id, starts_at=start)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        tradie = db.session.get(Tradie, tradie_id)
        edge = start - timedelta(hours=6)
        assert customer.can_change(booking, tradie, edge - timedelta(seconds=1))
        assert not customer.can_change(booking, tradie, edge)
        with pytest.raises(customer.CustomerActionError) as refused:
            customer.cancel(db.session, booking, edge)
        assert refused.value.status == 409
        with pytest.raises(customer.CustomerActionError):
            customer.reschedule(db.session, booking, local(6, 10), edge)
        db.session.rollback()
        assert db.session.get(Booking, booking_id).status == "confirmed"


def test_no_cut_off_means_until_the_start(app, tradie_id):
    from peepopay.bookings import customer_changes as customer

    start = local(5, 10)
    booking_id = make_booking(app, tradie_id, starts_at=start)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie.customer_cutoff_hours == 0
        assert customer.can_change(booking, tradie, start - timedelta(seconds=1))
        assert not customer.can_change(booking, tradie, start)
