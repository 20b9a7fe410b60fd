"""Refunds (the tradie's form, cancellations, late deposits, Stripe's dashboard) and disputes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.formatting import format_money
from peepopay.notifications import messages
from peepopay.payments import gateway
from peepopay.payments.ledger import (
    CHARGE_KINDS,
    Ledger,
    PaymentProblem,
    fee_share,
    ledger,
    lock_booking,
    stripe_id,
    tradie_of,
)
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus

# Why a refund was made; kept in the Stripe refund's metadata so webhooks know who tells whom.
PURPOSE_DASHBOARD = "dashboard"  # the tradie's refund form: the customer gets a receipt
PURPOSE_CANCELLATION = "cancellation"  # the cancellation message covers it
PURPOSE_LATE = "late_deposit"  # the late-deposit apology covers it
PURPOSE_STRIPE = "stripe"  # made in Stripe's dashboard, learned from a webhook


# --------------------------------------------------------------------------- refunds


def refund(
    session: DbSession,
    booking: Booking,
    tradie: Tradie,
    amount_minor: int,
    reason: str,
    now: datetime,
) -> list[Payment]:
    """The tradie's refund from the booking page: full or partial, never more than was paid
    less what was already refunded; the platform fee goes back in proportion."""
    locked = lock_booking(session, booking.id)
    assert locked is not None
    book = ledger(session, locked.id)
    if amount_minor <= 0:
        raise PaymentProblem("amount", "Amount must be more than zero.")
    if amount_minor > book.refundable_minor:
        raise PaymentProblem(
            "amount",
            "Amount is more than can be refunded "
            f"({format_money(book.refundable_minor, locked.currency)} left).",
        )
    rows = refund_charges(
        session,
        locked,
        tradie,
        book,
        amount_minor,
        reason=reason,
        purpose=PURPOSE_DASHBOARD,
        now=now,
    )
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=f"tradie:{tradie.id}",
        action="payment.refunded",
        entity=locked,
        summary={"amount_minor": amount_minor, "reason": reason},
    )
    return rows


def refund_charges(
    session: DbSession,
    booking: Booking,
    tradie: Tradie,
    book: Ledger,
    amount_minor: int,
    *,
    reason: str,
    purpose: str,
    now: datetime,
) -> list[Payment]:
    """Refund `amount_minor` across the booking's charges, newest first, one Stripe refund and
    one refund record per charge touched."""
    assert tradie.stripe_account_id is not None
    charges = {p.id: p for p in book.payments}
    left = amount_minor
    rows: list[Payment] = []
    for payment_id in sorted(book.refundable_by_payment, reverse=True):
        available = book.refundable_by_payment[payment_id]
        if left <= 0 or available <= 0:
            continue
        charge = charges[payment_id]
        take = min(available, left)
        refunded_before = charge.amount_minor - available
        row = Payment(
            booking_id=booking.id,
            tradie_id=booking.tradie_id,
            kind=PaymentKind.REFUND,
            amount_minor=take,
            currency=charge.currency,
            application_fee_minor=fee_share(charge, refunded_before, take),
            status=PaymentStatus.PENDING,
            stripe_payment_intent_id=charge.stripe_payment_intent_id,
            stripe_charge_id=charge.stripe_charge_id,
            reason=reason[:200],
            created_at=now,
        )
        session.add(row)
        session.flush()
        assert charge.stripe_payment_intent_id is not None
        stripe_refund = gateway.create_refund(
            tradie.stripe_account_id,
            payment_intent=charge.stripe_payment_intent_id,
            amount_minor=take,
            key=f"booking-{booking.id}-refund-{row.id}-{charge.stripe_payment_intent_id}-{take}",
            metadata={
                "booking_id": str(booking.id),
                "payment_id": str(row.id),
                "purpose": purpose,
            },
        )
        row.stripe_refund_id = stripe_refund.id
        _refund_status(session, booking, row, str(stripe_refund.status), purpose, now)
        book.refundable_by_payment[payment_id] -= take
        left -= take
        rows.append(row)
    return rows


REFUND_STATUSES = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "pending": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.PENDING,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELED,
}


def _refund_status(
    session: DbSession,
    booking: Booking,
    row: Payment,
    stripe_status: str,
    purpose: str,
    now: datetime,
) -> None:
    status = REFUND_STATUSES.get(stripe_status, PaymentStatus.PENDING)
    if row.status == status or row.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        return
    if row.status == PaymentStatus.SUCCEEDED and status == PaymentStatus.PENDING:
        return  # a late "pending" after "succeeded" changes nothing
    row.status = status
    if status == PaymentStatus.SUCCEEDED and purpose in (PURPOSE_DASHBOARD, PURPOSE_STRIPE):
        messages.refund_processed(session, booking, row, now)


def apply_refund(
    session: DbSession, booking: Booking, refund_obj: dict[str, Any], now: datetime
) -> str:
    """A refund Stripe told us about: update our record, or record one made outside PeepoPay."""
    refund_id = refund_obj["id"]
    purpose = (refund_obj.get("metadata") or {}).get("purpose") or PURPOSE_STRIPE
    row = session.scalar(sa.select(Payment).where(Payment.stripe_refund_id == refund_id))
    if row is None:
        pi_id = stripe_id(refund_obj.get("payment_intent"))
        charge = session.scalar(
            sa.select(Payment).where(
                Payment.booking_id == booking.id,
                Payment.kind.in_(CHARGE_KINDS),
                Payment.stripe_payment_intent_id == pi_id,
            )
        )
        if charge is None:
            return "ignored"
        row = Payment(
            booking_id=booking.id,
            tradie_id=booking.tradie_id,
            kind=PaymentKind.REFUND,
            amount_minor=int(refund_obj["amount"]),
            currency=str(refund_obj.get("currency") or charge.currency).upper(),
            application_fee_minor=_external_fee_refund(session, booking, charge),
            status=PaymentStatus.PENDING,
            stripe_payment_intent_id=pi_id,
            stripe_charge_id=stripe_id(refund_obj.get("charge")),
            stripe_refund_id=refund_id,
            reason="Refunded in Stripe",
            created_at=now,
        )
        session.add(row)
        session.flush()
    before = row.status
    _refund_status(session, booking, row, str(refund_obj.get("status")), purpose, now)
    return "refund_recorded" if before != row.status else "unchanged"


def _external_fee_refund(session: DbSession, booking: Booking, charge: Payment) -> int:
    """The platform fee a refund made outside PeepoPay gave back: whether it did is the
    refunder's choice, so ask Stripe what the charge's fee has returned so far."""
    tradie = tradie_of(session, booking)
    if not charge.stripe_charge_id or not tradie.stripe_account_id:
        return 0
    returned = gateway.application_fee_refunded(tradie.stripe_account_id, charge.stripe_charge_id)
    recorded = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.application_fee_minor), 0)).where(
            Payment.booking_id == booking.id,
            Payment.kind == PaymentKind.REFUND,
            Payment.stripe_payment_intent_id == charge.stripe_payment_intent_id,
            Payment.status.in_(PaymentStatus.REFUND_HOLDING),
        )
    )
    return max(returned - int(recorded or 0), 0)
