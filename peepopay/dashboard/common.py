"""Helpers every dashboard page shares: field errors, ownership checks, the tradie's clock."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from werkzeug.exceptions import NotFound

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.db_setup import DbSession

T = TypeVar("T")


class FormError(ValueError):
    """A business rule broken by the input; `field` names the form field to show it on."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def owned(session: DbSession, model: type[T], object_id: int, tradie_id: int) -> T:
    """The tradie's own row, or 404: another tradie's id looks exactly like a missing one."""
    row = session.get(model, object_id)
    if row is None or getattr(row, "tradie_id", None) != tradie_id:
        raise NotFound()
    return row


def actor(tradie: Tradie) -> str:
    return f"tradie:{tradie.id}"


def zone(tradie: Tradie) -> ZoneInfo:
    return ZoneInfo(tradie.timezone)


def local_today(tradie: Tradie, now: datetime) -> date:
    return now.astimezone(zone(tradie)).date()


def local_midnight_utc(tradie: Tradie, day: date) -> datetime:
    """The UTC instant the tradie's local `day` begins (DST-safe: wall clock, then convert)."""
    return datetime.combine(day, time(0), tzinfo=zone(tradie)).astimezone(ZoneInfo("UTC"))


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


PERCENT_RE = re.compile(r"(\d{1,3})(?:\.(\d{1,2}))?")


def parse_percent(text: str) -> int:
    """ "12.5" -> 1250 basis points, without floats; ValueError for anything else."""
    cleaned = text.strip().rstrip("%").strip()
    match = PERCENT_RE.fullmatch(cleaned)
    if not match:
        raise ValueError("Enter a percentage like 25 or 12.5.")
    whole, fraction = match.group(1), match.group(2) or ""
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def format_percent(bps: int) -> str:
    """1250 -> "12.5"; 2500 -> "25"."""
    whole, rest = divmod(bps, 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".") if rest else str(whole)


def changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply `values` to `obj`, returning {field: [old, new]} for what actually changed."""
    changed: dict[str, list[Any]] = {}
    for key, value in values.items():
        old = getattr(obj, key)
        if old != value:
            changed[key] = [_plain(old), _plain(value)]
            setattr(obj, key, value)
    return changed


def update_tradie(
    session: DbSession, tradie: Tradie, action: str, values: dict[str, Any]
) -> dict[str, list[Any]]:
    """Apply a settings form's `values` to the tradie; audit what changed (nothing if nothing)."""
    changed = changes(tradie, values)
    if changed:
        audit.record(
            session,
            tradie_id=tradie.id,
            actor=actor(tradie),
            action=action,
            entity=tradie,
            summary=changed,
        )
    return changed


def _plain(value: Any) -> Any:
    """JSON-friendly form of a value for audit summaries."""
    if isinstance(value, date | time | datetime):
        return value.isoformat()
    return value
