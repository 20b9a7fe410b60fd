"""Bookings a tradie makes and changes by hand: at any time they choose (outside their hours
with a warning), with no deposit, a deposit requested by link, or one paid another way; moves
to another time and edits of the details. The database's overlap refusal still applies."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.bookings import lifecycle
from peepopay.bookings.models import Booking
from peepopay.bookings.services import (
    Customer,
    InvalidBooking,
    _collect,
    _Errors,
    bookable_service,
    snapshot,
)
from peepopay.bookings.tokens import TOKEN_MAX_AGE, booking_token
from peepopay.customers import services as customers
from peepopay.customers.models import Customer as CustomerRecord
from peepopay.db_setup import DbSession
from peepopay.formatting import format_money, local_time
from peepopay.inputs import instant_in_reach, iso_datetime
from peepopay.money import deposit_for
from peepopay.notifications import links, messages
from peepopay.payments.ledger import lock_booking, minimum_charge
from peepopay.payments.models import Payment, PaymentKind, PaymentMethod, PaymentStatus
from peepopay.receipts import numbers
from peepopay.scheduling import services as scheduling
from peepopay.scheduling import slots
from peepopay.scheduling.models import Service

NO_DEPOSIT, REQUEST_DEPOSIT, PAID_OFFLINE = "none", "request", "offline"
DEPOSIT_CHOICES = (NO_DEPOSIT, REQUEST_DEPOSIT, PAID_OFFLINE)
# A blank "pay by": this long before the job, or this long from now, whichever comes first.
DEFAULT_NOTICE = timedelta(hours=24)
DEFAULT_WINDOW = timedelta(days=3)
# The payment link (a signed booking token) must outlive the deadline it is sent with.
MAX_DEADLINE = timedelta(seconds=TOKEN_MAX_AGE) - timedelta(days=1)
OUTSIDE_HOURS = "This time is outside your working hours (or on a day you blocked)."
SLOT_TAKEN = "That time overlaps another booking or a customer's hold. Choose another time."


@dataclass(frozen=True)
class ByHand:
    """A booking as the tradie typed it; times are the form's local wall-clock text."""

    service_id: object
    start: str
    customer: Customer
    deposit: str = NO_DEPOSIT
    method: str = ""
    deadline: str = ""


@dataclass(frozen=True)
class Made:
    booking: Booking
    outside_hours: bool
    pay_url: str | None = None


def actor(tradie: Tradie) -> str:
    return f"tradie:{tradie.id}"


# --------------------------------------------------------------------------- times


def local_instant(text: str, zone: ZoneInfo) -> datetime | None:
    """The form's `YYYY-MM-DDTHH:MM` in the tradie's zone (or ISO with an offset, as the
    calendar links it) as UTC, to the minute; None when malformed or a skipped local time."""
    parsed = iso_datetime(text)
    if parsed is None:
        return None
    parsed = parsed.replace(second=0, microsecond=0)
    try:
        if parsed.tzinfo is None:
            local = parsed.replace(tzinfo=zone)
            # A wall-clock time the spring-forward jump skips names no instant.
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
                return None
            parsed = local
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved across the date line: no instant there
        return None


def local_input(instant: datetime | None, zone: ZoneInfo) -> str:
    """An instant as a datetime-local input's value in the tradie's zone."""
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if instant else ""


def _when(
    errors: _Errors, name: str, label: str, text: str, zone: ZoneInfo, now: datetime
) -> datetime | None:
    if not text.strip():
        errors.add(name, f"{label} is required.")
        return None
    instant = local_instant(text, zone)
    if instant is None:
        errors.add(name, f"{label} must be a date and time, like 2030-01-10T09:30.")
    elif instant <= now:
        errors.add(name, f"{label} must be in the future.")
    elif not instant_in_reach(instant, now):
        errors.add(name, f"{label} is too far ahead.")
    else:
        return instant
    return None


def within_hours(
    session: DbSession, tradie: Tradie, duration_minutes: int, start: datetime, now: datetime
) -> bool:
    """Whether [start, start + duration) lies inside the tradie's working hours on a day that
    is not blocked (any minute, ignoring notice, horizon, buffer and other bookings)."""
    zone = ZoneInfo(tradie.timezone)
    day = start.astimezone(zone).date()
    today = now.astimezone(zone).date()
    rules = slots.SlotRules(
        tz=zone,
        duration_minutes=duration_minutes,
        interval_minutes=1,
        horizon_days=max((day - today).days, 0),
    )
    candidates = slots.slots_for_date(
        day,
        rules=rules,
        weekly=scheduling.weekly_rules(session, tradie.id),
        blocked=scheduling.blocked_periods(
            session, tradie.id, day - timedelta(days=1), day + timedelta(days=1)
        ),
        busy=[],
        now_utc=min(now, start),
    )
    return any(slot.starts_at_utc == start for slot in candidates)


# --------------------------------------------------------------------------- customers


def customer_details(
    session: DbSession, tradie_id: int, customer_id: int | None
) -> Customer | None:
    """One of the tradie's customers' details as on their latest booking, to fill a new
    booking's form; None for another tradie's customer or none."""
    record = session.get(CustomerRecord, customer_id) if customer_id else None
    if record is None or record.tradie_id != tradie_id:
        return None
    latest = customers.latest_booking(session, record)
    if latest is None:
        return Customer(record.name, record.email or "", record.phone or "", record.address)
    return Customer(
        latest.customer_name, latest.customer_email, latest.customer_phone, latest.job_address
    )


# --------------------------------------------------------------------------- new booking


def _deposit(
    errors: _Errors,
    tradie: Tradie,
    service: Service | None,
    wanted: ByHand,
    start: datetime | None,
    now: datetime,
) -> tuple[int, datetime | None]:
    """The deposit in minor units and the deadline to pay it by, for the tradie's choice."""
    if wanted.deposit not in DEPOSIT_CHOICES:
        errors.add("deposit", "Deposit: choose none, request it, or paid another way.")
        return 0, None
    if wanted.deposit == NO_DEPOSIT or service is None:
        return 0, None
    amount = deposit_for(service)
    if amount <= 0:
        errors.add("deposit", "Deposit: this service takes no deposit; choose “No deposit”.")
        return 0, None
    if wanted.deposit == PAID_OFFLINE:
        if wanted.method not in PaymentMethod.LABELS:
            errors.add("method", "Paid how: choose cash or bank transfer.")
        return amount, None
    if not tradie.payments_ready:
        errors.add("deposit", "Deposit: connect Stripe before requesting card deposits.")
    elif amount < minimum_charge(tradie.currency):
        errors.add("deposit", "Deposit: this service's deposit is below the card minimum.")
    zone = ZoneInfo(tradie.timezone)
    if not wanted.deadline.strip():
        return amount, default_deadline(start, now) if start is not None else None
    deadline = _when(errors, "deadline", "Pay by", wanted.deadline, zone, now)
    if deadline is not None and start is not None and deadline > start:
        errors.add("deadline", "Pay by must be before the job starts.")
    elif deadline is not None and deadline - now > MAX_DEADLINE:
        errors.add("deadline", f"Pay by must be within {MAX_DEADLINE.days} days.")
    return amount, deadline


def default_deadline(start: datetime, now: datetime) -> datetime:
    """Pay by, when the tradie leaves it blank: 24 hours before the job or 3 days from now,
    whichever comes first (to the minute); a job due within a day is paid by its start."""
    deadline = min(start - DEFAULT_NOTICE, now + DEFAULT_WINDOW).replace(second=0, microsecond=0)
    return deadline if deadline > now else start


def create_by_hand(session: DbSession, tradie: Tradie, wanted: ByHand, now: datetime) -> Made:
    """Book the customer in: confirmed at once (no deposit, or one paid another way, recorded
    as an offline payment), or held until the deadline with a payment link sent by email and
    SMS. InvalidBooking (422) names the fields; SlotTaken (409) when the time is not free."""
    errors = _Errors()
    service = bookable_service(session, tradie, wanted.service_id)
    if service is None:
        errors.add("service", "Service: choose one of your services.")
    start = _when(errors, "start", "Start", wanted.start, ZoneInfo(tradie.timezone), now)
    cleaned = _collect(wanted.customer, tradie.country, errors)
    amount, deadline = _deposit(errors, tradie, service, wanted, start, now)
    if errors.fields or service is None or start is None:
        raise InvalidBooking(errors.fields)

    # Lapsed holds let their time go first, as for the widget's holds.
    lifecycle.expire_stale(session, now, tradie.id)
    ends = start + timedelta(minutes=service.duration_minutes)
    booking = snapshot(
        tradie, service, cleaned, start, ends, now, deposit_minor=amount, hold_expires_at=deadline
    )
    requested = wanted.deposit == REQUEST_DEPOSIT
    lifecycle.book_by_hand(session, booking, now, actor=actor(tradie), confirmed=not requested)
    if wanted.deposit == PAID_OFFLINE:
        record_offline(session, booking, wanted.method, now, actor=actor(tradie))
    pay_url = deposit_link(session, tradie, booking, now) if requested else None
    outside = not within_hours(session, tradie, service.duration_minutes, start, now)
    return Made(booking, outside_hours=outside, pay_url=pay_url)


def record_offline(
    session: DbSession, booking: Booking, method: str, now: datetime, *, actor: str
) -> Payment:
    """The deposit the tradie received another way: a payment record with no Stripe object and
    no platform fee, counted in the booking's ledger and the month's totals."""
    payment = Payment(
        booking_id=booking.id,
        tradie_id=booking.tradie_id,
        kind=PaymentKind.DEPOSIT,
        method=method,
        amount_minor=booking.deposit_minor,
        currency=booking.currency,
        application_fee_minor=0,
        status=PaymentStatus.SUCCEEDED,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    numbers.number_for(session, booking, now)
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="payment.recorded_offline",
        entity=booking,
        summary={"method": method, "amount_minor": payment.amount_minor},
    )
    return payment


def deposit_link(session: DbSession, tradie: Tradie, booking: Booking, now: datetime) -> str:
    """Send the customer the widget's payment step for this booking, by email and SMS."""
    url = links.external_url("widget.payment", slug=tradie.slug, token=booking_token(booking.id))
    messages.deposit_requested(session, booking, url, now)
    return url


# --------------------------------------------------------------------------- move and edit


def move_slots(
    session: DbSession, tradie: Tradie, booking: Booking, now: datetime, limit: int = 6
) -> list[slots.Slot]:
    """The next free slots for this booking's job (its own time counts as free)."""
    zone = ZoneInfo(tradie.timezone)
    rules = slots.SlotRules(
        tz=zone,
        duration_minutes=booking.duration_minutes,
        interval_minutes=tradie.slot_interval_minutes,
        buffer_minutes=tradie.buffer_minutes,
        min_notice_minutes=tradie.min_notice_minutes,
        horizon_days=tradie.horizon_days,
    )
    today = now.astimezone(zone).date()
    start = slots.busy_window(today, rules)[0]
    end = slots.busy_window(today + timedelta(days=14), rules)[1]
    found: list[slots.Slot] = slots.next_free_slots(
        now,
        rules=replace(rules, horizon_days=min(rules.horizon_days, 14)),
        weekly=scheduling.weekly_rules(session, tradie.id),
        blocked=scheduling.blocked_periods(session, tradie.id, today, today + timedelta(days=15)),
        busy=scheduling.busy_between(session, tradie.id, start, end, now, booking.id),
        now_utc=now,
        limit=limit,
        away=scheduling.away_between(session, tradie.id, start, end),
    )
    return found


class NeedsConfirmation(Exception):
    """A move to confirm before it is saved and sent: outside working hours, or over a busy
    time of the tradie's own calendar."""


MOVED_MEANWHILE = (
    "This booking was moved meanwhile; it is now at {when}. Check that time before moving it again."
)
BUSY_IN_CALENDAR = "This time meets a busy time in your own calendar."


def move_warnings(
    session: DbSession, tradie: Tradie, duration_minutes: int, start: datetime, now: datetime
) -> list[str]:
    """What the tradie should know before moving a job to [start, start + duration)."""
    found = []
    if not within_hours(session, tradie, duration_minutes, start, now):
        found.append(OUTSIDE_HOURS)
    ends = start + timedelta(minutes=duration_minutes)
    if any(
        s < ends and start < e for s, e in scheduling.away_between(session, tradie.id, start, ends)
    ):
        found.append(BUSY_IN_CALENDAR)
    return found


def move_by_hand(
    session: DbSession,
    tradie: Tradie,
    booking: Booking,
    start_text: str,
    now: datetime,
    *,
    was: str,
    confirmed: bool = False,
) -> Booking:
    """Move the booking to the tradie's chosen local time; the customer gets the new time and
    calendar file (lifecycle.move). `was` is the start the tradie saw (ISO, UTC): a booking
    moved meanwhile is not moved again (one of many concurrent moves wins). A time outside
    working hours or over a calendar busy time needs `confirmed` (else NeedsConfirmation).
    Returns the moved booking. InvalidBooking for a bad time, SlotTaken or TransitionRefused
    from the lifecycle."""
    zone = ZoneInfo(tradie.timezone)
    errors = _Errors()
    start = _when(errors, "start", "New time", start_text, zone, now)
    if start is not None and start == booking.starts_at:
        errors.add("start", "New time is the booking's current time.")
    if errors.fields or start is None:
        raise InvalidBooking(errors.fields)
    locked = lock_booking(session, booking.id)  # concurrent moves of one booking queue here
    if locked is None or locked.starts_at.isoformat() != was:
        when = (
            local_time(locked.starts_at, tradie.timezone, "%a %-d %b, %-I:%M %p") if locked else ""
        )
        raise lifecycle.TransitionRefused(MOVED_MEANWHILE.format(when=when))
    if not confirmed and (
        warnings := move_warnings(session, tradie, booking.duration_minutes, start, now)
    ):
        raise NeedsConfirmation(" ".join(warnings))
    ends = start + timedelta(minutes=booking.duration_minutes)
    # A hold whose time has run out still counts for the database until it is marked expired.
    lifecycle.expire_stale(session, now, tradie.id)
    lifecycle.move(session, booking, start, ends, now, actor=actor(tradie))
    return booking


@dataclass(frozen=True)
class Edited:
    changed: dict[str, list[Any]]
    note: str = ""


def edit_by_hand(
    session: DbSession,
    tradie: Tradie,
    booking: Booking,
    service_id: object,
    customer: Customer,
    now: datetime,
) -> Edited:
    """Change the customer's details, the job address, the notes and the service as booked.
    A new service changes the price and length; nothing paid is recomputed (the note says so).
    InvalidBooking names the fields; SlotTaken when a longer job would overlap another."""
    errors = _Errors()
    cleaned = _collect(customer, tradie.country, errors)
    values: dict[str, Any] = {
        "customer_name": cleaned.name,
        "customer_email": cleaned.email,
        "customer_phone": cleaned.phone,
        "job_address": cleaned.address,
        "notes": cleaned.notes,
    }
    service = bookable_service(session, tradie, service_id)
    same = str(service_id) == str(booking.service_id)
    if service is None and not same:
        errors.add("service", "Service: choose one of your services.")
    if errors.fields:
        raise InvalidBooking(errors.fields)
    if service is not None and not same:
        values.update(
            service_id=service.id,
            service_name=service.name,
            duration_minutes=service.duration_minutes,
            price_minor=service.price_minor,
            ends_at=booking.starts_at + timedelta(minutes=service.duration_minutes),
        )
    if "ends_at" in values:
        lifecycle.expire_stale(session, now, tradie.id)
    changed = lifecycle.edit(session, booking, values, now, actor=actor(tradie))
    note = ""
    if "service_id" in changed:
        paid = format_money(booking.deposit_minor, booking.currency)
        note = (
            f"The service changed; the deposit ({paid}) stays as it was and nothing already "
            "paid is recomputed. The balance is worked out from the new price."
        )
    return Edited(changed, note)
