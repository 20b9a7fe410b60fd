"""The cancellation window and forward-only transitions."""

from datetime import UTC, datetime, timedelta

import pytest

from peepopay.booking.models import Booking, Status
from peepopay.booking.policy import can_move, customer_refund_minor

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


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (Status.PENDING_PAYMENT, Status.CONFIRMED, True),
        (Status.CONFIRMED, Status.PENDING_PAYMENT, False),
        (Status.CONFIRMED, Status.CONFIRMED, False),
        (Status.CONFIRMED, Status.COMPLETED, True),
        (Status.COMPLETED, Status.CANCELLED, False),
        (Status.EXPIRED, Status.CONFIRMED, True),
        (Status.PAYMENT_FAILED, Status.CONFIRMED, True),
        (Status.CANCELLED, Status.CONFIRMED, False),
    ],
)
def test_transitions_only_go_forward(current, new, allowed):
    assert can_move(Booking(status=current), new) is allowed
