"""Creating held bookings and expiring stale holds; one path for the widget and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from peepopay import phones
from peepopay.accounts.models import Tradie
from peepopay.bookings import intake, lifecycle
from peepopay.bookings.lifecycle import SlotTaken
from peepopay.bookings.models import Booking, Status
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused
from peepopay.inputs import parse_id
from peepopay.money import deposit_for
from peepopay.scheduling import services as scheduling
from peepopay.scheduling import slots
from peepopay.scheduling.models import Service

NAME_MAX = 120
EMAIL_MAX = 254
ADDRESS_MAX = 300
NOTES_MAX = 2000


class BookingError(Exception):
    """A booking request that cannot be honoured; subclasses say why."""


class InvalidBooking(RuleRefused, BookingError):
    """Field errors, keyed by field name (serviceId, start, name, email, phone, address, notes):
    a rule refusal (422) that names every field at fault at once."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        message = "; ".join(m for messages in errors.values() for m in messages)
        super().__init__(next(iter(errors), ""), message)
        self.errors = errors


class HoldRefused(BookingError):
    """Too many unpaid holds (429): refused before anything is held or any Stripe object made.

    `reason` is `client` (this address holds enough), `day` (enough of the day is held) or
    `customer` (this email or phone holds a time already, and the request did not present its
    token); `retry_after` is when the first of those holds runs out."""

    def __init__(self, reason: str, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class HoldLimits:
    """Live unpaid holds allowed per tradie: per client (`peepopay.net.client_key`), and per
    local day of the job as a percentage of the jobs that day has room for (at least one).
    A customer (by email or phone) has at most one: a new hold replaces theirs only when it
    presents that hold's token."""

    per_client: int = 2
    day_percent: int = 50


@dataclass(frozen=True)
class Customer:
    """Contact details as typed; `clean_customer` validates and normalises them."""

    name: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    notes: str = ""


@dataclass(frozen=True)
class PaymentStart:
    """What the browser needs to take the deposit."""

    client_secret: str | None = None
    account_id: str | None = None
    publishable_key: str | None = None
    payment_intent_id: str | None = None


@dataclass
class _Errors:
    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)


def _text(
    errors: _Errors, name: str, label: str, value: str, limit: int, required: bool = True
) -> str:
    value = " ".join(value.split()) if required else value.strip()
    if required and not value:
        errors.add(name, f"{label} is required.")
    elif len(value) > limit:
        errors.add(name, f"{label} must be at most {limit} characters.")
    return value


def _phone(errors: _Errors, raw: str, country: str) -> str:
    if not raw.strip():
        errors.add("phone", "Phone is required.")
        return ""
    number = phones.e164(raw, country)
    if number is None:
        example = phones.example(country)
        hint = f", like {example}" if example else ""
        errors.add("phone", f"Phone must be a valid phone number{hint}.")
        return ""
    return number


def _email(errors: _Errors, raw: str) -> str:
    raw = raw.strip()
    if not raw:
        errors.add("email", "Email is required.")
        return ""
    if len(raw) > EMAIL_MAX:
        errors.add("email", f"Email must be at most {EMAIL_MAX} characters.")
        return ""
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        errors.add("email", "Email must be a valid address, like you@example.com.")
        return ""


def _collect(customer: Customer, country: str, errors: _Errors) -> Customer:
    return Customer(
        name=_text(errors, "name", "Name", customer.name, NAME_MAX),
        email=_email(errors, customer.email),
        phone=_phone(errors, customer.phone, country),
        address=_text(errors, "address", "Job address", customer.address, ADDRESS_MAX),
        notes=_text(errors, "notes", "Notes", customer.notes, NOTES_MAX, required=False),
    )


def clean_customer(customer: Customer, country: str) -> Customer:
    """The details validated and normalised (phone in E.164); InvalidBooking names each field."""
    errors = _Errors()
    cleaned = _collect(customer, country, errors)
    if errors.fields:
        raise InvalidBooking(errors.fields)
    return cleaned


def snapshot(
    tradie: Tradie,
    service: Service,
    customer: Customer,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    **values: Any,
) -> Booking:
    """A new booking (not yet added) with its own copy of the service as booked and the
    customer's cleaned details; `values` sets the rest (deposit, hold deadline, ...)."""
    return Booking(
        tradie_id=tradie.id,
        service_id=service.id,
        service_name=service.name,
        duration_minutes=service.duration_minutes,
        price_minor=service.price_minor,
        currency=tradie.currency,
        customer_name=customer.name,
        customer_email=customer.email,
        customer_phone=customer.phone,
        job_address=customer.address,
        notes=customer.notes,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=now,
        updated_at=now,
        **values,
    )


def bookable_service(session: DbSession, tradie: Tradie, service_id: object) -> Service | None:
    """The tradie's active service with this id, or None (unknown, archived or another's)."""
    sid = parse_id(service_id)
    if sid is None:
        return None
    return session.scalar(
        sa.select(Service).where(
            Service.id == sid, Service.tradie_id == tradie.id, Service.archived.is_(False)
        )
    )


def active_services(session: DbSession, tradie: Tradie) -> list[Service]:
    return list(
        session.scalars(
            sa.select(Service)
            .where(Service.tradie_id == tradie.id, Service.archived.is_(False))
            .order_by(Service.sort_order, Service.id)
        )
    )


def expire_holds(session: DbSession, now: datetime) -> int:
    """Mark pending bookings whose hold has run out as expired; returns how many."""
    return lifecycle.expire_stale(session, now)


def next_free(
    session: DbSession, tradie: Tradie, service: Service, after: datetime, now: datetime
) -> list[slots.Slot]:
    """The next few available slots at or after `after`, from one bookings query."""
    rules = scheduling.rules_for(tradie, service)
    first_day = max(after.astimezone(rules.tz).date(), now.astimezone(rules.tz).date())
    last_day = now.astimezone(rules.tz).date() + timedelta(days=rules.horizon_days)
    start = slots.busy_window(first_day, rules)[0]
    end = slots.busy_window(last_day, rules)[1]
    inputs = scheduling.slot_inputs(session, tradie, service, start, end, now)
    return slots.next_free_slots(after, **inputs)  # type: ignore[arg-type]


def offered_slot(
    session: DbSession,
    tradie: Tradie,
    service: Service,
    start_utc: datetime,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> slots.Slot | None:
    """The slot starting exactly at `start_utc` if the engine offers it now (free or taken);
    `exclude_booking_id` (the customer's own hold) does not make it taken."""
    day: date = start_utc.astimezone(scheduling.rules_for(tradie, service).tz).date()
    for slot in scheduling.day_slots(session, tradie, service, day, now, exclude_booking_id):
        if slot.starts_at_utc == start_utc:
            return slot
    return None


def create_held_booking(
    session: DbSession,
    *,
    tradie: Tradie,
    service_id: object,
    start_utc: datetime | None,
    customer: Customer,
    now: datetime,
    client_key: str | None = None,
    limits: HoldLimits | None = None,
    answers: object = None,
    postcode: object = None,
    replaces: int | None = None,
) -> Booking:
    """Hold an offered, free slot for the customer as a pending_payment booking.

    Raises InvalidBooking (422) for field errors or a time that is not offered, HoldRefused
    (429) past the hold limits, SlotTaken (409) when the time is taken, including by a
    concurrent request caught by the database. The public surfaces pass `limits` and the
    client's `client_key`, and `replaces`: the id of the unpaid hold whose signed token the
    request presented, which the new hold replaces; the customer's other holds refuse it.
    """
    errors = _Errors()
    service = bookable_service(session, tradie, service_id)
    if service is None:
        errors.add("serviceId", "serviceId does not name a service this business offers.")
    if start_utc is None:
        errors.add("start", "start is required: a slot's start time with its UTC offset.")
    elif start_utc.tzinfo is None or start_utc.utcoffset() is None:
        errors.add("start", "start must include a UTC offset, like 2026-03-02T10:00:00+13:00.")
    cleaned = _collect(customer, tradie.country, errors)
    code, problem = intake.clean_postcode(tradie, postcode)
    if problem:
        errors.add(intake.POSTCODE, problem)
    given: list[intake.Answer] = []
    if service is not None:
        given, problems = intake.clean_answers(intake.questions_of(session, service.id), answers)
        errors.fields.update(problems)
    if errors.fields or service is None or start_utc is None:
        raise InvalidBooking(errors.fields)

    # Holds of one tradie are made one at a time, so the limits below count exactly: PostgreSQL
    # locks the tradie's row; on SQLite the first write (freeing stale holds) takes the
    # database's write lock (peepopay.db_setup).
    session.execute(sa.select(Tradie.id).where(Tradie.id == tradie.id).with_for_update())
    lifecycle.expire_stale(session, now, tradie.id)
    if limits is not None:
        _replace_customers_hold(session, tradie, cleaned, replaces, now)
        _check_hold_limits(session, tradie, service, start_utc, client_key, limits, now)

    slot = offered_slot(session, tradie, service, start_utc, now)
    if slot is None:
        raise InvalidBooking({"start": ["start is not one of the times offered for this service."]})
    if not slot.available:
        raise SlotTaken(next_free(session, tradie, service, start_utc, now))

    booking = snapshot(
        tradie,
        service,
        cleaned,
        slot.starts_at_utc,
        slot.ends_at_utc,
        now,
        deposit_minor=deposit_for(service),
        postcode=code,
        hold_expires_at=now + timedelta(minutes=tradie.hold_minutes),
        client_key=client_key,
    )
    intake.attach_answers(booking, given)
    try:
        if slot.window:
            booking.window_starts_at, booking.window_ends_at = slot.starts_at_utc, slot.ends_at_utc
            shares = scheduling.free_units(session, tradie, slot, now)
            return lifecycle.hold_in_window(session, booking, shares, actor="customer")
        return lifecycle.hold(session, booking, actor="customer")
    except SlotTaken:
        raise SlotTaken(next_free(session, tradie, service, start_utc, now)) from None


def _live_holds(tradie: Tradie, now: datetime) -> sa.Select[Booking]:
    return sa.select(Booking).where(
        Booking.tradie_id == tradie.id,
        Booking.status == Status.PENDING_PAYMENT,
        Booking.hold_expires_at > now,
    )


def _replace_customers_hold(
    session: DbSession, tradie: Tradie, customer: Customer, replaces: int | None, now: datetime
) -> None:
    """A customer holds one time at most. Their earlier unpaid hold lets its time go only for
    the browser that holds its token (`replaces`): knowing an email or phone is not enough to
    release someone's hold, so a hold of theirs the request has no token for refuses it. Only
    holds made on the public surfaces count (a booking the tradie made by hand has no client).

    A deposit paid on a released hold after all still confirms it if the time is free, else
    is refunded."""
    same_customer = sa.or_(
        Booking.customer_email == customer.email, Booking.customer_phone == customer.phone
    )
    named = Booking.id == replaces if replaces is not None else sa.false()
    public = _live_holds(tradie, now).where(Booking.client_key.is_not(None))
    held = list(session.scalars(public.where(sa.or_(same_customer, named))))
    if others := [old.hold_expires_at for old in held if old.id != replaces]:
        raise HoldRefused(
            "customer",
            "A time is already held for this email or phone number, waiting for its deposit. "
            "Pay for it, choose another time from its payment page, or try again when it has "
            "run out.",
            min(e for e in others if e is not None) - now,
        )
    for old in held:
        lifecycle.release(session, old, now, actor="customer")
    session.flush()


def _check_hold_limits(
    session: DbSession,
    tradie: Tradie,
    service: Service,
    start_utc: datetime,
    client_key: str | None,
    limits: HoldLimits,
    now: datetime,
) -> None:
    """Raise HoldRefused when this client, or the job's local day, has enough unpaid holds."""
    if client_key is not None:
        mine = _expiries(session, _live_holds(tradie, now).where(Booking.client_key == client_key))
        if len(mine) >= limits.per_client:
            raise HoldRefused(
                "client",
                "You already have bookings waiting for payment. Pay for one of them, or try "
                "again when they have run out.",
                min(mine) - now,
            )
    zone = ZoneInfo(tradie.timezone)
    day = start_utc.astimezone(zone).date()
    day_start = datetime.combine(day, time(0), zone).astimezone(UTC)
    day_end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    on_day = _live_holds(tradie, now).where(
        Booking.starts_at >= day_start, Booking.starts_at < day_end
    )
    held = _expiries(session, on_day)
    room = day_room(scheduling.day_slots(session, tradie, service, day, now), tradie)
    # However many addresses hold, unpaid holds never take more than this share of the day.
    if len(held) >= max(1, room * limits.day_percent // 100):
        raise HoldRefused(
            "day",
            "Several people are booking this day right now. Please try again in a few "
            "minutes, or choose another day.",
            min(held) - now,
        )


def day_room(day_slots: list[slots.Slot], tradie: Tradie) -> int:
    """How many jobs the day's offered times (free or taken) have room for at most: each
    arrival window its number of jobs; fixed times packed one after another, buffer between."""
    room, free_from = 0, None
    buffer = timedelta(minutes=tradie.buffer_minutes)
    for slot in day_slots:
        if slot.window:
            room += max(1, tradie.jobs_per_window)
        elif free_from is None or slot.starts_at_utc >= free_from:
            room += 1
            free_from = slot.ends_at_utc + buffer
    return room


def _expiries(session: DbSession, holds: sa.Select[Booking]) -> list[datetime]:
    query = holds.with_only_columns(Booking.hold_expires_at)
    return [expiry for expiry in session.scalars(query) if expiry is not None]


def start_payment(
    session: DbSession, booking: Booking, tradie: Tradie, now: datetime | None = None
) -> PaymentStart:
    """The one place a held booking's deposit payment starts: the deposit PaymentIntent on
    the tradie's Stripe account (payments.deposits.start_deposit).

    Raises payments.deposits.DepositsUnavailable when the tradie cannot take deposits and
    payments.gateway.PaymentError (with an HTTP status) when Stripe refuses or is away."""
    from peepopay.clock import utcnow
    from peepopay.payments.deposits import start_deposit

    start = start_deposit(session, booking, tradie, now or utcnow())
    return PaymentStart(
        client_secret=start.client_secret,
        account_id=start.account_id,
        publishable_key=start.publishable_key,
        payment_intent_id=start.payment_intent_id,
    )


def hold_and_start_payment(
    session: DbSession,
    *,
    tradie: Tradie,
    service_id: object,
    start_utc: datetime | None,
    customer: Customer,
    now: datetime,
    client_key: str | None = None,
    limits: HoldLimits | None = None,
    answers: object = None,
    postcode: object = None,
    replaces: int | None = None,
) -> tuple[Booking, PaymentStart]:
    """The API's booking in one step: hold the slot (`create_held_booking`), then start its
    deposit payment (`start_payment`); raises what they raise."""
    booking = create_held_booking(
        session,
        tradie=tradie,
        service_id=service_id,
        start_utc=start_utc,
        customer=customer,
        now=now,
        client_key=client_key,
        limits=limits,
        answers=answers,
        postcode=postcode,
        replaces=replaces,
    )
    return booking, start_payment(session, booking, tradie, now)
