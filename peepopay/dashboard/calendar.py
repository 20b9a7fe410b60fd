"""The calendar page: a week (a day on phones) of jobs, live holds, blocked days and hours.

Each local day runs from its own midnight to the next one's (23, 24 or 25 hours), and every item
is listed in local time order, so the page reads the same to a screen reader as it looks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, current_app, render_template, request
from markupsafe import Markup

from peepopay import slot_versions
from peepopay.accounts.models import Tradie
from peepopay.bookings.lifecycle import LABELS
from peepopay.bookings.models import Booking, Status
from peepopay.calendars import services as own_calendars
from peepopay.clock import local_today, utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.db_setup import DbSession
from peepopay.extensions import db
from peepopay.formatting import clock_time, meridiem
from peepopay.htmx import render
from peepopay.scheduling.models import AvailabilityRule, BlockedPeriod

WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")
DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Far-off dates are almost certainly typos, and years near 1 or 9999 overflow in conversion.
YEARS = range(1970, 2200)
# No job lasts longer than this, so the bookings query only scans the index from this far back.
MAX_DURATION = timedelta(hours=24)
SHOWN = (Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW)
_DAY = timedelta(days=1)


def status_label(status: str) -> str:
    return LABELS[Status(status)]


# --- what the URL asks for ---------------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """A week (its Monday) or a single day; anything unreadable falls back to today's week."""

    mode: str  # "week" or "day"
    first: date

    @property
    def days(self) -> int:
        return 7 if self.mode == "week" else 1


def parse(args: Mapping[str, str], today: date) -> Wanted:
    """`?day=YYYY-MM-DD` or `?week=YYYY-Www`; bad or out-of-range values mean this week."""
    day_text = args.get("day", "").strip()
    if DAY_RE.fullmatch(day_text):
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            pass
        else:
            if day.year in YEARS:
                return Wanted("day", day)
    week_text = args.get("week", "").strip()
    if match := WEEK_RE.fullmatch(week_text):
        year, week = int(match.group(1)), int(match.group(2))
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            pass
        else:
            if year in YEARS:
                return Wanted("week", monday)
    return Wanted("week", monday_of(today))


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def iso_week(day: date) -> str:
    """2026-12-03 -> "2026-W49" (the ISO year, which differs from the calendar year near 1 Jan)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# --- time as people read it --------------------------------------------------------------------


def clock(moment: datetime, zone: bool = False) -> str:
    """ "9:00 am", with the zone's abbreviation ("9:00 am NZDT") on days the clocks change."""
    # A no-break space: "9:22" and "am" never land on different lines.
    text = clock_time(moment, "\u00a0")
    return f"{text} {moment.tzname()}" if zone else text


def span(start: datetime, end: datetime, zone: bool = False, day: date | None = None) -> str:
    """ "9:00–10:00 am", "11:00 am – 12:30 pm"; an end on another day names that day."""
    same_day = day is None or (start.date() == day and end.date() == day)
    one_zone = start.tzname() == end.tzname()
    # One abbreviation at the end says it for both ends; two are needed across the change.
    suffix = f" {end.tzname()}" if zone and one_zone else ""
    if meridiem(start) == meridiem(end) and same_day and one_zone:
        return f"{clock(start)[:-3]}–{clock(end)}{suffix}"
    first, last = clock(start, zone and not one_zone), clock(end, zone and not one_zone)
    if day is not None and start.date() != day:
        first += f" {start:%a}"
    if day is not None and end.date() != day:
        last += f" {end:%a}"
    return f"{first} – {last}{suffix}"


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC [start, end) of a local day: midnight to the next midnight, whatever lies between."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + _DAY, time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def clock_change(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """A sentence about the day's clock change (daylight saving), or "" on an ordinary day."""
    before = start.astimezone(tz).utcoffset()
    after = end.astimezone(tz).utcoffset()
    if before is None or after is None or before == after:
        return ""
    # Transitions fall on quarter hours; find the first quarter hour with the new offset.
    moment = start
    while moment < end and moment.astimezone(tz).utcoffset() == before:
        moment += timedelta(minutes=15)
    old_wall = (moment + before).replace(tzinfo=None)
    new_wall = (moment + after).replace(tzinfo=None)
    shift = after - before
    amount = _hours_text(abs(shift))
    hours = round((end - start) / timedelta(hours=1), 2)
    length = f"{hours:g}-hour day"
    old_text, new_text = clock(old_wall), clock(new_wall)
    direction = "forward" if shift > timedelta(0) else "back"
    return (
        f"Clocks go {direction} {amount} at {old_text} (to {new_text}, "
        f"{moment.astimezone(tz).tzname()}): a {length}."
    )


def _hours_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes == 60:
        return "an hour"
    if minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minutes"


def _utc(naive_local: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time as an instant: the first of a repeated time, the shifted one in a gap."""
    return naive_local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def round_up(moment: datetime, tz: ZoneInfo, minutes: int) -> datetime:
    """The next local wall-clock multiple of `minutes` at or after `moment` (never before it)."""
    local = moment.astimezone(tz).replace(tzinfo=None)
    midnight = datetime.combine(local.date(), time(0))
    step = timedelta(minutes=max(minutes, 1))
    steps = -(-(local - midnight) // step)
    return max(moment, _utc(midnight + steps * step, tz))


# --- the view ----------------------------------------------------------------------------------


class Job(NamedTuple):
    """What the calendar shows of a booking (read as plain rows: no ORM objects to build)."""

    id: int
    status: str
    service_name: str
    customer_name: str
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime | None
    # A booking by arrival window holds one share of it; the customer was promised the window.
    window_starts_at: datetime | None
    window_ends_at: datetime | None


@dataclass(frozen=True)
class Item:
    """One line of a day: a job, a live hold, a busy time from the tradie's own calendar, or a
    free stretch of working time."""

    kind: str  # "job", "hold", "away" or "free"
    starts_at: datetime
    ends_at: datetime
    when: str
    booking: Job | None = None
    label: str = ""
    note: str = ""
    start_param: str = ""  # the local start, ISO 8601 with offset, for "Add booking here"


@dataclass
class Day:
    date: date
    starts_at: datetime
    ends_at: datetime
    hours: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    change: str = ""
    is_today: bool = False
    focus: bool = False


@dataclass
class CalendarView:
    mode: str
    days: list[Day]
    strip: list[date]
    focus: date
    today: date
    zone_name: str
    zone_note: str
    week: str
    prev: dict[str, str]
    next: dict[str, str]
    current: dict[str, str]
    holds_until: datetime | None = None  # the first shown hold's expiry: it leaves, no write

    @property
    def title(self) -> str:
        if self.mode == "day":
            return f"{self.focus:%A %-d %B %Y}"
        first, last = self.strip[0], self.strip[-1]
        start = f"{first:%-d %b}" if first.year == last.year else f"{first:%-d %b %Y}"
        return f"Week {self.week.rpartition('W')[2].lstrip('0')}: {start} – {last:%-d %b %Y}"


def build(
    session: DbSession, tradie: Tradie, wanted: Wanted, now: datetime, interval_minutes: int = 30
) -> CalendarView:
    """The days `wanted` asks for, from four queries scoped to `tradie`."""
    tz = ZoneInfo(tradie.timezone)
    today = now.astimezone(tz).date()
    dates = [wanted.first + timedelta(days=n) for n in range(wanted.days)]
    range_start = day_bounds(dates[0], tz)[0]
    range_end = day_bounds(dates[-1], tz)[1]
    bookings = [
        Job(*row)
        for row in session.execute(
            sa.select(*(getattr(Booking, name) for name in Job._fields))
            .where(
                Booking.tradie_id == tradie.id,
                Booking.starts_at < range_end,
                Booking.starts_at >= range_start - MAX_DURATION,
                Booking.ends_at > range_start,
                sa.or_(
                    Booking.status.in_(SHOWN),
                    sa.and_(
                        Booking.status == Status.PENDING_PAYMENT, Booking.hold_expires_at > now
                    ),
                ),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
    ]
    blocked = [
        (first, last, reason)
        for first, last, reason in session.execute(
            sa.select(BlockedPeriod.start_date, BlockedPeriod.end_date, BlockedPeriod.reason)
            .where(
                BlockedPeriod.tradie_id == tradie.id,
                BlockedPeriod.start_date <= dates[-1],
                BlockedPeriod.end_date >= dates[0],
            )
            .order_by(BlockedPeriod.start_date, BlockedPeriod.id)
        )
    ]
    rules = session.execute(
        sa.select(
            AvailabilityRule.weekday, AvailabilityRule.start_local, AvailabilityRule.end_local
        )
        .where(AvailabilityRule.tradie_id == tradie.id)
        .order_by(AvailabilityRule.weekday, AvailabilityRule.start_local)
    ).all()
    weekly = [(weekday, start, end) for weekday, start, end in rules]
    away = own_calendars.merged_busy(session, tradie.id, range_start, range_end)
    monday = monday_of(wanted.first)
    strip = [monday + timedelta(days=n) for n in range(7)]
    # What a phone shows of the week: today if it is in it, else the Monday.
    focus = today if today in strip else monday
    if wanted.mode == "day":
        focus = wanted.first
    days = [
        _day(d, tz, now, today, bookings, blocked, weekly, interval_minutes, focus, away)
        for d in dates
    ]
    if wanted.mode == "day":
        prev = {"day": (focus - _DAY).isoformat()}
        following = {"day": (focus + _DAY).isoformat()}
        current = {"day": today.isoformat()}
    else:
        prev = {"week": iso_week(monday - timedelta(days=7))}
        following = {"week": iso_week(monday + timedelta(days=7))}
        current = {}
    return CalendarView(
        mode=wanted.mode,
        days=days,
        strip=strip,
        focus=focus,
        today=today,
        zone_name=tradie.timezone,
        zone_note=_zone_note(days, range_start, range_end, tz),
        week=iso_week(monday),
        prev=prev,
        next=following,
        current=current,
        holds_until=min(
            (
                b.hold_expires_at
                for b in bookings
                if b.status == Status.PENDING_PAYMENT and b.hold_expires_at is not None
            ),
            default=None,
        ),
    )


def _zone_note(days: Sequence[Day], start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """ "NZDT", or "NZDT, then NZST from Sun 5 Apr" when the clocks change in the range."""
    first = start.astimezone(tz).tzname() or ""
    last = (end - timedelta(microseconds=1)).astimezone(tz).tzname() or ""
    if first == last:
        return first
    changes = [day.date for day in days if day.change]
    when = f" from {changes[0]:%a %-d %b}" if changes and len(days) > 1 else ""
    return f"{first}, then {last}{when}"


def _day(
    day: date,
    tz: ZoneInfo,
    now: datetime,
    today: date,
    bookings: Sequence[Job],
    blocked: Sequence[tuple[date, date, str]],
    weekly: Sequence[tuple[int, time, time]],
    interval_minutes: int,
    focus: date,
    away: Sequence[tuple[datetime, datetime, str]] = (),
) -> Day:
    start, end = day_bounds(day, tz)
    change = clock_change(start, end, tz)
    zoned = bool(change)
    result = Day(day, start, end, change=change, is_today=day == today, focus=day == focus)
    result.blocked = [reason for first, last, reason in blocked if first <= day <= last]

    working: list[tuple[datetime, datetime]] = []
    for weekday, rule_start, rule_end in weekly:
        for offset in (-1, 0):  # yesterday's overnight hours run into today
            origin = day + timedelta(days=offset)
            if origin.weekday() != weekday:
                continue
            local_start = datetime.combine(origin, rule_start)
            local_end = datetime.combine(origin, rule_end)
            overnight = local_end <= local_start
            if overnight:
                local_end += _DAY
            elif offset:
                continue
            begins, ends = _utc(local_start, tz), _utc(local_end, tz)
            if ends <= start or begins >= end:
                continue
            working.append((max(begins, start), min(ends, end)))
            shown_start = begins.astimezone(tz)
            shown_end = ends.astimezone(tz)
            if offset:
                result.hours.append(f"until {clock(shown_end, zoned)} (from {origin:%a})")
            else:
                result.hours.append(span(shown_start, shown_end, zoned, day))

    busy: list[tuple[datetime, datetime]] = []
    for booking in bookings:
        if booking.ends_at <= start or booking.starts_at >= end:
            continue
        busy.append((booking.starts_at, booking.ends_at))
        hold = booking.status == Status.PENDING_PAYMENT
        note = ""
        if hold and booking.hold_expires_at is not None:
            note = f"held until {clock(booking.hold_expires_at.astimezone(tz))}"
        shown = (booking.starts_at, booking.ends_at)
        if booking.window_starts_at and booking.window_ends_at:
            shown = (booking.window_starts_at, booking.window_ends_at)
        result.items.append(
            Item(
                kind="hold" if hold else "job",
                starts_at=booking.starts_at,
                ends_at=booking.ends_at,
                when=span(shown[0].astimezone(tz), shown[1].astimezone(tz), zoned, day),
                booking=booking,
                label=status_label(booking.status),
                note=note,
            )
        )

    for away_start, away_end, name in away:
        if away_end <= start or away_start >= end:
            continue
        busy.append((away_start, away_end))
        result.items.append(
            Item(
                kind="away",
                starts_at=away_start,
                ends_at=away_end,
                when=span(away_start.astimezone(tz), away_end.astimezone(tz), zoned, day),
                label=f"Busy ({name})",
            )
        )

    if not result.blocked:
        earliest = round_up(now, tz, interval_minutes)
        for gap_start, gap_end in _free(working, busy):
            gap_start = max(gap_start, earliest)
            if gap_end - gap_start < timedelta(minutes=interval_minutes):
                continue
            local_start = gap_start.astimezone(tz)
            result.items.append(
                Item(
                    kind="free",
                    starts_at=gap_start,
                    ends_at=gap_end,
                    when=span(local_start, gap_end.astimezone(tz), zoned, day),
                    start_param=local_start.isoformat(timespec="minutes"),
                )
            )
    result.items.sort(key=lambda item: (item.starts_at, item.kind == "free"))
    return result


def _free(
    working: Sequence[tuple[datetime, datetime]], busy: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """Working time not taken by any booking, as merged UTC ranges in order."""
    merged: list[tuple[datetime, datetime]] = []
    for begins, ends in sorted(working):
        if merged and begins <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends))
        else:
            merged.append((begins, ends))
    free = []
    for begins, ends in merged:
        cursor = begins
        for taken_start, taken_end in sorted(busy):
            if taken_end <= cursor or taken_start >= ends:
                continue
            if taken_start > cursor:
                free.append((cursor, taken_start))
            cursor = max(cursor, taken_end)
        if cursor < ends:
            free.append((cursor, ends))
    return free


# --- the page ----------------------------------------------------------------------------------

# Another area's page for a booking the tradie takes themselves; linked once it is installed.
NEW_BOOKING = "dashboard.new_booking"


@bp.get("/calendar", endpoint="calendar")
def calendar_page() -> Response:
    tradie = signed_in()
    now = utcnow()
    wanted = parse(request.args, local_today(tradie, now))
    shown = rendered(tradie, wanted, now)
    return render(
        "dashboard/calendar.html",
        "dashboard/_calendar_swap.html",
        tradie=tradie,
        title=shown.title,
        calendar=shown.html,
    )


# --- the rendered calendar, kept per process ----------------------------------------------------

# Everything the calendar shows comes from the tables whose every change bumps the tradie's slot
# versions (peepopay.slot_versions: bookings, busy times, hours, blocked days, services, the
# tradie), from today's date and from the next free start after now; a hold leaves by itself at
# its expiry. A rendered calendar is reused while all of those are unchanged, and at most a
# minute (a bound if a bump was lost while Redis was away); without versions nothing is kept.
KEPT_WEEKS = 300


@dataclass(frozen=True)
class Shown:
    title: str
    html: Markup


def rendered(tradie: Tradie, wanted: Wanted, now: datetime) -> Shown:
    """The calendar `wanted` asks for, as HTML: built and rendered, or as kept from before."""
    interval = tradie.slot_interval_minutes

    def make() -> tuple[Shown, datetime | None]:
        view = build(db.session, tradie, wanted, now, interval)
        html = render_template(
            "dashboard/_calendar.html",
            view=view,
            new_booking=NEW_BOOKING if NEW_BOOKING in current_app.view_functions else None,
        )
        # The template's own escaped output.
        return Shown(view.title, Markup(html)), view.holds_until  # noqa: S704

    key = (
        tradie.id,
        wanted,
        local_today(tradie, now),
        round_up(now, ZoneInfo(tradie.timezone), interval),
    )
    # A week is about 30 KB of HTML: a few hundred keep a busy process's weeks in 10 MB.
    return slot_versions.kept_or_made("calendar_pages", key, tradie.id, now, make, KEPT_WEEKS)
