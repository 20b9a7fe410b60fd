"""What a customer may do with their own booking: see it, cancel it, move it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from peepopay import phones
from peepopay.accounts.models import Tradie
from peepopay.bookings import lifecycle
from peepopay.bookings.models import Booking, Status
from peepopay.bookings.policy import customer_refund_minor, free_cancel_ends_at
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused
from peepopay.payments.ledger import ledger, tradie_of
from peepopay.scheduling import services as scheduling
from peepopay.scheduling import slots
from peepopay.scheduling.models import Service


class CustomerActionError(RuleRefused):
    """A change the customer asked for that cannot be made; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(field or "", message, status)


@dataclass(frozen=True)
class CancelQuote:
    """What cancelling now would refund, shown before the customer confirms."""

    paid_minor: int
    refund_minor: int
    window_hours: int
    window_ends_at: datetime  # the last moment a cancellation refunds in full
    window_open: bool  # `window_ends_at` is still ahead (so the page may name it)

    @property
    def full(self) -> bool:
        return self.refund_minor == self.paid_minor


def booking_for_token(session: DbSession, token: str) -> Booking | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(sa.select(Booking).where(Booking.public_token == token))


def cutoff_at(booking: Booking, tradie: Tradie) -> datetime:
    """The last moment the customer may move or cancel online: the tradie's cut-off before the
    start (no cut-off: until the start)."""
    return booking.starts_at - timedelta(hours=tradie.customer_cutoff_hours)


def can_change(booking: Booking, tradie: Tradie, now: datetime) -> bool:
    """Only a confirmed booking before the tradie's cut-off can be cancelled or moved online."""
    return booking.status == Status.CONFIRMED and now < cutoff_at(booking, tradie)


def _refused(booking: Booking, tradie: Tradie, now: datetime, what: str) -> CustomerActionError:
    """Why the customer can't make the change here, and who to call instead."""
    message = f"This booking can no longer be {what} here."
    if booking.status == Status.CONFIRMED and now < booking.starts_at:
        message = (
            f"Online changes closed {tradie.customer_cutoff_hours} hours before the job, "
            f"so it can no longer be {what} here."
        )
    phone = phones.display(tradie.phone, tradie.country)
    contact = " or ".join(c for c in (phone, tradie.contact_email) if c)
    reach = f" on {contact}" if contact else ""
    return CustomerActionError(f"{message} Please contact {tradie.business_name}{reach}.", 409)


def cancel_quote(
    session: DbSession, booking: Booking, tradie: Tradie, now: datetime
) -> CancelQuote:
    """The refund the cancellation policy gives if the customer cancels at `now`."""
    paid = ledger(session, booking.id).refundable_minor
    window = tradie.cancellation_window_hours
    ends = free_cancel_ends_at(booking, window)
    return CancelQuote(
        paid_minor=paid,
        refund_minor=customer_refund_minor(booking, paid, now, window),
        window_hours=window,
        window_ends_at=ends,
        window_open=now <= ends,
    )


def cancel(
    session: DbSession, booking: Booking, now: datetime, expected_refund_minor: int | None = None
) -> int:
    """Cancel for the customer, refund per the policy, tell both sides; returns the refund.

    When the customer confirmed a different amount than applies now (the window closed while
    the confirm page was open) nothing changes and they are asked again (409).
    """
    tradie = tradie_of(session, booking)
    if not can_change(booking, tradie, now):
        raise _refused(booking, tradie, now, "cancelled")
    quote = cancel_quote(session, booking, tradie, now)
    if expected_refund_minor is not None and expected_refund_minor != quote.refund_minor:
        raise CustomerActionError(
            "The refund for cancelling has changed since you opened this page. "
            "Please check the new amount.",
            409,
        )
    return lifecycle.cancel(
        session,
        booking,
        now,
        by="customer",
        actor="customer",
        details={"paid_minor": quote.paid_minor},
    )


# ---------------------------------------------------------------------------- reschedule


def service_of(session: DbSession, booking: Booking) -> Service | None:
    return session.get(Service, booking.service_id) if booking.service_id else None


def reschedule_slots(
    session: DbSession, booking: Booking, tradie: Tradie, service: Service, day: date, now: datetime
) -> list[slots.Slot]:
    """The day's slots for the booking's service, its own current time counting as free."""
    return scheduling.day_slots(session, tradie, service, day, now, exclude_booking_id=booking.id)


def free_days(
    session: DbSession,
    booking: Booking,
    tradie: Tradie,
    service: Service,
    now: datetime,
    limit: int = 14,
) -> list[date]:
    """The next local dates with a free slot for this booking, within the tradie's horizon."""
    rules = scheduling.rules_for(tradie, service)
    today = now.astimezone(rules.tz).date()
    last = today + timedelta(days=rules.horizon_days)
    start = slots.busy_window(today, rules)[0]
    end = slots.busy_window(last, rules)[1]
    inputs = scheduling.slot_inputs(session, tradie, service, start, end, now, booking.id)
    found: list[date] = []
    day = today
    while day <= last and len(found) < limit:
        if any(s.available for s in slots.slots_for_date(day, **inputs)):  # type: ignore[arg-type]
            found.append(day)
        day += timedelta(days=1)
    return found


def reschedule(session: DbSession, booking: Booking, start_utc: datetime, now: datetime) -> None:
    """Move the booking to another free slot of its service; no new payment.

    The slot engine decides what is offered; the database's no-overlap guarantee decides a
    race (lifecycle.SlotTaken, 409), as for a new booking.
    """
    tradie = tradie_of(session, booking)
    if not can_change(booking, tradie, now):
        raise _refused(booking, tradie, now, "moved")
    if start_utc.tzinfo is None:
        raise CustomerActionError("Choose one of the times offered.", field="start")
    service = service_of(session, booking)
    if service is None:
        raise CustomerActionError(
            f"This service is no longer offered online; please contact {tradie.business_name}.",
            409,
        )
    if start_utc == (booking.window_starts_at or booking.starts_at):
        raise CustomerActionError("That is the time already booked.", field="start")
    # First write of the transaction: free stale holds (they would trip the overlap guarantee).
    # On SQLite this takes the write lock, so the check and the update below serialise.
    lifecycle.expire_stale(session, now)
    inputs = scheduling.slot_inputs(
        session,
        tradie,
        service,
        start_utc - timedelta(days=1),
        start_utc + timedelta(days=1),
        now,
        booking.id,
    )
    day = start_utc.astimezone(scheduling.rules_for(tradie, service).tz).date()
    offered = {s.starts_at_utc: s for s in slots.slots_for_date(day, **inputs)}  # type: ignore[arg-type]
    slot = offered.get(start_utc)
    if slot is None:
        raise CustomerActionError("Choose one of the times offered.", field="start")
    if not slots.is_bookable(start_utc, **inputs):  # type: ignore[arg-type]
        raise lifecycle.SlotTaken()
    if slot.window:
        window = (slot.starts_at_utc, slot.ends_at_utc)
        shares = scheduling.free_units(session, tradie, slot, now, booking.id)
        lifecycle.move_to_window(session, booking, window, shares, now, actor="customer")
        return
    lifecycle.move(session, booking, slot.starts_at_utc, slot.ends_at_utc, now, actor="customer")
