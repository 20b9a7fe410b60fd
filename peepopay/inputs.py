"""Parsing of anonymous public input (the widget and its API), refused before it reaches the
slot engine or the database: ids a column can hold, dates near enough to compute with, text a
database can store."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wtforms.validators import StopValidation

# The dashboard lets a tradie take bookings at most this many days ahead.
MAX_HORIZON_DAYS = 365
# No tradie offers a date further than this from today (two days cover any time zone). Refusing
# such dates up front keeps the engine's date arithmetic (blocked-day margins, busy windows,
# zone conversion) clear of year 1 and year 9999, where it would overflow.
REACH = timedelta(days=MAX_HORIZON_DAYS + 2)
# Id columns are 32-bit integers on PostgreSQL; a larger value is no row, not a query error.
MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(value: Any) -> int | None:
    """A positive row id from a JSON integer or a string of digits; None for anything else."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_ID else None


def parse_page(value: Any) -> int:
    """A page number from a query string: 1 when absent, malformed or below 1, and never so
    large that the offset it makes overflows the database's integers."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return max(1, min(int(value.strip()), MAX_ID))
    return 1


def iso_date(value: Any) -> date | None:
    """`YYYY-MM-DD` (as `date.fromisoformat`); None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def iso_datetime(value: Any) -> datetime | None:
    """ISO 8601 date and time, naive or with an offset; None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def date_in_reach(day: date, now: datetime) -> bool:
    """Whether `day` is near enough to today that some tradie could offer it."""
    today = now.astimezone(UTC).date()
    return today - REACH <= day <= today + REACH


def instant_in_reach(instant: datetime, now: datetime) -> bool:
    """Whether the aware `instant` is near enough to `now` that some tradie could offer it."""
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 once moved to UTC
        return False
    return now - REACH <= utc <= now + REACH


def text_problem(label: str, value: str) -> str | None:
    """Why `value` cannot be stored as text (a NUL byte, a lone surrogate), or None."""
    if "\x00" in value:
        return f"{label} must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which only a JSON escape can carry
        return f"{label} must be valid Unicode text."
    return None


def storable(value: str) -> bool:
    """Whether `value` can be sent to the database as text at all."""
    return text_problem("", value) is None


class StorableText:
    """WTForms validator: the field's text can be stored (see `text_problem`)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, _form: Any, field: Any) -> None:
        problem = text_problem(self.label, field.data or "")
        if problem:
            raise StopValidation(problem)
