"""The one place that reads the wall clock, so services can take `now` as an argument; and the
tradie's local days, which every area computes the same way."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


class Zoned(Protocol):
    """Anything with an IANA time zone name (a tradie)."""

    @property
    def timezone(self) -> str: ...


def utcnow() -> datetime:
    """Now, in UTC: the app's `CLOCK` when one is set (tests set it in one place), else the
    wall clock. Routes and jobs call this; services take the `now` it gives as an argument."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.now(UTC)


def zone(owner: Zoned) -> ZoneInfo:
    return ZoneInfo(owner.timezone)


def local_today(owner: Zoned, now: datetime) -> date:
    return now.astimezone(zone(owner)).date()


def local_midnight_utc(owner: Zoned, day: date) -> datetime:
    """The UTC instant the local `day` begins (DST-safe: wall clock, then convert)."""
    return datetime.combine(day, time(0), tzinfo=zone(owner)).astimezone(UTC)


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())
