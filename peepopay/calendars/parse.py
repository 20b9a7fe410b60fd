"""Busy intervals from iCalendar data: recurring events expanded, free and cancelled ones left
out, every instant in UTC. Nothing else of an event (title, place, attendees) leaves here.

A feed is somebody else's file: repeat rules that could not end or would take long to expand
(INTERVAL=0, more than once a minute, minutes since long ago) are refused before expanding,
and the expansion itself stops at MAX_OCCURRENCES or MAX_PARSE_SECONDS, whichever comes first.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import x_wr_timezone

from peepopay.calendars.models import MAX_BUSY_PIECE

# Events with these UIDs are the tradie's own jobs written by PeepoPay (CalDAV): they block
# their time as bookings already, and must not block a move of that very job.
OWN_UID_SUFFIX = "@peepopay"
MAX_PIECE = MAX_BUSY_PIECE
# A feed with more busy intervals than this in the window is refused as unreasonable.
MAX_INTERVALS = 20_000
# Occurrences expanded from one feed, counted as they come (not after a list is built); each
# costs about 0.1 ms, and a feed never holds more busy intervals than this anyway.
MAX_OCCURRENCES = MAX_INTERVALS
MAX_PARSE_SECONDS = 5.0
# However long a tradie's horizon, no more of a feed than this is expanded.
MAX_SPAN = timedelta(days=400)
# A rule's steps from its first occurrence to the window's end: the repeat library walks each
# one (a rule every minute since 1970 is 31 million, a minute of work for nothing).
MAX_RULE_STEPS = 1_000_000
STEP = {
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
    "MONTHLY": timedelta(days=28),
    "YEARLY": timedelta(days=365),
}

Interval = tuple[datetime, datetime]


class NotACalendar(ValueError):
    """The data is not an iCalendar file; the message says what it looks like instead."""


def _as_utc(value: date | datetime, tz: ZoneInfo) -> datetime:
    """An event time as aware UTC: a date is local midnight, a floating time is local time."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def read_calendar(data: bytes) -> icalendar.Calendar:
    """Parse, or NotACalendar saying why not (a web page, empty, not iCalendar, broken)."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        raise NotACalendar("The address answered with an empty file, not a calendar.")
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        raise NotACalendar(
            "The address answered with a web page, not a calendar. Copy the calendar's "
            "ICS (iCal) address, not the address of the page that shows it."
        )
    if not head.startswith(b"begin:vcalendar"):
        raise NotACalendar("The address did not answer with an iCalendar (.ics) file.")
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as error:
        raise NotACalendar(f"The calendar file could not be read: {error}") from None
    if isinstance(calendar, list):  # several VCALENDARs concatenated: keep the first
        calendar = calendar[0]
    return calendar


def busy_intervals(
    calendar: icalendar.Calendar,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    seconds: float = MAX_PARSE_SECONDS,
) -> list[Interval]:
    """Merged busy intervals overlapping [start, end), clipped to it, in pieces of at most a
    day. `tz` gives all-day and floating events their meaning (the tradie's zone)."""
    deadline = clock.monotonic() + seconds
    end = min(end, start + MAX_SPAN)
    try:
        check_rules(calendar, end, tz)
        calendar = x_wr_timezone.to_standard(calendar)
        found = list(_busy(_occurrences(calendar, start, end, deadline), tz))
    except NotACalendar:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise NotACalendar(f"The calendar file could not be read: {error}") from None
    clipped = [(max(s, start), min(e, end)) for s, e in found if s < end and e > start]
    return _pieces(_merge(clipped))


def check_rules(calendar: icalendar.Calendar, end: datetime, tz: ZoneInfo) -> None:
    """NotACalendar for a repeat rule that would not end, or not soon enough, when expanded."""
    for event in calendar.walk("VEVENT"):
        for rule in _rules(event):
            _check_rule(rule, event, end, tz)


def _rules(component: icalendar.cal.Component) -> list[icalendar.vRecur]:
    found = []
    for name in ("RRULE", "EXRULE"):
        value = component.get(name)
        for rule in value if isinstance(value, list) else [value] if value is not None else []:
            if not isinstance(rule, icalendar.vRecur):
                raise NotACalendar(f"The calendar has a repeat rule that cannot be read: {rule}")
            found.append(rule)
    return found


def _check_rule(
    rule: icalendar.vRecur, event: icalendar.cal.Component, end: datetime, tz: ZoneInfo
) -> None:
    frequency = str(rule.get("FREQ", [""])[0]).upper()
    interval = int(rule.get("INTERVAL", [1])[0])
    if interval < 1:
        raise NotACalendar(
            f"The calendar has an event that repeats with an interval of {interval}, "
            "which never moves on; the calendar cannot be read."
        )
    if frequency == "SECONDLY" or len(rule.get("BYSECOND", [])) > 1:
        raise NotACalendar(
            "The calendar has an event that repeats more often than once a minute; "
            "the calendar cannot be read."
        )
    if frequency not in STEP:
        raise NotACalendar(
            f"The calendar has a repeat rule without a known frequency ({frequency or 'none'})."
        )
    if "DTSTART" not in event:
        return
    first = _as_utc(event.decoded("DTSTART"), tz)
    steps = (end - first) / (STEP[frequency] * interval)
    if steps > MAX_RULE_STEPS:
        raise NotACalendar(
            f"The calendar has an event that repeats {frequency.lower()} since "
            f"{first:%Y-%m-%d}: over {MAX_RULE_STEPS:,} repeats to work through; "
            "the calendar cannot be read."
        )


def _occurrences(
    calendar: icalendar.Calendar, start: datetime, end: datetime, deadline: float
) -> Iterator[icalendar.Event]:
    """The events in [start, end), one series at a time and one occurrence at a time, so the
    limits are checked as they come rather than after a list of millions has been built."""
    count = 0
    for series in recurring_ical_events.of(calendar, components=["VEVENT"]).series:
        for occurrence in series.between(start, end):
            count += 1
            if count > MAX_OCCURRENCES:
                raise NotACalendar(
                    f"The calendar has more than {MAX_OCCURRENCES:,} events in the booking "
                    "horizon; the calendar cannot be read."
                )
            if clock.monotonic() > deadline:
                raise NotACalendar(
                    "The calendar took too long to read (its repeating events are too many)."
                )
            yield occurrence.as_component(False)


def _busy(events: Iterable[icalendar.Event], tz: ZoneInfo) -> Iterable[Interval]:
    for event in events:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(event.get("UID", "")).endswith(OWN_UID_SUFFIX):
            continue
        if "DTSTART" not in event:
            continue
        raw_start = event.decoded("DTSTART")
        starts = _as_utc(raw_start, tz)
        if "DTEND" in event:
            ends = _as_utc(event.decoded("DTEND"), tz)
        elif "DURATION" in event:
            ends = starts + event.decoded("DURATION")
        elif not isinstance(raw_start, datetime):  # an all-day event without an end: one day
            ends = _as_utc(raw_start + timedelta(days=1), tz)
        else:
            continue  # an instant takes no time
        if ends > starts:
            yield starts, ends


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    if len(merged) > MAX_INTERVALS:
        raise NotACalendar(
            f"The calendar has more than {MAX_INTERVALS:,} busy times in the booking horizon."
        )
    return merged


def _pieces(intervals: list[Interval]) -> list[Interval]:
    out = []
    for s, e in intervals:
        while e - s > MAX_PIECE:
            out.append((s, s + MAX_PIECE))
            s += MAX_PIECE
        out.append((s, e))
    return out
