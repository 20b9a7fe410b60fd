"""Properties of the slot engine over every service kind (fixed times and arrival windows).

Whatever the hours, bookings, calendar busy times and blocked days: nothing offered meets a
busy time of the tradie's own calendar or a blocked day, and nothing offered as available
collides with a booking (for a window: at least one of its shares is free).
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from peepopay.scheduling.slots import (
    BlockedPeriod,
    Busy,
    SlotRules,
    WeeklyRule,
    slots_for_date,
    window_units,
)

DAY = date(2026, 3, 6)  # a Friday
ZONES = [ZoneInfo(name) for name in ("Pacific/Auckland", "Australia/Sydney", "Europe/London")]
NOW = datetime(2026, 3, 1, tzinfo=UTC)

quarter_hours = st.integers(min_value=0, max_value=95)


def _time(quarters: int) -> time:
    return time(quarters // 4, 15 * (quarters % 4))


@st.composite
def periods(draw: st.DrawFn, tz: ZoneInfo, count: int) -> list[tuple[datetime, datetime]]:
    """UTC [start, end) ranges around the day, 15 minutes to 6 hours long."""
    midnight = datetime.combine(DAY, time(), tz).astimezone(UTC)
    found = []
    for _ in range(draw(st.integers(0, count))):
        start = midnight + timedelta(minutes=15 * draw(st.integers(-8, 100)))
        found.append((start, start + timedelta(minutes=15 * draw(st.integers(1, 24)))))
    return found


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    tz = draw(st.sampled_from(ZONES))
    window_jobs = draw(st.sampled_from([0, 1, 2, 3]))
    weekly = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(quarter_hours)
        length = draw(st.integers(1, 40))
        weekly.append(WeeklyRule(DAY.weekday(), _time(start), _time(min(95, start + length))))
    rules = SlotRules(
        tz=tz,
        duration_minutes=draw(st.sampled_from([30, 60, 90, 120])),
        interval_minutes=draw(st.sampled_from([15, 30, 60])),
        buffer_minutes=draw(st.sampled_from([0, 15, 30])),
        window_jobs=window_jobs,
    )
    blocked = [BlockedPeriod(DAY, DAY)] if draw(st.booleans()) and draw(st.booleans()) else []
    return {
        "rules": rules,
        "weekly": weekly,
        "blocked": blocked,
        "busy": [Busy(s, e) for s, e in draw(periods(tz, 4))],
        "away": draw(periods(tz, 3)),
    }


def _meets(start: datetime, end: datetime, other_start: datetime, other_end: datetime) -> bool:
    return other_start < end and start < other_end


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_nothing_offered_meets_a_busy_time_a_blocked_day_or_a_booking(scenario: dict) -> None:
    rules: SlotRules = scenario["rules"]
    offered = slots_for_date(DAY, now_utc=NOW, **scenario)
    buffer = timedelta(minutes=rules.buffer_minutes)
    for slot in offered:
        start, end = slot.starts_at_utc, slot.ends_at_utc
        assert slot.window == bool(rules.window_jobs)
        assert not any(_meets(start, end, s, e) for s, e in scenario["away"]), (
            f"{slot} meets a busy time of the tradie's calendar"
        )
        assert not scenario["blocked"], f"{slot} offered on a blocked day"
        if not slot.available:
            continue
        if rules.window_jobs:
            shares = window_units(start, end, rules.window_jobs)
            assert any(
                not any(_meets(s, e, b.starts_at_utc, b.ends_at_utc) for b in scenario["busy"])
                for s, e in shares
            ), f"window {slot} offered as free with every share booked"
        else:
            assert not any(
                _meets(start - buffer, end + buffer, b.starts_at_utc, b.ends_at_utc)
                for b in scenario["busy"]
            ), f"{slot} offered as free over a booking"


def test_a_busy_time_hides_the_arrival_window_it_meets() -> None:
    """Friday 9-12 busy in the tradie's calendar: the 10-12 window is not offered, 13-15 is."""
    tz = ZoneInfo("Pacific/Auckland")
    windows = [
        WeeklyRule(DAY.weekday(), time(10), time(12)),
        WeeklyRule(DAY.weekday(), time(13), time(15)),
    ]
    rules = SlotRules(tz=tz, duration_minutes=60, window_jobs=2)
    busy_from = datetime.combine(DAY, time(9), tz).astimezone(UTC)
    busy_to = datetime.combine(DAY, time(12), tz).astimezone(UTC)
    offered = slots_for_date(
        DAY,
        rules=rules,
        weekly=windows,
        blocked=[],
        busy=[],
        now_utc=NOW,
        away=[(busy_from, busy_to)],
    )
    assert [s.local_start.time() for s in offered] == [time(13)]
