"""Feeding the slot engine from the database: one indexed query for the bookings of a window."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, Status
from peepopay.calendars.models import MAX_BUSY_PIECE, BusyTime
from peepopay.db_setup import DbSession
from peepopay.scheduling import slots
from peepopay.scheduling.models import ArrivalWindow, AvailabilityRule, BlockedPeriod, Service

# No job lasts longer than this, so a booking overlapping a window started at most this early;
# the bound keeps the (tradie_id, starts_at) index scan to the window.
MAX_DURATION = timedelta(hours=24)


def rules_for(tradie: Tradie, service: Service) -> slots.SlotRules:
    return slots.SlotRules(
        tz=ZoneInfo(tradie.timezone),
        duration_minutes=service.duration_minutes,
        interval_minutes=tradie.slot_interval_minutes,
        buffer_minutes=tradie.buffer_minutes,
        min_notice_minutes=tradie.min_notice_minutes,
        horizon_days=tradie.horizon_days,
        window_jobs=tradie.jobs_per_window if service.by_arrival_window else 0,
    )


def arrival_windows(session: DbSession, tradie_id: int) -> list[slots.WeeklyRule]:
    """The tradie's arrival windows, in the shape of weekly hours (the engine reads them so
    for a service booked by window)."""
    rows = session.execute(
        sa.select(ArrivalWindow.weekday, ArrivalWindow.start_local, ArrivalWindow.end_local).where(
            ArrivalWindow.tradie_id == tradie_id
        )
    )
    return [slots.WeeklyRule(weekday, start, end) for weekday, start, end in rows]


def free_units(
    session: DbSession,
    tradie: Tradie,
    window: slots.Slot,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> list[tuple[datetime, datetime]]:
    """The shares of an arrival window no active booking (but the one moving) holds, in order."""
    start, end = window.starts_at_utc, window.ends_at_utc
    busy = busy_between(session, tradie.id, start, end, now, exclude_booking_id)
    return [
        (s, e)
        for s, e in slots.window_units(
            window.starts_at_utc, window.ends_at_utc, tradie.jobs_per_window
        )
        if not any(b.starts_at_utc < e and s < b.ends_at_utc for b in busy)
    ]


def weekly_rules(session: DbSession, tradie_id: int) -> list[slots.WeeklyRule]:
    rows = session.execute(
        sa.select(
            AvailabilityRule.weekday, AvailabilityRule.start_local, AvailabilityRule.end_local
        ).where(AvailabilityRule.tradie_id == tradie_id)
    )
    return [slots.WeeklyRule(weekday, start, end) for weekday, start, end in rows]


def blocked_periods(
    session: DbSession, tradie_id: int, first: date, last: date
) -> list[slots.BlockedPeriod]:
    rows = session.execute(
        sa.select(BlockedPeriod.start_date, BlockedPeriod.end_date).where(
            BlockedPeriod.tradie_id == tradie_id,
            BlockedPeriod.start_date <= last,
            BlockedPeriod.end_date >= first,
        )
    )
    return [slots.BlockedPeriod(start, end) for start, end in rows]


def active_condition(now: datetime) -> sa.ColumnElement[bool]:
    """Bookings that hold their time: confirmed, or pending with a live hold."""
    return sa.or_(
        Booking.status == Status.CONFIRMED,
        sa.and_(Booking.status == Status.PENDING_PAYMENT, Booking.hold_expires_at > now),
    )


def busy_between(
    session: DbSession,
    tradie_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> list[slots.Busy]:
    """Active bookings overlapping [start, end), read through the (tradie_id, starts_at) index."""
    query = sa.select(Booking.starts_at, Booking.ends_at).where(
        Booking.tradie_id == tradie_id,
        Booking.starts_at < end,
        Booking.starts_at >= start - MAX_DURATION,
        Booking.ends_at > start,
        active_condition(now),
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    return [slots.Busy(s, e) for s, e in session.execute(query)]


def away_between(
    session: DbSession, tradie_id: int, start: datetime, end: datetime
) -> list[slots.Away]:
    """Busy times from the tradie's own calendars overlapping [start, end), read through the
    (tradie_id, starts_at) index of busy_times (stored in pieces of at most a day)."""
    query = sa.select(BusyTime.starts_at, BusyTime.ends_at).where(
        BusyTime.tradie_id == tradie_id,
        BusyTime.starts_at < end,
        BusyTime.starts_at >= start - MAX_BUSY_PIECE,
        BusyTime.ends_at > start,
    )
    return [(s, e) for s, e in session.execute(query)]


def slot_inputs(
    session: DbSession,
    tradie: Tradie,
    service: Service,
    start: datetime,
    end: datetime,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> dict[str, object]:
    """Keyword arguments for the slot engine's functions over one UTC window."""
    rules = rules_for(tradie, service)
    first = start.astimezone(rules.tz).date() - timedelta(days=1)
    last = end.astimezone(rules.tz).date() + timedelta(days=1)
    weekly = arrival_windows if rules.window_jobs else weekly_rules
    return {
        "rules": rules,
        "weekly": weekly(session, tradie.id),
        "blocked": blocked_periods(session, tradie.id, first, last),
        "busy": busy_between(session, tradie.id, start, end, now, exclude_booking_id),
        "away": away_between(session, tradie.id, start, end),
        "now_utc": now,
    }


def day_slots(
    session: DbSession,
    tradie: Tradie,
    service: Service,
    day: date,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> list[slots.Slot]:
    window = slots.busy_window(day, rules_for(tradie, service))
    inputs = slot_inputs(session, tradie, service, *window, now, exclude_booking_id)
    return slots.slots_for_date(day, **inputs)  # type: ignore[arg-type]


def month_days(
    session: DbSession,
    tradie: Tradie,
    service: Service,
    year: int,
    month: int,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> list[date]:
    window = slots.month_window(year, month, rules_for(tradie, service))
    inputs = slot_inputs(session, tradie, service, *window, now, exclude_booking_id)
    return slots.days_with_free_slots(year, month, **inputs)  # type: ignore[arg-type]
