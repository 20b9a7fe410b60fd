"""Free slots of one day on the hot path (the public availability endpoint, the time step).

The same inputs as `scheduling.services.day_slots`, read with statements built once at import:
building SQLAlchemy expressions per request cost more than running them. Bookings come from
one range scan of the (tradie_id, starts_at) index, so the cost does not grow with history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from peepopay.auth.models import Tradie
from peepopay.booking.models import Booking
from peepopay.scheduling import services as scheduling
from peepopay.scheduling import slots
from peepopay.scheduling.models import AvailabilityRule, BlockedPeriod, Service


@dataclass(frozen=True)
class Offer:
    """One tradie's service as the slot engine needs it."""

    tradie_id: int
    service_id: int
    timezone: str
    rules: slots.SlotRules

    @classmethod
    def of(cls, tradie: Tradie, service: Service) -> Offer:
        return cls(tradie.id, service.id, tradie.timezone, scheduling.rules_for(tradie, service))


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
    .where(Tradie.slug == sa.bindparam("slug"))
)
_RULES = sa.select(
    AvailabilityRule.weekday, AvailabilityRule.start_local, AvailabilityRule.end_local
).where(AvailabilityRule.tradie_id == sa.bindparam("tradie_id"))
_BLOCKED = sa.select(BlockedPeriod.start_date, BlockedPeriod.end_date).where(
    BlockedPeriod.tradie_id == sa.bindparam("tradie_id"),
    BlockedPeriod.start_date <= sa.bindparam("last"),
    BlockedPeriod.end_date >= sa.bindparam("first"),
)
# As scheduling.services.busy_between: active bookings overlapping [start, end).
_BUSY = sa.select(Booking.starts_at, Booking.ends_at).where(
    Booking.tradie_id == sa.bindparam("tradie_id"),
    Booking.starts_at < sa.bindparam("end"),
    Booking.starts_at >= sa.bindparam("earliest"),
    Booking.ends_at > sa.bindparam("start"),
    scheduling.active_condition(sa.bindparam("now")),  # type: ignore[arg-type]
)


def find_offer(conn: sa.Connection, slug: str, service_id: Any) -> tuple[bool, Offer | None]:
    """(tradie exists, its active service `service_id` as an Offer or None)."""
    try:
        sid = int(str(service_id))
    except (TypeError, ValueError):
        sid = 0
    row = conn.execute(_OFFER, {"slug": slug, "service_id": sid}).first()
    if row is None:
        return False, None
    tradie_id, tz, interval, buffer, notice, horizon, found_id, duration = row
    if found_id is None:
        return True, None
    rules = slots.SlotRules(
        tz=ZoneInfo(tz),
        duration_minutes=duration,
        interval_minutes=interval,
        buffer_minutes=buffer,
        min_notice_minutes=notice,
        horizon_days=horizon,
    )
    return True, Offer(tradie_id, found_id, tz, rules)


def day_slots(conn: sa.Connection, offer: Offer, day: date, now: datetime) -> list[slots.Slot]:
    """Every slot offered on local `day` (taken ones with available=False).

    Takes a Connection: the read-only API borrows one from the pool for just these reads."""
    start, end = slots.busy_window(day, offer.rules)
    weekly = [
        slots.WeeklyRule(w, s, e)
        for w, s, e in conn.execute(_RULES, {"tradie_id": offer.tradie_id})
    ]
    blocked = [
        slots.BlockedPeriod(s, e)
        for s, e in conn.execute(
            _BLOCKED,
            {
                "tradie_id": offer.tradie_id,
                "first": start.astimezone(offer.rules.tz).date() - timedelta(days=1),
                "last": end.astimezone(offer.rules.tz).date() + timedelta(days=1),
            },
        )
    ]
    busy = [
        slots.Busy(s, e)
        for s, e in conn.execute(
            _BUSY,
            {
                "tradie_id": offer.tradie_id,
                "start": start,
                "end": end,
                "earliest": start - scheduling.MAX_DURATION,
                "now": now,
            },
        )
    ]
    earliest = now + timedelta(minutes=offer.rules.min_notice_minutes)
    today = now.astimezone(offer.rules.tz).date()
    cut = _cut_slots(day, offer.rules, tuple(weekly), tuple(blocked), tuple(busy), today)
    return [slot for slot in cut if slot.starts_at_utc >= earliest]


@lru_cache(maxsize=1024)
def _cut_slots(
    day: date,
    rules: slots.SlotRules,
    weekly: tuple[slots.WeeklyRule, ...],
    blocked: tuple[slots.BlockedPeriod, ...],
    busy: tuple[slots.Busy, ...],
    today: date,
) -> tuple[slots.Slot, ...]:
    """The engine's slots before the minimum-notice cut, memoised on every input it reads.

    `now` enters the engine only as today's date and as the notice cut-off, so computing with
    the first instant of today and no notice, then cutting at the real `now + notice`, gives
    exactly the engine's answer; the bookings are part of the key, so any change is seen."""
    start_of_today = datetime.combine(today, time(), rules.tz)
    return tuple(
        slots.slots_for_date(
            day,
            rules=replace(rules, min_notice_minutes=0),
            weekly=weekly,
            blocked=blocked,
            busy=busy,
            now_utc=start_of_today,
        )
    )
