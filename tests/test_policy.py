"""The cancellation window (transitions are walked pair by pair in test_lifecycle.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from peepopay.bookings.models import Booking
from peepopay.bookings.policy import customer_refund_minor

START = datetime(2030, 3, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before_start", "expected"),
    [
        (timedelta(hours=48, seconds=1), 5000),
        (timedelta(hours=48), 5000),
        (timedelta(hours=47, minutes=59), 0),
        (timedelta(0), 0),
    ],
)
def test_refund_at_each_side_of_the_window(before_start, expected):
    booking = Booking(starts_at=START)
    assert customer_refund_minor(booking, 5000, START - before_start, 48) == expected
