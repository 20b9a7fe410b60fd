"""Free slots of one day on the hot path (the public availability endpoint, the time step).

The same inputs as `scheduling.services.day_slots`, read in two statements built once at
import (building SQLAlchemy expressions per request cost more than running them): the tradie,
service, weekly hours and nearby blocked days in one, then the bookings of the day's window in
one range scan of the (tradie_id, starts_at) index, with the busy times from the tradie's own
calendars in the same round trip (UNION ALL, one range scan of busy_times' own
(tradie_id, starts_at) index), so the cost does not grow with history.

Most requests read neither: what those two statements found for a day is kept per process
(`DayCache`) with the tradie's slot versions read from Redis before it was read
(`peepopay.slot_versions`, bumped after every commit that changes what a day offers), and
served while the versions are unchanged and no pending hold among the day's bookings has run
out; "now" still applies per request (the notice cut, today's date).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from peepopay import slot_versions
from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, Status
from peepopay.calendars.models import MAX_BUSY_PIECE, BusyTime
from peepopay.inputs import parse_id, storable
from peepopay.scheduling import services as scheduling
from peepopay.scheduling import slots
from peepopay.scheduling.models import ArrivalWindow, AvailabilityRule, BlockedPeriod, Service

# Blocked days this far either side of the requested day are read: more than a job of up to a
# day (scheduling.services.MAX_DURATION), its buffers and any time zone reach; harmless beyond.
BLOCKED_MARGIN = timedelta(days=7)


@dataclass(frozen=True)
class Offer:
    """One tradie's service, hours and nearby blocked days, as the slot engine needs them."""

    tradie_id: int
    service_id: int
    timezone: str
    rules: slots.SlotRules
    weekly: tuple[slots.WeeklyRule, ...]
    blocked: tuple[slots.BlockedPeriod, ...]


_OFFER = (
    sa.select(
        Tradie.id,
        Tradie.timezone,
        Tradie.slot_interval_minutes,
        Tradie.buffer_minutes,
        Tradie.min_notice_minutes,
        Tradie.horizon_days,
        Service.id,
        Service.duration_minutes,
        AvailabilityRule.weekday,
        AvailabilityRule.start_local,
        AvailabilityRule.end_local,
        BlockedPeriod.start_date,
        BlockedPeriod.end_date,
        Service.by_arrival_window,
        Tradie.jobs_per_window,
    )
    .select_from(Tradie)
    .outerjoin(
        Service,
        sa.and_(
            Service.tradie_id == Tradie.id,
            Service.id == sa.bindparam("service_id"),
            Service.archived.is_(False),
        ),
    )
    .outerjoin(AvailabilityRule, AvailabilityRule.tradie_id == Tradie.id)
    # Rules × blocked periods: a handful of rows, one round trip.
    .outerjoin(
        BlockedPeriod,
        sa.and_(
            BlockedPeriod.tradie_id == Tradie.id,
            BlockedPeriod.start_date <= sa.bindparam("last"),
            BlockedPeriod.end_date >= sa.bindparam("first"),
        ),
    )
    .where(Tradie.slug == sa.bindparam("slug"), Tradie.public())
)
_WINDOWS = sa.select(
    ArrivalWindow.weekday, ArrivalWindow.start_local, ArrivalWindow.end_local
).where(ArrivalWindow.tradie_id == sa.bindparam("tradie_id"))
# As scheduling.services.busy_between (active bookings overlapping [start, end), kind 0) and
# away_between (the tradie's calendars, kind 1), one range scan of each table's index; a pending
# booking's hold expiry comes along, as the moment its time is free again without any write.
_BUSY = sa.union_all(
    sa.select(
        Booking.starts_at,
        Booking.ends_at,
        sa.literal(0),
        sa.case((Booking.status == Status.PENDING_PAYMENT, Booking.hold_expires_at)),
    ).where(
        Booking.tradie_id == sa.bindparam("tradie_id"),
        Booking.starts_at < sa.bindparam("end"),
        Booking.starts_at >= sa.bindparam("earliest"),
        Booking.ends_at > sa.bindparam("start"),
        scheduling.active_condition(sa.bindparam("now")),  # type: ignore[arg-type]
    ),
    # Only the busy times meeting the day's working span (slots.working_span): the others
    # cannot change a slot, so they are not even read.
    sa.select(
        BusyTime.starts_at,
        BusyTime.ends_at,
        sa.literal(1),
        sa.type_coerce(sa.null(), Booking.hold_expires_at.type),
    ).where(
        BusyTime.tradie_id == sa.bindparam("tradie_id"),
        BusyTime.starts_at < sa.bindparam("away_end"),
        BusyTime.starts_at >= sa.bindparam("away_earliest"),
        BusyTime.ends_at > sa.bindparam("away_start"),
    ),
)


def find_offer(
    conn: sa.Connection, slug: str, service_id: Any, day: date
) -> tuple[bool, Offer | None]:
    """(the tradie exists, its active service `service_id` around `day`, or None); `day` must
    be in reach (`inputs.date_in_reach`), so the blocked-day margins cannot overflow."""
    if not storable(slug):
        return False, None
    params = {
        "slug": slug,
        "service_id": parse_id(service_id) or 0,
        "first": day - BLOCKED_MARGIN,
        "last": day + BLOCKED_MARGIN,
    }
    rows = conn.execute(_OFFER, params).all()
    if not rows:
        return False, None
    tradie_id, tz, interval, buffer, notice, horizon, found_id, duration = rows[0][:8]
    if found_id is None:
        return True, None
    by_window, jobs = rows[0][13:15]
    rules = slots.SlotRules(
        tz=ZoneInfo(tz),
        duration_minutes=duration,
        interval_minutes=interval,
        buffer_minutes=buffer,
        min_notice_minutes=notice,
        horizon_days=horizon,
        window_jobs=int(str(jobs)) if by_window else 0,
    )
    weekly = sorted({(r[8], r[9], r[10]) for r in rows if r[8] is not None})
    if by_window:
        # A service booked by arrival window: the windows take the place of working hours.
        found = conn.execute(_WINDOWS, {"tradie_id": tradie_id})
        weekly = sorted((day, start, end) for day, start, end in found)
    blocked = sorted({(r[11], r[12]) for r in rows if r[11] is not None})
    return True, Offer(
        tradie_id,
        found_id,
        tz,
        rules,
        tuple(slots.WeeklyRule(*w) for w in weekly),
        tuple(slots.BlockedPeriod(*b) for b in blocked),
    )


class DayView:
    """The slots of one day as offered at one moment: a suffix of the memoised engine answer
    (the notice cut only moves forward), with room for callers to memoise renderings of it."""

    __slots__ = ("_cut", "first")

    def __init__(self, cut: _Cut, first: int) -> None:
        self._cut = cut
        self.first = first

    @property
    def offered(self) -> list[slots.Slot]:
        return list(self._cut.found[self.first :])

    def rendered(self, make: Callable[[list[slots.Slot]], bytes]) -> bytes:
        """`make(self.offered)`, computed once per day answer and cut."""
        body = self._cut.bodies.get(self.first)
        if body is None:
            body = self._cut.bodies[self.first] = make(self.offered)
        return body


class _Cut:
    __slots__ = ("bodies", "found")

    def __init__(self, found: tuple[slots.Slot, ...]) -> None:
        self.found = found
        self.bodies: dict[int, bytes] = {}


@dataclass(frozen=True)
class Found:
    """What the database says about one day of one offer, and until when it holds at most."""

    offer: Offer
    busy: tuple[slots.Busy, ...]
    away: tuple[slots.Away, ...]
    until: datetime | None  # the first live hold's expiry among `busy`
    # The engine's answers by (day, today): a cached day skips even hashing the inputs.
    cuts: dict[tuple[date, date], _Cut] = field(default_factory=dict, compare=False, repr=False)

    def view(self, day: date, now: datetime) -> DayView:
        """The slots offered on `day` at `now` (taken ones with available=False)."""
        rules = self.offer.rules
        earliest = now + timedelta(minutes=rules.min_notice_minutes)
        today = now.astimezone(rules.tz).date()
        cut = self.cuts.get((day, today))
        if cut is None:
            offer = self.offer
            cut = _cut_slots(day, rules, offer.weekly, offer.blocked, self.busy, self.away, today)
            self.cuts[(day, today)] = cut
        # The engine answers in start order, so the notice cut leaves a suffix.
        first = next((i for i, s in enumerate(cut.found) if s.starts_at_utc >= earliest), None)
        return DayView(cut, len(cut.found) if first is None else first)


def day_view(conn: sa.Connection, offer: Offer, day: date, now: datetime) -> DayView:
    """Every slot offered on local `day` (taken ones with available=False); `offer` must have
    been found for this `day`."""
    return read_day(conn, offer, day, now).view(day, now)


def read_day(conn: sa.Connection, offer: Offer, day: date, now: datetime) -> Found:
    """The bookings and busy times that shape `day`'s slots, in one statement."""
    start, end = slots.busy_window(day, offer.rules)
    away_start, away_end = _working_span(day, offer.rules, offer.weekly) or (start, start)
    params = {
        "tradie_id": offer.tradie_id,
        "start": start,
        "end": end,
        "earliest": start - scheduling.MAX_DURATION,
        "away_start": away_start,
        "away_end": away_end,
        "away_earliest": away_start - MAX_BUSY_PIECE,
        "now": now,
    }
    busy: list[slots.Busy] = []
    away: list[slots.Away] = []
    holds: list[datetime] = []
    for s, e, kind, hold_expires_at in conn.execute(_BUSY, params).all():
        if kind:
            away.append((s, e))
        else:
            busy.append(slots.Busy(s, e))
            if hold_expires_at is not None:
                holds.append(hold_expires_at)
    return Found(offer, tuple(busy), tuple(away), min(holds, default=None))


# --- the per-day cache ----------------------------------------------------------------------


class DayCache:
    """One process's answers, by (slug, service id as asked, day), each with the slot versions
    read before the database was."""

    def __init__(self) -> None:
        self.days: dict[tuple[str, Any, date], slot_versions.Kept[Found]] = {}
        self.tradies: dict[str, int] = {}  # slug -> tradie id, to read versions before a miss

    def find(
        self,
        engine: sa.Engine,
        slug: str,
        service_id: Any,
        day: date,
        now: datetime,
        versions_of: Callable[[int | None], tuple[Any, Any] | None] = slot_versions.read,
    ) -> tuple[bool, Found | None]:
        """As `find_offer` and `read_day`: (the tradie exists, the day's inputs or None).
        `versions_of(tradie id or None)` is called once, before anything is read."""
        key = (slug, service_id, day)
        kept = self.days.get(key)
        tradie_id = kept.value.offer.tradie_id if kept else self.tradies.get(slug)
        versions = versions_of(tradie_id)
        if kept is not None and kept.usable(versions, now):
            return True, kept.value
        with engine.connect() as conn:  # read-only: no session transaction to commit
            exists, offer = find_offer(conn, slug, service_id, day)
            found = read_day(conn, offer, day, now) if offer is not None else None
        if offer is None or found is None:
            self.days.pop(key, None)
            return exists, None
        self.tradies[slug] = offer.tradie_id
        if offer.tradie_id == tradie_id:
            slot_versions.keep(self.days, key, found, versions, found.until)
        return True, found


def cache() -> DayCache:
    """This app's cache in this process."""
    found: DayCache = current_app.extensions.setdefault("availability_days", DayCache())
    return found


def day_slots(conn: sa.Connection, offer: Offer, day: date, now: datetime) -> list[slots.Slot]:
    """As `day_view`, as a list."""
    return day_view(conn, offer, day, now).offered


_working_span = lru_cache(maxsize=1024)(slots.working_span)


@lru_cache(maxsize=1024)
def _cut_slots(
    day: date,
    rules: slots.SlotRules,
    weekly: tuple[slots.WeeklyRule, ...],
    blocked: tuple[slots.BlockedPeriod, ...],
    busy: tuple[slots.Busy, ...],
    away: tuple[slots.Away, ...],
    today: date,
) -> _Cut:
    """The engine's slots before the minimum-notice cut, memoised on every input it reads.

    `now` enters the engine only as today's date and as the notice cut-off, so computing with
    the first instant of today and no notice, then cutting at the real `now + notice`, gives
    exactly the engine's answer; the bookings are part of the key, so any change is seen."""
    start_of_today = datetime.combine(today, time(), rules.tz)
    return _Cut(
        tuple(
            slots.slots_for_date(
                day,
                rules=replace(rules, min_notice_minutes=0),
                weekly=weekly,
                blocked=blocked,
                busy=busy,
                now_utc=start_of_today,
                away=away,
            )
        )
    )
