"""The cancellation policy: what a customer's own cancellation refunds."""

from __future__ import annotations

from datetime import datetime, timedelta

from peepopay.bookings.models import Booking


def free_cancel_ends_at(booking: Booking, window_hours: int) -> datetime:
    """The last moment a customer's cancellation refunds in full: `window_hours` before the
    job, but never later than a deadline that had passed when the booking was moved (a move
    does not reopen a closed window)."""
    natural = booking.starts_at - timedelta(hours=window_hours)
    kept = booking.free_cancel_ends_at
    return natural if kept is None else min(natural, kept)


def deadline_kept_by_move(booking: Booking, now: datetime, window_hours: int) -> datetime | None:
    """What `free_cancel_ends_at` becomes when the booking moves at `now`: the deadline, when
    the window has closed, so the new time cannot reopen it; None while it is open (an open
    window follows the job to its new time)."""
    ends = free_cancel_ends_at(booking, window_hours)
    return ends if now > ends else None


def customer_refund_minor(
    booking: Booking, paid_minor: int, now: datetime, window_hours: int
) -> int:
    """What a customer's own cancellation refunds: everything paid when cancelled before the
    free-cancellation deadline, nothing after it."""
    if now <= free_cancel_ends_at(booking, window_hours):
        return paid_minor
    return 0
