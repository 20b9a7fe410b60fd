"""iCalendar files: one booking for the customer, a private feed of all bookings for the tradie.

Each booking is one event with the stable UID `booking-{id}@peepopay`; a reschedule raises its
SEQUENCE so calendars update the event they already hold instead of adding another.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import sqlalchemy as sa

from peepopay import audit, phones
from peepopay.accounts.models import Tradie, new_calendar_token
from peepopay.audit import AuditLog
from peepopay.bookings.models import Booking, Status
from peepopay.db_setup import DbSession
from peepopay.formatting import arrival_between, format_money

PRODID = "-//PeepoPay//Bookings//EN"
RESCHEDULED = "booking.rescheduled"
# How far back the tradie's feed reaches; upcoming bookings are all included.
FEED_HISTORY = timedelta(days=90)


def uid(booking: Booking) -> str:
    return f"booking-{booking.id}@peepopay"


def sequence(session: DbSession, booking: Booking) -> int:
    """How many times the booking was moved: the iCalendar SEQUENCE of its event."""
    count = session.scalar(
        sa.select(sa.func.count(AuditLog.id)).where(
            AuditLog.entity_type == "booking",
            AuditLog.entity_id == str(booking.id),
            AuditLog.action == RESCHEDULED,
        )
    )
    return int(count or 0)


def _event(
    tradie: Tradie,
    booking: Booking,
    *,
    seq: int,
    for_tradie: bool,
    url: str | None = None,
) -> icalendar.Event:
    tz = ZoneInfo(tradie.timezone)
    event = icalendar.Event()
    event.add("uid", uid(booking))
    event.add("sequence", seq)
    event.add("dtstamp", booking.updated_at or booking.created_at)
    # A booking by arrival window spans its window: the tradie may arrive at any time in it.
    event.add("dtstart", (booking.window_starts_at or booking.starts_at).astimezone(tz))
    event.add("dtend", (booking.window_ends_at or booking.ends_at).astimezone(tz))
    arrival = (
        arrival_between(booking.window_starts_at, booking.window_ends_at, tradie.timezone)
        if booking.window_starts_at and booking.window_ends_at
        else None
    )
    no_show = booking.status == Status.NO_SHOW
    if for_tradie:
        prefix = "No-show – " if no_show else ""
        event.add("summary", f"{prefix}{booking.service_name}: {booking.customer_name}")
        lines = [
            *([arrival.capitalize()] if arrival else []),
            f"Customer: {booking.customer_name}",
            f"Phone: {phones.display(booking.customer_phone, tradie.country)}",
            f"Email: {booking.customer_email}",
            f"Deposit: {format_money(booking.deposit_minor, booking.currency)}",
        ]
        if booking.notes:
            lines.append(f"Notes: {booking.notes}")
        lines.extend(f"{a.question}: {a.answer}" for a in booking.answers)
    else:
        event.add("summary", f"{booking.service_name} with {tradie.business_name}")
        lines = [
            f"{tradie.business_name} – {booking.service_name}",
            *([arrival.capitalize()] if arrival else []),
            f"Deposit paid: {format_money(booking.deposit_minor, booking.currency)}",
        ]
        if tradie.phone:
            lines.append(f"Phone: {phones.display(tradie.phone, tradie.country)}")
    if url:
        lines.append(f"Manage your booking: {url}")
        event.add("url", url)
    event.add("description", "\n".join(lines))
    event.add("location", booking.job_address)
    # iCalendar has no "no-show": the job did not take place, as for a cancellation.
    cancelled = booking.status == Status.CANCELLED or no_show
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _calendar(name: str, method: str | None = None) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    cal.add("x-wr-calname", name)
    return cal


def _with_timezone(cal: icalendar.Calendar, starts: Iterable[datetime]) -> bytes:
    """Add the VTIMEZONE the events use (transitions only around their dates) and serialise."""
    days = [s.date() for s in starts] or [date.today()]
    cal.add_missing_timezones(
        first_date=min(days) - timedelta(days=366), last_date=max(days) + timedelta(days=366)
    )
    return cal.to_ical()


def booking_calendar(
    tradie: Tradie,
    booking: Booking,
    *,
    sequence: int,
    method: str = "PUBLISH",
    url: str | None = None,
) -> bytes:
    """The customer's .ics for one booking."""
    cal = _calendar(tradie.business_name, method)
    cal.add_component(_event(tradie, booking, seq=sequence, for_tradie=False, url=url))
    return _with_timezone(cal, [booking.starts_at])


def feed(session: DbSession, tradie: Tradie, now: datetime) -> bytes:
    """The tradie's private subscription feed: recent and upcoming bookings."""
    bookings = session.scalars(
        sa.select(Booking)
        .where(
            Booking.tradie_id == tradie.id,
            Booking.status.in_(
                [Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW, Status.CANCELLED]
            ),
            Booking.starts_at >= now - FEED_HISTORY,
        )
        .order_by(Booking.starts_at)
        .options(sa.orm.selectinload(Booking.answers))
    ).all()
    sequences = _sequences(session, [b.id for b in bookings])
    cal = _calendar(f"{tradie.business_name} bookings")
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    for booking in bookings:
        cal.add_component(
            _event(tradie, booking, seq=sequences.get(booking.id, 0), for_tradie=True)
        )
    return _with_timezone(cal, [b.starts_at for b in bookings])


def _sequences(session: DbSession, booking_ids: list[int]) -> dict[int, int]:
    if not booking_ids:
        return {}
    rows = session.execute(
        sa.select(AuditLog.entity_id, sa.func.count(AuditLog.id))
        .where(
            AuditLog.entity_type == "booking",
            AuditLog.entity_id.in_([str(i) for i in booking_ids]),
            AuditLog.action == RESCHEDULED,
        )
        .group_by(AuditLog.entity_id)
    )
    return {int(entity_id): int(count) for entity_id, count in rows}


def attachment(ics: bytes, method: str = "PUBLISH") -> dict[str, str]:
    """An outbox email attachment carrying the .ics."""
    return {
        "filename": "booking.ics",
        "content_type": f"text/calendar; method={method}; charset=UTF-8",
        "content": ics.decode(),
    }


def renew_calendar_feed(session: DbSession, tradie_id: int) -> Tradie:
    """A new private calendar feed address; the old one stops working at once (404)."""
    tradie = session.get(Tradie, tradie_id)
    assert tradie is not None
    tradie.calendar_token = new_calendar_token()
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=f"tradie:{tradie.id}",
        action="calendar.regenerated",
        entity=tradie,
    )
    return tradie
