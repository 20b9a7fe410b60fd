"""The cancellation policy: what a customer's own cancellation refunds."""

from __future__ import annotations

from datetime import datetime, timedelta

from peepopay.bookings.models import Booking


def customer_refund_minor(
    booking: Booking, paid_minor: int, now: datetime, window_hours: int
) -> int:
    """What a customer's own cancellation refunds: everything paid when cancelled at least
    `window_hours` before the job starts, nothing inside the window."""
    if now <= booking.starts_at - timedelta(hours=window_hours):
        return paid_minor
    return 0
