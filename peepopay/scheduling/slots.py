"""The slot engine: turns local working hours, blocked dates and bookings into bookable slots.

Pure functions over frozen dataclasses; every instant in or out is an aware datetime.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

__all__ = [
    "BlockedPeriod",
    "Busy",
    "Slot",
    "SlotRules",
    "WeeklyRule",
    "busy_window",
    "days_with_free_slots",
    "is_bookable",
    "month_window",
    "next_free_slots",
    "slots_for_date",
    "window_units",
    "working_span",
]

_DAY = timedelta(days=1)
_Range = tuple[datetime, datetime]
# Ranges chained through 24-hour rules are anchored at their true start, up to a week back.
_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class WeeklyRule:
    """Local wall-clock working hours on one weekday (0 = Monday); end <= start runs overnight."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0..6, got {self.weekday}")


@dataclass(frozen=True)
class BlockedPeriod:
    """Whole local days, both ends inclusive, on which no job may run."""

    start_date: date
    end_date: date


@dataclass(frozen=True)
class Busy:
    """An active booking, or a busy time from the tradie's own calendar, as UTC [start, end)."""

    starts_at_utc: datetime
    ends_at_utc: datetime

    def __post_init__(self) -> None:
        _require_aware(self.starts_at_utc, "starts_at_utc")
        _require_aware(self.ends_at_utc, "ends_at_utc")
        if self.ends_at_utc <= self.starts_at_utc:
            raise ValueError("a busy period must end after it starts")


@dataclass(frozen=True)
class SlotRules:
    """How slots are cut from working hours for one service of one tradie."""

    tz: ZoneInfo
    duration_minutes: int
    interval_minutes: int = 30
    buffer_minutes: int = 0
    min_notice_minutes: int = 0
    horizon_days: int = 60
    # Above 0: the service is booked by arrival window, `weekly` holds the windows and each
    # takes this many jobs (see `window_units`); 0: exact starts cut from working hours.
    window_jobs: int = 0

    def __post_init__(self) -> None:
        if self.duration_minutes <= 0 or self.interval_minutes <= 0:
            raise ValueError("duration and interval must be positive")
        if self.window_jobs < 0:
            raise ValueError("window_jobs must not be negative")
        if min(self.buffer_minutes, self.min_notice_minutes, self.horizon_days) < 0:
            raise ValueError("buffer, notice and horizon must not be negative")


@dataclass(frozen=True)
class Slot:
    """A candidate job; `available` is False when it collides with a booking or its buffer."""

    starts_at_utc: datetime
    ends_at_utc: datetime
    local_start: datetime
    available: bool
    # An arrival window: the customer books it whole; [start, end) is the window.
    window: bool = False


def window_units(start_utc: datetime, end_utc: datetime, jobs: int) -> list[_Range]:
    """A window for `jobs` jobs cut into that many consecutive shares, whole minutes each
    (the last takes the remainder). A booking holds one share as its [start, end), so the
    database's overlap guarantee lets at most `jobs` bookings into the window."""
    minutes = int((end_utc - start_utc).total_seconds() // 60)
    jobs = max(1, min(jobs, minutes))
    cuts = [start_utc + timedelta(minutes=minutes * i // jobs) for i in range(jobs)] + [end_utc]
    return list(pairwise(cuts))


def _window_slots(
    day: date,
    rules: SlotRules,
    windows: Sequence[WeeklyRule],
    blocked: Sequence[BlockedPeriod],
    busy: Sequence[Busy],
    away: Sequence[Away],
    earliest: datetime,
) -> list[Slot]:
    """The day's arrival windows; available while one of its shares is free. A window that
    meets a busy time of the tradie's own calendar is not offered, as a fixed time is not."""
    found = []
    for window in windows:
        if window.weekday != day.weekday() or window.end <= window.start:
            continue
        start_utc = _existing_utc(datetime.combine(day, window.start), rules.tz)
        end_utc = _existing_utc(datetime.combine(day, window.end), rules.tz)
        if start_utc is None or end_utc is None or start_utc < earliest:
            continue
        if _is_blocked(start_utc, end_utc, rules.tz, blocked):
            continue
        if away and _is_away(start_utc, end_utc, away):
            continue
        free = any(
            not any(b.starts_at_utc < e and s < b.ends_at_utc for b in busy)
            for s, e in window_units(start_utc, end_utc, rules.window_jobs)
        )
        found.append(Slot(start_utc, end_utc, start_utc.astimezone(rules.tz), free, True))
    return sorted(found, key=lambda s: s.starts_at_utc)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")


def _utc_bounds(local: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Earliest and latest UTC instants a naive wall-clock time can mean (differ around DST)."""
    a, b = (local.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    return min(a, b), max(a, b)


def _existing_utc(local: datetime, tz: ZoneInfo) -> datetime | None:
    """The first occurrence of a wall-clock time in UTC, or None inside a spring-forward gap."""
    utc = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return utc if utc.astimezone(tz).replace(tzinfo=None) == local else None


def _working_ranges(day: date, rules: SlotRules, weekly: Sequence[WeeklyRule]) -> list[_Range]:
    """Merged naive local ranges around `day`; neighbours matter for overnight and long jobs."""
    ranges = []
    for offset in range(-_LOOKBACK_DAYS, rules.duration_minutes // 1440 + 2):
        d = day + timedelta(days=offset)
        for rule in weekly:
            if rule.weekday == d.weekday():
                start, end = datetime.combine(d, rule.start), datetime.combine(d, rule.end)
                ranges.append((start, end + _DAY if end <= start else end))
    merged: list[_Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _candidates(day: date, rules: SlotRules, weekly: Sequence[WeeklyRule]) -> Iterator[_Range]:
    """Naive local starts on `day`, each with the UTC end of the range it must fit in."""
    day_start = datetime.combine(day, time())
    day_end = day_start + _DAY
    step = timedelta(minutes=rules.interval_minutes)
    for range_start, range_end in _working_ranges(day, rules, weekly):
        if range_end <= day_start or range_start >= day_end:
            continue
        skip = max(0, -((range_start - day_start) // step))  # ceil: first step on `day`
        local = range_start + skip * step
        # The earliest meaning of the end, so a job never runs past the hours the tradie set.
        range_end_utc = _utc_bounds(range_end, rules.tz)[0]
        while local < min(range_end, day_end):
            yield local, range_end_utc
            local += step


def _is_blocked(
    start_utc: datetime, end_utc: datetime, tz: ZoneInfo, blocked: Sequence[BlockedPeriod]
) -> bool:
    first = start_utc.astimezone(tz).date()
    last = (end_utc - timedelta(microseconds=1)).astimezone(tz).date()  # end is exclusive
    return any(p.start_date <= last and first <= p.end_date for p in blocked)


# A busy time from the tradie's own calendar: UTC [start, end), aware. Plain pairs, not `Busy`:
# the hot path may pass hundreds of them per request.
Away = tuple[datetime, datetime]


def _is_away(start_utc: datetime, end_utc: datetime, away: Sequence[Away]) -> bool:
    """The tradie's own calendar is busy at some moment of [start, end)."""
    return any(s < end_utc and start_utc < e for s, e in away)


def working_span(
    day: date, rules: SlotRules, weekly: Sequence[WeeklyRule]
) -> tuple[datetime, datetime] | None:
    """UTC [start, end) holding every slot `slots_for_date` can offer on `day` (None: no
    working hours that day). Busy times outside it cannot change the day's slots."""
    found = [
        (_utc_bounds(local, rules.tz)[0], range_end_utc)
        for local, range_end_utc in _candidates(day, rules, weekly)
    ]
    if not found:
        return None
    return min(s for s, _ in found), max(e for _, e in found)


def _local_today(now_utc: datetime, rules: SlotRules) -> date:
    return now_utc.astimezone(rules.tz).date()


def busy_window(day: date, rules: SlotRules) -> tuple[datetime, datetime]:
    """UTC [start, end) of the bookings that can affect slots starting on local `day`."""
    midnight = datetime.combine(day, time())
    buffer = timedelta(minutes=rules.buffer_minutes)
    start = _utc_bounds(midnight, rules.tz)[0] - buffer
    end = _utc_bounds(midnight + _DAY, rules.tz)[1]
    return start, end + timedelta(minutes=rules.duration_minutes) + buffer


def month_window(year: int, month: int, rules: SlotRules) -> tuple[datetime, datetime]:
    """UTC [start, end) of the bookings that can affect any slot of a local month."""
    last_day = calendar.monthrange(year, month)[1]
    return (
        busy_window(date(year, month, 1), rules)[0],
        busy_window(date(year, month, last_day), rules)[1],
    )


def slots_for_date(
    day: date,
    *,
    rules: SlotRules,
    weekly: Sequence[WeeklyRule],
    blocked: Sequence[BlockedPeriod],
    busy: Sequence[Busy],
    now_utc: datetime,
    away: Sequence[Away] = (),
) -> list[Slot]:
    """Offered slots whose local start is on `day`, in order; taken ones have available=False.

    `away` are busy times from the tradie's own calendars: like blocked dates, a slot meeting
    one is not offered at all (no buffer: the tradie set that time themselves)."""
    _require_aware(now_utc, "now_utc")
    today = _local_today(now_utc, rules)
    if not today <= day <= today + timedelta(days=rules.horizon_days):
        return []
    earliest = now_utc + timedelta(minutes=rules.min_notice_minutes)
    duration = timedelta(minutes=rules.duration_minutes)
    buffer = timedelta(minutes=rules.buffer_minutes)
    window_start, window_end = busy_window(day, rules)
    nearby = [b for b in busy if b.starts_at_utc < window_end and b.ends_at_utc > window_start]
    away = [(s, e) for s, e in away if s < window_end and e > window_start]
    if rules.window_jobs:
        return _window_slots(day, rules, weekly, blocked, nearby, away, earliest)
    slots = []
    for local, range_end_utc in _candidates(day, rules, weekly):
        start_utc = _existing_utc(local, rules.tz)
        if start_utc is None or start_utc < earliest:
            continue
        end_utc = start_utc + duration
        if end_utc > range_end_utc or _is_blocked(start_utc, end_utc, rules.tz, blocked):
            continue
        if away and _is_away(start_utc, end_utc, away):
            continue
        taken = any(
            b.starts_at_utc < end_utc + buffer and start_utc - buffer < b.ends_at_utc
            for b in nearby
        )
        slots.append(Slot(start_utc, end_utc, start_utc.astimezone(rules.tz), not taken))
    return sorted(slots, key=lambda s: s.starts_at_utc)


def days_with_free_slots(
    year: int,
    month: int,
    *,
    rules: SlotRules,
    weekly: Sequence[WeeklyRule],
    blocked: Sequence[BlockedPeriod],
    busy: Sequence[Busy],
    now_utc: datetime,
    away: Sequence[Away] = (),
) -> list[date]:
    """Local dates of a month with at least one available slot."""
    window_start, window_end = month_window(year, month, rules)
    # Narrow once per month so each day scans only this month's bookings.
    busy = [b for b in busy if b.starts_at_utc < window_end and b.ends_at_utc > window_start]
    away = [(s, e) for s, e in away if s < window_end and e > window_start]
    days = (date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1))
    return [
        day
        for day in days
        if any(
            slot.available
            for slot in slots_for_date(
                day,
                rules=rules,
                weekly=weekly,
                blocked=blocked,
                busy=busy,
                now_utc=now_utc,
                away=away,
            )
        )
    ]


def is_bookable(
    start_utc: datetime,
    *,
    rules: SlotRules,
    weekly: Sequence[WeeklyRule],
    blocked: Sequence[BlockedPeriod],
    busy: Sequence[Busy],
    now_utc: datetime,
    away: Sequence[Away] = (),
) -> bool:
    """True when `start_utc` is exactly an offered, available slot right now."""
    _require_aware(start_utc, "start_utc")
    day = start_utc.astimezone(rules.tz).date()
    slots = slots_for_date(
        day, rules=rules, weekly=weekly, blocked=blocked, busy=busy, now_utc=now_utc, away=away
    )
    return any(s.available and s.starts_at_utc == start_utc for s in slots)


def next_free_slots(
    after_utc: datetime,
    *,
    rules: SlotRules,
    weekly: Sequence[WeeklyRule],
    blocked: Sequence[BlockedPeriod],
    busy: Sequence[Busy],
    now_utc: datetime,
    limit: int = 3,
    away: Sequence[Away] = (),
) -> list[Slot]:
    """Up to `limit` available slots starting at or after `after_utc`, within the horizon."""
    _require_aware(after_utc, "after_utc")
    _require_aware(now_utc, "now_utc")
    today = _local_today(now_utc, rules)
    day = max(after_utc.astimezone(rules.tz).date(), today)
    last_day = today + timedelta(days=rules.horizon_days)
    found: list[Slot] = []
    while day <= last_day and len(found) < limit:
        for slot in slots_for_date(
            day, rules=rules, weekly=weekly, blocked=blocked, busy=busy, now_utc=now_utc, away=away
        ):
            if slot.available and slot.starts_at_utc >= after_utc and len(found) < limit:
                found.append(slot)
        day += _DAY
    return found
