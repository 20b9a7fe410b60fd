"""Availability: weekly hours, blocked dates, booking rules, and the slot preview."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.clock import local_today
from peepopay.db_setup import DbSession
from peepopay.formatting import clock_time
from peepopay.rules import FormError, actor, owned, update_tradie
from peepopay.scheduling import services as scheduling
from peepopay.scheduling.models import AvailabilityRule, BlockedPeriod, Service
from peepopay.scheduling.slots import Slot

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WORKWEEK = range(5)
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


@dataclass(frozen=True)
class Bound:
    label: str
    low: int
    high: int
    unit: str

    def message(self) -> str:
        return f"{self.label} must be between {self.low} and {self.high} {self.unit}."


# Sane bounds for the booking rules, per Tradie column.
RULE_BOUNDS: dict[str, Bound] = {
    "min_notice_minutes": Bound("Minimum notice", 0, 14 * MINUTES_PER_DAY, "minutes"),
    "horizon_days": Bound("Booking horizon", 1, 365, "days"),
    "buffer_minutes": Bound("Buffer between jobs", 0, 8 * 60, "minutes"),
    "slot_interval_minutes": Bound("Slot interval", 5, 8 * 60, "minutes"),
    "hold_minutes": Bound("Payment hold", 5, 60, "minutes"),
    "cancellation_window_hours": Bound("Cancellation window", 0, 14 * 24, "hours"),
    "customer_cutoff_hours": Bound("Customer changes cut-off", 0, 14 * 24, "hours"),
}


def week(session: DbSession, tradie_id: int) -> list[tuple[int, str, list[AvailabilityRule]]]:
    """Every weekday with its ranges in start order: [(0, "Monday", [...]), ...]."""
    rows = session.scalars(
        sa.select(AvailabilityRule)
        .where(AvailabilityRule.tradie_id == tradie_id)
        .order_by(AvailabilityRule.weekday, AvailabilityRule.start_local, AvailabilityRule.id)
    ).all()
    return [(n, name, [r for r in rows if r.weekday == n]) for n, name in enumerate(WEEKDAYS)]


def _span(weekday: int, start: time, end: time) -> tuple[int, int]:
    """Minutes from Monday 00:00 covered by a range; an end at or before the start is overnight."""
    begin = weekday * MINUTES_PER_DAY + start.hour * 60 + start.minute
    length = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) % MINUTES_PER_DAY
    return begin, begin + (length or MINUTES_PER_DAY)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    # The week wraps (Sunday night runs into Monday), so compare against shifted copies too.
    return any(
        a[0] < b[1] + shift and b[0] + shift < a[1]
        for shift in (-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK)
    )


def add_range(
    session: DbSession, tradie: Tradie, weekday: int, start: time, end: time
) -> AvailabilityRule:
    """Add working hours to a weekday; refuses ranges that overlap the day's others."""
    if not 0 <= weekday <= 6:
        raise FormError("weekday", "Day must be one of the seven weekdays.")
    if start.second or end.second:
        raise FormError("start", "Start must be a whole minute.")
    new = _span(weekday, start, end)
    for _, _, rules in week(session, tradie.id):
        for rule in rules:
            if _overlaps(new, _span(rule.weekday, rule.start_local, rule.end_local)):
                raise FormError(
                    "start",
                    f"Start and end overlap {WEEKDAYS[rule.weekday]} "
                    f"{clock_time(rule.start_local)} – {clock_time(rule.end_local)}.",
                )
    rule = AvailabilityRule(tradie_id=tradie.id, weekday=weekday, start_local=start, end_local=end)
    session.add(rule)
    session.flush()
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="availability.range_added",
        entity=rule,
        summary={"weekday": WEEKDAYS[weekday], "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"},
    )
    return rule


def remove_range(session: DbSession, tradie: Tradie, rule_id: int) -> None:
    rule = owned(session, AvailabilityRule, rule_id, tradie.id)
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="availability.range_removed",
        entity=rule,
        summary={
            "weekday": WEEKDAYS[rule.weekday],
            "start": f"{rule.start_local:%H:%M}",
            "end": f"{rule.end_local:%H:%M}",
        },
    )
    session.delete(rule)
    session.flush()


def copy_day(
    session: DbSession, tradie: Tradie, source: int, targets: Iterable[int] = WORKWEEK
) -> list[int]:
    """Give every target weekday (Mon–Fri by default) exactly the source day's ranges."""
    if not 0 <= source <= 6:
        raise FormError("source", "Day must be one of the seven weekdays.")
    days = [d for d in targets if d != source]
    rules = {n: day_rules for n, _, day_rules in week(session, tradie.id)}
    for day in days:
        for rule in rules[day]:
            session.delete(rule)
    session.flush()
    for day in days:
        for rule in rules[source]:
            session.add(
                AvailabilityRule(
                    tradie_id=tradie.id,
                    weekday=day,
                    start_local=rule.start_local,
                    end_local=rule.end_local,
                )
            )
    session.flush()
    # One entry on the tradie: the change touches a whole week, not one row.
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="availability.copied",
        entity=tradie,
        summary={"from": WEEKDAYS[source], "to": [WEEKDAYS[d] for d in days]},
    )
    return days


def blocked(session: DbSession, tradie_id: int, today: date) -> list[BlockedPeriod]:
    """Blocked periods not yet over, soonest first."""
    return list(
        session.scalars(
            sa.select(BlockedPeriod)
            .where(BlockedPeriod.tradie_id == tradie_id, BlockedPeriod.end_date >= today)
            .order_by(BlockedPeriod.start_date, BlockedPeriod.id)
        )
    )


def add_blocked(
    session: DbSession,
    tradie: Tradie,
    start: date,
    end: date | None,
    reason: str,
    now: datetime,
) -> BlockedPeriod:
    if end is None:
        # A single day: only "First day" was filled in, so that is the field to blame.
        if start < local_today(tradie, now):
            raise FormError("start_date", "First day is in the past.")
        end = start
    if end < start:
        raise FormError("end_date", "Last day must be on or after the first day.")
    if end < local_today(tradie, now):
        raise FormError("end_date", "Last day is in the past.")
    if (end - start).days > 366:
        raise FormError("end_date", "Last day must be within a year of the first day.")
    period = BlockedPeriod(
        tradie_id=tradie.id, start_date=start, end_date=end, reason=reason.strip()
    )
    session.add(period)
    session.flush()
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="availability.blocked",
        entity=period,
        summary={"start": start.isoformat(), "end": end.isoformat(), "reason": period.reason},
    )
    return period


def remove_blocked(session: DbSession, tradie: Tradie, period_id: int) -> None:
    period = owned(session, BlockedPeriod, period_id, tradie.id)
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="availability.unblocked",
        entity=period,
        summary={"start": period.start_date.isoformat(), "end": period.end_date.isoformat()},
    )
    session.delete(period)
    session.flush()


def update_rules(session: DbSession, tradie: Tradie, values: dict[str, int]) -> dict[str, list]:
    for name, value in values.items():
        bound = RULE_BOUNDS.get(name)  # the no-show fee is money: capped per booking instead
        if bound is not None and not bound.low <= value <= bound.high:
            raise FormError(name, bound.message())
    return update_tradie(session, tradie, "availability.rules_updated", values)


@dataclass(frozen=True)
class PreviewDay:
    day: date
    slots: list[Slot]

    @property
    def free(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.available]


def preview_service(
    session: DbSession, tradie_id: int, service_id: int | None
) -> tuple[Service | None, list[Service]]:
    """The service to preview (the chosen one, else the first active) and the choices."""
    choices = list(
        session.scalars(
            sa.select(Service)
            .where(Service.tradie_id == tradie_id, Service.archived.is_(False))
            .order_by(Service.sort_order, Service.id)
        )
    )
    chosen = next((s for s in choices if s.id == service_id), None)
    return chosen or (choices[0] if choices else None), choices


def preview(
    session: DbSession, tradie: Tradie, service: Service, now: datetime, days: int = 7
) -> list[PreviewDay]:
    """The next `days` local days of slots, computed exactly as the widget computes them."""
    today = local_today(tradie, now)
    return [
        PreviewDay(day, scheduling.day_slots(session, tradie, service, day, now))
        for day in (today + timedelta(days=n) for n in range(days))
    ]
