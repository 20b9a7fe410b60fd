"""The pure slot engine: DST, buffers, notice, horizon, blocked dates, overnight and merged hours.

Expected instants are worked out by hand from each zone's published offsets.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from peepopay.scheduling.slots import (
    BlockedPeriod,
    Busy,
    Slot,
    SlotRules,
    WeeklyRule,
    busy_window,
    days_with_free_slots,
    is_bookable,
    month_window,
    next_free_slots,
    slots_for_date,
)

LONDON = ZoneInfo("Europe/London")
AUCKLAND = ZoneInfo("Pacific/Auckland")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
MONDAY = date(2026, 1, 12)
SUNDAY = 6


def z(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rule(weekday: int, start: str, end: str) -> WeeklyRule:
    return WeeklyRule(weekday, time.fromisoformat(start), time.fromisoformat(end))


def every_day(start: str, end: str) -> list[WeeklyRule]:
    return [rule(weekday, start, end) for weekday in range(7)]


def weekdays(start: str, end: str) -> list[WeeklyRule]:
    return [rule(weekday, start, end) for weekday in range(5)]


def slots(
    day: date,
    rules: SlotRules,
    weekly: list[WeeklyRule],
    *,
    blocked: tuple[BlockedPeriod, ...] = (),
    busy: tuple[Busy, ...] = (),
    now: datetime | None = None,
) -> list[Slot]:
    return slots_for_date(
        day,
        rules=rules,
        weekly=weekly,
        blocked=blocked,
        busy=busy,
        now_utc=now or z("2026-01-01 00:00"),
    )


def times(found: list[Slot]) -> list[str]:
    return [slot.local_start.strftime("%H:%M") for slot in found]


@pytest.mark.parametrize(
    ("tz", "day", "hours", "expected"),
    [
        # Spring forward, southern hemisphere: 02:00 NZST (+12) jumps to 03:00 NZDT (+13).
        (
            AUCKLAND,
            date(2026, 9, 27),
            ("01:00", "05:00"),
            [
                ("01:00", "2026-09-26 13:00"),
                ("01:30", "2026-09-26 13:30"),
                ("03:00", "2026-09-26 14:00"),
                ("03:30", "2026-09-26 14:30"),
                ("04:00", "2026-09-26 15:00"),
            ],
        ),
        # Spring forward, southern hemisphere: 02:00 AEST (+10) jumps to 03:00 AEDT (+11).
        (
            SYDNEY,
            date(2026, 10, 4),
            ("01:00", "05:00"),
            [
                ("01:00", "2026-10-03 15:00"),
                ("01:30", "2026-10-03 15:30"),
                ("03:00", "2026-10-03 16:00"),
                ("03:30", "2026-10-03 16:30"),
                ("04:00", "2026-10-03 17:00"),
            ],
        ),
        # Spring forward, northern hemisphere: 01:00 GMT jumps to 02:00 BST (+1).
        (
            LONDON,
            date(2026, 3, 29),
            ("00:00", "04:00"),
            [
                ("00:00", "2026-03-29 00:00"),
                ("00:30", "2026-03-29 00:30"),
                ("02:00", "2026-03-29 01:00"),
                ("02:30", "2026-03-29 01:30"),
                ("03:00", "2026-03-29 02:00"),
            ],
        ),
        # Spring forward, northern hemisphere: 02:00 EST (-5) jumps to 03:00 EDT (-4).
        (
            NEW_YORK,
            date(2026, 3, 8),
            ("01:00", "05:00"),
            [
                ("01:00", "2026-03-08 06:00"),
                ("01:30", "2026-03-08 06:30"),
                ("03:00", "2026-03-08 07:00"),
                ("03:30", "2026-03-08 07:30"),
                ("04:00", "2026-03-08 08:00"),
            ],
        ),
        # Fall back: 03:00 NZDT returns to 02:00 NZST, so 02:00-02:59 happens twice.
        (
            AUCKLAND,
            date(2026, 4, 5),
            ("01:00", "04:00"),
            [
                ("01:00", "2026-04-04 12:00"),
                ("01:30", "2026-04-04 12:30"),
                ("02:00", "2026-04-04 13:00"),
                ("02:30", "2026-04-04 13:30"),
                ("03:00", "2026-04-04 15:00"),
            ],
        ),
        # Fall back: 03:00 AEDT returns to 02:00 AEST.
        (
            SYDNEY,
            date(2026, 4, 5),
            ("01:00", "04:00"),
            [
                ("01:00", "2026-04-04 14:00"),
                ("01:30", "2026-04-04 14:30"),
                ("02:00", "2026-04-04 15:00"),
                ("02:30", "2026-04-04 15:30"),
                ("03:00", "2026-04-04 17:00"),
            ],
        ),
        # Fall back: 02:00 BST returns to 01:00 GMT.
        (
            LONDON,
            date(2026, 10, 25),
            ("00:00", "03:00"),
            [
                ("00:00", "2026-10-24 23:00"),
                ("00:30", "2026-10-24 23:30"),
                ("01:00", "2026-10-25 00:00"),
                ("01:30", "2026-10-25 00:30"),
                ("02:00", "2026-10-25 02:00"),
            ],
        ),
        # Fall back: 02:00 EDT returns to 01:00 EST.
        (
            NEW_YORK,
            date(2026, 11, 1),
            ("00:00", "03:00"),
            [
                ("00:00", "2026-11-01 04:00"),
                ("00:30", "2026-11-01 04:30"),
                ("01:00", "2026-11-01 05:00"),
                ("01:30", "2026-11-01 05:30"),
                ("02:00", "2026-11-01 07:00"),
            ],
        ),
    ],
)
def test_dst_gap_is_skipped_and_repeated_hour_offered_once(
    tz: ZoneInfo, day: date, hours: tuple[str, str], expected: list[tuple[str, str]]
) -> None:
    rules = SlotRules(tz=tz, duration_minutes=60, horizon_days=365)
    found = slots(day, rules, [rule(SUNDAY, *hours)])
    assert [(s.local_start.strftime("%H:%M"), s.starts_at_utc) for s in found] == [
        (local, z(instant)) for local, instant in expected
    ]
    assert all(s.ends_at_utc - s.starts_at_utc == timedelta(hours=1) for s in found)
    assert all(s.local_start.tzinfo is tz and s.starts_at_utc.tzinfo is UTC for s in found)


def test_job_across_spring_forward_lasts_real_hours() -> None:
    rules = SlotRules(tz=AUCKLAND, duration_minutes=120, horizon_days=365)
    found = slots(date(2026, 9, 27), rules, [rule(SUNDAY, "00:00", "06:00")])
    by_start = {s.local_start.strftime("%H:%M"): s for s in found}
    # 01:30 NZST is 13:30Z; two real hours later is 15:30Z, which the clock shows as 04:30 NZDT.
    assert by_start["01:30"].ends_at_utc == z("2026-09-26 15:30")
    assert by_start["01:30"].ends_at_utc.astimezone(AUCKLAND).strftime("%H:%M") == "04:30"
    # The range ends at 06:00 NZDT (17:00Z), so the last two-hour job starts at 04:00 NZDT.
    assert times(found)[-1] == "04:00"


@pytest.mark.parametrize(
    ("buffer", "taken"),
    [
        (0, ["10:30", "11:00", "11:30"]),
        (30, ["10:00", "10:30", "11:00", "11:30", "12:00"]),
        (60, ["09:30", "10:00", "10:30", "11:00", "11:30", "12:00", "12:30"]),
    ],
)
def test_busy_period_and_buffer_mark_slots_taken(buffer: int, taken: list[str]) -> None:
    # Sydney in January is AEDT (+11): the booking 00:00-01:00Z is 11:00-12:00 local.
    rules = SlotRules(tz=SYDNEY, duration_minutes=60, buffer_minutes=buffer)
    busy = (Busy(z("2026-01-12 00:00"), z("2026-01-12 01:00")),)
    found = slots(MONDAY, rules, weekdays("09:00", "17:00"), busy=busy)
    assert len(found) == 15  # 09:00 to 16:00 every half hour: taken slots are still listed
    assert [t for t, s in zip(times(found), found, strict=True) if not s.available] == taken


@pytest.mark.parametrize(
    ("notice_minutes", "first"),
    [(0, "00:00"), (120, "01:30"), (121, "02:00")],
)
def test_minimum_notice_across_midnight(notice_minutes: int, first: str) -> None:
    # 04:30Z on 13 January is 23:30 EST on Monday; the slots are Tuesday's.
    rules = SlotRules(tz=NEW_YORK, duration_minutes=60, min_notice_minutes=notice_minutes)
    found = slots(date(2026, 1, 13), rules, [rule(1, "00:00", "06:00")], now=z("2026-01-13 04:30"))
    assert times(found)[0] == first
    assert times(found)[-1] == "05:00"


@pytest.mark.parametrize(
    ("day", "horizon_days", "offered"),
    [
        (date(2026, 1, 12), 2, False),  # still today in UTC, but yesterday in Auckland
        (date(2026, 1, 13), 0, True),
        (date(2026, 1, 14), 0, False),
        (date(2026, 1, 15), 2, True),
        (date(2026, 1, 16), 2, False),
    ],
)
def test_horizon_counts_from_local_today(day: date, horizon_days: int, offered: bool) -> None:
    # 12:00Z on 12 January is 01:00 NZDT on 13 January.
    rules = SlotRules(tz=AUCKLAND, duration_minutes=60, horizon_days=horizon_days)
    found = slots(day, rules, every_day("09:00", "17:00"), now=z("2026-01-12 12:00"))
    assert bool(found) is offered


@pytest.mark.parametrize(
    ("day", "offered"),
    [
        (date(2026, 1, 12), True),
        (date(2026, 1, 13), False),
        (date(2026, 1, 14), False),
        (date(2026, 1, 15), True),
    ],
)
def test_blocked_days_are_inclusive(day: date, offered: bool) -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=60)
    blocked = (BlockedPeriod(date(2026, 1, 13), date(2026, 1, 14)),)
    assert bool(slots(day, rules, every_day("09:00", "17:00"), blocked=blocked)) is offered


@pytest.mark.parametrize(
    ("weekly", "expected"),
    [
        ([rule(0, "09:00", "12:00"), rule(0, "12:00", "17:00")], ["09", "10", "11", "12", "13"]),
        ([rule(0, "09:00", "13:00"), rule(0, "11:00", "17:00")], ["09", "10", "11", "12", "13"]),
        ([rule(0, "09:00", "17:00"), rule(0, "10:00", "12:00")], ["09", "10", "11", "12", "13"]),
        ([rule(0, "09:00", "12:00"), rule(0, "13:00", "17:00")], ["13"]),
    ],
)
def test_overlapping_and_adjacent_rules_merge(
    weekly: list[WeeklyRule], expected: list[str]
) -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=240, interval_minutes=60)
    assert [t[:2] for t in times(slots(MONDAY, rules, weekly))] == expected


def test_candidates_step_from_the_range_start() -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=30)
    assert times(slots(MONDAY, rules, [rule(0, "09:15", "10:15")])) == ["09:15", "09:45"]


def test_job_spanning_adjacent_rules_is_bookable_until_a_booking_overlaps() -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=240, interval_minutes=60)
    weekly = [rule(0, "09:00", "12:00"), rule(0, "12:00", "17:00")]
    now = z("2026-01-01 00:00")
    args = {"rules": rules, "weekly": weekly, "blocked": (), "now_utc": now}
    assert is_bookable(z("2026-01-12 10:00"), busy=(), **args)
    afternoon = (Busy(z("2026-01-12 13:30"), z("2026-01-12 14:00")),)
    assert not is_bookable(z("2026-01-12 10:00"), busy=afternoon, **args)


def test_overnight_rule_spills_into_the_next_day() -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=60, interval_minutes=60)
    weekly = [rule(0, "22:00", "02:00"), rule(1, "09:00", "10:00")]
    assert times(slots(MONDAY, rules, weekly)) == ["22:00", "23:00"]
    assert times(slots(MONDAY + timedelta(days=1), rules, weekly)) == ["00:00", "01:00", "09:00"]


def test_range_ending_at_midnight() -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=60, interval_minutes=60)
    weekly = [rule(0, "20:00", "00:00")]
    assert times(slots(MONDAY, rules, weekly)) == ["20:00", "21:00", "22:00", "23:00"]
    assert slots(MONDAY + timedelta(days=1), rules, weekly) == []


def test_overnight_range_merges_with_next_days_hours() -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=240, interval_minutes=60)
    weekly = [rule(0, "22:00", "02:00"), rule(1, "01:00", "03:00")]
    assert times(slots(MONDAY, rules, weekly)) == ["22:00", "23:00"]


def test_overnight_job_running_into_a_blocked_day_is_removed() -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=60)
    weekly = [rule(0, "22:00", "02:00")]
    blocked = (BlockedPeriod(date(2026, 1, 13), date(2026, 1, 13)),)
    # 23:00-00:00 ends exactly at the blocked day and stays; 23:30 would run into it.
    assert times(slots(MONDAY, rules, weekly, blocked=blocked)) == ["22:00", "22:30", "23:00"]
    assert slots(MONDAY + timedelta(days=1), rules, weekly, blocked=blocked) == []


@pytest.mark.parametrize(
    ("tz", "day", "duration", "buffer", "expected"),
    [
        (LONDON, MONDAY, 60, 15, ("2026-01-11 23:45", "2026-01-13 01:15")),
        # NZDT (+13): local midnight is 11:00Z the day before.
        (AUCKLAND, date(2026, 1, 13), 30, 0, ("2026-01-12 11:00", "2026-01-13 11:30")),
        # A 23-hour day: midnight NZST (12:00Z) to midnight NZDT (11:00Z).
        (AUCKLAND, date(2026, 9, 27), 60, 0, ("2026-09-26 12:00", "2026-09-27 12:00")),
        # A 25-hour day: midnight NZDT (11:00Z) to midnight NZST (12:00Z).
        (AUCKLAND, date(2026, 4, 5), 30, 0, ("2026-04-04 11:00", "2026-04-05 12:30")),
    ],
)
def test_busy_window(
    tz: ZoneInfo, day: date, duration: int, buffer: int, expected: tuple[str, str]
) -> None:
    rules = SlotRules(tz=tz, duration_minutes=duration, buffer_minutes=buffer)
    assert busy_window(day, rules) == (z(expected[0]), z(expected[1]))


def test_busy_window_covers_an_overnight_job() -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=60, buffer_minutes=15)
    weekly = [rule(0, "22:00", "02:00")]
    start, end = busy_window(MONDAY, rules)
    # Monday's last slot, 23:30, ends 00:30 on Tuesday: a 00:40 booking is within its buffer.
    booking = Busy(z("2026-01-13 00:40"), z("2026-01-13 01:00"))
    assert start <= booking.starts_at_utc and booking.ends_at_utc <= end
    assert not slots(MONDAY, rules, weekly, busy=(booking,))[-1].available


@pytest.mark.parametrize(
    ("tz", "year", "month", "expected"),
    [
        (LONDON, 2026, 1, ("2025-12-31 23:50", "2026-02-01 00:40")),
        (AUCKLAND, 2026, 12, ("2026-11-30 10:50", "2026-12-31 11:40")),
    ],
)
def test_month_window(tz: ZoneInfo, year: int, month: int, expected: tuple[str, str]) -> None:
    rules = SlotRules(tz=tz, duration_minutes=30, buffer_minutes=10)
    assert month_window(year, month, rules) == (z(expected[0]), z(expected[1]))


FREE_NOW = z("2026-01-12 10:00")


@pytest.mark.parametrize(
    ("year", "month", "horizon_days", "expected"),
    [
        (2026, 1, 60, [date(2026, 1, 21), date(2026, 1, 26), date(2026, 1, 28)]),
        (2026, 1, 14, [date(2026, 1, 21), date(2026, 1, 26)]),
        (2026, 2, 20, []),  # the horizon ends on Sunday 1 February
        (2026, 2, 23, [date(2026, 2, 2), date(2026, 2, 4)]),
        (2025, 12, 60, []),
    ],
)
def test_days_with_free_slots(
    year: int, month: int, horizon_days: int, expected: list[date]
) -> None:
    rules = SlotRules(tz=LONDON, duration_minutes=60, horizon_days=horizon_days)
    # Monday 12th's 09:00 slot has passed, Wednesday 14th is booked, 19th-20th are blocked.
    found = days_with_free_slots(
        year,
        month,
        rules=rules,
        weekly=[rule(0, "09:00", "10:00"), rule(2, "09:00", "10:00")],
        blocked=(BlockedPeriod(date(2026, 1, 19), date(2026, 1, 20)),),
        busy=(Busy(z("2026-01-14 09:00"), z("2026-01-14 10:00")),),
        now_utc=FREE_NOW,
    )
    assert found == expected


BOOKABLE_ARGS = {
    "rules": SlotRules(tz=LONDON, duration_minutes=60, min_notice_minutes=60, horizon_days=30),
    "weekly": every_day("09:00", "17:00"),
    "blocked": (BlockedPeriod(date(2026, 1, 14), date(2026, 1, 14)),),
    "busy": (Busy(z("2026-01-12 12:00"), z("2026-01-12 13:00")),),
    "now_utc": z("2026-01-12 08:30"),
}


@pytest.mark.parametrize(
    ("start", "bookable"),
    [
        (z("2026-01-12 10:00"), True),
        (z("2026-01-12 09:30"), True),  # exactly the minimum notice
        (z("2026-01-12 09:00"), False),  # too soon
        (z("2026-01-12 10:15"), False),  # not on the interval grid
        (z("2026-01-12 12:00"), False),  # booked
        (z("2026-01-12 16:30"), False),  # would end after 17:00
        (z("2026-01-14 10:00"), False),  # blocked
        (z("2026-02-16 10:00"), False),  # beyond the horizon (11 February)
        (datetime(2026, 1, 13, 10, 0, tzinfo=ZoneInfo("Europe/Paris")), True),  # 09:00Z
    ],
)
def test_is_bookable(start: datetime, bookable: bool) -> None:
    assert is_bookable(start, **BOOKABLE_ARGS) is bookable


@pytest.mark.parametrize(
    ("start", "bookable"), [("2026-04-04 13:00", True), ("2026-04-04 14:00", False)]
)
def test_only_first_occurrence_of_a_repeated_time_is_bookable(start: str, bookable: bool) -> None:
    # 13:00Z and 14:00Z are both 02:00 in Auckland on the night clocks go back.
    rules = SlotRules(tz=AUCKLAND, duration_minutes=60, horizon_days=365)
    weekly = [rule(SUNDAY, "01:00", "04:00")]
    args = {"blocked": (), "busy": (), "now_utc": z("2026-01-01 00:00")}
    assert is_bookable(z(start), rules=rules, weekly=weekly, **args) is bookable


NEXT_ARGS = {
    "rules": SlotRules(tz=LONDON, duration_minutes=60, interval_minutes=60, horizon_days=30),
    "weekly": weekdays("09:00", "11:00"),
    "blocked": (),
    "busy": (Busy(z("2026-01-12 10:00"), z("2026-01-12 11:00")),),
    "now_utc": z("2026-01-12 07:00"),
}


@pytest.mark.parametrize(
    ("after", "limit", "expected"),
    [
        ("2026-01-12 09:00", 3, ["2026-01-12 09:00", "2026-01-13 09:00", "2026-01-13 10:00"]),
        ("2026-01-12 09:01", 3, ["2026-01-13 09:00", "2026-01-13 10:00", "2026-01-14 09:00"]),
        ("2026-01-16 10:00", 2, ["2026-01-16 10:00", "2026-01-19 09:00"]),  # over the weekend
        ("2026-01-01 00:00", 1, ["2026-01-12 09:00"]),  # never before now
        ("2026-02-11 10:30", 3, []),  # nothing left before the horizon
    ],
)
def test_next_free_slots(after: str, limit: int, expected: list[str]) -> None:
    found = next_free_slots(z(after), limit=limit, **NEXT_ARGS)
    assert [s.starts_at_utc for s in found] == [z(e) for e in expected]
    assert all(s.available for s in found)


NAIVE = datetime(2026, 1, 12, 9, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: slots(MONDAY, NEXT_ARGS["rules"], weekdays("09:00", "17:00"), now=NAIVE),
        lambda: is_bookable(NAIVE, **NEXT_ARGS),
        lambda: next_free_slots(NAIVE, **NEXT_ARGS),
        lambda: days_with_free_slots(2026, 1, **{**NEXT_ARGS, "now_utc": NAIVE}),
        lambda: Busy(NAIVE, z("2026-01-12 10:00")),
        lambda: Busy(z("2026-01-12 09:00"), NAIVE),
    ],
    ids=["slots_for_date", "is_bookable", "next_free_slots", "days_with_free_slots", "busy", "end"],
)
def test_naive_datetimes_are_rejected(call) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


@pytest.mark.parametrize(
    "make",
    [
        lambda: SlotRules(tz=LONDON, duration_minutes=0),
        lambda: SlotRules(tz=LONDON, duration_minutes=60, interval_minutes=0),
        lambda: SlotRules(tz=LONDON, duration_minutes=60, buffer_minutes=-5),
        lambda: WeeklyRule(7, time(9), time(17)),
        lambda: Busy(z("2026-01-12 10:00"), z("2026-01-12 10:00")),
    ],
)
def test_invalid_inputs_are_rejected(make) -> None:
    with pytest.raises(ValueError):
        make()
