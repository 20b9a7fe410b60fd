"""Versions of each tradie's data, in Redis: bumped after every commit that changes what a day
offers or what a kept dashboard page shows, read before a kept answer is trusted.

What a day offers is read from bookings, the busy times of the tradie's calendars, weekly hours,
arrival windows, blocked periods, services and the tradie's own settings; the kept calendar
week reads the same, and the kept customer list reads customers, bookings and payments. Rather
than a call in each of their writers, the session tells: rows of those tables flushed by the
unit of work carry their tradie, bulk statements on them name it with
`execution_options(slots_of=tradie_id)` (or bulk inserts in their rows); an unnamed bulk
statement bumps every tradie at once. The bump runs after the commit, before the request that
made the change answers.

A version missing from Redis (never set, expired, Redis restarted) is set to a random number, so
a version is never seen twice; no version (Redis away) means no cache, never a stale answer.
"""

from __future__ import annotations

import logging
import secrets
import time as timer
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

log = logging.getLogger(__name__)

# The tables every kept answer is computed from: a day's free slots (peepopay.widget.availability),
# the calendar week (its jobs, busy times, hours and blocked days) and the customer list (with
# each customer's bookings and money).
WATCHED = frozenset(
    {
        "bookings",
        "busy_times",
        "availability_rules",
        "arrival_windows",
        "blocked_periods",
        "services",
        "tradies",
        "customers",
        "payments",
    }
)
EVERYONE = 0  # the version every answer also checks: bumped by a bulk change of unknown tradies
PREFIX = "peepopay-slots:"
# A version outlives any kept answer (KEEP_SECONDS) many times.
VERSION_SECONDS = 7 * 24 * 3600
_PENDING = "slot_versions.tradies"


def key(tradie_id: int) -> str:
    return f"{PREFIX}{tradie_id}"


def _redis() -> Redis | None:
    if not has_app_context():
        return None
    conn: Redis | None = current_app.extensions.get("redis")
    return conn


def read(tradie_id: int | None) -> tuple[Any, Any] | None:
    """(everyone's version, the tradie's) in one round trip; None when either is unknown
    (missing ones are set for the next reader), Redis does not answer, or there is no tradie
    (one not seen yet)."""
    conn = _redis()
    if conn is None or tradie_id is None:
        return None
    try:
        everyone, own = conn.mget(key(EVERYONE), key(tradie_id))
        if everyone is not None and own is not None:
            return everyone, own
        pipe = conn.pipeline(transaction=False)
        for tid, found in ((EVERYONE, everyone), (tradie_id, own)):
            if found is None:
                pipe.set(key(tid), _fresh(), nx=True, ex=VERSION_SECONDS)
        pipe.execute()
    except RedisError:
        log.warning("slot versions unreadable; availability computed without the cache")
    return None


def bump(tradie_ids: Iterable[int]) -> None:
    """Every answer cached for these tradies (EVERYONE: for all) is stale from now on."""
    conn = _redis()
    ids = sorted(set(tradie_ids))
    if conn is None or not ids:
        return
    try:
        pipe = conn.pipeline(transaction=True)
        for tid in ids:
            # A missing version starts from a random number, never from 1 again.
            pipe.set(key(tid), _fresh(), nx=True, ex=VERSION_SECONDS)
            pipe.incr(key(tid))
        pipe.execute()
    except RedisError:
        # Answers already kept live KEEP_SECONDS at most; the database still refuses a
        # taken slot at booking time.
        log.error("slot versions not bumped for tradies %s", ids)


def _fresh() -> int:
    return secrets.randbits(62)


# --- telling from the session -------------------------------------------------------------


def _pending(session: Session) -> set[int]:
    found: set[int] = session.info.setdefault(_PENDING, set())
    return found


def _tradie_of(instance: Any) -> int | None:
    table = getattr(instance, "__tablename__", None)
    if table not in WATCHED:
        return None
    # Read without loading: a deleted row's attributes may be expired by now.
    value = instance.__dict__.get("id" if table == "tradies" else "tradie_id")
    return int(value) if value is not None else EVERYONE


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    pending = _pending(session)
    for instance in (*session.new, *session.dirty, *session.deleted):
        tradie_id = _tradie_of(instance)
        if tradie_id is not None:
            pending.add(tradie_id)


def _table_of(statement: Any) -> str | None:
    table = getattr(statement, "table", None)
    return getattr(table, "name", None)


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if _table_of(state.statement) not in WATCHED:
        return
    named = state.execution_options.get("slots_of")
    pending = _pending(state.session)
    if named is not None:
        pending.update(named if isinstance(named, (list, tuple, set)) else [named])
        return
    given = state.parameters
    rows = [given] if isinstance(given, dict) else list(given or [])
    found = [row.get("tradie_id") for row in rows if isinstance(row, dict)]
    if found and None not in found:
        pending.update(int(tid) for tid in found if tid is not None)
    else:
        pending.add(EVERYONE)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        bump(pending)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def init_app(app: Flask) -> None:
    """Listen on every session (requests, jobs, commands) once."""
    del app
    for name, handler in (
        ("after_flush", _after_flush),
        ("do_orm_execute", _on_execute),
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
    ):
        if not sa.event.contains(Session, name, handler):
            sa.event.listen(Session, name, handler)


# --- what a process keeps against the versions ------------------------------------------------

# However the versions look, a kept answer is worked out again after this long: a bound on
# staleness if a bump was lost (Redis away at the moment of a commit).
KEEP_SECONDS = 60.0
KEEP_MOST = 4096
T = TypeVar("T")


@dataclass(frozen=True)
class Kept(Generic[T]):
    """Something worked out from the watched tables, with the versions read before they were
    read, and the moment it ends by itself (a pending hold's expiry), if any."""

    value: T
    versions: tuple[Any, Any]
    until: datetime | None
    stored_at: float = field(default_factory=timer.monotonic)

    def usable(self, versions: tuple[Any, Any] | None, now: datetime) -> bool:
        return (
            versions == self.versions
            and (self.until is None or now < self.until)
            and timer.monotonic() - self.stored_at < KEEP_SECONDS
        )


def keep(
    store: dict[Any, Kept[T]],
    key: Hashable,
    value: T,
    versions: Any,
    until: datetime | None,
    most: int = KEEP_MOST,
) -> None:
    """Keep `value` under `key` when there are versions to check it against (none: nothing);
    a store holding `most` things starts again empty."""
    if versions is None:
        return
    if len(store) >= most:
        store.clear()
    store[key] = Kept(value, versions, until)


def kept_or_made(
    store: str,
    key: Hashable,
    tradie_id: int,
    now: datetime,
    make: Callable[[], tuple[T, datetime | None]],
    most: int = KEEP_MOST,
) -> T:
    """What `make` works out for `key` (a value, and the moment it ends by itself, if any), as
    kept by this process in the application's `store` while the tradie's versions are unchanged;
    made again, and kept, otherwise."""
    versions = read(tradie_id)  # before the database is read
    kept: dict[Any, Kept[T]] = current_app.extensions.setdefault(store, {})
    found = kept.get(key)
    if found is not None and found.usable(versions, now):
        return found.value
    value, until = make()
    keep(kept, key, value, versions, until, most)
    return value
