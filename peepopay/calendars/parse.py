"""Busy intervals from iCalendar data: recurring events expanded, free and cancelled ones left
out, every instant in UTC. Nothing else of an event (title, place, attendees) leaves here."""

from __future__ import annotations

from collections.abc import Iterable
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
    calendar: icalendar.Calendar, start: datetime, end: datetime, tz: ZoneInfo
) -> list[Interval]:
    """Merged busy intervals overlapping [start, end), clipped to it, in pieces of at most a
    day. `tz` gives all-day and floating events their meaning (the tradie's zone)."""
    try:
        calendar = x_wr_timezone.to_standard(calendar)
        occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).between(start, end)
        found = list(_busy(occurrences, tz))
    except (ValueError, TypeError, KeyError) as error:
        raise NotACalendar(f"The calendar file could not be read: {error}") from None
    clipped = [(max(s, start), min(e, end)) for s, e in found if s < end and e > start]
    return _pieces(_merge(clipped))


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
