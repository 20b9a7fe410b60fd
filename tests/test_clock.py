"""One clock: `utcnow` asks the app's CLOCK when tests set it, the wall clock otherwise."""

from datetime import UTC, datetime, timedelta

from peepopay.clock import utcnow
from tests.fixtures.clock import DASH_NOW


def test_wall_clock_without_an_app():
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_app_clock_is_set_in_one_place(app, frozen_clock):
    with app.app_context():
        assert utcnow() == DASH_NOW
        later = frozen_clock.set(DASH_NOW + timedelta(hours=1))
        assert utcnow() == later


def test_the_frozen_clock_reaches_routes(app, signed_in, frozen_clock):
    """Routes read the app's clock: the calendar opens on the frozen week."""
    frozen_clock.set(datetime(2031, 3, 4, 1, 0, tzinfo=UTC))  # Tue 4 March 2031 in Auckland
    html = signed_in.get("/dashboard/calendar").get_data(as_text=True)
    assert "Week 10: 3 Mar – 9 Mar 2031" in html
