"""The booking lifecycle: the only code that changes a booking's status.

    pending_payment ──confirm──> confirmed ──complete──> completed
       │   │   └──expire──> expired ─────┐      ├──cancel──> cancelled
       │   │                             │      └──no_show (after the start)──> no_show
       │   └──fail──> payment_failed ────┴──confirm (if the time is still free)──> confirmed
       └──cancel──> cancelled

A declined deposit fails the booking only once its hold has run out: until then the customer
may retry in the same card form. Every operation checks its step against `TRANSITIONS`, so a
late or repeated event never moves a booking backwards, and this is the one place the
database's overlap refusal becomes `SlotTaken`. What a step means for other areas (a refund, a
message, the audit trail) is the explicit calls at the end of each operation, nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from peepopay import audit
from peepopay.bookings.models import Booking, Status
from peepopay.bookings.policy import customer_refund_minor, deadline_kept_by_move
from peepopay.customers import services as customers
from peepopay.db_setup import DbSession
from peepopay.notifications import calendar, messages
from peepopay.ops import metrics
from peepopay.payments.ledger import ledger, lock_booking, tradie_of
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus
from peepopay.payments.refunds import PURPOSE_CANCELLATION, refund_charges

# Where each status may go. Monotonic: a step never lowers `RANK` (tests walk every pair).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING_PAYMENT: frozenset(
        {Status.CONFIRMED, Status.EXPIRED, Status.PAYMENT_FAILED, Status.CANCELLED}
    ),
    # A deposit that arrives after its hold lapsed, or on a retry after a decline.
    Status.EXPIRED: frozenset({Status.CONFIRMED}),
    Status.PAYMENT_FAILED: frozenset({Status.CONFIRMED}),
    Status.CONFIRMED: frozenset({Status.COMPLETED, Status.CANCELLED, Status.NO_SHOW}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NO_SHOW: frozenset(),
}
RANK: dict[Status, int] = {
    Status.PENDING_PAYMENT: 0,
    Status.PAYMENT_FAILED: 1,
    Status.EXPIRED: 1,
    Status.CONFIRMED: 2,
    Status.COMPLETED: 3,
    Status.CANCELLED: 3,
    Status.NO_SHOW: 3,
}
LABELS: dict[Status, str] = {
    Status.PENDING_PAYMENT: "Awaiting deposit",
    Status.CONFIRMED: "Confirmed",
    Status.COMPLETED: "Completed",
    Status.CANCELLED: "Cancelled",
    Status.EXPIRED: "Expired",
    Status.PAYMENT_FAILED: "Payment failed",
    Status.NO_SHOW: "No-show",
}


class SlotTaken(Exception):
    """The time is no longer free; `next_free_slots` may offer the nearest ones that are."""

    message = "Sorry, that time was just taken. Please choose another time."

    def __init__(self, next_free_slots: Sequence[Any] = ()) -> None:
        super().__init__(self.message)
        self.next_free_slots = list(next_free_slots)


class TransitionRefused(Exception):
    """The booking's status does not allow the step; the message says why, in words."""


def can_move(booking: Booking, new: Status) -> bool:
    return new in TRANSITIONS[Status(booking.status)]


def can_complete(booking: Booking, now: datetime) -> bool:
    """Confirmed and started: a job is not done before it begins."""
    return booking.starts_at <= now and can_move(booking, Status.COMPLETED)


def _step(booking: Booking, new: Status, verb: str) -> Status:
    """Check the step and return the status being left."""
    old = Status(booking.status)
    if not can_move(booking, new):
        raise TransitionRefused(f"This booking is {LABELS[old].lower()}; it can't be {verb}.")
    return old


@contextmanager
def _overlap_is_slot_taken(session: DbSession) -> Iterator[None]:
    """A savepoint for a write that may overlap another active booking: the database's refusal
    becomes SlotTaken, and the transaction stays usable."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except sa.exc.IntegrityError as error:
        if "no_overlap" not in str(error.orig):
            raise
        raise SlotTaken() from None


# --------------------------------------------------------------------------- holds


def hold(session: DbSession, booking: Booking, *, actor: str) -> Booking:
    """Add a new pending booking holding its time; SlotTaken when the time is not free."""
    booking.status = Status.PENDING_PAYMENT
    with _overlap_is_slot_taken(session):
        session.add(booking)
    customers.attach(session, booking)
    metrics.bookings_created.inc()
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.held",
        entity=booking,
        summary={
            "service": booking.service_name,
            "starts_at": booking.starts_at.isoformat(),
            "deposit_minor": booking.deposit_minor,
            "currency": booking.currency,
        },
    )
    return booking


def hold_in_window(
    session: DbSession, booking: Booking, shares: Sequence[tuple[datetime, datetime]], *, actor: str
) -> Booking:
    """Hold the first free share of an arrival window (`scheduling.slots.window_units`) as the
    booking's [start, end). The database refuses a share another booking holds, even one taken
    a moment ago by a concurrent request; then the next share is tried, and SlotTaken is raised
    when none is left. So a window never takes more jobs than it has shares."""
    for starts_at, ends_at in shares:
        booking.starts_at, booking.ends_at = starts_at, ends_at
        try:
            return hold(session, booking, actor=actor)
        except SlotTaken:
            continue
    raise SlotTaken()


def book_by_hand(
    session: DbSession, booking: Booking, now: datetime, *, actor: str, confirmed: bool
) -> Booking:
    """A booking the tradie makes: confirmed at once, or pending until the deposit deadline
    they chose (`hold_expires_at`). No public hold limits; SlotTaken when the time is not free."""
    hold(session, booking, actor=actor)
    if confirmed:
        # The tradie made it, so only the customer hears about it.
        confirm(session, booking, now, actor=actor, notify_tradie=False)
    return booking


def expire_stale(session: DbSession, now: datetime, tradie_id: int | None = None) -> int:
    """Every pending booking whose hold has run out lets its time go; returns how many. One
    whose deposit was declined and never retried successfully fails, and only now is the
    customer told the payment did not go through (they could retry until the hold ran out).

    The first write of a booking transaction, so on SQLite it also takes the write lock."""
    lapsed = [Booking.status == Status.PENDING_PAYMENT, Booking.hold_expires_at <= now]
    if tradie_id is not None:
        lapsed.append(Booking.tradie_id == tradie_id)
    declined = (
        sa.select(Payment.id)
        .where(
            Payment.booking_id == Booking.id,
            Payment.kind == PaymentKind.DEPOSIT,
            Payment.status == PaymentStatus.FAILED,
        )
        .exists()
    )
    failed_ids = session.scalars(
        sa.update(Booking)
        .where(*lapsed, declined)
        .values(status=Status.PAYMENT_FAILED, updated_at=now)
        .returning(Booking.id)
        # A lapsed hold holds no time already: what a day offers does not change.
        .execution_options(synchronize_session=False, slots_of=())
    ).all()
    for booking_id in failed_ids:
        booking = session.get(Booking, booking_id, populate_existing=True)
        if booking is not None:
            _tell_payment_failed(session, booking, now, actor="system")
    expired = session.execute(
        sa.update(Booking)
        .where(*lapsed)
        .values(status=Status.EXPIRED, updated_at=now)
        .execution_options(synchronize_session=False, slots_of=())
    )
    return len(failed_ids) + int(expired.rowcount or 0)  # type: ignore[attr-defined]


def release(session: DbSession, booking: Booking, now: datetime, *, actor: str) -> None:
    """End a live hold early (the customer held another time instead)."""
    _step(booking, Status.EXPIRED, "released")
    booking.status = Status.EXPIRED
    booking.hold_expires_at = booking.updated_at = now
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.hold_replaced",
        entity=booking,
        summary={"starts_at": booking.starts_at.isoformat()},
    )


# --------------------------------------------------------------------------- payment outcomes


def confirm(
    session: DbSession, booking: Booking, now: datetime, *, actor: str, notify_tradie: bool = True
) -> str:
    """The deposit is paid (or the tradie booked it): confirm the booking once. A hold that
    lapsed or failed meanwhile is confirmed only if its time is still free. Returns
    "confirmed", "taken" (the time went to another booking: the caller refunds) or
    "unchanged" (confirmed before, or past that)."""
    if not can_move(booking, Status.CONFIRMED):
        return "unchanged"
    try:
        with _overlap_is_slot_taken(session):
            booking.status = Status.CONFIRMED
            booking.confirmed_at = now
    except SlotTaken:
        session.expire(booking)
        return "taken"
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.confirmed",
        entity=booking,
        summary={"deposit_minor": booking.deposit_minor},
    )
    messages.booking_confirmed(session, booking, now, notify_tradie=notify_tradie)
    messages.calendar_job(session, booking, now, "confirmed")
    return "confirmed"


def fail(session: DbSession, booking: Booking, payment: Any, now: datetime) -> bool:
    """The deposit was declined. While the hold is live the customer may retry in the same
    form, so the time stays held and nobody is emailed; once the hold has run out the booking
    lets its time go and the customer hears why. False when nothing changed."""
    if booking.status != Status.PENDING_PAYMENT:
        return False
    if booking.hold_expires_at is None or booking.hold_expires_at > now:
        return False
    booking.status = Status.PAYMENT_FAILED
    booking.updated_at = now
    _tell_payment_failed(session, booking, now, actor="stripe", payment=payment)
    return True


def _tell_payment_failed(
    session: DbSession,
    booking: Booking,
    now: datetime,
    *,
    actor: str,
    payment: Payment | None = None,
) -> None:
    """Audit the failure and send "payment did not go through" about the latest deposit."""
    payment = (
        payment
        or session.scalars(
            sa.select(Payment)
            .where(Payment.booking_id == booking.id, Payment.kind == PaymentKind.DEPOSIT)
            .order_by(Payment.id.desc())
            .limit(1)
        ).first()
    )
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.payment_failed",
        entity=booking,
        summary={"code": payment.failure_code if payment else None},
    )
    if payment is not None:
        messages.payment_failed(session, booking, payment, now)


# --------------------------------------------------------------------------- after the job


def complete(
    session: DbSession,
    booking: Booking,
    now: datetime,
    *,
    actor: str,
    summary: dict[str, Any] | None = None,
) -> None:
    """The job is done (marked by the tradie, or the balance was paid once it started)."""
    old = _step(booking, Status.COMPLETED, "marked completed")
    if now < booking.starts_at:
        raise TransitionRefused(
            "This job has not started yet; it can be marked completed once it has."
        )
    booking.status = Status.COMPLETED
    booking.completed_at = booking.updated_at = now
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.completed",
        entity=booking,
        summary={"from": old, **(summary or {})},
    )


def no_show(
    session: DbSession, booking: Booking, now: datetime, *, actor: str, fee_minor: int = 0
) -> None:
    """The customer was not there when the job was due: the deposit is kept and the customer
    hears so, with the no-show fee when one is charged. Only once the job's start has passed."""
    old = _step(booking, Status.NO_SHOW, "marked a no-show")
    if now < booking.starts_at:
        raise TransitionRefused("This job has not started yet; mark it a no-show after its start.")
    booking.status = Status.NO_SHOW
    booking.updated_at = now
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.marked_no_show",
        entity=booking,
        summary={"from": old, "fee_minor": fee_minor},
    )
    messages.no_show(session, booking, fee_minor, now)


def cancel(
    session: DbSession,
    booking: Booking,
    now: datetime,
    *,
    by: str,
    actor: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    """Cancel for the tradie (everything paid goes back) or the customer (the cancellation
    policy's share); tell the other side. Returns the minor units refunded."""

    old = _step(booking, Status.CANCELLED, "cancelled")
    refunded = _cancellation_refund(session, booking, now, by=by, reason=reason)
    booking.status = Status.CANCELLED
    booking.cancelled_at = booking.updated_at = now
    session.flush()
    summary = {"by": by, "from": old, "reason": reason, "refund_minor": refunded, **(details or {})}
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.cancelled",
        entity=booking,
        summary=summary,
    )
    messages.booking_cancelled(session, booking, by, refunded, now)
    messages.calendar_job(session, booking, now, "cancelled")
    return refunded


def _cancellation_refund(
    session: DbSession, booking: Booking, now: datetime, *, by: str, reason: str
) -> int:
    """What a cancellation gives back, refunded now: everything when the tradie cancels, the
    cancellation policy's share when the customer does. Returns the refunded minor units."""
    tradie = tradie_of(session, booking)
    locked = lock_booking(session, booking.id)
    assert locked is not None
    book = ledger(session, locked.id)
    amount = book.refundable_minor
    if by == "customer":
        window = tradie.cancellation_window_hours
        amount = min(customer_refund_minor(locked, amount, now, window), amount)
    if amount <= 0 or tradie.stripe_account_id is None:
        return 0
    default = "Cancelled by the customer" if by == "customer" else "Cancelled by the business"
    refund_charges(
        session,
        locked,
        tradie,
        book,
        amount,
        reason=reason or default,
        purpose=PURPOSE_CANCELLATION,
        now=now,
    )
    return amount


def move(
    session: DbSession,
    booking: Booking,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    *,
    actor: str,
    window: tuple[datetime, datetime] | None = None,
) -> None:
    """Move a confirmed booking to another time; SlotTaken when that time is not free.
    `window` is the arrival window a share [starts_at, ends_at) belongs to; without one the
    booking is at an exact time from now on."""
    if booking.status != Status.CONFIRMED:
        raise TransitionRefused(
            f"This booking is {LABELS[Status(booking.status)].lower()}; it can't be moved."
        )
    old_starts_at = booking.starts_at
    window_starts_at, window_ends_at = window or (None, None)
    window_hours = tradie_of(session, booking).cancellation_window_hours
    kept = deadline_kept_by_move(booking, now, window_hours)
    with _overlap_is_slot_taken(session):
        session.execute(
            sa.update(Booking)
            .where(Booking.id == booking.id)
            .values(
                starts_at=starts_at,
                ends_at=ends_at,
                window_starts_at=window_starts_at,
                window_ends_at=window_ends_at,
                free_cancel_ends_at=kept,
                updated_at=now,
            )
            .execution_options(synchronize_session=False, slots_of=booking.tradie_id)
        )
    session.refresh(booking)
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action=calendar.RESCHEDULED,
        entity=booking,
        summary={"from": old_starts_at.isoformat(), "to": booking.starts_at.isoformat()},
    )
    session.flush()
    messages.booking_rescheduled(
        session, booking, old_starts_at, now, by_tradie=actor.startswith("tradie")
    )
    messages.calendar_job(session, booking, now, "moved")


def move_to_window(
    session: DbSession,
    booking: Booking,
    window: tuple[datetime, datetime],
    shares: Sequence[tuple[datetime, datetime]],
    now: datetime,
    *,
    actor: str,
) -> None:
    """Move a confirmed booking into an arrival window: the first of its free `shares` the
    database lets it hold (as `hold_in_window`); SlotTaken when none is left."""
    for starts_at, ends_at in shares:
        try:
            move(session, booking, starts_at, ends_at, now, actor=actor, window=window)
            return
        except SlotTaken:
            continue
    raise SlotTaken()


# Details a tradie may change on a booking; never its status, times of a move or its money.
EDITABLE = frozenset(
    {
        "customer_name",
        "customer_email",
        "customer_phone",
        "job_address",
        "notes",
        "service_id",
        "service_name",
        "duration_minutes",
        "price_minor",
        "ends_at",
    }
)


# Details that say who the customer is: changing one may make it another person.
CONTACT = frozenset({"customer_name", "customer_email", "customer_phone", "job_address"})


def edit(
    session: DbSession, booking: Booking, values: dict[str, Any], now: datetime, *, actor: str
) -> dict[str, list[Any]]:
    """Change a booking's details; a longer job must still fit (SlotTaken). Audits the changed
    fields as {field: [old, new]} and returns them (empty: nothing changed, nothing written)."""
    unknown = set(values) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    changed = {
        key: [_plain(getattr(booking, key)), _plain(value)]
        for key, value in values.items()
        if getattr(booking, key) != value
    }
    if not changed:
        return {}
    with _overlap_is_slot_taken(session):
        session.execute(
            sa.update(Booking)
            .where(Booking.id == booking.id)
            .values(**{key: values[key] for key in changed}, updated_at=now)
            .execution_options(synchronize_session=False, slots_of=booking.tradie_id)
        )
    session.refresh(booking)
    if CONTACT & changed.keys():
        customers.attach(session, booking)
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.edited",
        entity=booking,
        summary={"changed": changed},
    )
    if booking.status == Status.CONFIRMED:
        messages.calendar_job(session, booking, now, "edited")
    return changed


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
