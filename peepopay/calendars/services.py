"""Adding, syncing and removing a tradie's calendars.

A sync fetches first and writes after (no transaction waits on the network), replaces the
feed's busy times only after a good fetch, and on a failure keeps the last good ones, backs
off, and after a day of failures emails the tradie once through the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from peepopay import audit, safefetch, secretbox
from peepopay.accounts.models import Tradie
from peepopay.calendars import parse
from peepopay.calendars.models import BusyTime, CalendarFeed, FeedKind
from peepopay.db_setup import DbSession
from peepopay.notifications import caldav, links, messages, outbox
from peepopay.notifications.models import CALDAV_CHANNEL, OutboxMessage, OutboxStatus
from peepopay.rules import FormError, actor, owned

log = logging.getLogger(__name__)

MAX_FEEDS = 10
# Busy times are kept from a day back to a day past the booking horizon.
SLACK = timedelta(days=1)
# A failing feed is tried again after the refresh interval doubled per failure, up to this.
MAX_BACKOFF = timedelta(hours=6)
FAILING_FOR = timedelta(hours=24)
# Conditional requests only while the last full read is this recent: the horizon moves on, and
# a recurring event's later occurrences must be expanded even when the file never changes.
REPARSE_EVERY = timedelta(hours=12)


@dataclass(frozen=True)
class Outcome:
    """What one fetch found: busy intervals (None for "not modified"), or an error."""

    intervals: list[parse.Interval] | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None


def refresh_interval() -> timedelta:
    return timedelta(minutes=float(current_app.config["CALENDAR_REFRESH_MINUTES"]))


def fetch_limits() -> safefetch.Limits:
    config = current_app.config
    return safefetch.Limits(
        timeout_seconds=float(config["CALENDAR_FETCH_TIMEOUT_SECONDS"]),
        max_bytes=int(config["CALENDAR_FETCH_MAX_BYTES"]),
        allow_loopback=bool(config["CALENDAR_FETCH_ALLOW_LOOPBACK"]),
    )


def window(tradie: Tradie, now: datetime) -> tuple[datetime, datetime]:
    """The UTC range whose busy times are stored: the booking horizon and a day either side."""
    return now - SLACK, now + timedelta(days=tradie.horizon_days) + SLACK


def backoff(failures: int) -> timedelta:
    return min(refresh_interval() * 2 ** max(failures - 1, 0), MAX_BACKOFF)


# --------------------------------------------------------------------------- fetching (no writes)


def read_feed(feed: CalendarFeed, tradie: Tradie, now: datetime, conditional: bool) -> Outcome:
    """Fetch and parse one calendar; touches no database row."""
    start, end = window(tradie, now)
    tz = ZoneInfo(tradie.timezone)
    try:
        if feed.kind == FeedKind.CALDAV:
            calendar = caldav.read_events(feed, start, end)
            return Outcome(parse.busy_intervals(calendar, start, end, tz))
        fetched = safefetch.fetch(
            feed.url,
            fetch_limits(),
            etag=feed.etag if conditional else None,
            last_modified=feed.last_modified if conditional else None,
        )
        if fetched.not_modified:
            return Outcome(None, etag=feed.etag, last_modified=feed.last_modified)
        calendar = parse.read_calendar(fetched.body)
        intervals = parse.busy_intervals(calendar, start, end, tz)
        return Outcome(intervals, etag=fetched.etag, last_modified=fetched.last_modified)
    except (safefetch.FetchError, parse.NotACalendar, caldav.CalDAVProblem) as problem:
        return Outcome(error=str(problem))
    except secretbox.NoKey as problem:
        return Outcome(error=str(problem))
    except Exception:  # a parser or client bug must still show as a failed sync, not vanish
        log.exception("calendar %s could not be read", feed.id)
        return Outcome(error="The calendar could not be read (an unexpected error was logged).")


def _conditional(feed: CalendarFeed, now: datetime) -> bool:
    return feed.parsed_at is not None and now - feed.parsed_at < REPARSE_EVERY


# --------------------------------------------------------------------------- recording


def _replace_busy(session: DbSession, feed: CalendarFeed, intervals: list[parse.Interval]) -> None:
    session.execute(
        sa.delete(BusyTime)
        .where(BusyTime.feed_id == feed.id)
        .execution_options(slots_of=feed.tradie_id)
    )
    if intervals:
        session.execute(
            sa.insert(BusyTime),
            [
                {"tradie_id": feed.tradie_id, "feed_id": feed.id, "starts_at": s, "ends_at": e}
                for s, e in intervals
            ],
        )
    feed.busy_count = len(intervals)


def record(session: DbSession, feed: CalendarFeed, outcome: Outcome, now: datetime) -> None:
    """Store what a fetch found: new busy times after a good one; after a failure the last
    good busy times stay, the next try backs off, and a day of failures is emailed once."""
    feed.last_attempt_at = now
    if outcome.error is None:
        if outcome.intervals is not None:
            _replace_busy(session, feed, outcome.intervals)
            feed.parsed_at = now
            feed.etag, feed.last_modified = outcome.etag, outcome.last_modified
        feed.last_success_at = now
        feed.last_error = None
        feed.failures = 0
        feed.failing_since = feed.failure_notified_at = None
        feed.next_sync_at = now + refresh_interval()
        return
    feed.last_error = outcome.error
    feed.failures += 1
    feed.failing_since = feed.failing_since or now
    feed.next_sync_at = now + backoff(feed.failures)
    if feed.failure_notified_at is None and now - feed.failing_since >= FAILING_FOR:
        _tell_failing(session, feed, now)
        feed.failure_notified_at = now


def _tell_failing(session: DbSession, feed: CalendarFeed, now: datetime) -> None:
    tradie = session.get(Tradie, feed.tradie_id)
    assert tradie is not None and feed.failing_since is not None
    outbox.queue_email(
        session,
        kind="calendar_failing",
        to=messages.tradie_email(tradie),
        template="calendar_failing",
        context={
            **messages.brand(tradie),
            "feed": feed,
            "calendars_url": links.external_url("dashboard.calendars"),
            "for_tradie": True,
        },
        key=f"calendar:{feed.id}:failing:email:{feed.failing_since.isoformat()}",
        tradie_id=tradie.id,
        now=now,
    )


# --------------------------------------------------------------------------- the settings page


def _checked_url(url: str) -> str:
    try:
        return safefetch.normalise_url(url)
    except safefetch.FetchError as problem:
        raise FormError("url", str(problem)) from None


def _default_name(url: str) -> str:
    host = urlsplit(url).hostname or "calendar"
    known = {
        "calendar.google.com": "Google Calendar",
        "outlook.live.com": "Outlook",
        "outlook.office365.com": "Outlook",
        "caldav.icloud.com": "iCloud",
    }
    if host in known:
        return known[host]
    if host.endswith(".icloud.com"):
        return "iCloud"
    return host.removeprefix("www.")[:120]


def _room_for_another(session: DbSession, tradie: Tradie, url: str) -> None:
    urls = session.scalars(
        sa.select(CalendarFeed.url).where(CalendarFeed.tradie_id == tradie.id)
    ).all()
    if len(urls) >= MAX_FEEDS:
        raise FormError("url", f"At most {MAX_FEEDS} calendars can be connected.")
    if url in urls:
        raise FormError("url", "That calendar is connected already.")


def add_feed(
    session: DbSession,
    tradie: Tradie,
    url: str,
    now: datetime,
    name: str = "",
    username: str = "",
    password: str = "",
) -> CalendarFeed:
    """Connect a calendar (an ICS address, or CalDAV when a user name is given) and sync it
    at once; FormError with the reason when it cannot be read, and nothing is stored."""
    url = _checked_url(url)
    _room_for_another(session, tradie, url)
    caldav_feed = bool(username)
    feed = CalendarFeed(
        tradie_id=tradie.id,
        kind=FeedKind.CALDAV if caldav_feed else FeedKind.ICS,
        name=(name.strip() or _default_name(url))[:120],
        url=url,
        failures=0,
        busy_count=0,
        next_sync_at=now,
    )
    if caldav_feed:
        feed.username = username.strip()
        try:
            feed.password_encrypted = secretbox.encrypt(password)
            feed.url = str(caldav.find_calendar(feed).url)
        except (caldav.CalDAVProblem, secretbox.NoKey) as problem:
            raise FormError("url", str(problem)) from None
    outcome = read_feed(feed, tradie, now, conditional=False)
    if outcome.error:
        raise FormError("url", outcome.error)
    session.add(feed)
    session.flush()
    record(session, feed, outcome, now)
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="calendar.connected",
        entity=feed,
        summary={"name": feed.name, "kind": feed.kind, "busy": feed.busy_count},
    )
    return feed


def feeds(session: DbSession, tradie_id: int) -> list[CalendarFeed]:
    return list(
        session.scalars(
            sa.select(CalendarFeed)
            .where(CalendarFeed.tradie_id == tradie_id)
            .order_by(CalendarFeed.created_at, CalendarFeed.id)
        )
    )


def write_problems(session: DbSession, tradie_id: int) -> dict[int, str]:
    """For each CalDAV calendar, what went wrong writing jobs into it: updates being retried
    after a failure, and updates given up on, with the last error."""
    rows = session.execute(
        sa.select(OutboxMessage.payload, OutboxMessage.status, OutboxMessage.last_error)
        .where(
            OutboxMessage.tradie_id == tradie_id,
            OutboxMessage.channel == CALDAV_CHANNEL,
            OutboxMessage.last_error.is_not(None),
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.FAILED]),
        )
        .order_by(OutboxMessage.id)
    )
    counts: dict[int, dict[str, int]] = {}
    last: dict[int, str] = {}
    for payload, status, error in rows:
        feed_id = int(payload["feed_id"])
        counts.setdefault(feed_id, {}).setdefault(status, 0)
        counts[feed_id][status] += 1
        last[feed_id] = error
    problems = {}
    for feed_id, by_status in counts.items():
        parts = []
        if by_status.get(OutboxStatus.PENDING):
            parts.append(f"{by_status[OutboxStatus.PENDING]} job update(s) waiting to be retried")
        if by_status.get(OutboxStatus.FAILED):
            parts.append(f"{by_status[OutboxStatus.FAILED]} could not be written")
        problems[feed_id] = f"{'; '.join(parts)}. Last error: {last[feed_id][:300]}"
    return problems


def remove_feed(session: DbSession, tradie: Tradie, feed_id: int) -> CalendarFeed:
    feed = owned(session, CalendarFeed, feed_id, tradie.id)
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="calendar.removed",
        entity=feed,
        summary={"name": feed.name},
    )
    session.execute(
        sa.delete(BusyTime)
        .where(BusyTime.feed_id == feed.id)
        .execution_options(slots_of=feed.tradie_id)
    )
    session.delete(feed)
    session.flush()
    return feed


def sync_now(session: DbSession, tradie: Tradie, feed_id: int, now: datetime) -> CalendarFeed:
    """The tradie asked for a fresh read of one calendar (a full one, not conditional)."""
    feed = owned(session, CalendarFeed, feed_id, tradie.id)
    record(session, feed, read_feed(feed, tradie, now, conditional=False), now)
    session.flush()
    return feed


# --------------------------------------------------------------------------- the worker


def due_feed_ids(session: DbSession, now: datetime, limit: int = 200) -> list[int]:
    return list(
        session.scalars(
            sa.select(CalendarFeed.id)
            .where(CalendarFeed.next_sync_at <= now)
            .order_by(CalendarFeed.next_sync_at)
            .limit(limit)
        )
    )


def sync_feed(session: DbSession, feed_id: int, now: datetime) -> str:
    """Sync one feed if it is still due: "synced", "failed" or "not_due"; commits."""
    feed = session.get(CalendarFeed, feed_id)
    if feed is None or feed.next_sync_at > now:
        session.rollback()
        return "not_due"
    tradie = session.get(Tradie, feed.tradie_id)
    assert tradie is not None
    conditional = _conditional(feed, now)
    session.commit()  # end the read: the fetch holds no transaction open
    outcome = read_feed(feed, tradie, now, conditional)
    feed = session.get(CalendarFeed, feed_id)
    if feed is None:  # removed while we fetched
        session.rollback()
        return "not_due"
    record(session, feed, outcome, now)
    session.commit()
    if outcome.error:
        log.info("calendar %s failed: %s", feed_id, outcome.error)
        return "failed"
    return "synced"


def _busy_times(count: int) -> str:
    return f"{count} busy time{'s' if count != 1 else ''}"


def connected_notice(feed: CalendarFeed, tradie: Tradie) -> str:
    """What adding a calendar found, e.g. "12 busy times in the next 60 days"."""
    return (
        f"Connected {feed.name}: {_busy_times(feed.busy_count)} "
        f"in the next {tradie.horizon_days} days."
    )


def synced_notice(feed: CalendarFeed) -> str:
    if feed.last_error:
        return f"{feed.name} could not be read: {feed.last_error}"
    return f"{feed.name} synced: {_busy_times(feed.busy_count)} ahead."


def busy_between(
    session: DbSession, tradie_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, str]]:
    """(start, end, calendar name) of the tradie's busy times overlapping [start, end)."""
    rows = session.execute(
        sa.select(BusyTime.starts_at, BusyTime.ends_at, CalendarFeed.name)
        .join(CalendarFeed, CalendarFeed.id == BusyTime.feed_id)
        .where(
            BusyTime.tradie_id == tradie_id,
            BusyTime.starts_at < end,
            BusyTime.starts_at >= start - parse.MAX_PIECE,
            BusyTime.ends_at > start,
        )
        .order_by(BusyTime.starts_at)
    )
    return [(s, e, name) for s, e, name in rows]


def merged_busy(
    session: DbSession, tradie_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, str]]:
    """As `busy_between`, with each calendar's day pieces joined again: what the tradie sees."""
    by_name: dict[str, list[tuple[datetime, datetime]]] = {}
    for s, e, name in busy_between(session, tradie_id, start, end):
        spans = by_name.setdefault(name, [])
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return sorted((s, e, name) for name, spans in by_name.items() for s, e in spans)


def _clock(moment: datetime) -> str:
    return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


def busy_by_day(
    session: DbSession, tradie: Tradie, first: date, days: int
) -> dict[date, list[str]]:
    """For each local day from `first`, its busy times as the tradie reads them:
    "Busy (Personal): 10:00 am – 11:30 am", or "Busy (Personal): all day"."""
    tz = ZoneInfo(tradie.timezone)
    found: dict[date, list[str]] = {}
    for n in range(days):
        day = first + timedelta(days=n)
        start = datetime.combine(day, time(), tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
        for s, e, name in merged_busy(session, tradie.id, start, end):
            if s <= start and e >= end:
                when = "all day"
            else:
                when = (
                    f"{_clock(max(s, start).astimezone(tz))} – {_clock(min(e, end).astimezone(tz))}"
                )
            found.setdefault(day, []).append(f"Busy ({name}): {when}")
    return found
